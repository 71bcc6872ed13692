{{/* Name of the chart, or nameOverride. */}}
{{- define "stand-in.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else the release name when it contains the chart name (the program's case: release = chart), else release-chart. */}}
{{- define "stand-in.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stand-in.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stand-in.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stand-in.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stand-in.labels" -}}
helm.sh/chart: {{ include "stand-in.chart" . }}
{{ include "stand-in.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "stand-in.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stand-in.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Services to create: .Values.services, or one named after the chart on 8080. */}}
{{- define "stand-in.services" -}}
{{- if .Values.services }}
{{- toYaml .Values.services }}
{{- else }}
- name: {{ .Chart.Name }}
  port: 8080
{{- end }}
{{- end }}
