{{/*
One role's workload. Called with (dict "root" $ "role" "watcher|dispatcher|all" "v" <role values>).
Watchers are a Deployment. The signing roles (dispatcher, all) are a
StatefulSet: its stable ordinals give each pod its own submitter keys
(switchyard.replicaKeyItems), mounted by pod name with subPathExpr.
*/}}
{{- define "switchyard.deployment" -}}
{{- $root := .root }}
{{- $v := .v }}
{{- $name := printf "%s-%s" (include "switchyard.fullname" $root) .role }}
{{- $keys := include "switchyard.roleSecretKeys" (dict "root" $root "role" .role) | fromJsonArray }}
{{- $signs := ne .role "watcher" }}
{{- $replicaItems := list }}
{{- if $signs }}{{ $replicaItems = include "switchyard.replicaKeyItems" (dict "root" $root "role" .role) | fromJsonArray }}{{ end }}
apiVersion: apps/v1
kind: {{ if $signs }}StatefulSet{{ else }}Deployment{{ end }}
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "switchyard.roleLabels" . | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ $root.Values.revisionHistoryLimit }}
  {{- if $signs }}
  serviceName: {{ include "switchyard.fullname" $root }}
  # Replicas share the lanes through leases: no ordering between them.
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  {{- end }}
  selector:
    matchLabels:
      {{- include "switchyard.roleSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "switchyard.roleSelectorLabels" . | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "switchyard.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      containers:
        - name: hub
          image: {{ include "switchyard.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - run
            - --config
            - /etc/switchyard/hub.toml
            - --role
            - {{ .role }}
          {{- $redisSecret := and $root.Values.redis.existingSecret (not $root.Values.redis.trial.enabled) }}
          {{- if or $signs $redisSecret $root.Values.extraEnv $v.extraEnv }}
          env:
            {{- if $signs }}
            # The pod's name picks its own directory of submitter keys.
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- end }}
            {{- if $redisSecret }}
            # The Redis URL may carry a password: from a Secret, overriding redis.url.
            - name: SWITCHYARD__REDIS__URL
              valueFrom:
                secretKeyRef:
                  name: {{ $root.Values.redis.existingSecret }}
                  key: {{ $root.Values.redis.existingSecretUrlKey }}
            {{- end }}
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ $root.Values.service.port }}
              protocol: TCP
            {{- if $root.Values.admin.port }}
            # The admin API; no Service targets it (kubectl port-forward).
            - name: admin
              containerPort: {{ $root.Values.admin.port }}
              protocol: TCP
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/switchyard/hub.toml
              subPath: hub.toml
              readOnly: true
            - name: keys
              mountPath: {{ $root.Values.secrets.mountPath }}
              readOnly: true
            {{- if $replicaItems }}
            - name: replica-keys
              mountPath: {{ $root.Values.secrets.replicaMountPath }}
              subPathExpr: $(POD_NAME)
              readOnly: true
            {{- end }}
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: config
          configMap:
            name: {{ include "switchyard.fullname" $root }}-config
        - name: keys
          secret:
            secretName: {{ include "switchyard.secretName" $root }}
            defaultMode: 0440
            # Only the keys this role reads (watchers never see signer keys).
            items:
              {{- range $keys }}
              - key: {{ . }}
                path: {{ . }}
              {{- end }}
        {{- if $replicaItems }}
        - name: replica-keys
          secret:
            secretName: {{ include "switchyard.secretName" $root }}
            defaultMode: 0440
            items:
              {{- range $replicaItems }}
              - key: {{ .key }}
                path: {{ .path }}
              {{- end }}
        {{- end }}
        - name: tmp
          emptyDir:
            medium: Memory
            sizeLimit: 16Mi
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml $v.topologySpreadConstraints | nindent 8 }}
      {{- else if $root.Values.defaultTopologySpread }}
      # Replicas of a role spread over nodes when the scheduler can.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "switchyard.roleSelectorLabels" . | nindent 14 }}
      {{- end }}
{{- end }}

{{/* One role's PodDisruptionBudget. Same arguments as switchyard.deployment. */}}
{{- define "switchyard.pdb" -}}
{{- $v := .v }}
{{- if $v.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "switchyard.fullname" .root }}-{{ .role }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchyard.roleLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $v.podDisruptionBudget.minAvailable) }}
  minAvailable: {{ $v.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $v.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "switchyard.roleSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
