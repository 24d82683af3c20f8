{{/* Names and labels shared by every object of the chart. */}}

{{- define "friction.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "friction.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{/* friction_pipeline: copied to a target label by the scrape config (see docs/deploy.md). */}}
{{- define "friction.labels" -}}
{{ include "friction.selectorLabels" . }}
app.kubernetes.io/part-of: friction-detector
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
friction_pipeline: {{ .Values.pipeline | quote }}
{{- end -}}

{{- define "friction.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "friction.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "friction.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* The Secret holding the SASL password and TLS files: the user's, or the chart's. */}}
{{- define "friction.secretName" -}}
{{ .Values.kafka.existingSecret | default (include "friction.fullname" .) }}
{{- end -}}

{{- define "friction.needsSecret" -}}
{{- if or .Values.kafka.sasl.mechanism .Values.kafka.tls.enabled -}}true{{- end -}}
{{- end -}}

{{/* The worker's TOML: the user's configuration, then the alert labels of this pipeline. */}}
{{- define "friction.config" -}}
{{ .Values.config | trim }}

# Added by the chart: on every alert of the workers' alert engine, as Prometheus labels its own
# (external_labels environment, target label friction_pipeline), for Alertmanager's inhibitions.
[alerts]
labels = { environment = {{ .Values.environment | quote }}, friction_pipeline = {{ .Values.pipeline | quote }} }
{{- end -}}

{{/* Bootstrap servers as KEDA's Kafka scaler wants them: host:port, comma-separated. */}}
{{- define "friction.bootstrapServers" -}}
{{ regexReplaceAll "[a-z]+://" .Values.kafka.broker "" | replace ";" "," }}
{{- end -}}
