"""kopf handlers. Each one reads what it needs, calls a pure builder, and writes the result."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kube_workflows import __version__, kube
from kube_workflows.builders import build_runner_identity, build_runner_job, job_name_for
from kube_workflows.builders.names import MANAGED_BY
from kube_workflows.controller import metrics
from kube_workflows.controller import status as run_status
from kube_workflows.models import GROUP, KIND, PLURAL, TERMINAL_PHASES, VERSION, Phase, WorkflowRunSpec

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
    """Feed the metrics (phases, step and checkpoint figures) and the TTL sweep."""
    status, deleted = body.get("status") or {}, type == "DELETED"
    if deleted:
        _last_checkpoint_event.pop(body["metadata"]["uid"], None)
        _reported.pop(body["metadata"]["uid"], None)
    else:
        _post_checkpoint_event(body, status)
    metrics.RUNS.observe(body["metadata"]["uid"], status, deleted=deleted)
    track_ttl(body["metadata"]["namespace"], body["metadata"]["name"], body.get("spec") or {}, status, deleted)


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
            "status": {k: plain(status[k]) for k in _INDEXED_STATUS if k in status},
            "checkpointSeq": (status.get("checkpoint") or {}).get("seq"),
        }
    }


def _create(obj: dict[str, Any]) -> bool:
    """Create `obj`; False when it already exists (handlers run again after restarts)."""
    kind, ns = obj["kind"], obj["metadata"]["namespace"]
    creators: dict[str, Callable[..., Any]] = {
        "ServiceAccount": kube.core().create_namespaced_service_account,
        "Role": kube.rbac().create_namespaced_role,
        "RoleBinding": kube.rbac().create_namespaced_role_binding,
        "Job": kube.batch().create_namespaced_job,
    }
    create = creators[kind]
    try:
        create(namespace=ns, body=obj)
    except ApiException as exc:
        if exc.status == 409:
            return False
        if exc.status == 422 or exc.status == 403:
            raise kopf.PermanentError(
                f"cannot create {kind} {obj['metadata']['name']}: {exc.reason}: {exc.body}"
            ) from exc
        raise
    return True


def _fail(patch: kopf.Patch, body: kopf.Body, reason: str, message: str) -> None:
    patch.status["phase"] = str(Phase.FAILED)
    patch.status["observedGeneration"] = body["metadata"].get("generation")
    patch.status["completionTime"] = run_status.now()
    patch.status["conditions"] = [
        {
            "type": "Succeeded",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": run_status.now(),
            "observedGeneration": body["metadata"].get("generation"),
        },
        {
            "type": "Running",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": run_status.now(),
            "observedGeneration": body["metadata"].get("generation"),
        },
    ]
    kopf.event(body, type="Warning", reason=reason, message=message)


def _context_source_ready(namespace: str, source: str) -> tuple[bool, str | None]:
    """(ready, failure): whether spec.contextFrom's run has Succeeded, or why it never will."""
    try:
        other = kube.custom_objects().get_namespaced_custom_object(namespace=namespace, name=source, **kube.WORKFLOWRUN)
        assert isinstance(other, dict)
    except ApiException as exc:
        if exc.status == 404:
            return False, None
        raise
    phase = (other.get("status") or {}).get("phase")
    if phase == Phase.FAILED:
        return (
            False,
            f"spec.contextFrom: WorkflowRun {source} Failed; only a Succeeded run's Context can be continued",
        )
    return phase == Phase.SUCCEEDED, None


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
    if spec.context_from and not status.get("jobName"):
        ready, failure = _context_source_ready(namespace, spec.context_from)
        if failure:
            _fail(patch, body, "ContextSourceFailed", failure)
            return
        if not ready:
            patch.status["phase"] = str(Phase.PENDING)
            message = f"waiting for spec.contextFrom WorkflowRun {spec.context_from} to succeed"
            if retry == 0:
                kopf.event(body, type="Normal", reason="WaitingForContext", message=message)
            raise kopf.TemporaryError(message, delay=2)
    for obj in build_runner_identity(run):
        _create(obj)
    job = build_runner_job(run, DEFAULT_RUNNER_IMAGE)
    if _create(job):
        kopf.event(
            body,
            type="Normal",
            reason="Started",
            message=f"created Job {job['metadata']['name']} to run {spec.workflow}",
        )
    patch.status["jobName"] = job["metadata"]["name"]
    if not status.get("phase"):
        patch.status["phase"] = str(Phase.PENDING)


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def spec_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Acknowledge a spec edit (observedGeneration). A started run's Job is immutable: only
    ttlSecondsAfterFinished takes effect; the identity fields are rejected at admission."""
    generation = body["metadata"].get("generation")
    patch.status["observedGeneration"] = generation
    conditions = plain((body.get("status") or {}).get("conditions") or [])
    if conditions:
        patch.status["conditions"] = [{**c, "observedGeneration": generation} for c in conditions]


# Per-run (phase, restarts) last reported, so a burst of Job events posts each Event once.
_reported: dict[str, tuple[str, int]] = {}


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)  # type: ignore[arg-type]
def job_changed(
    body: kopf.Body,
    namespace: str,
    type: str | None,
    runs_by_name: kopf.Index[tuple[str, str], dict[str, Any]],
    logger: logging.Logger,
    **_: Any,
) -> None:
    """Mirror the Job into the run's phase, conditions and restarts."""
    owner = next(
        (
            o
            for o in body.get("metadata", {}).get("ownerReferences", [])
            if o.get("kind") == KIND and o.get("controller")
        ),
        None,
    )
    if owner is None or type == "DELETED":
        return
    entry = next((e for e in runs_by_name.get((namespace, owner["name"]), []) if e["uid"] == owner["uid"]), None)
    if entry is None:
        return  # the run is gone; garbage collection removes the Job
    run = {"metadata": {"generation": entry["generation"]}, "status": entry["status"]}
    observed = run_status.observe(entry["status"], plain(body))
    patch = run_status.status_patch(run, observed)
    if not patch:
        return
    try:
        kube.custom_objects().patch_namespaced_custom_object_status(
            namespace=namespace, name=owner["name"], body={"status": patch}, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    ref = kopf.Body(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]},
        }
    )
    _post_transition_events(ref, owner["uid"], observed, entry)


def _post_transition_events(ref: kopf.Body, uid: str, observed: run_status.Observed, entry: dict[str, Any]) -> None:
    before_phase, before_restarts = _reported.get(
        uid, (entry["status"].get("phase") or "", int(entry["status"].get("restarts") or 0))
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
    if observed.phase != before_phase:
        if observed.phase == Phase.RUNNING and observed.running:
            kopf.event(ref, type="Normal", reason="Running", message=observed.message)
        elif observed.phase == Phase.SUCCEEDED:
            kopf.event(ref, type="Normal", reason="Succeeded", message=observed.message)
        elif observed.phase == Phase.FAILED:
            kopf.event(ref, type="Warning", reason=observed.reason, message=observed.message)
    if observed.phase in TERMINAL_PHASES and observed.phase != before_phase:
        metrics.FINISHED.labels(str(observed.phase), observed.reason).inc()
    # Kept after the run finished too: the Job's last events (SuccessCriteriaMet, then Complete) can
    # arrive before the run's own update, and must not count or announce the end twice.
    _reported[uid] = (str(observed.phase), observed.restarts)


# Finished runs with spec.ttlSecondsAfterFinished: (namespace, name) → when to delete them. A plain
# background sweep instead of a kopf timer: timers make kopf put a finalizer on every run, and a run
# deleting itself through its own timer can leave that finalizer stuck.
_expiring: dict[tuple[str, str], float] = {}


def track_ttl(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], deleted: bool) -> None:
    ttl, finished = spec.get("ttlSecondsAfterFinished"), status.get("completionTime")
    if deleted or ttl is None or not finished:
        _expiring.pop((namespace, name), None)
        return
    finished_at = datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
    _expiring[(namespace, name)] = (finished_at + timedelta(seconds=int(ttl))).timestamp()


async def sweep_expired_runs(interval: float = 2.0) -> None:
    while True:
        await asyncio.sleep(interval)
        now = datetime.now(UTC).timestamp()
        for (namespace, name), deadline in list(_expiring.items()):
            if now >= deadline:
                _expiring.pop((namespace, name), None)
                await asyncio.to_thread(_delete_run, namespace, name)


def _delete_run(namespace: str, name: str) -> None:
    try:
        kube.custom_objects().delete_namespaced_custom_object(
            namespace=namespace, name=name, propagation_policy="Background", **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status != 404:
            logging.getLogger(__name__).warning("could not delete expired run %s/%s: %s", namespace, name, exc)


@kopf.on.startup()
async def start_ttl_sweeper(memo: kopf.Memo, **_: Any) -> None:
    memo["ttl_sweeper"] = asyncio.create_task(sweep_expired_runs())


@kopf.on.cleanup()
async def stop_ttl_sweeper(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("ttl_sweeper")
    if task is not None:
        task.cancel()


__all__ = ["job_changed", "job_name_for", "runs_by_name", "start_run"]
