"""The WorkflowRun API (kube-workflows.dev/v1alpha1): the single source of the CRD's schema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kube_workflows.models.resource import GROUP, KIND, VERSION, Phase
from kube_workflows.models.resource import TERMINAL_PHASES as TERMINAL_PHASES  # re-exported

WORKFLOW_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
# Kubernetes object names (RFC 1123 subdomain).
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

AnyObject = dict[str, Any]


class _Model(BaseModel):
    """camelCase on the wire (Kubernetes convention), snake_case in Python; unknown fields rejected.

    A field's CRD description is its `Field(description=...)`: attribute docstrings are not read (pydantic
    would parse every model's source on each import, ~60 ms of a runner pod's start).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# The runner's env var holding spec.checkpoint.store.postgres's connection string (from its Secret).
CHECKPOINT_DSN_ENV = "KWF_CHECKPOINT_DSN"


class SecretKeyRef(_Model):
    """A key of a Secret in the run's namespace."""

    name: str = Field(description="Name of the Secret.", pattern=NAME_PATTERN, max_length=253)
    key: str = Field(description="Key of the Secret's data.", min_length=1, max_length=253)


class PostgresStoreSpec(_Model):
    """A PostgreSQL database holding the runs' Contexts (kube_workflows.runtime.PostgresStore's tables)."""

    dsn_secret_ref: SecretKeyRef = Field(
        description="The Secret key holding a libpq connection string or URI "
        '("postgresql://user:password@host:5432/db"). It reaches the runner pod as an env var from the Secret, '
        "so the runner's Role needs no Secret right."
    )


class CheckpointStoreSpec(_Model):
    """Where the Context of each checkpoint goes instead of status (or owned ConfigMaps and Secrets)."""

    postgres: PostgresStoreSpec | None = Field(
        default=None,
        description="Into PostgreSQL: status.checkpoint keeps the seq, sha256 and sizes (storage PostgreSQL), "
        "the database the Context (a sensitive run's too), written in a transaction that checks the pod's attempt.",
    )


class CheckpointPolicy(_Model):
    """Where checkpoints go. Small ones live in status; larger ones in owned ConfigMaps or Secrets."""

    store: CheckpointStoreSpec | None = Field(
        default=None,
        description="An external store for the Context (postgres). Unset: the operator's default (the chart's "
        "runner.checkpointStore), else status and owned ConfigMaps or Secrets. For many runs checkpointing "
        "every step, it keeps the Contexts out of the API server and etcd.",
    )

    inline_limit_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Checkpoints up to this many bytes (compressed) are stored in status.checkpoint.data; "
        "larger ones are split into owned ConfigMaps (or Secrets) that status points at. Default 32Ki: every "
        "checkpoint is a new revision of the WorkflowRun, and etcd keeps each revision until compaction, so a "
        "large inline checkpoint per step per run weighs on a shared cluster. Ignored when sensitive.",
    )
    max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Hard cap on a compressed checkpoint; a larger Context fails the run "
        "(reason CheckpointTooLarge). Default 16Mi.",
    )
    sensitive: bool = Field(
        default=False,
        description="ctx.store, results or errors may hold credentials or personal data: every checkpoint is "
        "offloaded to Secrets (never inline, whatever inlineLimitBytes says), and the result, the error's "
        "message and traceback and waiting.requests go to the Secret `<run>-outputs`; status keeps sizes, "
        "sha256 digests, error reason/type/step and pointers (resultRef, error.detailsRef, waiting.requestsRef).",
    )
    every_steps: int | None = Field(
        default=None,
        ge=1,
        description="Checkpoint once this many steps have completed since the last checkpoint, instead of "
        "after every step. Fewer writes, but a pod that dies re-runs up to that many completed steps.",
    )
    every_milliseconds: int | None = Field(
        default=None,
        ge=1,
        description="Checkpoint after a step once this long has passed since the last checkpoint. With "
        "everySteps, whichever comes first. Unset (both): after every step. The final Context, a wait "
        "for input and a graceful stop (SIGTERM) are always checkpointed.",
    )
    history: int = Field(
        default=0,
        ge=0,
        le=20,
        description="Keep this many of the latest checkpoints (listed in status.history, stored in owned "
        "ConfigMaps or Secrets) so a new run can fork from any of them with spec.contextFrom.seq. Each kept "
        "checkpoint costs one ConfigMap write per step. Default 0: only the current checkpoint is kept.",
    )

    def due(self, steps_since: int, seconds_since: float) -> bool:
        """Whether to checkpoint now, with `steps_since` steps completed since the last checkpoint."""
        if self.every_steps is None and self.every_milliseconds is None:
            return True
        by_steps = self.every_steps is not None and steps_since >= self.every_steps
        by_time = self.every_milliseconds is not None and seconds_since * 1000 >= self.every_milliseconds
        return by_steps or by_time


class RetryPolicy(_Model):
    """How often a run's pod may be replaced after it crashed, was killed or lost its node."""

    max_restarts: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Pods that may be started after the first one dies of something other than a "
        "workflow error (the Job's backoffLimit). A workflow that raises is never retried. Default 3.",
    )


class TemplateRef(_Model):
    """A WorkflowTemplate in the run's namespace."""

    name: str = Field(description="Name of the WorkflowTemplate.", pattern=NAME_PATTERN, max_length=253)


class ContextSource(_Model):
    """An earlier WorkflowRun whose Context this run starts from."""

    name: str = Field(
        description="Name of a WorkflowRun in this namespace.",
        pattern=NAME_PATTERN,
        max_length=253,
    )
    seq: int | None = Field(
        default=None,
        ge=1,
        description="Fork from this checkpoint of that run and continue it (its current checkpoint or one kept in "
        "its status.history). Unset: start anew from its final Context; the run must have Succeeded.",
    )


class RunEvent(_Model):
    """An event delivered to the workflow while it waits for input (human in the loop)."""

    data: AnyObject = Field(
        default_factory=dict, description='Fields of the event, e.g. {"response": "yes"} for HumanResponseEvent.'
    )
    type: str | None = Field(
        default=None,
        description='Event class, "package.module:Class". Default: the class the workflow waits for '
        "(workflows.events:HumanResponseEvent when it returned an InputRequiredEvent).",
        pattern=WORKFLOW_PATTERN,
        max_length=512,
    )


class PodTemplate(_Model):
    """The parts of the runner pod a user may set. Fields follow the core/v1 Pod spec."""

    env: list[AnyObject] = Field(default_factory=list, description="Extra environment variables (core/v1 EnvVar).")
    env_from: list[AnyObject] = Field(default_factory=list, description="core/v1 EnvFromSource list.")
    resources: AnyObject | None = Field(default=None, description="core/v1 ResourceRequirements of the runner.")
    service_account_name: str | None = Field(
        default=None,
        description="Run the pod as this ServiceAccount instead of the per-run one the operator creates. "
        "It then needs get on this WorkflowRun and patch on its status.",
        max_length=253,
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="core/v1 nodeSelector.")
    tolerations: list[AnyObject] = Field(default_factory=list, description="core/v1 Toleration list.")
    volumes: list[AnyObject] = Field(default_factory=list, description="core/v1 Volume list.")
    volume_mounts: list[AnyObject] = Field(
        default_factory=list, description="core/v1 VolumeMount list for the runner container."
    )
    host_network: bool = Field(
        default=False,
        description="Run the pod in the node's network namespace (core/v1 hostNetwork), for clusters whose "
        "pods reach the API server only through the node; the namespace must allow it (PodSecurity privileged).",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the runner pod.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on the runner pod.")


class WorkflowRunSpec(_Model):
    """Desired state: which workflow to run, with what input, in what pod."""

    workflow: str | None = Field(
        default=None,
        description='Import path of the workflow, "package.module:Attribute". The attribute is a '
        "llama-index-workflows Workflow subclass (constructed with no arguments), a factory returning one, "
        "or an instance. Required unless spec.templateRef names a WorkflowTemplate.",
        pattern=WORKFLOW_PATTERN,
        max_length=512,
    )
    template_ref: TemplateRef | None = Field(
        default=None,
        description="A WorkflowTemplate of this namespace to take workflow, image, template, checkpoint and input "
        "defaults from; this run's own fields win (input is merged key by key). What was used is recorded in "
        "status.template, so later edits of the template do not change a started run.",
    )
    image: str | None = Field(
        default=None,
        description="Container image that has the workflow's code and kube-workflows installed. "
        "Defaults to the operator's configured runner image.",
        max_length=1024,
    )
    input: AnyObject = Field(
        default_factory=dict,
        description="Keyword arguments of the start event (JSON object): run(**input).",
    )
    context_from: ContextSource | None = Field(
        default=None,
        description="Start from an earlier WorkflowRun's Context: its final one ({name}: ctx.store carries over "
        "into a new run) or, with seq, one of its checkpoints ({name, seq}: fork and continue from there).",
    )
    events: list[RunEvent] = Field(
        default_factory=list,
        max_length=1000,
        description="Answers for a run that waits for input (phase Waiting), delivered in order, one per "
        "wait. Append to answer (kwf send-event does); delivered entries are history and are not re-read.",
    )
    suspend: bool = Field(
        default=False,
        description="true: stop the pod after the current step's checkpoint and keep the run Suspended; "
        "false again: resume from that checkpoint.",
    )
    cancel: bool = Field(
        default=False,
        description="true: stop the run for good (phase Cancelled) and remove its pods. Cannot be undone.",
    )
    wait_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Fail the run (reason WaitTimeout) when it has waited this long for input. Separate from "
        "timeoutSeconds, which limits the time pods run.",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Wall-clock limit for the run's pods, replacements included (the Job's "
        "activeDeadlineSeconds); each resume after a wait for input starts a new Job and a new limit.",
    )
    step_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="The workflow's own timeout (Workflow(timeout=...)) in each pod; unset keeps the class's.",
    )
    result_limit_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=512 * 1024,
        description="Largest result (the StopEvent's result as JSON) kept in status. A larger one, up to 700Ki, "
        "goes to the run's `<run>-outputs` ConfigMap (Secret when sensitive) and status.resultRef points at it; "
        "over 700Ki the run fails (reason ResultTooLarge): keep large outputs in your own storage and return a "
        "reference. Default 64Ki.",
    )
    queue_name: str | None = Field(
        default=None,
        description="A Kueue LocalQueue of this namespace: each of the run's Jobs is created suspended with the "
        "label kueue.x-k8s.io/queue-name and starts when Kueue admits it (phase Queued until then). Kueue counts "
        "spec.template.resources.requests. A preempted run checkpoints, is Queued again and resumes from that "
        "checkpoint when re-admitted. Immutable once the run started.",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
    )
    priority_class: str | None = Field(
        default=None,
        description="A Kueue WorkloadPriorityClass for the run's Jobs (label kueue.x-k8s.io/priority-class): "
        "with the ClusterQueue's preemption policy it decides which run gives way. Needs spec.queueName.",
        pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
        max_length=253,
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Pod replacement policy.")
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy, description="Checkpoint storage.")
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Delete the WorkflowRun (and everything it owns) this long after it finished.",
    )
    template: PodTemplate = Field(default_factory=PodTemplate, description="Runner pod settings.")

    @model_validator(mode="after")
    def _names_a_workflow(self) -> WorkflowRunSpec:
        if self.workflow is None and self.template_ref is None:
            raise ValueError("spec.workflow is required (or spec.templateRef, naming a WorkflowTemplate that sets it)")
        if self.priority_class is not None and self.queue_name is None:
            raise ValueError("spec.priorityClass needs spec.queueName: only Kueue reads it")
        return self


class Condition(_Model):
    """A Kubernetes-style condition (metav1.Condition)."""

    type: str = Field(
        description="Succeeded, Running, Waiting, and the kstatus conditions Ready, Reconciling and Stalled."
    )
    status: str = Field(description='"True", "False" or "Unknown".', pattern="^(True|False|Unknown)$")
    reason: str = Field(description="One CamelCase word for machines.")
    message: str = Field(default="", description="One line for humans.")
    last_transition_time: datetime | None = Field(default=None, description="When status last changed.")
    observed_generation: int | None = Field(default=None, description="metadata.generation this reflects.")


class Checkpoint(_Model):
    """The last durable Context snapshot. Only the current attempt's runner writes it."""

    seq: int = Field(description="Monotonic checkpoint number; one per completed step.")
    attempt: int = Field(description="The runner attempt that wrote it.")
    step: str | None = Field(default=None, description="The step whose completion it records.")
    steps_completed: int = Field(default=0, description="Completed steps recorded since the run began.")
    final: bool = Field(default=False, description="True for the Context after the workflow returned.")
    events_delivered: int = Field(default=0, description="How many of spec.events this Context has received.")
    encoding: str = Field(description='How data is encoded, e.g. "json+zlib+base64".')
    size_bytes: int = Field(description="Size of the serialized Context (JSON) before compression.")
    stored_bytes: int = Field(description="Size of data as stored (compressed and base64-encoded).")
    sha256: str = Field(description="SHA-256 of the JSON before compression, checked on restore.")
    time: datetime = Field(description="When it was written.")
    data: str = Field(
        default="", description="The Context (llama-index-workflows JsonSerializer), encoded; empty when offloaded."
    )
    storage: str = Field(
        default="Inline", description="Inline, ConfigMap, Secret or PostgreSQL (spec.checkpoint.store.postgres)."
    )
    chunks: list[str] = Field(
        default_factory=list,
        description="Names of the owned ConfigMaps/Secrets holding data (key `data`), in order, when offloaded.",
    )


class OutputRef(_Model):
    """Where a run keeps an output instead of status: a sensitive run's outputs (spec.checkpoint.sensitive)
    and any result over spec.resultLimitBytes."""

    secret: str | None = Field(
        default=None, description="The Secret the run owns that holds it (`<run>-outputs`), for a sensitive run."
    )
    config_map: str | None = Field(
        default=None, description="The ConfigMap the run owns that holds it (`<run>-outputs`), otherwise."
    )
    key: str = Field(description="Its entry in the JSON object under the Secret's key `data`.")
    size_bytes: int = Field(description="Size of its JSON text.")
    sha256: str = Field(description="SHA-256 of its JSON text.")


class StepRecord(_Model):
    """One completed step, for `kwf describe` and humans."""

    name: str
    seq: int
    attempt: int
    completed_at: datetime
    duration_ms: int | None = None
    last_write_ms: float | None = Field(default=None, description="Latency of the previous checkpoint write.")


class Waiting(_Model):
    """What a run parked with no pod is waiting for (phase Waiting)."""

    since: datetime = Field(description="When the workflow went idle waiting for input.")
    requests: list[AnyObject] = Field(
        default_factory=list,
        description="The InputRequiredEvents it emitted (their fields, plus `type`), e.g. a prompt. Empty for a "
        "sensitive run: see requestsRef.",
    )
    requests_ref: OutputRef | None = Field(
        default=None,
        description="spec.checkpoint.sensitive: where the requests are instead (kwf get/describe read it).",
    )
    expects: list[str] = Field(default_factory=list, description="Event classes its steps wait for.")
    event_index: int = Field(description="The spec.events entry that answers it (0-based).")
    error: str | None = Field(default=None, description="Why the last event sent was not accepted.")
    rejected_generation: int | None = Field(
        default=None, description="metadata.generation whose event was rejected; a new edit retries."
    )


class StreamEvent(_Model):
    """One event the workflow wrote to its stream (`ctx.write_event_to_stream`, InputRequiredEvent included)."""

    sequence: int = Field(description="1, 2, ... across the run's pods: no number is used twice or skipped.")
    type: str = Field(description='The event class, qualified: "package.module.Class".')
    types: list[str] | None = Field(default=None, description="Its Event superclasses, by name (nearest first).")
    value: AnyObject = Field(default_factory=dict, description="Its fields as JSON; empty when truncated or withheld.")
    timestamp: datetime = Field(description="When the workflow wrote it.")
    step: str | None = Field(default=None, description="The step that wrote it.")
    truncated: bool | None = Field(default=None, description="Its JSON was over 4 KiB: the value is not kept.")
    size_bytes: int | None = Field(default=None, description="Its JSON size, when truncated.")
    withheld: bool | None = Field(default=None, description="spec.checkpoint.sensitive: the value is not kept.")


class EventStream(_Model):
    """The newest events the workflow streamed (at most 100, 32 KiB of JSON); each published with the
    checkpoint of the step that wrote it."""

    first_sequence: int = Field(description="The oldest event kept: a reader that saw less than this missed some.")
    last_sequence: int = Field(description="The newest event published.")
    events: list[StreamEvent] = Field(default_factory=list, description="Oldest first.")


class RunError(_Model):
    """Why the run failed."""

    reason: str = Field(description="CamelCase cause, e.g. WorkflowRaised, WorkflowNotImportable, InvalidInput.")
    type: str | None = Field(default=None, description="Exception class, when the workflow raised.")
    message: str = Field(
        description="What went wrong. For a sensitive run, only where the message is (see detailsRef)."
    )
    step: str | None = Field(default=None, description="The step that raised, when known.")
    traceback: str | None = Field(default=None, description="Tail of the traceback; unset for a sensitive run.")
    details_ref: OutputRef | None = Field(
        default=None,
        description="spec.checkpoint.sensitive: where the message and traceback are instead.",
    )


class Recovery(_Model):
    """The latest checkpoint could not be used (a chunk changed or went missing); an older one was."""

    seq: int = Field(description="The checkpoint resumed from.")
    damaged_seq: int | None = Field(default=None, description="The checkpoint that could not be used.")
    reason: str = Field(description="What was wrong with it.")


class StorageWanted(_Model):
    """ConfigMaps (Secrets when sensitive) a runner needs and may only update: the operator creates them."""

    chunks: int = Field(default=0, ge=0, description="Chunk objects per checkpoint slot (`<run>-ckpt-<slot>-<i>`).")
    outputs: bool = Field(default=False, description="The outputs object (`<run>-outputs`).")
    asked_at: str | None = Field(default=None, description="When it asked: each ask is served once.")


class RunStorage(StorageWanted):
    """The objects the operator has created for the run's runner: the last storageWanted it served."""


class RunnerInfo(_Model):
    """The runner attempt that holds the run; its number fences out stale pods."""

    pod: str
    attempt: int
    started_at: datetime
    writes: int = Field(
        default=0, description="Status writes this attempt made; each write tests it, so a retry applies once."
    )
    recovered_from: Recovery | None = Field(
        default=None, description="Set when this attempt resumed from an older checkpoint than the latest."
    )
    storage_wanted: StorageWanted | None = Field(
        default=None,
        description="The objects the runner asks the operator to create for it (it may not create any itself).",
    )


class TemplateUsed(_Model):
    """What a run took from its WorkflowTemplate when it started (later edits of the template do not apply)."""

    name: str
    uid: str | None = None
    resource_version: str | None = None
    spec: AnyObject = Field(
        default_factory=dict, description="The template's workflow, image, template, checkpoint, input."
    )


class WorkflowRunStatus(_Model):
    """Observed state, written by the operator and the run's own runner pod."""

    phase: Phase | None = Field(
        default=None, description="Pending, Queued, Running, Waiting, Suspended, Succeeded, Failed or Cancelled."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Succeeded, Running, Ready (kstatus: True once Succeeded), Reconciling (True while Pending, "
        "Queued or Running), Stalled (True once Failed or Cancelled) and, once it waited, Waiting; once queued "
        "by Kueue (spec.queueName), Queued.",
    )
    observed_generation: int | None = Field(default=None, description="metadata.generation last acted on.")
    attempt: int | None = Field(default=None, description="Runner attempts so far (1 for the first pod).")
    restarts: int | None = Field(default=None, description="Pods replaced after a crash, kill or loss.")
    runner: RunnerInfo | None = Field(default=None, description="The attempt that currently holds the run.")
    storage: RunStorage | None = Field(
        default=None, description="Chunk and outputs objects the operator created for the runner."
    )
    template: TemplateUsed | None = Field(
        default=None, description="The WorkflowTemplate spec.templateRef named, as the run started from it."
    )
    current_step: str | None = Field(default=None, description="Step(s) queued or running now.")
    checkpoint: Checkpoint | None = Field(default=None, description="Last durable Context snapshot.")
    previous_checkpoint: Checkpoint | None = Field(
        default=None,
        description="The offloaded checkpoint before it, resumed from if the latest one's chunks are damaged.",
    )
    history: list[Checkpoint] = Field(
        default_factory=list,
        description="The latest spec.checkpoint.history checkpoints (data offloaded), oldest first: fork points.",
    )
    waiting: Waiting | None = Field(default=None, description="Set while the run waits for input.")
    segment: int | None = Field(
        default=None, description="Jobs started so far: 1, plus one per resume after waiting for input."
    )
    steps: list[StepRecord] = Field(default_factory=list, description="Recently completed steps (last 50).")
    stream: EventStream | None = Field(
        default=None, description="Events the workflow streamed (kwf logs --events); unset until the first."
    )
    result: Any = Field(
        default=None,
        description="The StopEvent's result, as JSON; unset for a sensitive run or one over spec.resultLimitBytes "
        "(see resultRef).",
    )
    result_ref: OutputRef | None = Field(
        default=None,
        description="Where the result is instead (`<run>-outputs`), with its size and sha256: for a result over "
        "spec.resultLimitBytes, and always with spec.checkpoint.sensitive (whose status then holds no checkpoint "
        "data, result, error message, traceback or waiting requests).",
    )
    error: RunError | None = Field(default=None, description="Why the run failed.")
    job_name: str | None = Field(default=None, description="The batch/v1 Job running this run.")
    start_time: datetime | None = Field(default=None, description="When the run was accepted.")
    completion_time: datetime | None = Field(default=None, description="When the run finished.")
    kopf: AnyObject | None = Field(default=None, description="Operator bookkeeping (kopf progress).")


class ObjectMeta(_Model):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    namespace: str | None = None


class WorkflowRun(_Model):
    """A run of a llama-index-workflows Workflow that survives pod loss: every completed step is
    checkpointed into status, and a replacement pod resumes from the last checkpoint."""

    model_config = ConfigDict(extra="allow")
    api_version: str = f"{GROUP}/{VERSION}"
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkflowRunSpec
    status: WorkflowRunStatus | None = None


# What a WorkflowTemplate may set for its runs.
TEMPLATE_FIELDS = ("workflow", "image", "template", "checkpoint", "input")


def effective_spec(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's spec with what its WorkflowTemplate gave (status.template.spec) filled in: the run's own
    fields win, and input is merged key by key. Everything that runs or builds a run reads this."""
    spec = dict(run.get("spec") or {})
    used = ((run.get("status") or {}).get("template") or {}).get("spec") or {}
    if not used:
        return spec
    merged = {**{k: v for k, v in used.items() if k in TEMPLATE_FIELDS}, **spec}
    merged["input"] = {**(used.get("input") or {}), **(spec.get("input") or {})}
    return merged
