{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "ampora.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name, the prefix of every object's name: the release name, plus the chart name when the
release name does not contain it.
*/}}
{{- define "ampora.fullname" -}}
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

{{- define "ampora.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "ampora.labels" -}}
helm.sh/chart: {{ include "ampora.chart" . }}
{{ include "ampora.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ampora
{{- end }}

{{/* Labels that select the operator Pods; immutable once installed. */}}
{{- define "ampora.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ampora.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ampora.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ampora.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ampora.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Environment of both containers, from the downward API. */}}
{{- define "ampora.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- end }}

{{/* Mount paths of the TLS material. */}}
{{- define "ampora.tlsDir" -}}/etc/ampora/tls{{- end }}
{{- define "ampora.clientCADir" -}}/etc/ampora/client-ca{{- end }}

{{/* Names of the approvals webhook's objects, and where the manager keeps its certificate. */}}
{{- define "ampora.webhookService" -}}{{ include "ampora.fullname" . }}-webhook{{- end }}
{{- define "ampora.webhookConfiguration" -}}{{ include "ampora.fullname" . }}-approvals{{- end }}
{{- define "ampora.webhookCertSecret" -}}{{ include "ampora.fullname" . }}-webhook-cert{{- end }}
{{- define "ampora.webhookCertDir" -}}/tmp/ampora-webhook{{- end }}
