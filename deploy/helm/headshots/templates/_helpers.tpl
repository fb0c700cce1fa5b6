{{/* vim: set filetype=mustache: */}}

{{/* ===================================================================== */}}
{{/* Names                                                                  */}}
{{/* ===================================================================== */}}

{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "headshots.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name: <release>-<chart>, or just <release> when the release
name already contains the chart name. Truncated to 63 characters.
*/}}
{{- define "headshots.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Name of one component's objects: <fullname>-<component>.
Usage: {{ include "headshots.componentName" (dict "component" "gateway-web" "context" $) }}
*/}}
{{- define "headshots.componentName" -}}
{{- printf "%s-%s" (include "headshots.fullname" .context) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "headshots.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of the ServiceAccount the workloads run as.
*/}}
{{- define "headshots.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "headshots.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Name of the RayService, and of the serve Service KubeRay creates for it.
*/}}
{{- define "headshots.renderer.rayServiceName" -}}
{{- include "headshots.componentName" (dict "component" "renderer" "context" .) -}}
{{- end -}}

{{- define "headshots.renderer.serveServiceName" -}}
{{- printf "%s-serve-svc" (include "headshots.renderer.rayServiceName" .) -}}
{{- end -}}

{{/*
Name of the Strimzi Kafka cluster the chart creates (kafka.strimzi.enabled).
*/}}
{{- define "headshots.kafka.clusterName" -}}
{{- default (include "headshots.componentName" (dict "component" "kafka" "context" .)) .Values.kafka.strimzi.clusterName -}}
{{- end -}}

{{/*
Kafka bootstrap servers: the Strimzi cluster's bootstrap Service when the chart
creates the cluster, the external kafka.bootstrapServers otherwise.
*/}}
{{- define "headshots.kafka.bootstrapServers" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" (include "headshots.kafka.clusterName" .) -}}
{{- else -}}
{{- required "kafka.bootstrapServers is required when kafka.strimzi.enabled is false" .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/*
Strimzi cluster that owns the KafkaTopic resources (strimzi.io/cluster label),
or empty when no KafkaTopic is rendered.
*/}}
{{- define "headshots.kafka.topicsClusterName" -}}
{{- if .Values.kafka.topics.strimzi.enabled -}}
{{- if .Values.kafka.topics.strimzi.clusterName -}}
{{- .Values.kafka.topics.strimzi.clusterName -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- include "headshots.kafka.clusterName" . -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ===================================================================== */}}
{{/* Labels                                                                 */}}
{{/* ===================================================================== */}}

{{/*
Labels on every object.
*/}}
{{- define "headshots.labels" -}}
helm.sh/chart: {{ include "headshots.chart" . }}
{{ include "headshots.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: headshots
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Selector labels shared by every pod of the release (NetworkPolicy default deny).
*/}}
{{- define "headshots.selectorLabels" -}}
app.kubernetes.io/name: {{ include "headshots.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of one component's objects.
Usage: {{ include "headshots.componentLabels" (dict "component" "trainer" "context" $) }}
*/}}
{{- define "headshots.componentLabels" -}}
{{ include "headshots.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Selector labels of one component's pods.
*/}}
{{- define "headshots.componentSelectorLabels" -}}
{{ include "headshots.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Common annotations (commonAnnotations), rendered as a YAML map or nothing.
*/}}
{{- define "headshots.annotations" -}}
{{- with .Values.commonAnnotations }}
{{- toYaml . }}
{{- end }}
{{- end -}}

{{/* ===================================================================== */}}
{{/* Images                                                                 */}}
{{/* ===================================================================== */}}

{{/*
Full image reference of a component: [registry/]repository(:tag|@digest).
The tag falls back to global.imageTag, then to the chart appVersion, so every
component runs the same tag unless its own image.tag overrides it.
Usage: {{ include "headshots.image" (dict "image" .Values.trainer.image "context" $) }}
*/}}
{{- define "headshots.image" -}}
{{- $registry := .context.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .context.Values.global.imageTag | default .context.Chart.AppVersion | toString -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" $registry $repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* ===================================================================== */}}
{{/* Pods                                                                   */}}
{{/* ===================================================================== */}}

{{/*
Pod-level settings shared by every workload: service account (token not
mounted), pull secrets and the pod security context.
*/}}
{{- define "headshots.podCommon" -}}
serviceAccountName: {{ include "headshots.serviceAccountName" . }}
automountServiceAccountToken: false
{{ include "headshots.podSecurity" . | trim }}
{{- end -}}

{{/*
Pull secrets and pod security context, without the service account.
*/}}
{{- define "headshots.podSecurity" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
Container security context shared by every container.
*/}}
{{- define "headshots.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/*
The root filesystem is read-only: /tmp is an emptyDir.
*/}}
{{/*
ingress-nginx refuses bodies over 1 MB by default: an Ingress to the gateway lets an upload at the gateway's cap (and
its multipart or gRPC framing overhead) through, so the gateway answers an over-cap upload with its own error.
Usage: {{ include "headshots.ingressBodyLimit" . }} -> a dict of the one annotation
*/}}
{{- define "headshots.ingressBodyLimit" -}}
{{- $megabytes := add (div (int64 .Values.gateway.config.maxUploadBytes) 1048576) 2 -}}
{{- dict "nginx.ingress.kubernetes.io/proxy-body-size" (printf "%dm" $megabytes) | toYaml -}}
{{- end -}}

{{- define "headshots.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "headshots.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
Timing fields of a probe from its values (enabled is not a probe field).
Usage: {{ include "headshots.probeTiming" .Values.gateway.web.livenessProbe | nindent 4 }}
*/}}
{{- define "headshots.probeTiming" -}}
{{- toYaml (omit . "enabled" "command" "maxAgeSeconds") -}}
{{- end -}}

{{/* ===================================================================== */}}
{{/* Shared configuration                                                   */}}
{{/* ===================================================================== */}}

{{/*
Environment shared by every component: the same variable names everywhere.
Secrets are only referenced (existingSecret); the chart never creates them.
*/}}
{{- define "headshots.env.common" -}}
{{- $config := .Values.config -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "config.database.existingSecret is required" $config.database.existingSecret }}
      key: {{ $config.database.urlKey }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "config.django.existingSecret is required" $config.django.existingSecret }}
      key: {{ $config.django.secretKeyKey }}
- name: HEADSHOTS_KAFKA_BOOTSTRAP
  value: {{ include "headshots.kafka.bootstrapServers" . | quote }}
- name: HEADSHOTS_BLOB_URL
  value: {{ $config.blob.url | quote }}
{{- with $config.blob.s3 }}
{{- if .existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .secretAccessKeyKey }}
{{- end }}
{{- if .endpointUrl }}
- name: AWS_ENDPOINT_URL
  value: {{ .endpointUrl | quote }}
{{- end }}
{{- if .region }}
- name: AWS_DEFAULT_REGION
  value: {{ .region | quote }}
{{- end }}
{{- end }}
- name: HEADSHOTS_BASE_MODEL
  value: {{ $config.baseModel.id | quote }}
- name: HEADSHOTS_BASE_MODEL_ARCH
  value: {{ $config.baseModel.arch | quote }}
- name: HOME
  value: /tmp
{{- /* Heartbeat files and scratch space: the root filesystem is read-only, /tmp is an emptyDir. */}}
- name: HEADSHOTS_VAR_DIR
  value: /tmp/headshots
{{- /* Tracing: every process exports its spans by OTLP when an endpoint is set, and records nothing otherwise. */}}
{{- with .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $config.extraEnvVars }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Gateway settings (gateway.config), added to the shared environment of every
pod that runs the gateway image. An empty value renders no entry, so the
gateway's own default applies; 0 is a value, not empty.
*/}}
{{- define "headshots.env.gateway" -}}
{{- $config := .Values.gateway.config -}}
{{- $studio := .Values.gateway.studio -}}
- name: HEADSHOTS_SECURE_COOKIES
  value: {{ ternary "true" "false" $studio.secureCookies | quote }}
{{- with $studio.publicUrl }}
- name: HEADSHOTS_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- if $studio.email.host }}
- name: HEADSHOTS_EMAIL_BACKEND
  value: "smtp"
- name: HEADSHOTS_EMAIL_HOST
  value: {{ $studio.email.host | quote }}
- name: HEADSHOTS_EMAIL_PORT
  value: {{ int $studio.email.port | toString | quote }}
- name: HEADSHOTS_EMAIL_USER
  value: {{ $studio.email.user | quote }}
- name: HEADSHOTS_EMAIL_FROM
  value: {{ $studio.email.from | quote }}
- name: HEADSHOTS_EMAIL_USE_TLS
  value: {{ ternary "true" "false" $studio.email.useTls | quote }}
{{- with $studio.email.existingSecret }}
- name: HEADSHOTS_EMAIL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $studio.email.passwordKey }}
{{- end }}
{{- end }}
{{- if $config.cache.existingSecret }}
- name: HEADSHOTS_CACHE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $config.cache.existingSecret }}
      key: {{ required "gateway.config.cache.urlKey is required with gateway.config.cache.existingSecret" $config.cache.urlKey }}
{{- else if $config.cache.url }}
- name: HEADSHOTS_CACHE_URL
  value: {{ $config.cache.url | quote }}
{{- end }}
{{- with $config.trustedProxies }}
- name: HEADSHOTS_TRUSTED_PROXIES
  value: {{ join "," . | quote }}
{{- end }}
{{- with $config.webhookAllowNetworks }}
- name: HEADSHOTS_WEBHOOK_ALLOW_NETWORKS
  value: {{ join "," . | quote }}
{{- end }}
{{- range $name, $value := dict "HEADSHOTS_RATE_LIMIT" $config.rateLimit "HEADSHOTS_ORDER_RATE_LIMIT" $config.orderRateLimit "HEADSHOTS_AUTH_RATE_LIMIT" $config.authRateLimit "HEADSHOTS_WEBHOOK_MAX_ATTEMPTS" $config.webhookMaxAttempts "HEADSHOTS_WEBHOOK_BASE_DELAY_S" $config.webhookBaseDelaySeconds "HEADSHOTS_AUTH_CACHE_S" $config.authCacheSeconds "HEADSHOTS_TOKEN_TTL_HOURS" $config.tokenTtlHours "HEADSHOTS_STALL_S" $config.stallSeconds "HEADSHOTS_MAX_UPLOAD_FILES" $config.maxUploadFiles "HEADSHOTS_MAX_UPLOAD_BYTES" $config.maxUploadBytes "HEADSHOTS_GRPC_MAX_STREAMS" $config.grpcMaxStreams "HEADSHOTS_GRPC_MAX_STREAMS_PER_TENANT" $config.grpcMaxStreamsPerTenant "HEADSHOTS_WEBHOOK_SENDERS" $config.webhookSenders "HEADSHOTS_WEBHOOK_PER_HOST" $config.webhookPerHost "HEADSHOTS_WEBHOOK_PER_TENANT" $config.webhookPerTenant "HEADSHOTS_WORKER_STALE_S" $config.workerStaleSeconds "HEADSHOTS_VERDICT_WAIT_S" $config.verdictWaitSeconds "HEADSHOTS_UPLOAD_URL_TTL_S" $config.uploadUrlTtlSeconds "HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S" $config.checkBacklogMaxAgeSeconds "HEADSHOTS_CHECK_BACKLOG_MAX_DEPTH" $config.checkBacklogMaxDepth }}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) }}
{{- $text := toString $value }}
{{- /* Whole numbers as integers: toString would write 1000000 as 1e+06. */}}
{{- if and (not (kindIs "string" $value)) (eq (float64 $value) (float64 (int64 $value))) }}
{{- $text = toString (int64 $value) }}
{{- end }}
- name: {{ $name }}
  value: {{ $text | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Whether the gateway pods use a shared cache ("true" or empty).
*/}}
{{- define "headshots.gateway.cacheEnabled" -}}
{{- if or .Values.gateway.config.cache.existingSecret .Values.gateway.config.cache.url -}}true{{- end -}}
{{- end -}}

{{/*
Resources of a GPU container: the values' requests/limits plus
<gpu.resourceName>: <gpu.count> in limits (extended resources are requested
through limits). Values are deep-copied, never mutated.
Usage: {{ include "headshots.gpuResources" (dict "resources" .Values.trainer.resources "gpu" .Values.trainer.gpu) }}
*/}}
{{- define "headshots.gpuResources" -}}
{{- $resources := deepCopy .resources -}}
{{- $limits := get $resources "limits" | default dict -}}
{{- if gt (int .gpu.count) 0 -}}
{{- $_ := set $limits .gpu.resourceName (int .gpu.count) -}}
{{- end -}}
{{- $_ := set $resources "limits" $limits -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* ===================================================================== */}}
{{/* Quantities and the renderer's Ray Serve replicas                       */}}
{{/* ===================================================================== */}}

{{/*
Parsing helper: a Kubernetes CPU quantity in millicores, as a number.
Reads cores ("4", 4, "0.5") and millicores ("4000m"): 4000, 4000, 500 and 4000.
Fails on any other form.
Usage: {{ include "headshots.cpuMillicores" .Values.renderer.worker.resources.requests.cpu | float64 }}
*/}}
{{- define "headshots.cpuMillicores" -}}
{{- $quantity := toString . -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?m$" $quantity -}}
{{- trimSuffix "m" $quantity | float64 -}}
{{- else if regexMatch "^[0-9]+(\\.[0-9]+)?$" $quantity -}}
{{- mulf $quantity 1000 -}}
{{- else -}}
{{- fail (printf "cannot read the CPU quantity %q: write cores (\"4\", \"0.5\") or millicores (\"4000m\")" $quantity) -}}
{{- end -}}
{{- end -}}

{{/*
Parsing helper: a Kubernetes memory quantity in bytes, as a whole number.
Reads plain bytes and the suffixes k, M, G, T, P, E (powers of 1000), Ki, Mi, Gi, Ti, Pi, Ei
(powers of 1024) and m (thousandths): "32Gi" is 34359738368, "512M" is 512000000.
Fails on any other form.
Usage: {{ include "headshots.memoryBytes" .Values.renderer.worker.resources.requests.memory | float64 }}
*/}}
{{- define "headshots.memoryBytes" -}}
{{- $quantity := toString . -}}
{{- $units := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity -}}
{{- $unit := trimPrefix $number $quantity -}}
{{- if or (not $number) (not (hasKey $units $unit)) -}}
{{- fail (printf "cannot read the memory quantity %q: write bytes with an optional suffix (\"32Gi\", \"512Mi\", \"8G\")" $quantity) -}}
{{- end -}}
{{- printf "%.0f" (mulf $number (get $units $unit)) -}}
{{- end -}}

{{/*
Serve replicas of the Renderer deployment one Ray GPU worker pod holds:
renderer.worker.gpu.count / renderer.replica.gpus, or 1 when a replica asks for no GPU
(renderer.replica.gpus 0, CPU-only clusters). Fails when replicas ask for GPUs the worker pods do
not have, or when a pod's GPUs are not a whole number of replicas' worth (they would sit idle).
Usage: {{ include "headshots.renderer.replicasPerWorker" . | int }}
*/}}
{{- define "headshots.renderer.replicasPerWorker" -}}
{{- $gpus := float64 .Values.renderer.replica.gpus -}}
{{- $count := int .Values.renderer.worker.gpu.count -}}
{{- if le $gpus 0.0 -}}
1
{{- else if eq $count 0 -}}
{{- fail (printf "renderer.replica.gpus is %v but renderer.worker.gpu.count is 0: the Ray worker pods have no GPU for the Renderer replicas (set renderer.replica.gpus to 0 for CPU-only workers)" $gpus) -}}
{{- else -}}
{{- $ratio := divf $count $gpus -}}
{{- $perWorker := round $ratio 0 | int -}}
{{- $remainder := subf $ratio $perWorker -}}
{{- if or (lt $perWorker 1) (gt (maxf $remainder (mulf $remainder -1)) 0.000001) -}}
{{- fail (printf "renderer.worker.gpu.count (%d) is not a multiple of renderer.replica.gpus (%v): each Ray worker pod must hold a whole number of Renderer replicas" $count $gpus) -}}
{{- end -}}
{{- $perWorker -}}
{{- end -}}
{{- end -}}


{{/* ===================================================================== */}}
{{/* Observability                                                          */}}
{{/* ===================================================================== */}}

{{/*
Environment of one workload's process for its metrics and traces: the service name of its spans and
log lines (OTEL_SERVICE_NAME) and, when it serves metrics (port set), where: every interface, so that
Prometheus reaches the pod (the processes bind 127.0.0.1 by default).
Usage: {{ include "headshots.env.observability" (dict "service" "trainer" "port" .Values.trainer.containerPorts.metrics) }}
*/}}
{{- define "headshots.env.observability" -}}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- if .port }}
- name: HEADSHOTS_METRICS_HOST
  value: "0.0.0.0"
- name: HEADSHOTS_METRICS_PORT
  value: {{ .port | toString | quote }}
{{- end }}
{{- end -}}

{{/*
The container port Prometheus scrapes (the PodMonitors and the NetworkPolicy refer to it by name).
Usage: {{ include "headshots.metricsContainerPort" .Values.trainer.containerPorts.metrics | nindent 12 }}
*/}}
{{- define "headshots.metricsContainerPort" -}}
- name: metrics
  containerPort: {{ . }}
  protocol: TCP
{{- end -}}

{{/*
Namespace of an optional monitoring object (PodMonitor, PrometheusRule, dashboard ConfigMap): its
`namespace` value, or the release namespace.
*/}}
{{- define "headshots.monitoringNamespace" -}}
{{- .namespace | default .context.Release.Namespace -}}
{{- end -}}

{{/*
A PodMonitor (Prometheus Operator) scraping the `metrics` port of one component's pods.
Usage: {{ include "headshots.podMonitor" (dict "component" "gateway-web" "context" $) }}
*/}}
{{- define "headshots.podMonitor" -}}
{{- $monitor := .context.Values.metrics.podMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "headshots.componentName" (dict "component" .component "context" .context) }}
  namespace: {{ include "headshots.monitoringNamespace" (dict "namespace" $monitor.namespace "context" .context) | quote }}
  labels:
    {{- include "headshots.componentLabels" (dict "component" .component "context" .context) | nindent 4 }}
    {{- with $monitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with (include "headshots.annotations" .context) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .context.Release.Namespace | quote }}
  selector:
    matchLabels:
      {{- include "headshots.componentSelectorLabels" (dict "component" .component "context" .context) | nindent 6 }}
  podMetricsEndpoints:
    - port: metrics
      path: /metrics
      scheme: http
      {{- with $monitor.interval }}
      interval: {{ . | quote }}
      {{- end }}
      {{- with $monitor.scrapeTimeout }}
      scrapeTimeout: {{ . | quote }}
      {{- end }}
      honorLabels: {{ $monitor.honorLabels }}
      {{- with $monitor.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $monitor.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
