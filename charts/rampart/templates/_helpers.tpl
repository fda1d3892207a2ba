{{- define "rampart.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rampart.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rampart.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rampart.secretName" -}}
{{- default (printf "%s-admin" (include "rampart.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "rampart.hasToken" -}}
{{- if or .Values.adminToken.existingSecret .Values.adminToken.value -}}true{{- end -}}
{{- end -}}

{{/* The config: values.config with the listeners, the app's endpoints and the token filled in. */}}
{{- define "rampart.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $server := default dict $c.server -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.ports.public)) -}}
{{- $_ := set $server "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) -}}
{{- if include "rampart.hasToken" . -}}
{{- $_ := set $server "admin_token" "${RAMPART_ADMIN_TOKEN}" -}}
{{- else if eq (default "production" $server.environment) "production" -}}
{{- fail "rampart: the admin port listens on 0.0.0.0 (for the kubelet's probes), which in production needs an admin token: set adminToken.value or adminToken.existingSecret (or config.server.environment: staging)" -}}
{{- end -}}
{{- $_ := set $c "server" $server -}}
{{- $upstreams := default dict $c.upstreams -}}
{{- $app := default dict (get $upstreams "app") -}}
{{- if eq .Values.mode "sidecar" -}}
{{- $_ := set $app "endpoints" (list (printf "127.0.0.1:%d" (int .Values.app.port))) -}}
{{- else -}}
{{- $_ := set $app "endpoints" (list .Values.standalone.upstream) -}}
{{- end -}}
{{- $_ := set $upstreams "app" $app -}}
{{- $_ := set $c "upstreams" $upstreams -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "rampart.container" -}}
name: rampart
image: "{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
args: ["--config", "/etc/rampart/rampart.yaml"]
{{- if include "rampart.hasToken" . }}
env:
  - name: RAMPART_ADMIN_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ include "rampart.secretName" . }}
        key: admin-token
{{- end }}
ports:
  - name: http
    containerPort: {{ .Values.ports.public }}
    protocol: TCP
  - name: admin
    containerPort: {{ .Values.ports.admin }}
    protocol: TCP
livenessProbe:
  httpGet: { path: /livez, port: admin }
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: admin }
  periodSeconds: 5
  failureThreshold: 2
startupProbe:
  httpGet: { path: /livez, port: admin }
  periodSeconds: 1
  failureThreshold: 30
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/rampart
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- end -}}
