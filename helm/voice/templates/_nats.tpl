{{/*
nats.conf. Arguments: root, name, permissions (by service, from files/nats-permissions.json),
services (the NKEY users to configure).
*/}}
{{- define "voice.natsConfig" -}}
{{- $n := .root.Values.nats -}}
port: 4222
http_port: 8222
server_name: $POD_NAME
lame_duck_duration: {{ $n.lameDuckDurationSeconds }}s
pid_file: /var/run/nats/nats.pid
jetstream {
  store_dir: /data
  # The volume's size: JetStream refuses writes rather than filling the disk.
  max_file_store: {{ $n.jetstream.storageSize }}
}
{{- if $n.tls.enabled }}
tls {
  cert_file: /etc/nats-tls/tls.crt
  key_file: /etc/nats-tls/tls.key
  ca_file: /etc/nats-tls/ca.crt
  timeout: 5
}
{{- end }}
{{- if gt (int $n.replicas) 1 }}
cluster {
  name: {{ .name }}
  port: 6222
  routes: [
    {{- range $i := until (int $n.replicas) }}
    nats://{{ $.name }}-{{ $i }}.{{ $.name }}-cluster:6222
    {{- end }}
  ]
  {{- if $n.tls.enabled }}
  tls {
    cert_file: /etc/nats-tls/tls.crt
    key_file: /etc/nats-tls/tls.key
    ca_file: /etc/nats-tls/ca.crt
    verify: true
    timeout: 5
  }
  {{- end }}
}
{{- end }}
{{- if $n.auth.enabled }}
# One NKEY user per service, allowed what the channel table says it sends and receives
# (files/nats-permissions.json, generated from proto/).
authorization {
  users: [
    {{- range .services }}
    {nkey: ${{ include "voice.nkeyVariable" . }}, permissions: {{ get $.permissions . | toRawJson }}}
    {{- end }}
    {{- range $n.auth.extraUsers }}
    {{ toRawJson . }}
    {{- end }}
  ]
}
{{- end }}
{{- end -}}
