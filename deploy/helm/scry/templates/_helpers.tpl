{{/*
Names. The fullname is the release name when it contains "scry", else
<release>-scry; it is cut to 40 characters so that the longest name made
from it (<fullname>-collector-headless) is a valid DNS label and the
StatefulSets' pod labels stay within 63 characters.
*/}}
{{- define "scry.fullname" -}}
{{- if contains "scry" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-scry" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of an object: include "scry.labels" (dict "ctx" $ "name" "scry-collector" "component" "collector").
*/}}
{{- define "scry.labels" -}}
helm.sh/chart: {{ include "scry.chart" .ctx }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: scry
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
{{ include "scry.selectorLabels" . }}
{{- end -}}

{{- define "scry.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{/* The image of a Scry binary: include "scry.image" (dict "ctx" $ "binary" "scry-query"). */}}
{{- define "scry.image" -}}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .binary (toString .ctx.Values.image.tag) -}}
{{- end -}}

{{/*
--memory-limit-mb of a component: its memoryLimitMB, or 80% of its memory
limit (given in Mi or Gi).
*/}}
{{- define "scry.memoryLimitMB" -}}
{{- if .memoryLimitMB -}}
{{- .memoryLimitMB -}}
{{- else -}}
{{- $m := toString .resources.limits.memory -}}
{{- if hasSuffix "Gi" $m -}}
{{- div (mul (trimSuffix "Gi" $m | atoi) 1024 8) 10 -}}
{{- else if hasSuffix "Mi" $m -}}
{{- div (mul (trimSuffix "Mi" $m | atoi) 8) 10 -}}
{{- else -}}
{{- fail (printf "cannot derive --memory-limit-mb from the memory limit %q: give the limit in Mi or Gi, or set memoryLimitMB" $m) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Liveness and readiness probes on the admin port: include "scry.probes"
(dict "https" true) when the admin listener serves TLS (the kubelet does
not check the certificate; /healthz and /readyz need no credential).
*/}}
{{- define "scry.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
    {{- if .https }}
    scheme: HTTPS
    {{- end }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
    {{- if .https }}
    scheme: HTTPS
    {{- end }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* What every pod of the chart has in its spec. */}}
{{- define "scry.podDefaults" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Scheduling settings of a component: include "scry.scheduling" .Values.collector. */}}
{{- define "scry.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The UI's Service: scry in allInOne, scry-query in production and scaleOut. */}}
{{- define "scry.uiService" -}}
{{- if ne .Values.mode "allInOne" -}}
{{- printf "%s-query" (include "scry.fullname" .) -}}
{{- else -}}
{{- include "scry.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Where agents send (--collector) and ask for sampling strategies (--sampling-url). */}}
{{- define "scry.agentCollector" -}}
{{- if ne .Values.mode "allInOne" -}}
{{- printf "%s-collector-headless.%s.svc.cluster.local:4317" (include "scry.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- printf "%s.%s.svc.cluster.local:4317" (include "scry.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "scry.agentSamplingURL" -}}
{{- $scheme := ternary "https" "http" (eq (include "scry.tlsOn" .) "true") -}}
{{- if ne .Values.mode "allInOne" -}}
{{- printf "%s://%s-collector.%s.svc.cluster.local:14268/api/sampling" $scheme (include "scry.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- printf "%s://%s.%s.svc.cluster.local:14268/api/sampling" $scheme (include "scry.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
The scry-agent container: include "scry.agentContainer" (dict "ctx" $ "agent" .Values.agent.sidecar "hostPorts" false).
*/}}
{{- define "scry.agentContainer" -}}
- name: scry-agent
  image: {{ include "scry.image" (dict "ctx" .ctx "binary" "scry-agent") }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  args:
    - --collector={{ include "scry.agentCollector" .ctx }}
    - --otlp-grpc-addr=0.0.0.0:4317
    - --otlp-http-addr=0.0.0.0:4318
    - --udp-compact-addr=0.0.0.0:6831
    - --udp-binary-addr=0.0.0.0:6832
    - --sampling-addr=0.0.0.0:5778
    - --sampling-url={{ include "scry.agentSamplingURL" .ctx }}
    - --admin-addr=0.0.0.0:14271
    - --buffer-bytes={{ int64 .agent.bufferBytes }}
    - --spool-dir=/spool
    - --spool-bytes={{ int64 .agent.spoolBytes }}
    - --memory-limit-mb={{ include "scry.memoryLimitMB" .agent }}
    {{- with include "scry.clientArgs" (dict "ctx" .ctx "side" "collector" "tokenSecret" .ctx.Values.auth.agentTokenSecret) }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- if .ctx.Values.multiTenancy.enabled }}
    - --tenant-header={{ .ctx.Values.multiTenancy.header }}
    {{- end }}
    {{- with .ctx.Values.agent.tenant }}
    - --tenant={{ . }}
    {{- end }}
    {{- with .ctx.Values.agent.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: otlp-grpc
      containerPort: 4317
      {{- if .hostPorts }}
      hostPort: 4317
      {{- end }}
    - name: otlp-http
      containerPort: 4318
      {{- if .hostPorts }}
      hostPort: 4318
      {{- end }}
    - name: jaeger-compact
      containerPort: 6831
      {{- if .hostPorts }}
      hostPort: 6831
      {{- end }}
      protocol: UDP
    - name: jaeger-binary
      containerPort: 6832
      {{- if .hostPorts }}
      hostPort: 6832
      {{- end }}
      protocol: UDP
    - name: sampling
      containerPort: 5778
      {{- if .hostPorts }}
      hostPort: 5778
      {{- end }}
    - name: admin
      containerPort: 14271
  {{- include "scry.probes" (dict "https" false) | nindent 2 }}
  resources:
    {{- toYaml .agent.resources | nindent 4 }}
  securityContext:
    {{- toYaml .ctx.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: spool
      mountPath: /spool
    {{- with include "scry.clientMounts" (dict "ctx" .ctx "tls" true "tokenSecret" .ctx.Values.auth.agentTokenSecret) | trim }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The spool volume of an agent: a quarter more room than --spool-bytes, in MiB. */}}
{{- define "scry.agentSpoolVolume" -}}
- name: spool
  emptyDir:
    sizeLimit: {{ printf "%dMi" (div (mul (div (int64 .spoolBytes) 1048576) 5) 4) }}
{{- end -}}

{{/*
The store's flags beyond --retention (retention by size and kind, the free
disk margin), one list item a line; only the values that are set.
*/}}
{{- define "scry.storeArgs" -}}
{{- $args := list -}}
{{- range $flag, $key := dict "retention-size" "retentionSize" "retention-errors" "retentionErrors" "retention-slow" "retentionSlow" "slow-threshold" "slowThreshold" "min-free-disk" "minFreeDisk" -}}
{{- with index $ $key -}}
{{- $args = append $args (printf "- --%s=%v" $flag .) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $args -}}
{{- end -}}


{{/*
Security: TLS, credentials, limits and tenants. The files come from
Secrets and a ConfigMap mounted read-only under /etc/scry; the binaries
look at them again when they change (--tls-reload-interval,
--auth-reload-interval, --limits-reload-interval), so a rotated
certificate or an edited Secret needs no restart.
*/}}
{{- define "scry.tlsOn" -}}
{{- if .Values.tls.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The flags of a serving binary (scry, scry-collector, scry-query), one list
item a line: TLS on every listener (the admin listener without client
certificates, for the kubelet's probes), --auth-file, --limits-file and
tenancy. include "scry.serverArgs" (dict "ctx" $ "limits" true).
*/}}
{{- define "scry.serverArgs" -}}
{{- $v := .ctx.Values -}}
{{- $args := list -}}
{{- if $v.tls.enabled -}}
{{- $args = append $args "- --tls-cert-file=/etc/scry/tls/tls.crt" -}}
{{- $args = append $args "- --tls-key-file=/etc/scry/tls/tls.key" -}}
{{- $args = append $args (printf "- --tls-min-version=%v" $v.tls.minVersion) -}}
{{- if $v.tls.clientCA.secretName -}}
{{- $args = append $args "- --tls-client-ca-file=/etc/scry/client-ca/ca.crt" -}}
{{- $args = append $args "- --admin-tls-client-ca-file=" -}}
{{- end -}}
{{- end -}}
{{- if $v.auth.secretName -}}
{{- $args = append $args "- --auth-file=/etc/scry/auth/auth.yaml" -}}
{{- end -}}
{{- if and .limits $v.limits -}}
{{- $args = append $args "- --limits-file=/etc/scry/limits/limits.yaml" -}}
{{- end -}}
{{- if $v.multiTenancy.enabled -}}
{{- $args = append $args "- --multi-tenancy.enabled=true" -}}
{{- $args = append $args (printf "- --multi-tenancy.header=%s" $v.multiTenancy.header) -}}
{{- with $v.multiTenancy.tenants -}}
{{- $args = append $args (printf "- --multi-tenancy.tenants=%s" (join "," .)) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $args -}}
{{- end -}}

{{/* The volume mounts of scry.serverArgs' files. */}}
{{- define "scry.serverMounts" -}}
{{- $v := .ctx.Values -}}
{{- if $v.tls.enabled }}
- name: tls
  mountPath: /etc/scry/tls
  readOnly: true
{{- if $v.tls.clientCA.secretName }}
- name: client-ca
  mountPath: /etc/scry/client-ca
  readOnly: true
{{- end }}
{{- end }}
{{- if $v.auth.secretName }}
- name: auth
  mountPath: /etc/scry/auth
  readOnly: true
{{- end }}
{{- if and .limits $v.limits }}
- name: limits
  mountPath: /etc/scry/limits
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The volumes of scry.serverArgs' files. The auth file must not be readable
by group or others (the binary refuses it): defaultMode 0400. Certificates
and keys: 0440, readable through the pod's fsGroup.
*/}}
{{- define "scry.serverVolumes" -}}
{{- $v := .ctx.Values -}}
{{- if $v.tls.enabled }}
- name: tls
  secret:
    secretName: {{ $v.tls.secretName }}
    defaultMode: 0440
{{- if $v.tls.clientCA.secretName }}
- name: client-ca
  secret:
    secretName: {{ $v.tls.clientCA.secretName }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- if $v.auth.secretName }}
- name: auth
  secret:
    secretName: {{ $v.auth.secretName }}
    defaultMode: 0400
    items:
      - key: auth.yaml
        path: auth.yaml
{{- end }}
{{- if and .limits $v.limits }}
- name: limits
  configMap:
    name: {{ include "scry.fullname" .ctx }}-limits
{{- end }}
{{- end -}}

{{/*
The flags of a dialing side, one list item a line: the agent to collectors
(side "collector") or scry-query to their storage API (side "storage").
TLS checks the collectors' certificates against ca.crt of tls.secretName
and, with tls.clientCA, presents tls.crt; a bearer token from the Secret
tokenSecret (key token).
*/}}
{{- define "scry.clientArgs" -}}
{{- $v := .ctx.Values -}}
{{- $args := list -}}
{{- if $v.tls.enabled -}}
{{- $args = append $args (printf "- --%s-tls-ca-file=/etc/scry/tls/ca.crt" .side) -}}
{{- $args = append $args (printf "- --%s-tls-min-version=%v" .side $v.tls.minVersion) -}}
{{- with $v.tls.serverName -}}
{{- $args = append $args (printf "- --%s-tls-server-name=%s" $.side .) -}}
{{- end -}}
{{- if $v.tls.clientCA.secretName -}}
{{- $args = append $args (printf "- --%s-tls-cert-file=/etc/scry/tls/tls.crt" .side) -}}
{{- $args = append $args (printf "- --%s-tls-key-file=/etc/scry/tls/tls.key" .side) -}}
{{- end -}}
{{- end -}}
{{- if .tokenSecret -}}
{{- $args = append $args (printf "- --%s-auth-token-file=/etc/scry/token/token" .side) -}}
{{- end -}}
{{- join "\n" $args -}}
{{- end -}}

{{/*
The volume mounts and volumes of scry.clientArgs' files:
include "scry.clientMounts" (dict "ctx" $ "tls" true "tokenSecret" "...");
"tls" false where scry.serverMounts mounts the tls volume already.
*/}}
{{- define "scry.clientMounts" -}}
{{- if and .ctx.Values.tls.enabled .tls }}
- name: tls
  mountPath: /etc/scry/tls
  readOnly: true
{{- end }}
{{- if .tokenSecret }}
- name: token
  mountPath: /etc/scry/token
  readOnly: true
{{- end }}
{{- end -}}

{{- define "scry.clientVolumes" -}}
{{- if and .ctx.Values.tls.enabled .tls }}
- name: tls
  secret:
    secretName: {{ .ctx.Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if .tokenSecret }}
- name: token
  secret:
    secretName: {{ .tokenSecret }}
    defaultMode: 0440
    items:
      - key: token
        path: token
{{- end }}
{{- end -}}

{{/*
The scale-out topology: the NATS client URL the Scry binaries connect to
(the client Service), and the routes of the nats-servers to each other.
*/}}
{{- define "scry.natsURL" -}}
{{- printf "nats://%s-nats-client:4222" (include "scry.fullname" .) -}}
{{- end -}}

{{- define "scry.natsRoutes" -}}
{{- $name := include "scry.fullname" . -}}
{{- range $i := until (int .Values.nats.replicas) }}
nats://{{ $name }}-nats-{{ $i }}.{{ $name }}-nats.{{ $.Release.Namespace }}.svc:6222
{{- end }}
{{- end -}}
