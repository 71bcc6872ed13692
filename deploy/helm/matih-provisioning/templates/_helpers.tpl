{{/* Chart name, cut to 63 characters (a label value's limit). */}}
{{- define "matih.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name, as ingress-nginx does: the release alone when it already holds the chart name. */}}
{{- define "matih.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "matih.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "matih.selectorLabels" -}}
app.kubernetes.io/name: {{ include "matih.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{- define "matih.labels" -}}
helm.sh/chart: {{ include "matih.chart" . }}
{{ include "matih.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: matih
{{- end -}}

{{- define "matih.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "matih.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "matih.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret the CSI driver syncs Key Vault objects into. */}}
{{- define "matih.keyVaultSecretName" -}}
{{- printf "%s-keyvault" (include "matih.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Checks no template can express in the schema: the grace period must outlast
the service's drain (close-with-grace, 45 s in server/server.ts) plus the
preStop sleep, or Kubernetes kills runs before they are handed back.
*/}}
{{- define "matih.validate" -}}
{{- $drain := 45 -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add $drain (int .Values.preStopSleepSeconds) | int) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above the service's 45 s drain plus preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (or (not .Values.serviceMonitor.bearerTokenSecret.name) (not .Values.serviceMonitor.bearerTokenSecret.key)) -}}
{{- fail "serviceMonitor.enabled needs serviceMonitor.bearerTokenSecret.name and .key: /metrics needs a read token" -}}
{{- end -}}
{{- if and .Values.migrations.enabled (not .Values.migrations.secretName) -}}
{{- fail "migrations.enabled needs migrations.secretName (a Secret with DATABASE_URL and MATIH_MIGRATION_DATABASE_URL); or set migrations.enabled=false" -}}
{{- end -}}
{{- if and .Values.secrets.keyVault.enabled (or (not .Values.secrets.keyVault.vaultName) (not .Values.secrets.keyVault.tenantId) (not .Values.secrets.keyVault.objects)) -}}
{{- fail "secrets.keyVault.enabled needs vaultName, tenantId and at least one object" -}}
{{- end -}}
{{- range $k, $v := .Values.config -}}
{{- if regexMatch "(PASSWORD|PASSPHRASE|TOKENS?|_SECRET|_KEY|DATABASE_URL|SMTP_URL)$" (upper $k) -}}
{{- fail (printf "config.%s looks like a secret: put it in a Secret (secrets.existingSecrets or secrets.keyVault), not the ConfigMap" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
