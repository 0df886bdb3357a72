{{/*
One service's Deployment. Arguments: root, component (also its NATS user), values (the component's
values), port, env (a list of EnvVar), grace (terminationGracePeriodSeconds), serviceAccount (name
or ""), and optionally dataClaim (a PVC mounted at /data; the Deployment then runs one pod at a time)
or singleton (true: one pod at a time, never two side by side).
*/}}
{{- define "voice.deployment" -}}
{{- $env := concat (include "voice.commonEnv" . | fromJsonArray) .env (include "voice.envFromMap" .values.env | fromJsonArray) .values.extraEnv -}}
{{- $volumes := concat (list (dict "name" "tmp" "emptyDir" (dict))) (include "voice.natsVolumes" . | fromJsonArray) -}}
{{- $mounts := concat (list (dict "name" "tmp" "mountPath" "/tmp")) (include "voice.natsVolumeMounts" .root | fromJsonArray) -}}
{{- with .dataClaim -}}
{{- $volumes = append $volumes (dict "name" "data" "persistentVolumeClaim" (dict "claimName" .)) -}}
{{- $mounts = append $mounts (dict "name" "data" "mountPath" "/data") -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "voice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "voice.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if or .dataClaim .singleton }}
  replicas: 1
  strategy:
    type: Recreate
  {{- else if not (and .values.autoscaling .values.autoscaling.enabled) }}
  replicas: {{ .values.replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "voice.selector" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- with .values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- include "voice.labels" .root | nindent 8 }}
        {{- include "voice.selector" . | nindent 8 }}
      annotations:
        {{- include "voice.metricsAnnotations" (dict "port" (include "voice.metricsPort" .root)) | nindent 8 }}
        {{- with .values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with .serviceAccount }}
      serviceAccountName: {{ . }}
      {{- end }}
      # No service needs the Kubernetes API (IRSA mounts its own token).
      automountServiceAccountToken: false
      {{- with .root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ .grace }}
      securityContext:
        {{- toYaml .root.Values.podSecurityContext | nindent 8 }}
      {{- include "voice.scheduling" . | nindent 6 }}
      containers:
        - name: {{ .component }}
          image: {{ include "voice.image" . }}
          imagePullPolicy: {{ .root.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .port }}
            - name: metrics
              containerPort: {{ include "voice.metricsPort" .root }}
          env:
            {{- toYaml $env | nindent 12 }}
          {{- with .values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "voice.probes" . | nindent 10 }}
          {{- include "voice.preStop" .values.preStopSleepSeconds | nindent 10 }}
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            {{- toYaml .root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- toYaml $mounts | nindent 12 }}
      volumes:
        {{- toYaml $volumes | nindent 8 }}
{{- end -}}

{{/*
The pod grace period: what the component's drain needs (.needed seconds) unless set higher;
lower is refused, since the kubelet would kill calls or answers the drain is still serving.
Arguments: values, needed, what (the values path, for the message).
*/}}
{{- define "voice.grace" -}}
{{- $set := .values.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- .needed -}}
{{- else if lt (int $set) (int .needed) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) is shorter than its drain needs (%d s)" .what (int $set) (int .needed)) -}}
{{- else -}}
{{- $set -}}
{{- end -}}
{{- end -}}
