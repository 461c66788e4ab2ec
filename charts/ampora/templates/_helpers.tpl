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

{{/* The OpAMP sidecar's ServiceAccount, and the Secret that holds its token. */}}
{{- define "ampora.opampServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-opamp" (include "ampora.fullname" .)) .Values.serviceAccount.opampName }}
{{- else }}
{{- required "serviceAccount.opampName is required when serviceAccount.create is false" .Values.serviceAccount.opampName }}
{{- end }}
{{- end }}
{{- define "ampora.managerTokenSecret" -}}{{ include "ampora.fullname" . }}-manager-token{{- end }}

{{/*
The namespaces whose enrollment tokens the sidecar reads, comma-separated and sorted:
enrollment.namespaces and the namespace of each of enrollmentTokens. Empty: none.
*/}}
{{- define "ampora.tokenNamespaces" -}}
{{- $ns := list }}
{{- range .Values.enrollment.namespaces }}
{{- $ns = append $ns . }}
{{- end }}
{{- range .Values.enrollmentTokens }}
{{- $ns = append $ns (default $.Release.Namespace .namespace) }}
{{- end }}
{{- $ns | uniq | sortAlpha | join "," }}
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

{{/* Where each container finds its ServiceAccount token, as in-cluster clients expect. */}}
{{- define "ampora.tokenDir" -}}/var/run/secrets/kubernetes.io/serviceaccount{{- end }}

{{/* Mount paths of the TLS material. */}}
{{- define "ampora.tlsDir" -}}/etc/ampora/tls{{- end }}
{{- define "ampora.clientCADir" -}}/etc/ampora/client-ca{{- end }}

{{/* Names of the approvals webhook's objects, and where the manager keeps its certificate. */}}
{{- define "ampora.webhookService" -}}{{ include "ampora.fullname" . }}-webhook{{- end }}
{{- define "ampora.webhookConfiguration" -}}{{ include "ampora.fullname" . }}-approvals{{- end }}
{{- define "ampora.webhookCertSecret" -}}{{ include "ampora.fullname" . }}-webhook-cert{{- end }}
{{- define "ampora.approvalKeySecret" -}}{{ include "ampora.fullname" . }}-approval-key{{- end }}
{{- define "ampora.webhookCertDir" -}}/tmp/ampora-webhook{{- end }}
