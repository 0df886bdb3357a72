{{- define "voice.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "voice.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "voice.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "voice.image" -}}
{{ printf "%svoice-%s:%s" .root.Values.image.repository .component .root.Values.image.tag }}
{{- end -}}

{{- define "voice.natsUrl" -}}
{{- if .Values.nats.enabled -}}
nats://{{ include "voice.fullname" . }}-nats:4222
{{- else -}}
{{ required "nats.externalUrl is required when nats.enabled is false" .Values.nats.externalUrl }}
{{- end -}}
{{- end -}}

{{/* Settings every service reads. */}}
{{- define "voice.commonEnv" -}}
- name: NATS_URL
  value: {{ include "voice.natsUrl" .root | quote }}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: OTEL_SERVICE_NAME
  value: voice-{{ .component }}
{{- with .root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .root.Values.nats.enabled }}
- name: VOICE_RECORDS_REPLICAS
  value: {{ min (int .root.Values.nats.replicas) 3 | quote }}
{{- end }}
{{- end -}}

{{- define "voice.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Liveness on /health, readiness on /ready (NATS connected, still accepting). */}}
{{- define "voice.probes" -}}
livenessProbe:
  httpGet: {path: /health, port: http}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /ready, port: http}
  periodSeconds: 5
  failureThreshold: 2
startupProbe:
  httpGet: {path: /health, port: http}
  periodSeconds: 2
  failureThreshold: 60
{{- end -}}

{{- define "voice.metricsAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{- define "voice.pdb" -}}
{{- if .root.Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "voice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "voice.labels" .root | nindent 4 }}
spec:
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "voice.selector" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "voice.hpa" -}}
{{- if .values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "voice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "voice.labels" .root | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "voice.fullname" .root }}-{{ .component }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}
