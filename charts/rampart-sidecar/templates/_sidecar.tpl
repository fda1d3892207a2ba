{{/*
Rampart as a sidecar, for any chart's pod. Every template takes one dict:
  (dict "rampart" <values under your `rampart:` key> "name" <a base name for the ConfigMap>)
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
native: true
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
extraEnv: []
envFrom: []
extraVolumeMounts: []
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

{{/* The Rampart container (as an init container with restartPolicy: Always unless native: false). */}}
{{- define "rampart.sidecar.container" -}}
{{- $r := include "rampart.sidecar.values" . | fromYaml -}}
name: rampart
image: "{{ $r.image.repository }}:{{ $r.image.tag }}"
imagePullPolicy: {{ $r.image.pullPolicy }}
{{- if $r.native }}
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
