{{/*
Helpers of the attesters (`switchyard run --role attester`) and of the hub's
side of them (hubAttesters). docs/operations.md, "Running attesters as
separate operators".
*/}}

{{/* "true" when the release runs a hub (mode split or all), else empty. */}}
{{- define "switchyard.hubEnabled" -}}
{{- if ne .Values.mode "none" }}true{{ end }}
{{- end }}

{{/*
Labels of an attester's objects; call with (dict "root" $ "name" <attester
name>). A name of their own (<chart>-attester), so that nothing selecting
the hub (its Service, ServiceMonitor, NetworkPolicy) selects an attester,
and a label naming the attester, so that nothing selecting one attester
selects another.
*/}}
{{- define "switchyard.attesterSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" .root }}-attester
app.kubernetes.io/instance: {{ .root.Release.Name }}
switchyard.io/attester: {{ .name }}
{{- end }}

{{- define "switchyard.attesterLabels" -}}
helm.sh/chart: {{ include "switchyard.chart" .root }}
{{ include "switchyard.attesterSelectorLabels" . }}
app.kubernetes.io/component: attester
app.kubernetes.io/version: {{ include "switchyard.imageTag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- end }}

{{/* Every attester of the release (its ServiceMonitor). */}}
{{- define "switchyard.attestersSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}-attester
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The attesters of this release as a JSON list: attesterDefaults merged with
each attesters entry (maps key by key, lists replaced), and what the
templates derive: object (the name of its objects), secretName, keyPrefix,
redisUrl (the trial Redis when none is given), trialRedis, replicas. Refuses
what a schema cannot: a name twice, an object name over 63 characters, no
Redis, the hub's Redis with the hub's prefix, keys the chart writes itself.
*/}}
{{- define "switchyard.attesters" -}}
{{- $root := . }}
{{- $defaults := .Values.attesterDefaults }}
{{- $full := include "switchyard.fullname" . }}
{{- $hubUrl := include "switchyard.redisUrl" . }}
{{- $hubNodes := list }}
{{- if not .Values.redis.trial.enabled }}{{ $hubNodes = .Values.redis.clusterNodes | default list }}{{ end }}
{{- $out := list }}
{{- $seen := list }}
{{- range $i, $e := .Values.attesters }}
{{- $a := mergeOverwrite (deepCopy $defaults) (deepCopy $e) }}
{{- $where := printf "attesters[%d] (%s)" $i $a.name }}
{{- if has $a.name $seen }}
{{- fail (printf "%s: the name %s is taken by an earlier entry" $where $a.name) }}
{{- end }}
{{- $seen = append $seen $a.name }}
{{- /* mergeOverwrite keeps a default over a zero: replicaCount 0 is read from the entry. */}}
{{- $_ := set $a "replicas" (int (ternary $e.replicaCount $defaults.replicaCount (hasKey $e "replicaCount"))) }}
{{- $object := printf "%s-attester-%s" $full $a.name }}
{{- if gt (len $object) 63 }}
{{- fail (printf "%s: the object name %s is longer than 63 characters: shorten the name, nameOverride or fullnameOverride" $where $object) }}
{{- end }}
{{- $_ := set $a "object" $object }}
{{- $_ := set $a "secretName" (default (printf "%s-keys" $object) $a.secret.existingSecret) }}
{{- $_ := set $a "keyPrefix" (default (printf "attester-%s" $a.name) $a.redis.keyPrefix) }}
{{- $_ := set $a "trialRedis" false }}
{{- if $a.redis.clusterNodes }}
{{- $_ := set $a "redisUrl" (first $a.redis.clusterNodes) }}
{{- else if $a.redis.url }}
{{- $_ := set $a "redisUrl" $a.redis.url }}
{{- else if $root.Values.redis.trial.enabled }}
{{- $_ := set $a "redisUrl" (printf "redis://%s-redis:6379" $full) }}
{{- $_ := set $a "trialRedis" true }}
{{- else }}
{{- fail (printf "%s: redis.url or redis.clusterNodes is required: an attester keeps what it verified in a Redis of its own" $where) }}
{{- end }}
{{- if include "switchyard.hubEnabled" $root }}
{{- $sameRedis := false }}
{{- if $a.redis.clusterNodes }}
{{- $sameRedis = and $hubNodes (eq (toJson (sortAlpha $a.redis.clusterNodes)) (toJson (sortAlpha $hubNodes))) }}
{{- else }}
{{- $sameRedis = and (not $hubNodes) (eq $a.redisUrl $hubUrl) }}
{{- end }}
{{- if and $sameRedis (eq $a.keyPrefix $root.Values.redis.keyPrefix) }}
{{- fail (printf "%s: redis is the hub's Redis with the hub's key prefix %q: an attester keeps its records apart from the hub's (another Redis, or another database and redis.keyPrefix)" $where $a.keyPrefix) }}
{{- end }}
{{- end }}
{{- $cfg := $a.config | default dict }}
{{- if $cfg.accepted_queue_keys }}
{{- fail (printf "%s: config.accepted_queue_keys: an attester holds no queue key (the hub's lanes are not its input)" $where) }}
{{- end }}
{{- if hasKey $cfg "attesters" }}
{{- fail (printf "%s: config.attesters: an attester asks no other attester (hubAttesters is the hub's list)" $where) }}
{{- end }}
{{- if kindIs "map" $cfg.attestation }}
{{- if hasKey $cfg.attestation "tokens" }}
{{- fail (printf "%s: config.attestation.tokens: the chart writes them from secret.tokenKeys (files of the attester's Secret)" $where) }}
{{- end }}
{{- range list "listen" "tls_cert_file" "tls_key" "client_ca_file" }}
{{- if hasKey $cfg.attestation . }}
{{- fail (printf "%s: config.attestation.%s: the chart writes it from tls (tls.enabled, tls.port, tls.secretName, tls.requireClientCertificates)" $where .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $a.tls.enabled }}
{{- if not $a.tls.secretName }}
{{- fail (printf "%s: tls.secretName is required with tls.enabled: a Secret of type kubernetes.io/tls (tls.crt, tls.key; ca.crt with tls.requireClientCertificates)" $where) }}
{{- end }}
{{- if eq (int $a.tls.port) (int $a.service.port) }}
{{- fail (printf "%s: tls.port %d is service.port: POST /v1/attest is served over HTTPS on a port of its own, the rest stays plain HTTP on service.port" $where (int $a.tls.port)) }}
{{- end }}
{{- if $a.ingress.enabled }}
{{- fail (printf "%s: ingress.enabled and tls.enabled are alternatives: the Ingress routes to the plain HTTP port, which no longer serves POST /v1/attest with tls.enabled (let the ingress controller terminate TLS, and ask for client certificates, or serve HTTPS in the attester without an Ingress)" $where) }}
{{- end }}
{{- else if $a.tls.requireClientCertificates }}
{{- fail (printf "%s: tls.requireClientCertificates needs tls.enabled: client certificates are asked for in a TLS handshake" $where) }}
{{- end }}
{{- $out = append $out $a }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* The Secret keys an attester's pod mounts, as a JSON list. Call with the attester (switchyard.attesters). */}}
{{- define "switchyard.attesterSecretKeys" -}}
{{- $keys := list .secret.attesterKey }}
{{- $keys = concat $keys .secret.tokenKeys }}
{{- if .secret.tlsCaKey }}{{ $keys = append $keys .secret.tlsCaKey }}{{ end }}
{{- toJson (uniq $keys) }}
{{- end }}

{{/* Where an attester's pod mounts its tls.secretName (the HTTPS listener's certificate). */}}
{{- define "switchyard.attestTlsDir" -}}
/etc/switchyard/attest-tls
{{- end }}

{{/* The keys of an attester's tls.secretName its pod mounts, as a JSON list. Call with the attester. */}}
{{- define "switchyard.attestTlsKeys" -}}
{{- $keys := list "tls.crt" "tls.key" }}
{{- if .tls.requireClientCertificates }}{{ $keys = append $keys "ca.crt" }}{{ end }}
{{- toJson $keys }}
{{- end }}

{{/*
An attester's TOML configuration: its config value, with what the chart
writes (role, attester_key, attestation.tokens, redis, http, tls.ca_file,
and with tls.enabled attestation.listen, tls_cert_file, tls_key,
client_ca_file). Call with (dict "root" $ "a" <attester>).
*/}}
{{- define "switchyard.attesterToml" -}}
{{- $a := .a }}
{{- $dir := .root.Values.secrets.mountPath }}
{{- $doc := deepCopy ($a.config | default dict) }}
{{- $redis := dict "url" $a.redisUrl "key_prefix" $a.keyPrefix }}
{{- with $a.redis.clusterNodes }}{{ $_ := set $redis "cluster_nodes" . }}{{ end }}
{{- $_ := set $doc "redis" $redis }}
{{- $_ := set $doc "http" (dict "listen" (printf "0.0.0.0:%d" (int $a.service.port))) }}
{{- $attestation := deepCopy (get $doc "attestation" | default dict) }}
{{- $tokens := list }}
{{- range $a.secret.tokenKeys }}{{ $tokens = append $tokens (dict "file" (printf "%s/%s" $dir .)) }}{{ end }}
{{- $_ := set $attestation "tokens" $tokens }}
{{- if $a.tls.enabled }}
{{- /* POST /v1/attest over HTTPS on its own listener; http.listen keeps the rest. */}}
{{- $tdir := include "switchyard.attestTlsDir" . }}
{{- $_ := set $attestation "listen" (printf "0.0.0.0:%d" (int $a.tls.port)) }}
{{- $_ := set $attestation "tls_cert_file" (printf "%s/tls.crt" $tdir) }}
{{- $_ := set $attestation "tls_key" (dict "file" (printf "%s/tls.key" $tdir)) }}
{{- if $a.tls.requireClientCertificates }}
{{- $_ := set $attestation "client_ca_file" (printf "%s/ca.crt" $tdir) }}
{{- end }}
{{- end }}
{{- $_ := set $doc "attestation" $attestation }}
{{- if $a.secret.tlsCaKey }}
{{- $tls := deepCopy (get $doc "tls" | default dict) }}
{{- $_ := set $tls "ca_file" (printf "%s/%s" $dir $a.secret.tlsCaKey) }}
{{- $_ := set $doc "tls" $tls }}
{{- end -}}
# Rendered by the switchyard chart for attester {{ $a.name }} from its config
# value; check it with
#   switchyard config check attester.toml
# An attester holds no queue key and never reads the hub's Redis. Secrets are
# references to files of its own mounted Secret ({{ $a.secretName }}), never values.
role = "attester"
attester_key = { file = {{ printf "%s/%s" $dir $a.secret.attesterKey | toJson }} }
{{- include "switchyard.tomlDocument" $doc }}
{{- end }}

{{/*
A whole TOML document from a map: plain keys first (TOML puts them before
any table), then one [table] per map, then one [[table]] per entry of each
list of maps.
*/}}
{{- define "switchyard.tomlDocument" -}}
{{- range $k, $v := . }}
{{- if not (or (kindIs "map" $v) (include "switchyard.isTableList" $v) (kindIs "invalid" $v)) }}
{{ $k }} = {{ include "switchyard.tomlValue" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := . }}
{{- if kindIs "map" $v }}

[{{ $k }}]
{{- include "switchyard.tomlTable" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := . }}
{{- if include "switchyard.isTableList" $v }}
{{- range $v }}

[[{{ $k }}]]
{{- include "switchyard.tomlTable" . }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" for a non-empty list of maps (an array of TOML tables). Nested ifs: older Helm evaluates every argument of `and`. */}}
{{- define "switchyard.isTableList" -}}
{{- if kindIs "slice" . }}{{ if . }}{{ if kindIs "map" (first .) }}true{{ end }}{{ end }}{{ end }}
{{- end }}

{{/*
The hub's [[attesters]] as a JSON list of {name, url, tokenKey,
clientCertKey, clientKeyKey, local, port}: url defaults to the Service of the
release's attester of the same name (local is then its name, port the one
the dispatchers dial): http:// on its service.port, or https:// on its
tls.port with its tls.enabled. tokenKey defaults to "<name>-attester-token";
clientCertKey and clientKeyKey (a client certificate, mutual TLS) are both
set or neither, with an https:// url.
*/}}
{{- define "switchyard.hubAttesters" -}}
{{- if and .Values.hubAttesters (not (include "switchyard.hubEnabled" .)) }}
{{- fail "hubAttesters: mode none runs no hub to ask them (list them in the values of the hub's release)" }}
{{- end }}
{{- $local := dict }}
{{- range include "switchyard.attesters" . | fromJsonArray }}{{ $_ := set $local .name . }}{{ end }}
{{- $out := list }}
{{- $seen := list }}
{{- range $i, $h := .Values.hubAttesters }}
{{- if has $h.name $seen }}
{{- fail (printf "hubAttesters[%d]: the name %s is listed twice" $i $h.name) }}
{{- end }}
{{- $seen = append $seen $h.name }}
{{- $r := dict "name" $h.name "tokenKey" (default (printf "%s-attester-token" $h.name) $h.tokenKey) "local" "" }}
{{- $cert := $h.clientCertKey | default "" }}
{{- $key := $h.clientKeyKey | default "" }}
{{- if and $cert (not $key) }}
{{- fail (printf "hubAttesters[%d] (%s): clientCertKey without clientKeyKey: the client certificate's private key is required with it (both or neither)" $i $h.name) }}
{{- end }}
{{- if and $key (not $cert) }}
{{- fail (printf "hubAttesters[%d] (%s): clientKeyKey without clientCertKey: the client certificate is required with its key (both or neither)" $i $h.name) }}
{{- end }}
{{- $_ := set $r "clientCertKey" $cert }}
{{- $_ := set $r "clientKeyKey" $key }}
{{- if $h.url }}
{{- $_ := set $r "url" $h.url }}
{{- else }}
{{- $a := get $local $h.name }}
{{- if not $a }}
{{- fail (printf "hubAttesters[%d] (%s): no url, and this release runs no attester named %s (attesters[].name)" $i $h.name $h.name) }}
{{- end }}
{{- if $a.tls.enabled }}
{{- if and $a.tls.requireClientCertificates (not $cert) }}
{{- fail (printf "hubAttesters[%d] (%s): attester %s of this release requires client certificates (tls.requireClientCertificates): set clientCertKey and clientKeyKey (keys of the hub's Secret)" $i $h.name $h.name) }}
{{- end }}
{{- $_ := set $r "url" (printf "https://%s.%s.svc:%d" $a.object $.Release.Namespace (int $a.tls.port)) }}
{{- $_ := set $r "port" (int $a.tls.port) }}
{{- else }}
{{- $_ := set $r "url" (printf "http://%s.%s.svc:%d" $a.object $.Release.Namespace (int $a.service.port)) }}
{{- $_ := set $r "port" (int $a.service.port) }}
{{- end }}
{{- $_ := set $r "local" $a.name }}
{{- end }}
{{- if and $cert (not (hasPrefix "https://" $r.url)) }}
{{- $hint := "" }}
{{- if not $h.url }}{{ $hint = printf " (set tls.enabled of this release's attester %s)" $h.name }}{{ end }}
{{- fail (printf "hubAttesters[%d] (%s): a client certificate (clientCertKey) is presented in a TLS handshake: expected an https:// url, got %s%s" $i $h.name $r.url $hint) }}
{{- end }}
{{- $out = append $out $r }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* The /readyz URLs the `helm test` pod asks, as a JSON list: the hub's Service, then each running attester's. */}}
{{- define "switchyard.testUrls" -}}
{{- $urls := list }}
{{- if include "switchyard.hubEnabled" . }}
{{- $urls = append $urls (printf "http://%s.%s.svc:%d/readyz" (include "switchyard.fullname" .) .Release.Namespace (int .Values.service.port)) }}
{{- end }}
{{- range include "switchyard.attesters" . | fromJsonArray }}
{{- if gt (int .replicas) 0 }}
{{- $urls = append $urls (printf "http://%s.%s.svc:%d/readyz" .object $.Release.Namespace (int .service.port)) }}
{{- end }}
{{- end }}
{{- toJson $urls }}
{{- end }}
