{{/* Names, labels and the pieces every workload shares. */}}

{{- define "sigilum-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* `include "sigilum-gateway.component" (list . "verifier")` = the component's resource and Service name. */}}
{{- define "sigilum-gateway.component" -}}
{{- printf "%s-%s" (include "sigilum-gateway.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{- define "sigilum-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "sigilum-gateway.labels" -}}
{{ include "sigilum-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ (index . 0).Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{/* The image built from the Dockerfile target of the same name. */}}
{{- define "sigilum-gateway.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s:%s" $root.Values.image.repository (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{- define "sigilum-gateway.namespace" -}}
{{- required "gateway.namespace is required: the Sigilum namespace your agents sign as (see values.yaml)" .Values.gateway.namespace -}}
{{- end -}}

{{- define "sigilum-gateway.secretsName" -}}{{ include "sigilum-gateway.component" (list . "secrets") }}{{- end -}}
{{- define "sigilum-gateway.identityName" -}}{{ include "sigilum-gateway.component" (list . "identity") }}{{- end -}}
{{- define "sigilum-gateway.serviceKeysName" -}}
{{- default (include "sigilum-gateway.component" (list . "service-keys")) .Values.gateway.serviceKeysSecret -}}
{{- end -}}

{{/*
The control plane's URL for every caller: the URL clients sign (its CONTROL_PLANE_PUBLIC_URL), so the gateway's
signed claim submissions and usage reports match it; its Service when no public URL is set.
*/}}
{{- define "sigilum-gateway.controlPlaneUrl" -}}
{{- default (printf "http://%s:8787" (include "sigilum-gateway.component" (list . "control-plane"))) .Values.controlPlane.publicUrl -}}
{{- end -}}

{{/* Pod-level settings shared by every workload: service account token off, security context, scheduling. */}}
{{- define "sigilum-gateway.podSpec" -}}
{{- $root := index . 0 -}}
{{- if eq (index . 1) "bootstrap" }}
serviceAccountName: {{ include "sigilum-gateway.component" (list $root "bootstrap") }}
{{- else }}
automountServiceAccountToken: false
{{- end }}
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ $root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "sigilum-gateway.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{- define "sigilum-gateway.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{/* Liveness and readiness on a service's own health routes. (list root port readyPath) */}}
{{- define "sigilum-gateway.probes" -}}
livenessProbe:
  httpGet: { path: /health/live, port: {{ index . 1 }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: {{ index . 2 }}, port: {{ index . 1 }} }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
startupProbe:
  httpGet: { path: /health/live, port: {{ index . 1 }} }
  periodSeconds: 2
  failureThreshold: 30
{{- end -}}

{{/* Environment every gateway service (verifier, proxy, usage worker) reads. */}}
{{- define "sigilum-gateway.gatewayEnv" -}}
- name: LOG_LEVEL
  value: {{ .Values.gateway.logLevel | quote }}
{{ include "sigilum-gateway.redisEnv" . }}
- name: GATEWAY_SIGILUM_HOME
  value: /sigilum
- name: GATEWAY_SIGILUM_NAMESPACE
  value: {{ include "sigilum-gateway.namespace" . | quote }}
- name: SIGILUM_REGISTRY_URL
  value: {{ include "sigilum-gateway.controlPlaneUrl" . | quote }}
- name: GATEWAY_TRUSTED_PROXY_CIDRS
  value: {{ .Values.gateway.trustedProxyCidrs | quote }}
{{- with .Values.gateway.publicUrl }}
- name: GATEWAY_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: HOME
  value: /tmp
{{- end -}}

{{/* Volumes: the generated secrets, the gateway's Sigilum home (identity + service keys), Redis URL, /tmp. */}}
{{/* Only the generated secrets a component reads: (list root "internal_secret" ...) */}}
{{- define "sigilum-gateway.secretsVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "sigilum-gateway.secretsName" (index . 0) }}
    defaultMode: 0440
    items:
      {{- range (rest .) }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end -}}

{{- define "sigilum-gateway.sigilumHomeVolume" -}}
- name: sigilum-home
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "sigilum-gateway.identityName" . }}
          items:
            - key: identity.json
              path: identities/{{ include "sigilum-gateway.namespace" . }}/identity.json
      - secret:
          name: {{ include "sigilum-gateway.serviceKeysName" . }}
          optional: true
{{- end -}}

{{- define "sigilum-gateway.redisVolume" -}}
{{- if .Values.redis.existingSecret.name }}
- name: redis-url
  secret:
    secretName: {{ .Values.redis.existingSecret.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.redis.existingSecret.key }}
        path: url
{{- end }}
{{- end -}}

{{- define "sigilum-gateway.redisMount" -}}
{{- if .Values.redis.existingSecret.name }}
- name: redis-url
  mountPath: /var/run/sigilum/redis
  readOnly: true
{{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler on CPU, when enabled: (list root "proxy" .Values.proxy) */}}
{{- define "sigilum-gateway.hpa" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $values := index . 2 -}}
{{- if $values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "sigilum-gateway.component" (list $root $name) }}
  labels:
    {{- include "sigilum-gateway.labels" (list $root $name) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "sigilum-gateway.component" (list $root $name) }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget: (list root "proxy" .Values.proxy) */}}
{{- define "sigilum-gateway.pdb" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $values := index . 2 -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "sigilum-gateway.component" (list $root $name) }}
  labels:
    {{- include "sigilum-gateway.labels" (list $root $name) | nindent 4 }}
spec:
  minAvailable: {{ $values.pdb.minAvailable }}
  selector:
    matchLabels:
      {{- include "sigilum-gateway.selectorLabels" (list $root $name) | nindent 6 }}
{{- end -}}

{{/* A Service in front of one component's `http` port: (list root "proxy" port headless) */}}
{{- define "sigilum-gateway.service" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "sigilum-gateway.component" (list $root $name) }}
  labels:
    {{- include "sigilum-gateway.labels" (list $root $name) | nindent 4 }}
    sigilum.dev/metrics: "true"
spec:
  {{- if index . 3 }}
  # Headless: Envoy resolves every ready pod (STRICT_DNS) and balances requests itself.
  clusterIP: None
  {{- end }}
  selector:
    {{- include "sigilum-gateway.selectorLabels" (list $root $name) | nindent 4 }}
  ports:
    - { name: http, port: {{ index . 2 }}, targetPort: http }
{{- end -}}

{{- define "sigilum-gateway.controlPlaneEnv" -}}
- name: CONTROL_PLANE_ADDR
  value: ":8787"
- name: CONTROL_PLANE_PUBLIC_URL
  value: {{ include "sigilum-gateway.controlPlaneUrl" . | quote }}
# Its Service name is answered too (the browser guard refuses unknown Host names).
- name: CONTROL_PLANE_ALLOWED_HOSTS
  value: {{ include "sigilum-gateway.component" (list . "control-plane") | quote }}
- name: CONTROL_PLANE_DATA_DIR
  value: /var/lib/sigilum-control-plane
- name: DATABASE_URL_FILE
  value: /var/run/sigilum/database/url
- name: JWT_SECRET_FILE
  value: /var/run/sigilum/secrets/jwt_secret
{{ include "sigilum-gateway.redisEnv" . }}
{{- with .Values.controlPlane.allowedOrigins }}
- name: ALLOWED_ORIGINS
  value: {{ . | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.gateway.logLevel | quote }}
- name: HOME
  value: /tmp
{{- end -}}

{{/* Redis by URL: plain when it holds no credentials, else from the referenced Secret (REDIS_URL_FILE). */}}
{{- define "sigilum-gateway.redisEnv" -}}
{{- if .Values.redis.existingSecret.name }}
- name: REDIS_URL_FILE
  value: /var/run/sigilum/redis/url
{{- else }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- end }}
- name: REDIS_PREFIX
  value: {{ .Values.redis.prefix | quote }}
{{- end -}}

{{- define "sigilum-gateway.controlPlaneMounts" -}}
- { name: secrets, mountPath: /var/run/sigilum/secrets, readOnly: true }
- { name: database-url, mountPath: /var/run/sigilum/database, readOnly: true }
- { name: data, mountPath: /var/lib/sigilum-control-plane }
- { name: tmp, mountPath: /tmp }
{{- include "sigilum-gateway.redisMount" . }}
{{- end -}}

{{/* The CLI's environment: the same homes, URLs and secret files as the services it administers. */}}
{{- define "sigilum-gateway.cliEnv" -}}
- name: SIGILUM_API_URL
  value: {{ include "sigilum-gateway.controlPlaneUrl" . | quote }}
- name: GATEWAY_ADMIN_URL
  value: {{ printf "http://%s:38120" (include "sigilum-gateway.component" (list . "proxy")) | quote }}
- name: GATEWAY_ADMIN_TOKEN_FILE
  value: /var/run/sigilum/secrets/admin_token
- name: JWT_SECRET_FILE
  value: /var/run/sigilum/secrets/jwt_secret
- name: GATEWAY_SIGILUM_HOME
  value: /sigilum
- name: SIGILUM_NAMESPACE
  value: {{ include "sigilum-gateway.namespace" . | quote }}
# Agent identities made here live in the pod's scratch space, apart from the gateway's identity.
- name: SIGILUM_HOME
  value: /tmp/agents
- name: SIGILUM_DATA_DIR
  value: /tmp/sigilum-data
- name: HOME
  value: /tmp
{{- end -}}
