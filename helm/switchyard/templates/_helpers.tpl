{{/*
Standard helpers: name, fullname, chart, labels, selectorLabels.
*/}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.fullname" -}}
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

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ include "switchyard.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the trial Redis: a name of its own, so that nothing selecting the
hub (its Service, ServiceMonitor, NetworkPolicy) selects Redis too.
*/}}
{{- define "switchyard.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.redisLabels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.redisSelectorLabels" . }}
app.kubernetes.io/component: redis
app.kubernetes.io/version: {{ .Values.redis.trial.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{/* Labels of the `helm test` pods: their own name too (the hub's Service must not route to them). */}}
{{- define "switchyard.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.testLabels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.testSelectorLabels" . }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{/* Labels of one role's objects; call with (dict "root" $ "role" "watcher"). */}}
{{- define "switchyard.roleLabels" -}}
{{ include "switchyard.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "switchyard.roleSelectorLabels" -}}
{{ include "switchyard.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: image.tag, else the chart's appVersion (never "latest"). */}}
{{- define "switchyard.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
An image reference: [registry/]repository, then @digest or :tag. The
registry is global.imageRegistry when set (a mirror for every image of the
release), else the image's own registry. Call with
(dict "root" $ "image" <image values> "tag" <tag when the values have none>).
*/}}
{{- define "switchyard.imageRef" -}}
{{- $registry := .image.registry }}
{{- with .root.Values.global }}{{ with .imageRegistry }}{{ $registry = . }}{{ end }}{{ end }}
{{- $name := .image.repository }}
{{- if $registry }}{{ $name = printf "%s/%s" (trimSuffix "/" $registry) $name }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $name .image.digest }}
{{- else }}
{{- printf "%s:%s" $name (default .tag .image.tag) }}
{{- end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- include "switchyard.imageRef" (dict "root" . "image" .Values.image "tag" (include "switchyard.imageTag" .)) }}
{{- end }}

{{/* Name of the Secret holding the keys (existing, or made by the ExternalSecret). */}}
{{- define "switchyard.secretName" -}}
{{- default (printf "%s-keys" (include "switchyard.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* Secret keys of one chain's delivery signers: secrets.submitterKeys.<chain>, else "<chain>-submitter-key". */}}
{{- define "switchyard.chainKeys" -}}
{{- $keys := get .root.Values.secrets.submitterKeys .chain }}
{{- if not $keys }}{{ $keys = list (printf "%s-submitter-key" .chain) }}{{ end }}
{{- toJson $keys }}
{{- end }}

{{/*
The Secret keys every pod of a role reads, as a JSON list: the queue HMAC
key and the admin token everywhere; where batches are signed (dispatcher,
all) the attester key, or with hubAttesters the tokens (and client
certificates with their keys) presented to the attesters instead (the hub
then holds no attester key). Submitter keys are per replica
(switchyard.replicaKeyItems), never shared.
*/}}
{{- define "switchyard.roleSecretKeys" -}}
{{- $s := .root.Values.secrets }}
{{- $keys := list $s.queueKey }}
{{- $keys = concat $keys ($s.acceptedQueueKeys | default list) }}
{{- if $s.adminTokenKey }}
{{- $keys = append $keys $s.adminTokenKey }}
{{- $keys = concat $keys ($s.acceptedAdminTokenKeys | default list) }}
{{- end }}
{{- if $s.tlsCaKey }}{{ $keys = append $keys $s.tlsCaKey }}{{ end }}
{{- if ne .role "watcher" }}
{{- $attesters := include "switchyard.hubAttesters" .root | fromJsonArray }}
{{- if $attesters }}
{{- range $attesters }}{{ $keys = append $keys .tokenKey }}{{ end }}
{{- range $attesters }}{{ if .clientCertKey }}{{ $keys = concat $keys (list .clientCertKey .clientKeyKey) }}{{ end }}{{ end }}
{{- else }}
{{- $keys = append $keys $s.attesterKey }}
{{- end }}
{{- end }}
{{- toJson (uniq $keys) }}
{{- end }}

{{/*
The most pods a signing role (dispatcher, all) can run at once: its
StatefulSet's ordinals are 0 to this minus one, each with its own keys.
*/}}
{{- define "switchyard.maxReplicas" -}}
{{- if eq .role "all" }}
{{- int .root.Values.all.replicaCount }}
{{- else if .root.Values.dispatcher.autoscaling.enabled }}
{{- int .root.Values.dispatcher.autoscaling.maxReplicas }}
{{- else }}
{{- int .root.Values.dispatcher.replicaCount }}
{{- end }}
{{- end }}

{{/*
The per-replica Secret items of a signing role, as a JSON list of {key,
path}: replica i (pod "<fullname>-<role>-i") reads "<base>-i" for every
submitter key base of every chain, under the directory named by its pod,
which its container mounts alone (subPathExpr). Two pods never read the
same key (the ordinal is the key's last "-" part): each replica sends
transactions with its own nonces.
*/}}
{{- define "switchyard.replicaKeyItems" -}}
{{- $items := list }}
{{- $pod := printf "%s-%s" (include "switchyard.fullname" .root) .role }}
{{- range $i := until (int (include "switchyard.maxReplicas" .)) }}
{{- range $.root.Values.config.chains }}
{{- range (include "switchyard.chainKeys" (dict "root" $.root "chain" .name) | fromJsonArray) }}
{{- $items = append $items (dict "key" (printf "%s-%d" . $i) "path" (printf "%s-%d/%s" $pod $i .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson (uniq $items) }}
{{- end }}

{{/*
The TCP ports of the external Redis, as a JSON list: the port of redis.url,
or of each redis.clusterNodes entry (6379 when a URL names none).
*/}}
{{- define "switchyard.redisUrlPorts" -}}
{{- $urls := list .Values.redis.url }}
{{- if .Values.redis.clusterNodes }}{{ $urls = .Values.redis.clusterNodes }}{{ end }}
{{- include "switchyard.urlPorts" $urls }}
{{- end }}

{{/* The TCP ports of a list of redis:// URLs, as a JSON list (6379 when a URL names none). */}}
{{- define "switchyard.urlPorts" -}}
{{- $ports := list }}
{{- range . }}
{{- $authority := regexReplaceAll "^[A-Za-z]+://([^/?#]*).*$" . "${1}" }}
{{- $hostPort := regexReplaceAll "^.*@" $authority "" }}
{{- $port := regexFind ":[0-9]+$" $hostPort | trimPrefix ":" }}
{{- $ports = append $ports (int (default "6379" $port)) }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end }}

{{/*
The NetworkPolicy egress rules every pod of the release needs besides its
Redis, as YAML list items: DNS first, then the chain endpoints
(networkPolicy.egress.cidrs) and networkPolicy.egress.extraRules. Call with
(dict "root" $ "part" "dns|endpoints").
*/}}
{{- define "switchyard.egressRules" -}}
{{- $eg := .root.Values.networkPolicy.egress }}
{{- if eq .part "dns" }}
# DNS.
- ports:
    {{- range $eg.dns.ports }}
    - port: {{ . }}
      protocol: UDP
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $eg.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- else }}
{{- range $eg.cidrs }}
# Chain endpoints in {{ .cidr }}.
- to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  {{- with .ports }}
  ports:
    {{- range . }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- end }}
{{- end }}
{{- with $eg.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Redis URL the hub uses (the trial Redis when enabled). */}}
{{- define "switchyard.redisUrl" -}}
{{- if .Values.redis.trial.enabled }}
{{- printf "redis://%s-redis:6379" (include "switchyard.fullname" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
One TOML value: strings as JSON strings (a subset of TOML basic strings),
whole numbers without a fraction (Helm reads every number as a float),
lists as arrays, maps as inline tables.
*/}}
{{- define "switchyard.tomlValue" -}}
{{- $v := . }}
{{- if kindIs "map" $v }}
{{- $first := true }}{ {{- range $k, $x := $v }}{{ if not $first }},{{ end }}{{ $first = false }} {{ $k }} = {{ include "switchyard.tomlValue" $x }}{{ end }} }
{{- else if kindIs "slice" $v }}
{{- print "[" }}{{ range $i, $x := $v }}{{ if $i }}, {{ end }}{{ include "switchyard.tomlValue" $x }}{{ end }}{{ print "]" }}
{{- else if kindIs "string" $v }}
{{- toJson $v }}
{{- else if kindIs "bool" $v }}
{{- $v }}
{{- else if or (kindIs "float64" $v) (kindIs "int" $v) (kindIs "int64" $v) }}
{{- if eq (float64 (int64 $v)) (float64 $v) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- fail (printf "config: cannot render %v (%s) as TOML" $v (kindOf $v)) }}
{{- end }}
{{- end }}

{{/* A TOML table body: one `key = value` line per entry. */}}
{{- define "switchyard.tomlTable" -}}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}
{{ $k }} = {{ include "switchyard.tomlValue" $v }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The hub's TOML configuration. Chart-managed parts (Redis, HTTP listener,
secret references to the mounted Secret) are merged into values.config.
*/}}
{{- define "switchyard.hubToml" -}}
{{- if hasKey .Values.config "attesters" }}
{{- fail "config.attesters: list them in hubAttesters (the chart writes [[attesters]] with their token files)" }}
{{- end }}
{{- $dir := .Values.secrets.mountPath }}
{{- $rdir := .Values.secrets.replicaMountPath }}
{{- $redis := dict "url" (include "switchyard.redisUrl" .) "key_prefix" .Values.redis.keyPrefix }}
{{- if and .Values.redis.clusterNodes (not .Values.redis.trial.enabled) }}
{{- $_ := set $redis "cluster_nodes" .Values.redis.clusterNodes }}
{{- end }}
{{- /* Lane appends wait for replicas (hub only: attesters append to no lane);
     written only when on, so configs rendered without it stay as they were. */}}
{{- if gt (int .Values.redis.waitReplicas) 0 }}
{{- if .Values.redis.trial.enabled }}
{{- fail (printf "redis.waitReplicas %d with redis.trial.enabled: the trial Redis has no replica, so every lane append would stall (use waitReplicas 0, or a Redis with a replica per master)" (int .Values.redis.waitReplicas)) }}
{{- end }}
{{- $_ := set $redis "wait_replicas" (int .Values.redis.waitReplicas) }}
{{- $_ := set $redis "wait_timeout_ms" (int .Values.redis.waitTimeoutMs) }}
{{- end }}
{{- $chains := list }}
{{- range .Values.config.chains }}
{{- $c := deepCopy . }}
{{- $keys := include "switchyard.chainKeys" (dict "root" $ "chain" .name) | fromJsonArray }}
{{- $_ := set $c "submitter_key" (dict "file" (printf "%s/%s" $rdir (first $keys))) }}
{{- $extra := list }}
{{- range rest $keys }}{{ $extra = append $extra (dict "file" (printf "%s/%s" $rdir .)) }}{{ end }}
{{- if $extra }}{{ $_ := set $c "extra_submitter_keys" $extra }}{{ end }}
{{- $chains = append $chains $c }}
{{- end -}}
# Rendered by the switchyard chart from values.config; check it with
#   switchyard config check hub.toml
# Secrets are references to files of the mounted Secret, never values;
# submitter keys are each replica's own (its pod's directory of the Secret).
{{- $attesters := include "switchyard.hubAttesters" . | fromJsonArray }}
{{- if $attesters }}
# Batches are signed by the [[attesters]] below: the hub holds no attester key.
{{- else }}
attester_key = { file = {{ printf "%s/%s" $dir .Values.secrets.attesterKey | toJson }} }
{{- end }}
queue_key = { file = {{ printf "%s/%s" $dir .Values.secrets.queueKey | toJson }} }
{{- with .Values.secrets.acceptedQueueKeys }}
accepted_queue_keys = [{{ range $i, $k := . }}{{ if $i }}, {{ end }}{ file = {{ printf "%s/%s" $dir $k | toJson }} }{{ end }}]
{{- end }}
{{- if .Values.secrets.adminTokenKey }}
admin_token = { file = {{ printf "%s/%s" $dir .Values.secrets.adminTokenKey | toJson }} }
{{- with .Values.secrets.acceptedAdminTokenKeys }}
accepted_admin_tokens = [{{ range $i, $k := . }}{{ if $i }}, {{ end }}{ file = {{ printf "%s/%s" $dir $k | toJson }} }{{ end }}]
{{- end }}
{{- end }}

[redis]
{{- include "switchyard.tomlTable" $redis }}

[http]
listen = {{ printf "0.0.0.0:%d" (int .Values.service.port) | toJson }}
{{- if .Values.admin.port }}
{{- if eq (int .Values.admin.port) (int .Values.service.port) }}
{{- fail "admin.port: expected a port other than service.port (or 0 to serve the admin API on it)" }}
{{- end }}
{{- $admin := .Values.admin.address }}
{{- if contains ":" $admin }}{{ $admin = printf "[%s]" $admin }}{{ end }}
# The admin API apart: no Service exposes this port.
admin_listen = {{ printf "%s:%d" $admin (int .Values.admin.port) | toJson }}
{{- end }}

[log]
{{- include "switchyard.tomlTable" .Values.config.log }}

[dispatcher]
{{- include "switchyard.tomlTable" .Values.config.dispatcher }}

[status]
{{- include "switchyard.tomlTable" .Values.config.status }}
{{- $tls := deepCopy (.Values.config.tls | default dict) }}
{{- if .Values.secrets.tlsCaKey }}
{{- $_ := set $tls "ca_file" (printf "%s/%s" $dir .Values.secrets.tlsCaKey) }}
{{- end }}
{{- if $tls }}

[tls]
{{- include "switchyard.tomlTable" $tls }}
{{- end }}
{{- if $attesters }}

# The attesters the dispatchers ask for signatures (hubAttesters); each
# destination Inbox's set and threshold say whose signatures count. The
# token files are mounted in dispatching pods only.
{{- end }}
{{- range $attesters }}

[[attesters]]
name = {{ .name | toJson }}
url = {{ .url | toJson }}
token = { file = {{ printf "%s/%s" $dir .tokenKey | toJson }} }
{{- if .clientCertKey }}
client_cert_file = {{ printf "%s/%s" $dir .clientCertKey | toJson }}
client_key = { file = {{ printf "%s/%s" $dir .clientKeyKey | toJson }} }
{{- end }}
{{- end }}
{{- range $chains }}

[[chains]]
{{- include "switchyard.tomlTable" . }}
{{- end }}
{{- range .Values.config.route_groups }}

[[route_groups]]
{{- include "switchyard.tomlTable" . }}
{{- end }}
{{- range .Values.config.cometbft_origins }}

[[cometbft_origins]]
{{- include "switchyard.tomlTable" . }}
{{- end }}
{{- end }}
