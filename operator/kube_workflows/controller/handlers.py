"""kopf handlers. Each one reads what it needs, calls a pure builder, and writes the result."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import kopf
from pydantic import ValidationError

from kube_workflows import __version__
from kube_workflows.builders import build_runner_identity, build_runner_job, job_name_for
from kube_workflows.controller import actions, children, job_verdict, metrics, pod_loss, queueing, storage, sweeper
from kube_workflows.controller import status as run_status
from kube_workflows.models import (
    GROUP,
    KIND,
    PLURAL,
    TERMINAL_PHASES,
    VERSION,
    ContextSource,
    Phase,
    WorkflowRunSpec,
)
from kube_workflows.models.names import MANAGED_BY
from kube_workflows.models.workflowrun import effective_spec
from kube_workflows.models.workflowtemplate import template_used

DEFAULT_RUNNER_IMAGE = os.environ.get("KWF_RUNNER_IMAGE", f"ghcr.io/kube-workflows/kube-workflows:{__version__}")
# Only what the job handler needs of a run: the index holds no checkpoint data.
_INDEXED_STATUS = (
    "phase",
    "conditions",
    "restarts",
    "observedGeneration",
    "error",
    "completionTime",
    "currentStep",
    "waiting",
    "jobName",
    "segment",
    "attempt",
)


def plain(value: Any) -> Any:
    """kopf's read-only body views → plain dicts and lists (the builders take plain data)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _finished(status: Mapping[str, Any], **_: Any) -> bool:
    return status.get("phase") in TERMINAL_PHASES


@kopf.on.event(GROUP, VERSION, PLURAL)
def observe_run(body: kopf.Body, type: str | None, **_: Any) -> None:
    """Feed the metrics (phases, step and checkpoint figures) and the TTL and wait-timeout sweep."""
    status, deleted = body.get("status") or {}, type == "DELETED"
    if deleted:
        _last_checkpoint_event.pop(body["metadata"]["uid"], None)
        _reported.pop(body["metadata"]["uid"], None)
    else:
        _post_checkpoint_event(body, status)
    metrics.RUNS.observe(body["metadata"]["uid"], status, deleted=deleted)
    sweeper.track(body, deleted)


@kopf.on.event(GROUP, VERSION, PLURAL, when=storage.unserved)
def provide_storage(body: kopf.Body, type: str | None, **_: Any) -> None:
    """Create the checkpoint chunks or outputs object the runner asked for (it may create nothing)."""
    if type != "DELETED":
        storage.serve(plain(body))


# An Event per checkpoint would flood a run of thousands of short steps: at most one per run per interval.
CHECKPOINT_EVENT_INTERVAL = 30.0
_last_checkpoint_event: dict[str, tuple[float, int]] = {}


def _post_checkpoint_event(body: kopf.Body, status: Mapping[str, Any]) -> None:
    checkpoint = status.get("checkpoint") or {}
    seq, uid = int(checkpoint.get("seq") or 0), body["metadata"]["uid"]
    last_time, last_seq = _last_checkpoint_event.get(uid, (0.0, 0))
    if seq <= last_seq or checkpoint.get("final"):
        return
    now = time.monotonic()
    if last_seq and now - last_time < CHECKPOINT_EVENT_INTERVAL:
        return
    _last_checkpoint_event[uid] = (now, seq)
    where = "offloaded to " + checkpoint["storage"] if checkpoint.get("chunks") else "in status"
    kopf.event(
        body,
        type="Normal",
        reason="Checkpointed",
        message=f"checkpoint {seq} after step {checkpoint.get('step')} "
        f"(steps done: {checkpoint.get('stepsCompleted')}, {checkpoint.get('storedBytes')} bytes {where})",
    )


@kopf.index(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]
def runs_by_name(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    status = body.get("status") or {}
    return {
        (namespace, name): {
            "uid": body["metadata"]["uid"],
            "generation": body["metadata"].get("generation"),
            "status": {
                **{k: plain(status[k]) for k in _INDEXED_STATUS if k in status},
                "checkpoint": {k: (status.get("checkpoint") or {}).get(k) for k in ("seq", "final")},
            },
            "checkpointSeq": (status.get("checkpoint") or {}).get("seq"),
            "steer": {k: bool((body.get("spec") or {}).get(k)) for k in ("suspend", "cancel")},
        }
    }


def _fail(patch: kopf.Patch, body: kopf.Body, reason: str, message: str) -> None:
    run = plain(body)
    restarts = int((run.get("status") or {}).get("restarts") or 0)
    observed = run_status.Observed(Phase.FAILED, "False", reason, message, False, restarts)
    # The same phase, conditions and completionTime as any other way a run fails.
    for key, value in run_status.status_patch(run, observed).items():
        patch.status[key] = value
    kopf.event(body, type="Warning", reason=reason, message=message)


def _context_source_ready(namespace: str, source: ContextSource) -> tuple[dict[str, Any] | None, str | None]:
    """(the source run when it can be used now, why it never can): spec.contextFrom's run must have
    Succeeded, unless a checkpoint `seq` is forked, which any existing run can offer."""
    other = actions.read_run(namespace, source.name)
    if other is None:
        return None, None
    if source.seq is not None:
        return other, None
    phase = (other.get("status") or {}).get("phase")
    if phase in (Phase.FAILED, Phase.CANCELLED):
        return (
            None,
            f"spec.contextFrom: WorkflowRun {source.name} {phase}; only a Succeeded run's Context can be continued "
            "(fork one of its checkpoints with spec.contextFrom.seq)",
        )
    return (other if phase == Phase.SUCCEEDED else None), None


@kopf.on.resume(GROUP, VERSION, PLURAL, when=lambda status, **_: not _finished(status))
@kopf.on.create(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]
def start_run(body: kopf.Body, namespace: str, name: str, patch: kopf.Patch, retry: int, **_: Any) -> None:
    """Create the run's identity and Job (idempotently: a restart finds them and moves on)."""
    run = plain(body)
    try:
        spec = WorkflowRunSpec.model_validate(run["spec"])
    except ValidationError as exc:
        _fail(
            patch,
            body,
            "InvalidSpec",
            "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
        )
        return
    status = run.get("status") or {}
    patch.status["observedGeneration"] = run["metadata"].get("generation")
    if not status.get("startTime"):
        patch.status["startTime"] = run_status.now()
    if spec.template_ref and not status.get("template"):
        resolved = _resolve_template(run, spec.template_ref.name, patch, body, retry)
        if resolved is None:
            return
        spec, status = resolved, run["status"]
    elif spec.template_ref:  # resolved before (an operator restart): what was recorded then
        spec = WorkflowRunSpec.model_validate(effective_spec(run))
    if int(status.get("segment") or 1) > 1 or status.get("phase") in (Phase.WAITING, Phase.SUSPENDED) or spec.cancel:
        # Past its first Job (or cancelled before it): steering knows what to do, e.g. after a restart.
        actions.reconcile(run, DEFAULT_RUNNER_IMAGE)
        return
    source = None
    if spec.context_from and not status.get("jobName"):
        source, failure = _context_source_ready(namespace, spec.context_from)
        if failure:
            _fail(patch, body, "ContextSourceFailed", failure)
            return
        if source is None:
            message = f"waiting for spec.contextFrom WorkflowRun {spec.context_from.name} to succeed"
            _wait_pending(patch, run, body, retry, "WaitingForContext", message)
    job = build_runner_job(run, DEFAULT_RUNNER_IMAGE, default_store=actions.DEFAULT_CHECKPOINT_STORE)
    try:
        for obj in build_runner_identity(run, source):
            children.create_child(obj)
        created = children.create_child(job)
    except children.ChildNameConflict as exc:
        _fail(patch, body, children.CHILD_NAME_CONFLICT, str(exc))
        return
    except kopf.PermanentError as exc:
        if not spec.checkpoint.sensitive:
            raise
        # RBAC lets the operator grant only what it holds: here, no Secret rights in this namespace.
        _fail(patch, body, storage.STORAGE_REFUSED, f"{storage.SECRETS_HINT}: {exc}")
        return
    if created:
        kopf.event(
            body,
            type="Normal",
            reason="Started",
            message=f"created Job {job['metadata']['name']} to run {spec.workflow}",
        )
    patch.status["jobName"] = job["metadata"]["name"]
    patch.status["segment"] = 1
    if not status.get("phase"):
        if spec.suspend:
            _set_starting(patch, run, Phase.SUSPENDED, "Suspended", "created suspended (spec.suspend): no pod yet")
        elif spec.queue_name:
            message = f"waiting for Kueue to admit its Job (LocalQueue {spec.queue_name})"
            _set_starting(patch, run, Phase.QUEUED, queueing.WAITING_FOR_ADMISSION, message)
        else:
            _set_starting(patch, run, Phase.PENDING, "Pending", "waiting for the runner pod to start")


def _resolve_template(
    run: dict[str, Any], template: str, patch: kopf.Patch, body: kopf.Body, retry: int
) -> WorkflowRunSpec | None:
    """Record in status what spec.templateRef's WorkflowTemplate gives the run (before any Job exists,
    so every pod reads it) and return the run's effective spec; None when the run failed."""
    namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
    found = actions.read_template(namespace, template)
    if found is None:
        message = f"waiting for WorkflowTemplate {template} (spec.templateRef) to exist"
        _wait_pending(patch, run, body, retry, "WaitingForTemplate", message)
    used = template_used(found)
    run["status"] = {**(run.get("status") or {}), "template": used}
    try:
        spec = WorkflowRunSpec.model_validate(effective_spec(run))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(patch, body, "InvalidSpec", f"spec.templateRef {template}: the run with it is not valid: {problems}")
        return None
    actions.patch_run_status(namespace, name, {"template": used})
    return spec


def _wait_pending(
    patch: kopf.Patch, run: dict[str, Any], body: kopf.Body, retry: int, reason: str, message: str
) -> NoReturn:
    """Pending until what the run needs exists: say so once (an Event on the first try) and retry."""
    _set_starting(patch, run, Phase.PENDING, reason, message)
    if retry == 0:
        kopf.event(body, type="Normal", reason=reason, message=message)
    raise kopf.TemporaryError(message, delay=2)


def _set_starting(patch: kopf.Patch, run: dict[str, Any], phase: Phase, reason: str, message: str) -> None:
    """The run's first phase, with its conditions at once: until the Job reports, kstatus (Flux's
    `wait: true`) would otherwise see a run with no Reconciling condition as done."""
    observed = run_status.Observed(phase, "Unknown", reason, message, False, 0)
    for key, value in run_status.status_patch(run, observed).items():
        patch.status[key] = value


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def spec_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Act on cancel, suspend and answers (spec.events), and acknowledge the edit (observedGeneration).
    What the run is and runs in (workflow, input, contextFrom, image, template, checkpoint) cannot
    change: CEL rules reject such edits at admission. Of the other fields, the TTL and wait-timeout
    sweep reads its own; the rest apply to the run's next Job."""
    generation = body["metadata"].get("generation")
    patch.status["observedGeneration"] = generation
    spec, phase = body.get("spec") or {}, (body.get("status") or {}).get("phase")
    steered = spec.get("cancel") or spec.get("suspend") or spec.get("events")
    run = plain(body)
    if steered or phase in (Phase.WAITING, Phase.SUSPENDED):
        # Fresh: steering acts on status (segment, waiting) that the runner and other handlers change.
        run = actions.read_run(body["metadata"]["namespace"], body["metadata"]["name"]) or run
        if (run.get("status") or {}).get("jobName") or run["spec"].get("cancel"):
            actions.reconcile(run, DEFAULT_RUNNER_IMAGE)
            run = actions.read_run(body["metadata"]["namespace"], body["metadata"]["name"]) or run
    conditions = plain((run.get("status") or {}).get("conditions") or [])
    if conditions:
        patch.status["conditions"] = [{**c, "observedGeneration": generation} for c in conditions]


# Per-run (phase, restarts) last reported, so a burst of Job events posts each Event once.
_reported: dict[str, tuple[str, int, bool, int]] = {}


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)  # type: ignore[arg-type]
def job_changed(
    body: kopf.Body,
    namespace: str,
    type: str | None,
    runs_by_name: kopf.Index[tuple[str, str], dict[str, Any]],
    logger: logging.Logger,
    **_: Any,
) -> None:
    """Mirror the Job into the run's phase, conditions and restarts (job_verdict.decide says how)."""
    _job_event(plain(body), namespace, runs_by_name, deleted=type == "DELETED")


# The watch is narrowed server-side to failed runner pods (operator.configure sets pod_loss's selectors).
@kopf.on.event("", "v1", "pods", labels=MANAGED_BY)  # type: ignore[arg-type]
def runner_pod_failed(
    body: kopf.Body,
    namespace: str,
    type: str | None,
    runs_by_name: kopf.Index[tuple[str, str], dict[str, Any]],
    **_: Any,
) -> None:
    """Replace the run's first lost pod as soon as the node reports it failed, not a second later when
    the Job controller counts it (see pod_loss). Anything else waits for the Job's own event."""
    pod = plain(body)
    if type == "DELETED" or not pod_loss.counted_failure(pod):
        return
    job = actions.read_job(namespace, pod_loss.owner_job_name(pod))
    counted = pod_loss.as_counted(job, pod) if job is not None else None
    if counted is not None:
        _job_event(counted, namespace, runs_by_name, only=job_verdict.Kind.REPLACE_POD)


def _job_event(
    job: dict[str, Any],
    namespace: str,
    runs_by_name: kopf.Index[tuple[str, str], dict[str, Any]],
    *,
    deleted: bool = False,
    only: job_verdict.Kind | None = None,
) -> None:
    owner = job_verdict.controller_owner(job)
    entry = None
    if owner is not None:
        entry = next((e for e in runs_by_name.get((namespace, owner["name"]), []) if e["uid"] == owner["uid"]), None)
    verdict = job_verdict.decide(job, entry, deleted=deleted)
    if verdict.kind is job_verdict.Kind.READ_FRESH and owner is not None:
        fresh = job_verdict.Fresh(run=actions.read_run(namespace, owner["name"]))
        verdict = job_verdict.decide(job, entry, deleted=deleted, fresh=fresh)
    if owner is None or entry is None:  # without them, decide ignored the Job
        return
    if only is None or verdict.kind is only:
        _carry_out(verdict, namespace, job, owner, entry)


def _carry_out(
    verdict: job_verdict.JobVerdict,
    namespace: str,
    job: dict[str, Any],
    owner: Mapping[str, Any],
    entry: dict[str, Any],
) -> None:
    """Do what the verdict says, then announce what it observed (Events, at most once per change)."""
    match verdict.kind:
        case job_verdict.Kind.RECONCILE:
            actions.reconcile(verdict.run, DEFAULT_RUNNER_IMAGE)
        case job_verdict.Kind.REPLACE_POD:
            actions.replace_lost_pod(verdict.run, job, DEFAULT_RUNNER_IMAGE)
        case job_verdict.Kind.PARK:
            if verdict.patch:
                actions.patch_run_status(namespace, owner["name"], verdict.patch)
            # Parked: nothing of the run stays while it waits (its status keeps the Context).
            actions.delete_job(namespace, job["metadata"]["name"])
            # The answer may be there already (sent while the pod was parking), or the run suspended.
            actions.reconcile(verdict.run, DEFAULT_RUNNER_IMAGE)
        case job_verdict.Kind.MIRROR:
            if not actions.patch_run_status(namespace, owner["name"], verdict.patch):
                return  # the run is gone: nothing to announce
        case _:
            # IGNORE. READ_FRESH does not come back once decide has had its fresh read.
            return
    if verdict.observed is not None:
        _post_transition_events(_ref(namespace, owner), owner["uid"], verdict.observed, entry)


def _ref(namespace: str, owner: Mapping[str, Any]) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]},
        }
    )


def _post_transition_events(ref: kopf.Body, uid: str, observed: run_status.Observed, entry: dict[str, Any]) -> None:
    running_condition: dict[str, Any] = next(
        (c for c in entry["status"].get("conditions") or [] if c.get("type") == "Running"), {}
    )
    # A run waits once per segment: a second question can follow the first so fast (the pod woken by the
    # answer parks again) that no Job event in between showed it Running, so the segment tells them apart.
    segment = int(entry["status"].get("segment") or 0)
    before_phase, before_restarts, before_running, before_segment = _reported.get(
        uid,
        (
            entry["status"].get("phase") or "",
            int(entry["status"].get("restarts") or 0),
            # The runner sets phase Running itself; the operator's own Running condition says whether
            # the Running event went out.
            running_condition.get("status") == "True",
            segment,
        ),
    )
    if observed.restarts > before_restarts and observed.phase not in TERMINAL_PHASES:
        metrics.RESTARTS.inc(observed.restarts - before_restarts)
        kopf.event(
            ref,
            type="Warning",
            reason="PodLost",
            message=f"runner pod ended before the workflow finished ({observed.restarts} so far); "
            f"a new pod resumes from checkpoint {entry.get('checkpointSeq') or 0}",
        )
    if observed.phase != before_phase or segment != before_segment or (observed.running and not before_running):
        if observed.phase == Phase.RUNNING and observed.running:
            kopf.event(ref, type="Normal", reason="Running", message=observed.message)
        elif observed.phase == Phase.WAITING:
            kopf.event(ref, type="Normal", reason="WaitingForInput", message=observed.message)
        elif observed.phase == Phase.QUEUED:
            reason = queueing.PREEMPTED if observed.reason == queueing.PREEMPTED else "Queued"
            kopf.event(ref, type="Normal", reason=reason, message=observed.message)
        elif observed.phase == Phase.SUCCEEDED:
            kopf.event(ref, type="Normal", reason="Succeeded", message=observed.message)
        elif observed.phase == Phase.FAILED:
            kopf.event(ref, type="Warning", reason=observed.reason, message=observed.message)
    if observed.phase in TERMINAL_PHASES and observed.phase != before_phase:
        metrics.FINISHED.labels(str(observed.phase), observed.reason).inc()
    # Kept after the run finished too: the Job's last events (SuccessCriteriaMet, then Complete) can
    # arrive before the run's own update, and must not count or announce the end twice.
    _reported[uid] = (str(observed.phase), observed.restarts, observed.running, segment)


__all__ = ["job_changed", "job_name_for", "runs_by_name", "start_run"]
