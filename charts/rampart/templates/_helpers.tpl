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

{{/* The Secret holding the admin token: an existing one, or the chart's own. */}}
{{- define "rampart.secretName" -}}
{{- default (printf "%s-admin" (include "rampart.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "rampart.hasToken" -}}
{{- if or .Values.adminToken.existingSecret .Values.adminToken.value .Values.adminToken.generate -}}true{{- end -}}
{{- end -}}

{{/* This chart's values as the library's `rampart` dict (charts/rampart-sidecar). */}}
{{- define "rampart.sidecarArgs" -}}
{{- $r := dict
  "image" (dict "repository" .Values.image.repository "tag" (default .Chart.AppVersion .Values.image.tag) "pullPolicy" .Values.image.pullPolicy)
  "ports" .Values.ports
  "upstream" (ternary (printf "127.0.0.1:%d" (int .Values.app.port)) .Values.standalone.upstream (eq .Values.mode "sidecar"))
  "native" (and (eq .Values.mode "sidecar") .Values.app.nativeSidecar)
  "config" .Values.config
  "adminToken" (dict "existingSecret" (ternary (include "rampart.secretName" .) "" (eq (include "rampart.hasToken" .) "true")))
  "tls" .Values.tls
  "resources" .Values.resources
  "securityContext" .Values.securityContext
  "extraEnv" .Values.extraEnv
  "envFrom" .Values.envFrom
  "extraVolumeMounts" .Values.extraVolumeMounts
-}}
{{- toYaml (dict "rampart" $r "name" .Release.Name) -}}
{{- end -}}
