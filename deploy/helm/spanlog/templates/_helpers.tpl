{{/* Names and labels. */}}

{{- define "spanlog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spanlog.fullname" -}}
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

{{/* The name of a role's objects; dict: root, component. */}}
{{- define "spanlog.componentName" -}}
{{- printf "%s-%s" (include "spanlog.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{/* Labels that select a role's pods; dict: root, component. */}}
{{- define "spanlog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spanlog.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every object; dict: root, component. */}}
{{- define "spanlog.labels" -}}
{{ include "spanlog.selectorLabels" . }}
app.kubernetes.io/part-of: spanlog
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "spanlog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spanlog.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The roles of distributed mode: the values key of each, its -target and the
component its objects are named by.
*/}}
{{- define "spanlog.roles" -}}
- {key: distributor, target: distributor}
- {key: blockBuilder, target: block-builder}
- {key: querier, target: querier}
- {key: compactor, target: compactor}
- {key: metricsGenerator, target: metrics-generator}
{{- end -}}

{{/*
spanlog.config is the configuration file, as YAML: .Values.config over what
the mode needs. Templates read it back with fromYaml.
*/}}
{{- define "spanlog.config" -}}
{{- $user := deepCopy (.Values.config | default dict) -}}
{{- if hasKey $user "target" -}}
{{- fail "config.target: the chart sets -target for each workload; leave it out" -}}
{{- end -}}
{{- if dig "storage" "s3" "secret-access-key" "" $user -}}
{{- fail "config.storage.s3.secret-access-key: put S3 credentials in s3Credentials (a Secret), not in config (a ConfigMap)" -}}
{{- end -}}
{{- $mode := dict -}}
{{- if eq .Values.mode "distributed" -}}
{{- if not (dig "kafka" "brokers" (list) $user) -}}
{{- fail "config.kafka.brokers: distributed mode needs your Kafka's seed brokers" -}}
{{- end -}}
{{- $_ := set $mode "storage" (dict "backend" "s3") -}}
{{- else if eq .Values.mode "single-binary" -}}
{{- $_ := set $mode "embedded-kafka" (dict "data-dir" (printf "%s/kafka" (include "spanlog.dataDir" .))) -}}
{{- $_ := set $mode "storage" (dict "backend" "local" "local" (dict "path" (printf "%s/blocks" (include "spanlog.dataDir" .)))) -}}
{{- else -}}
{{- fail (printf "mode %q: want distributed or single-binary" .Values.mode) -}}
{{- end -}}
{{- if .Values.overrides -}}
{{- $_ := set $mode "limits" (dict "overrides-file" (printf "%s/overrides.yaml" (include "spanlog.configDir" .))) -}}
{{- end -}}
{{- $cfg := mustMergeOverwrite $mode $user -}}
{{- if and (eq .Values.mode "distributed") (ne (dig "storage" "backend" "" $cfg) "s3") -}}
{{- fail "config.storage.backend: distributed mode keeps blocks in S3, which every pod shares; a local directory is a pod's own" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The ConfigMap's directory: spanlog.yaml, and overrides.yaml when there are
overrides. The whole directory is mounted, not a file of it, so that the
kubelet updates overrides.yaml in place and spanlog re-reads it.
*/}}
{{- define "spanlog.configDir" -}}/etc/spanlog{{- end -}}
{{- define "spanlog.dataDir" -}}/var/lib/spanlog{{- end -}}

{{/* The port of a listen address (":3200", "0.0.0.0:3200"). */}}
{{- define "spanlog.port" -}}
{{- $port := regexFind "[0-9]+$" (toString .) -}}
{{- if not $port -}}
{{- fail (printf "listen address %q has no port" .) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/*
Ports from the configuration (dict of name: number), spanlog's defaults
where it sets none. The internal port only matters to queriers of
distributed mode; with the embedded Kafka it stays on the pod's loopback.
*/}}
{{- define "spanlog.ports" -}}
{{- $cfg := include "spanlog.config" . | fromYaml -}}
http: {{ include "spanlog.port" (dig "server" "http-listen-address" ":3200" $cfg) }}
internal: {{ include "spanlog.port" (dig "server" "internal-listen-address" ":3201" $cfg) }}
otlp-grpc: {{ include "spanlog.port" (dig "distributor" "grpc-listen-address" ":4317" $cfg) }}
otlp-http: {{ include "spanlog.port" (dig "distributor" "http-listen-address" ":4318" $cfg) }}
{{- end -}}

{{/*
Seconds of a Go duration made of whole units (25s, 1m30s, 1500ms), rounded
up.
*/}}
{{- define "spanlog.seconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^([0-9]+(h|ms|m|s))+$" $d) -}}
{{- fail (printf "duration %q: write it in whole h, m, s or ms, e.g. 25s or 1m30s" $d) -}}
{{- end -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(h|ms|m|s)" $d -1 -}}
{{- $n := regexFind "^[0-9]+" . | int64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" .) . -}}
{{- $ms = add $ms (mul $n (get (dict "h" 3600000 "m" 60000 "s" 1000 "ms" 1) $unit)) -}}
{{- end -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/* Bytes of a memory quantity (512Mi, 1Gi, 1G, 1048576). */}}
{{- define "spanlog.bytes" -}}
{{- $q := toString . -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) -}}
{{- fail (printf "memory quantity %q: write it as a whole number with Ki, Mi, Gi, Ti, k, M, G or T" $q) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $q | int64 -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" $q) $q -}}
{{- $mult := get (dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000) $unit -}}
{{- mul $n $mult -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the preStop sleep, then the process's own
grace, server.graceful-shutdown-timeout, then the margin. dict: root, role
(the role's values).
*/}}
{{- define "spanlog.terminationGrace" -}}
{{- $cfg := include "spanlog.config" .root | fromYaml -}}
{{- $shutdown := include "spanlog.seconds" (dig "server" "graceful-shutdown-timeout" "25s" $cfg) | int64 -}}
{{- add (.role.preStopSleepSeconds | default 0) $shutdown .root.Values.terminationGraceMarginSeconds -}}
{{- end -}}

{{/*
The arguments of a pod's container; dict: root, role, target. The
querier's advertise address is its pod's IP, which the other queriers
reach: a Deployment's host names do not resolve.
*/}}
{{- define "spanlog.args" -}}
{{- $cfg := include "spanlog.config" .root | fromYaml -}}
{{- $ports := include "spanlog.ports" .root | fromYaml -}}
- -config.file={{ include "spanlog.configDir" .root }}/spanlog.yaml
- -target={{ .target }}
{{- $limit := dig "limits" "memory" "" (.role.resources | default dict) -}}
{{- if and $limit .root.Values.softMemoryLimitPercent (not (hasKey (dig "server" (dict) $cfg) "memory-limit-bytes")) }}
- -server.memory-limit-bytes={{ div (mul (include "spanlog.bytes" $limit | int64) .root.Values.softMemoryLimitPercent) 100 }}
{{- end }}
{{- if and (eq .target "querier") (not (dig "querier" "advertise-address" "" $cfg)) }}
- -querier.advertise-address=$(POD_IP):{{ get $ports "internal" }}
{{- end }}
{{- range .role.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
The environment of a pod's container; dict: root, role, target. S3
credentials go only to roles that use the bucket.
*/}}
{{- define "spanlog.env" -}}
{{- if eq .target "querier" }}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- end }}
{{- $c := .root.Values.s3Credentials -}}
{{- if and (ne .target "distributor") (or $c.existingSecret $c.accessKeyId) }}
{{- $secret := default (printf "%s-s3" (include "spanlog.fullname" .root)) $c.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $c.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $c.secretAccessKeyKey }}
{{- end }}
{{- with .role.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Probes of a pod's container, on the HTTP port.
*/}}
{{- define "spanlog.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet: {path: /api/echo, port: http}
  {{- toYaml $p.startup | nindent 2 }}
readinessProbe:
  httpGet: {path: /ready, port: http}
  {{- toYaml $p.readiness | nindent 2 }}
livenessProbe:
  httpGet: {path: /api/echo, port: http}
  {{- toYaml $p.liveness | nindent 2 }}
{{- end -}}

{{/*
Scheduling of a role's pods: the role's own settings, else the chart's;
dict: root, role, component.
*/}}
{{- define "spanlog.scheduling" -}}
{{- $v := .root.Values -}}
{{- with (.role.nodeSelector | default $v.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.role.tolerations | default $v.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.role.priorityClassName | default $v.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- $selector := include "spanlog.selectorLabels" . | fromYaml }}
{{- /* One pod has nothing to spread from: the single binary takes only its own. */}}
{{- $alone := eq .target "all" }}
{{- $spread := list }}
{{- range (.role.topologySpreadConstraints | default (ternary (list) $v.topologySpreadConstraints $alone)) }}
{{- $spread = append $spread (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" $selector))) }}
{{- end }}
{{- with $spread }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $anti := .role.podAntiAffinity | default (ternary "" $v.podAntiAffinity $alone) }}
{{- if not (has $anti (list "" "soft" "hard")) }}
{{- fail (printf "podAntiAffinity %q: want soft, hard or empty" $anti) }}
{{- end }}
{{- /* A pod anti-affinity of the user's own replaces the chart's. */}}
{{- $affinity := deepCopy (.role.affinity | default $v.affinity | default (dict)) }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" $selector) }}
{{- if and (eq $anti "soft") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- else if and (eq $anti "hard") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A pod template; dict: root, role (its values), target, component, ports
(the container's port names).
*/}}
{{- define "spanlog.podTemplate" -}}
{{- $v := .root.Values -}}
{{- $allPorts := include "spanlog.ports" .root | fromYaml -}}
metadata:
  labels:
    {{- include "spanlog.labels" . | nindent 4 }}
    {{- with (.role.podLabels | default $v.podLabels) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "spanlog.config" .root | sha256sum }}
    {{- with (.role.podAnnotations | default $v.podAnnotations) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "spanlog.serviceAccountName" .root }}
  automountServiceAccountToken: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ include "spanlog.terminationGrace" . }}
  {{- include "spanlog.scheduling" . | trim | nindent 2 }}
  containers:
    - name: spanlog
      image: "{{ $v.image.repository }}:{{ $v.image.tag | default .root.Chart.AppVersion }}"
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- include "spanlog.args" . | nindent 8 }}
      {{- with include "spanlog.env" . | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      ports:
        {{- range .ports }}
        - name: {{ . }}
          containerPort: {{ get $allPorts . }}
          protocol: TCP
        {{- end }}
      {{- include "spanlog.probes" .root | nindent 6 }}
      {{- if .role.preStopSleepSeconds }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ .role.preStopSleepSeconds }}
      {{- end }}
      resources:
        {{- toYaml .role.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ include "spanlog.configDir" .root }}
          readOnly: true
        {{- if eq .target "all" }}
        - name: data
          mountPath: {{ include "spanlog.dataDir" .root }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "spanlog.fullname" .root }}
    {{- if and (eq .target "all") (not $v.singleBinary.persistence.enabled) }}
    - name: data
      emptyDir: {}
    {{- end }}
{{- end -}}
