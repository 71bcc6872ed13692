{{/* Environment shared by the service's pods and the migration Job. */}}
{{- define "matih.envFrom" -}}
- configMapRef:
    name: {{ include "matih.fullname" . }}
{{- range .Values.secrets.existingSecrets }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- if .Values.secrets.keyVault.enabled }}
- secretRef:
    name: {{ include "matih.keyVaultSecretName" . }}
{{- end }}
{{- end -}}

{{- define "matih.keyVaultVolume" -}}
{{- if .Values.secrets.keyVault.enabled }}
# Mounting the CSI volume is what makes the driver sync the Secret read above.
- name: keyvault
  csi:
    driver: secrets-store.csi.k8s.io
    readOnly: true
    volumeAttributes:
      secretProviderClass: {{ include "matih.fullname" . }}
{{- end }}
{{- end -}}
