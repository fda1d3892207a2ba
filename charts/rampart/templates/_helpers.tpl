{{/* The chart's name, or nameOverride (the app.kubernetes.io/name label). */}}
{{- define "rampart.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Every object's name: fullnameOverride, else <release>-<name> (the release alone when it
contains the name already). */}}
{{- define "rampart.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "rampart.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The replicas the Deployment keeps at least: the autoscaler's floor when it scales. */}}
{{- define "rampart.minReplicas" -}}
{{- ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int -}}
{{- end -}}

{{/* "true" when the NetworkPolicy renders: `auto` renders it in sidecar mode, where it is
what keeps the app's own port out of reach. */}}
{{- define "rampart.networkPolicy" -}}
{{- $on := toString .Values.networkPolicy.enabled -}}
{{- if or (eq $on "true") (and (eq $on "auto") (eq .Values.mode "sidecar")) -}}true{{- end -}}
{{- end -}}

{{- define "rampart.labels" -}}
app.kubernetes.io/name: {{ include "rampart.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rampart.selector" -}}
app.kubernetes.io/name: {{ include "rampart.name" . }}
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
  "native" (ternary .Values.app.nativeSidecar false (eq .Values.mode "sidecar"))
  "config" .Values.config
  "adminToken" (dict "existingSecret" (ternary (include "rampart.secretName" .) "" (eq (include "rampart.hasToken" .) "true")))
  "tls" .Values.tls
  "resources" .Values.resources
  "securityContext" .Values.securityContext
  "extraEnv" .Values.extraEnv
  "envFrom" .Values.envFrom
  "extraVolumeMounts" .Values.extraVolumeMounts
-}}
{{- toYaml (dict "rampart" $r "name" (default .Release.Name .Values.fullnameOverride) "kubeVersion" .Capabilities.KubeVersion.Version "selector" (include "rampart.selector" . | fromYaml)) -}}
{{- end -}}
