{{/*
Rampart as a sidecar, for any chart's pod. Every template takes one dict:
  (dict "rampart" <values under your `rampart:` key> "name" <a base name for the ConfigMap>
        "kubeVersion" .Capabilities.KubeVersion.Version   <- decides native: auto
        "selector" <your pod's matchLabels>)              <- networkpolicy and podmonitor only
See this chart's README for the keys. charts/rampart renders its own pod with these too.
*/}}

{{- define "rampart.sidecar.defaults" -}}
image:
  repository: ghcr.io/rampart-proxy/rampart
  tag: "0.2.0"
  pullPolicy: IfNotPresent
ports:
  public: 8080
  admin: 9901
upstream: 127.0.0.1:8000
# auto: a native sidecar (an init container with restartPolicy: Always) where the cluster is
# 1.29 or newer (the caller's kubeVersion), a plain container elsewhere; true/false force it.
native: auto
config: {}
adminToken:
  existingSecret: ""
tls:
  secretName: ""
resources:
  requests: { cpu: 50m, memory: 32Mi }
  limits: { memory: 256Mi }
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  capabilities: { drop: [ALL] }
  seccompProfile: { type: RuntimeDefault }
extraEnv: []
envFrom: []
extraVolumeMounts: []
# rampart.sidecar.networkpolicy: who reaches Rampart's ports; nothing else reaches the pod.
networkPolicy:
  publicFrom: []
  adminFrom:
    - namespaceSelector:
        matchLabels: { kubernetes.io/metadata.name: monitoring }
podMonitor:
  interval: 30s
  labels: {}
{{- end -}}

{{/* The caller's values over the defaults (maps merged, lists replaced), as YAML. */}}
{{- define "rampart.sidecar.values" -}}
{{- $defaults := include "rampart.sidecar.defaults" . | fromYaml -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default dict .rampart))) -}}
{{- end -}}

{{- define "rampart.sidecar.configMapName" -}}
{{- printf "%s-rampart" .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Rampart's config: `config` with the listeners, the app's endpoint, the token and TLS filled in. */}}
{{- define "rampart.sidecar.config" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
{{- $c := deepCopy $r.config -}}
{{- $server := default dict $c.server -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int $r.ports.public)) -}}
{{- $_ := set $server "admin_listen" (printf "0.0.0.0:%d" (int $r.ports.admin)) -}}
{{- if $r.adminToken.existingSecret -}}
{{- $_ := set $server "admin_token" "${RAMPART_ADMIN_TOKEN}" -}}
{{- else if eq (default "production" $server.environment) "production" -}}
{{- fail "rampart: the admin port listens on 0.0.0.0 (for the kubelet's probes), which in production needs an admin token: set adminToken.existingSecret (a Secret with key admin-token) or config.server.environment: staging" -}}
{{- end -}}
{{- if $r.tls.secretName -}}
{{- $tls := default dict $server.tls -}}
{{- $_ := set $tls "cert_file" "/etc/rampart-tls/tls.crt" -}}
{{- $_ := set $tls "key_file" "/etc/rampart-tls/tls.key" -}}
{{- $_ := set $server "tls" $tls -}}
{{- end -}}
{{- $_ := set $c "server" $server -}}
{{- $upstreams := default dict $c.upstreams -}}
{{- $app := default dict (get $upstreams "app") -}}
{{- if not (hasKey $app "endpoints") -}}
{{- $_ := set $app "endpoints" (list $r.upstream) -}}
{{- end -}}
{{- $_ := set $upstreams "app" $app -}}
{{- $_ := set $c "upstreams" $upstreams -}}
{{- if not $c.routes -}}
{{- $_ := set $c "routes" (list (dict "name" "default" "match" (dict "path_prefix" "/") "upstream" "app")) -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The ConfigMap Rampart reads (and reloads live when it changes). */}}
{{- define "rampart.sidecar.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "rampart.sidecar.configMapName" . }}
  labels:
    app.kubernetes.io/component: rampart
data:
  rampart.yaml: |
    {{- include "rampart.sidecar.config" . | nindent 4 }}
{{- end -}}

{{/* "true" when Rampart runs as a native sidecar: native: true, or auto on Kubernetes >= 1.29
(pods with a restartPolicy on an init container stay in Init on older clusters). */}}
{{- define "rampart.sidecar.native" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
{{- $native := toString $r.native -}}
{{- $kube := default "" .kubeVersion -}}
{{- $supported := and $kube (semverCompare ">=1.29-0" $kube) -}}
{{- if not (has $native (list "auto" "true" "false")) -}}
{{- fail (printf "rampart.native must be auto, true or false, not %q" $native) -}}
{{- end -}}
{{- if and (eq $native "auto") (not $kube) -}}
{{- fail "rampart-sidecar: native: auto needs \"kubeVersion\" .Capabilities.KubeVersion.Version in the dict you pass (or set rampart.native: true or false)" -}}
{{- end -}}
{{- if and (eq $native "true") $kube (not $supported) -}}
{{- fail (printf "rampart.native: true needs Kubernetes 1.29 or newer (native sidecars); this cluster is %s: use native: auto or false" $kube) -}}
{{- end -}}
{{- if or (eq $native "true") (and (eq $native "auto") $supported) -}}true{{- end -}}
{{- end -}}

{{/* The Rampart container: in initContainers with restartPolicy: Always when
rampart.sidecar.native says so, else in containers. */}}
{{- define "rampart.sidecar.container" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
name: rampart
image: "{{ $r.image.repository }}:{{ $r.image.tag }}"
imagePullPolicy: {{ $r.image.pullPolicy }}
{{- if include "rampart.sidecar.native" . }}
restartPolicy: Always
{{- end }}
args: ["--config", "/etc/rampart/rampart.yaml"]
{{- if or $r.adminToken.existingSecret $r.extraEnv }}
env:
  {{- if $r.adminToken.existingSecret }}
  - name: RAMPART_ADMIN_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ $r.adminToken.existingSecret }}
        key: admin-token
  {{- end }}
  {{- with $r.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- with $r.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  - name: rampart-http
    containerPort: {{ $r.ports.public }}
    protocol: TCP
  - name: rampart-admin
    containerPort: {{ $r.ports.admin }}
    protocol: TCP
livenessProbe:
  httpGet: { path: /livez, port: {{ $r.ports.admin }} }
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: {{ $r.ports.admin }} }
  periodSeconds: 5
  failureThreshold: 2
startupProbe:
  httpGet: { path: /livez, port: {{ $r.ports.admin }} }
  periodSeconds: 1
  failureThreshold: 30
resources:
  {{- toYaml $r.resources | nindent 2 }}
securityContext:
  {{- toYaml $r.securityContext | nindent 2 }}
volumeMounts:
  - name: rampart-config
    mountPath: /etc/rampart
    readOnly: true
  - name: rampart-tmp
    mountPath: /tmp
  {{- if $r.tls.secretName }}
  - name: rampart-tls
    mountPath: /etc/rampart-tls
    readOnly: true
  {{- end }}
  {{- with $r.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The pod volumes the container mounts. */}}
{{- define "rampart.sidecar.volumes" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
- name: rampart-config
  configMap:
    name: {{ include "rampart.sidecar.configMapName" . }}
- name: rampart-tmp
  emptyDir: {}
{{- if $r.tls.secretName }}
- name: rampart-tls
  secret:
    secretName: {{ $r.tls.secretName }}
{{- end }}
{{- end -}}


{{/* No side door: ingress to the pod only on Rampart's public port (from publicFrom, anyone
when empty) and admin port (from adminFrom). The app's own port is reachable only from
inside the pod. The kubelet's probes are not subject to NetworkPolicy. */}}
{{- define "rampart.sidecar.networkpolicy" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
{{- if not .selector }}
{{- fail "rampart.sidecar.networkpolicy needs \"selector\": your pod's matchLabels" }}
{{- end }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "rampart.sidecar.configMapName" . }}
  labels:
    app.kubernetes.io/component: rampart
spec:
  podSelector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - ports:
        - port: {{ $r.ports.public }}
          protocol: TCP
      {{- with $r.networkPolicy.publicFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    - ports:
        - port: {{ $r.ports.admin }}
          protocol: TCP
      from:
        {{- required "rampart.networkPolicy.adminFrom must name who may reach the admin port" $r.networkPolicy.adminFrom | toYaml | nindent 8 }}
{{- end -}}

{{/* A PodMonitor (Prometheus Operator) scraping Rampart's admin port in the selected pods:
it leaves the pod's prometheus.io annotations to the app. */}}
{{- define "rampart.sidecar.podmonitor" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
{{- if not .selector }}
{{- fail "rampart.sidecar.podmonitor needs \"selector\": your pod's matchLabels" }}
{{- end }}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "rampart.sidecar.configMapName" . }}
  labels:
    app.kubernetes.io/component: rampart
    {{- with $r.podMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
  podMetricsEndpoints:
    - port: rampart-admin
      path: /metrics
      interval: {{ $r.podMonitor.interval }}
{{- end -}}
