{{/*
A Strimzi KafkaTopic, rendered only when Strimzi manages the topics.
Usage: {{ include "headshots.kafka.topic" (dict "key" "orders" "context" $) }}
*/}}
{{- define "headshots.kafka.topic" -}}
{{- $context := .context -}}
{{- $cluster := include "headshots.kafka.topicsClusterName" $context -}}
{{- if $cluster -}}
{{- $topic := get $context.Values.kafka.topics .key -}}
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: {{ include "headshots.componentName" (dict "component" (printf "topic-%s" .key) "context" $context) }}
  namespace: {{ $context.Release.Namespace | quote }}
  labels:
    {{- include "headshots.componentLabels" (dict "component" "kafka" "context" $context) | nindent 4 }}
    strimzi.io/cluster: {{ $cluster }}
  {{- with (include "headshots.annotations" $context) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  topicName: {{ $topic.name }}
  partitions: {{ $topic.partitions }}
  replicas: {{ $topic.replicas }}
  config:
    retention.ms: {{ $topic.retentionMs | int64 }}
{{- end -}}
{{- end -}}
