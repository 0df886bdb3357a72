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

{{/* repository:tag@digest of an image value ({repository, tag, digest}). */}}
{{- define "voice.imageRef" -}}
{{- .repository }}:{{ .tag }}{{ with .digest }}@{{ . }}{{ end }}
{{- end -}}

{{- define "voice.natsName" -}}
{{- printf "%s-nats" (include "voice.fullname" .) -}}
{{- end -}}

{{/* NATS_URL: on the bundled cluster every replica by its stable name (a client that loses one
goes straight to another, without waiting for the Service to notice), else the Service. */}}
{{- define "voice.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- $scheme := ternary "tls" "nats" .Values.nats.tls.enabled -}}
{{- $name := include "voice.natsName" . -}}
{{- if gt (int .Values.nats.replicas) 1 -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "%s://%s-%d.%s-cluster:4222" $scheme $name $i $name) -}}
{{- end -}}
{{ join "," $urls }}
{{- else -}}
{{ $scheme }}://{{ $name }}:4222
{{- end -}}
{{- else -}}
{{ required "nats.externalUrl is required when nats.enabled is false" .Values.nats.externalUrl }}
{{- end -}}
{{- end -}}

{{- define "voice.natsUsersSecret" -}}
{{- .Values.nats.auth.secretName | default (printf "%s-users" (include "voice.natsName" .)) -}}
{{- end -}}

{{- define "voice.natsTlsSecret" -}}
{{- .Values.nats.tls.secretName | default (printf "%s-tls" (include "voice.natsName" .)) -}}
{{- end -}}

{{/* The NATS users the bundled server knows: the services this release runs. */}}
{{- define "voice.natsServices" -}}
{{- $services := list "edge" "nova" "auth" -}}
{{- if .Values.transcripts.enabled }}{{ $services = append $services "transcripts" }}{{ end -}}
{{- if .Values.recordings.enabled }}{{ $services = append $services "recordings" }}{{ end -}}
{{- toJson $services -}}
{{- end -}}

{{/* Environment variable that carries a service's NKEY public key into the NATS pods. */}}
{{- define "voice.nkeyVariable" -}}
VOICE_NKEY_{{ . | upper }}
{{- end -}}

{{/*
Settings every service reads, as a list of EnvVar: NATS (its user, TLS), logs, telemetry.
Arguments: root, component.
*/}}
{{- define "voice.commonEnv" -}}
{{- $v := .root.Values -}}
{{- $env := list
  (dict "name" "NATS_URL" "value" (include "voice.natsUrl" .root))
  (dict "name" "LOG_LEVEL" "value" (toString $v.logLevel))
  (dict "name" "OTEL_SERVICE_NAME" "value" (printf "voice-%s" .component))
  (dict "name" "METRICS_HOST" "value" "0.0.0.0")
  (dict "name" "METRICS_PORT" "value" (include "voice.metricsPort" .root))
  (dict "name" "POD_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name")))
  (dict "name" "POD_NAMESPACE" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace")))
  (dict "name" "OTEL_RESOURCE_ATTRIBUTES" "value" (printf "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),deployment.environment=%s" ($v.otel.environment | default .root.Release.Namespace))) -}}
{{- if $v.nats.auth.enabled -}}
{{- if eq $v.nats.auth.type "creds" -}}
{{- $env = append $env (dict "name" "NATS_CREDS" "value" "/etc/voice/nats-user/user.creds") -}}
{{- else -}}
{{- $env = append $env (dict "name" "NATS_NKEY_SEED_FILE" "value" "/etc/voice/nats-user/seed.nk") -}}
{{- end -}}
{{- end -}}
{{- if $v.nats.tls.enabled -}}
{{- $env = append $env (dict "name" "NATS_TLS_CA" "value" "/etc/voice/nats-ca/ca.crt") -}}
{{- end -}}
{{- with $v.otel.endpoint -}}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" .) -}}
{{- end -}}
{{- if $v.nats.enabled -}}
{{- $env = append $env (dict "name" "VOICE_RECORDS_REPLICAS" "value" (toString (min (int $v.nats.replicas) 3))) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/* The service's NATS user and the CA, mounted from Secrets (volumes, then their mounts). */}}
{{- define "voice.natsVolumes" -}}
{{- $v := .root.Values -}}
{{- $volumes := list -}}
{{- if $v.nats.auth.enabled -}}
{{- $item := ternary (dict "key" (printf "%s.creds" .component) "path" "user.creds") (dict "key" (printf "%s.nk" .component) "path" "seed.nk") (eq $v.nats.auth.type "creds") -}}
{{- $volumes = append $volumes (dict "name" "nats-user" "secret" (dict "secretName" (include "voice.natsUsersSecret" .root) "items" (list $item) "defaultMode" 288)) -}}
{{- end -}}
{{- if $v.nats.tls.enabled -}}
{{- $ca := $v.nats.tls.ca -}}
{{- $secret := $ca.secretName | default (include "voice.natsTlsSecret" .root) -}}
{{- $volumes = append $volumes (dict "name" "nats-ca" "secret" (dict "secretName" $secret "items" (list (dict "key" $ca.key "path" "ca.crt")) "defaultMode" 292)) -}}
{{- end -}}
{{- toJson $volumes -}}
{{- end -}}

{{- define "voice.natsVolumeMounts" -}}
{{- $mounts := list -}}
{{- if .Values.nats.auth.enabled -}}
{{- $mounts = append $mounts (dict "name" "nats-user" "mountPath" "/etc/voice/nats-user" "readOnly" true) -}}
{{- end -}}
{{- if .Values.nats.tls.enabled -}}
{{- $mounts = append $mounts (dict "name" "nats-ca" "mountPath" "/etc/voice/nats-ca" "readOnly" true) -}}
{{- end -}}
{{- toJson $mounts -}}
{{- end -}}

{{/* A values map of settings ({NAME: value}) as EnvVar entries. */}}
{{- define "voice.envFromMap" -}}
{{- $env := list -}}
{{- range $name, $value := . -}}
{{- $env = append $env (dict "name" $name "value" (toString $value)) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/*
Scheduling of a pod: nodeSelector, tolerations, affinity, topology spread (a constraint without a
labelSelector gets the component's), priority class. Arguments: root, component, values.
*/}}
{{- define "voice.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
{{- $selector := dict "matchLabels" (include "voice.selector" $ | fromYaml) }}
{{- $constraints := list }}
{{- range . }}
{{- $constraints = append $constraints (merge (dict) . (dict "labelSelector" $selector)) }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* preStop: wait so that the endpoint leaves every load balancer before SIGTERM work starts. */}}
{{- define "voice.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ . | quote }}]
{{- end -}}

{{/* Liveness on /health, readiness on /ready (engine loaded, NATS connected, not draining). */}}
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
  failureThreshold: 90
{{- end -}}

{{- define "voice.metricsAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/* The port every service serves /metrics on (METRICS_PORT): no Service or Ingress publishes it. */}}
{{- define "voice.metricsPort" -}}
9464
{{- end -}}

{{/*
maxUnavailable counts pods that are not Ready. A full worker is Ready (capacity is a metric), so
with maxUnavailable 1 a drain may always evict one pod; AlwaysAllow lets a drain evict pods that are
not Ready (stuck) instead of waiting on them.
*/}}
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
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "voice.selector" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A HorizontalPodAutoscaler on CPU, plus the Pods metric .sessionsMetric when given. */}}
{{- define "voice.hpa" -}}
{{- $scaling := .values.autoscaling -}}
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
  minReplicas: {{ $scaling.minReplicas }}
  maxReplicas: {{ $scaling.maxReplicas }}
  metrics:
    {{- with .sessionsMetric }}
    - type: Pods
      pods:
        metric:
          name: {{ . }}
        target:
          type: AverageValue
          averageValue: {{ printf "%dm" (int (mulf $scaling.targetSessionUtilization 1000)) | quote }}
    {{- end }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $scaling.targetCPUUtilizationPercentage }}
  {{- with $scaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
