{{/*
One service's Deployment. Arguments: root, component, values (the component's values), port,
env (extra env YAML), serviceAccount (name or ""), and optionally dataClaim (a PVC mounted at
/data; the Deployment then runs one pod at a time).
*/}}
{{- define "voice.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "voice.fullname" .root }}-{{ .component }}
  labels:
    {{- include "voice.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if .dataClaim }}
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
        {{- include "voice.labels" .root | nindent 8 }}
        {{- include "voice.selector" . | nindent 8 }}
      annotations:
        {{- include "voice.metricsAnnotations" (dict "port" .port) | nindent 8 }}
    spec:
      {{- with .serviceAccount }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- with .root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds | default 30 }}
      securityContext:
        {{- toYaml .root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "voice.image" . }}
          imagePullPolicy: {{ .root.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .port }}
          env:
            {{- include "voice.commonEnv" . | nindent 12 }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- include "voice.extraEnv" .values.env | nindent 12 }}
          {{- include "voice.probes" . | nindent 10 }}
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          securityContext:
            {{- toYaml .root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .dataClaim }}
            - name: data
              mountPath: /data
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- with .dataClaim }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ . }}
        {{- end }}
{{- end -}}
