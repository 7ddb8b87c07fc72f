{{/*
One role's Deployment. Called with (dict "root" $ "role" "watcher|dispatcher|all" "v" <role values>).
*/}}
{{- define "switchyard.deployment" -}}
{{- $root := .root }}
{{- $v := .v }}
{{- $name := printf "%s-%s" (include "switchyard.fullname" $root) .role }}
{{- $keys := include "switchyard.roleSecretKeys" (dict "root" $root "role" .role) | fromJsonArray }}
apiVersion: apps/v1
kind: Deployment
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
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
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
          {{- if or $redisSecret $root.Values.extraEnv $v.extraEnv }}
          env:
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
