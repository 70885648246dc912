{{/* Chart name, overridable with nameOverride (DNS-1123 label: 63 characters). */}}
{{- define "kube-workflows.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else <release>-<name> (just <release> when it contains the name). */}}
{{- define "kube-workflows.fullname" -}}
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

{{/* helm.sh/chart label value. */}}
{{- define "kube-workflows.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of the operator pods. app.kubernetes.io/instance keeps them apart from the runner
pods, which carry app.kubernetes.io/name too but no instance.
*/}}
{{- define "kube-workflows.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-workflows.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "kube-workflows.labels" -}}
helm.sh/chart: {{ include "kube-workflows.chart" . }}
{{ include "kube-workflows.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kube-workflows
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the ClusterRole and ClusterRoleBinding: cluster-scoped, so also unique per release namespace
(several namespace-scoped releases may share a release name).
*/}}
{{- define "kube-workflows.clusterScopedName" -}}
{{- printf "%s-%s" .Release.Namespace (include "kube-workflows.fullname" .) }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "kube-workflows.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-workflows.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Operator image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "kube-workflows.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the replicas coordinate through kopf peering. */}}
{{- define "kube-workflows.peering" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
RBAC rules, the same cluster-wide or per watched namespace. Each one maps to a call the operator
makes (controller/handlers.py) or that kopf makes for it:
- workflowruns get/list/watch: kopf's watch and index; get of spec.contextFrom's run.
- workflowruns patch: kopf's finalizer for the TTL timer (metadata.finalizers).
- workflowruns delete: spec.ttlSecondsAfterFinished, and a CronWorkflowRun's history limits;
  create: a CronWorkflowRun's runs.
- cronworkflowruns get/list/watch/patch, cronworkflowruns/status get/patch: the schedule's timer and
  its status; cronworkflowruns/finalizers update: its runs' owner references block its deletion.
- workflowtemplates get: what spec.templateRef names, recorded in the run's status as it starts.
- workflowruns/status get/patch: phase, conditions and kopf's progress in status. With workflowruns
  get, these are also the permissions the per-run Role grants: RBAC only lets the operator create
  that Role (and bind it) because it holds them itself.
- jobs create/list/watch: the runner Job, and the watch that mirrors it into the run's status;
  get/patch/delete: suspend and resume it (spec.suspend), remove it (spec.cancel).
- pods list/watch: failed runner pods only (a server-side label and field selector), so a run's
  first lost pod is replaced as the node reports it, not after the Job controller counts it.
- serviceaccounts, roles, rolebindings create: the runner's per-run identity; get: when one of that
  name exists already, whether the run controls it (else the run fails with ChildNameConflict).
- configmaps create/get/update: the runner may create nothing (with create on Secrets it could mint
  a token of any ServiceAccount), so the operator creates its checkpoint chunks and outputs object
  when it asks (status.runner.storageWanted); get/update, because the per-run Role grants them to
  the runner by name, and RBAC only lets the operator grant what it holds.
- secrets create/get/update: the same for runs with spec.checkpoint.sensitive, only in the namespaces
  rbac.secretNamespaces names (kube-workflows.secretRules).
- events create: the run's Events (kopf posts core/v1 Events).
- workflowruns/finalizers update: the run's children (Job, ServiceAccount, Role, RoleBinding) carry
  an owner reference with blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement admission
  plugin (on in OpenShift) allows only to who may set the owner's finalizers.
*/}}
{{- define "kube-workflows.rules" -}}
- apiGroups: ["kube-workflows.dev"]
  resources: ["workflowruns"]
  verbs: ["get", "list", "watch", "patch", "delete", "create"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["cronworkflowruns"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["workflowtemplates"]
  verbs: ["get"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["cronworkflowruns/status"]
  verbs: ["get", "patch"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["cronworkflowruns/finalizers"]
  verbs: ["update"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["workflowruns/status"]
  verbs: ["get", "patch"]
- apiGroups: ["kube-workflows.dev"]
  resources: ["workflowruns/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "get"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "get"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# Runs with spec.queueName: spec.suspend deactivates (and resume reactivates) the Job's Kueue Workload.
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  verbs: ["list", "patch"]
{{- end }}

{{/* Secret rights, for sensitive runs: only where rbac.secretNamespaces says. */}}
{{- define "kube-workflows.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "update"]
{{- end }}

{{/* The namespaces of rbac.secretNamespaces, as a JSON list ("watched": watch.namespaces). */}}
{{- define "kube-workflows.secretNamespaces" -}}
{{- if eq (toJson .Values.rbac.secretNamespaces) (toJson "watched") }}
{{- toJson .Values.watch.namespaces }}
{{- else }}
{{- toJson .Values.rbac.secretNamespaces }}
{{- end }}
{{- end }}

{{/* Selector labels of the `kwf serve` pods: a component of their own, so the operator's selector never matches them. */}}
{{- define "kube-workflows.serveSelectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-workflows.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: serve
{{- end }}

{{/* Labels on the `kwf serve` objects. */}}
{{- define "kube-workflows.serveLabels" -}}
helm.sh/chart: {{ include "kube-workflows.chart" . }}
{{ include "kube-workflows.serveSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kube-workflows
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The namespace `kwf serve` serves: serve.namespace, else the release's. */}}
{{- define "kube-workflows.serveNamespace" -}}
{{- default .Release.Namespace .Values.serve.namespace }}
{{- end }}
