"""API calls that carry out steering decisions: cancel, suspend/resume, the next Job after an answer."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kube_workflows import kube
from kube_workflows.builders import build_runner_job
from kube_workflows.controller import children, fence, queueing, timers
from kube_workflows.controller import status as run_status
from kube_workflows.controller.steering import Action, decide
from kube_workflows.models import GROUP, KIND, TERMINAL_PHASES, VERSION, Phase
from kube_workflows.models.workflowrun import CheckpointStoreSpec

log = logging.getLogger(__name__)

# The install's spec.checkpoint.store for runs that set none (the chart's runner.checkpointStore, as JSON).
# Read once: a resumed pod reads status.checkpoint.storage to know where its Context is, whatever this says.
DEFAULT_CHECKPOINT_STORE = (
    CheckpointStoreSpec.model_validate_json(os.environ["KWF_DEFAULT_CHECKPOINT_STORE"])
    if os.environ.get("KWF_DEFAULT_CHECKPOINT_STORE", "{}") != "{}"
    else None
)


def read_run(namespace: str, name: str) -> dict[str, Any] | None:
    return _read_custom(namespace, name, kube.WORKFLOWRUN["plural"])


def read_template(namespace: str, name: str) -> dict[str, Any] | None:
    """A WorkflowTemplate, None when it does not exist."""
    return _read_custom(namespace, name, "workflowtemplates")


def _read_custom(namespace: str, name: str, plural: str) -> dict[str, Any] | None:
    try:
        found = kube.custom_objects().get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    assert isinstance(found, dict)
    return found


def read_job(namespace: str, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    try:
        response: Any = kube.batch().read_namespaced_job(name, namespace, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    parsed = json.loads(response.data)
    assert isinstance(parsed, dict)
    return parsed


def patch_run_status(namespace: str, name: str, patch: dict[str, Any]) -> bool:
    """Merge-patch the run's status; False when the run is gone."""
    try:
        kube.custom_objects().patch_namespaced_custom_object_status(
            namespace=namespace, name=name, body={"status": patch}, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
        return False
    return True


def reference(run: dict[str, Any]) -> kopf.Body:
    """A minimal body for kopf.event (it needs only the object reference)."""
    meta = run["metadata"]
    return kopf.Body(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
        }
    )


def _set_phase(run: dict[str, Any], observed: run_status.Observed, extra: dict[str, Any] | None = None) -> None:
    patch = {**run_status.status_patch(run, observed), **(extra or {})}
    if patch:
        patch_run_status(run["metadata"]["namespace"], run["metadata"]["name"], patch)


def reconcile(run: dict[str, Any], default_image: str) -> None:
    """Bring the run's Job and phase in line with spec.cancel, spec.suspend and spec.events."""
    namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
    status = run.get("status") or {}
    job = read_job(namespace, status.get("jobName"))
    decision = decide(run, job)
    for action in decision.actions:
        log.info("%s/%s: %s", namespace, name, action)
        if action == Action.CANCEL:
            cancel(run, job)
        elif action in (Action.SUSPEND_JOB, Action.RESUME_JOB):
            suspend = action == Action.SUSPEND_JOB
            if queueing.queue_of(job):
                assert job is not None
                steer_queued_job(job, suspend)
            else:
                kube.batch().patch_namespaced_job(status["jobName"], namespace, {"spec": {"suspend": suspend}})
            what = (
                "stopping the pod after the running step's checkpoint"
                if suspend
                else "resuming from the last checkpoint"
            )
            kopf.event(reference(run), type="Normal", reason="Suspended" if suspend else "Resumed", message=what)
            if not suspend:
                # The Job no longer says Suspended; until its new pod runs, the run is Pending.
                _set_phase(
                    run, run_status.Observed(Phase.PENDING, "Unknown", "Resuming", what, False, _restarts(status))
                )
        elif action == Action.SUSPEND_PARKED:
            message = "suspended while waiting for input (spec.suspend); answers wait until it is resumed"
            _set_phase(
                run, run_status.Observed(Phase.SUSPENDED, "Unknown", "Suspended", message, False, _restarts(status))
            )
            kopf.event(reference(run), type="Normal", reason="Suspended", message=message)
        elif action == Action.UNSUSPEND_PARKED:
            observed = run_status.observe({**status, "phase": Phase.WAITING}, job)
            _set_phase(run, observed)
            run = {**run, "status": {**status, "phase": str(Phase.WAITING)}}
            kopf.event(reference(run), type="Normal", reason="Resumed", message=observed.message)
        elif action == Action.NEXT_SEGMENT:
            start_next_segment(run, default_image)


KUEUE_GROUP, KUEUE_VERSION = "kueue.x-k8s.io", "v1beta2"


class WorkloadNotYetCreated(kopf.TemporaryError):
    pass


def steer_queued_job(job: dict[str, Any], suspend: bool) -> None:
    """Suspend or resume a queued run through its Job's Workload (see queueing): Kueue evicts a
    deactivated Workload (its Job is suspended, the runner stops after the running step's checkpoint)
    and queues a reactivated one again. The Job's annotation records it first, so the run shows
    Suspended, not Queued, whatever Kueue does meanwhile."""
    namespace = job["metadata"]["namespace"]
    annotation = {queueing.SUSPENDED_ANNOTATION: "true" if suspend else None}
    kube.batch().patch_namespaced_job(job["metadata"]["name"], namespace, {"metadata": {"annotations": annotation}})
    found = kube.custom_objects().list_namespaced_custom_object(
        KUEUE_GROUP, KUEUE_VERSION, namespace, "workloads", label_selector=queueing.workload_selector(job)
    )
    assert isinstance(found, dict)
    workloads = found.get("items") or []
    if not workloads:
        raise WorkloadNotYetCreated("Kueue has not created the Job's Workload yet", delay=2)
    for workload in workloads:
        kube.custom_objects().patch_namespaced_custom_object(
            KUEUE_GROUP,
            KUEUE_VERSION,
            namespace,
            "workloads",
            workload["metadata"]["name"],
            {"spec": {"active": not suspend}},
        )


def _restarts(status: dict[str, Any]) -> int:
    return int(status.get("restarts") or 0)


def delete_job(namespace: str, name: str) -> None:
    """Delete a Job; its pods go with it (SIGTERM first, like any pod deletion)."""
    try:
        kube.batch().delete_namespaced_job(name, namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


# Conflicts in a row before a fenced write gives up; each one means another writer just succeeded.
FENCED_WRITE_TRIES = 5


def write_fenced(
    run: dict[str, Any], build: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """Write the status merge patch `build(run)` as a JSON patch fenced on the run's attempt (see
    fence.py). When another writer got there first (the API server answers 422 for a failed `test`,
    409 for a stale resourceVersion), read the run again and build again. Returns the run the written
    patch was built from; None when the run is gone or `build` finds nothing to write."""
    namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
    current: dict[str, Any] | None = run
    for _ in range(FENCED_WRITE_TRIES):
        assert current is not None
        merge = build(current)
        if merge is None:
            return None
        try:
            kube.discard(
                kube.custom_objects().patch_namespaced_custom_object_status(
                    namespace=namespace,
                    name=name,
                    body=fence.fenced_status_patch(current, merge),
                    _content_type="application/json-patch+json",
                    _preload_content=False,
                    **kube.WORKFLOWRUN,
                )
            )
            return current
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status not in (409, 422):
                raise
            log.info("%s/%s: status changed under a fenced write (%s); reading it again", namespace, name, exc.status)
        current = read_run(namespace, name)
        if current is None:
            return None
    raise kopf.TemporaryError(f"{namespace}/{name}: status kept changing under a fenced write", delay=1)


CANCELLED_MESSAGE = "cancelled (spec.cancel); its pods are removed"


def cancelled_patch(run: dict[str, Any]) -> dict[str, Any] | None:
    """The status merge patch that cancels `run` as read; None when it has finished meanwhile (that
    outcome stands)."""
    status = run.get("status") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return None
    observed = run_status.Observed(Phase.CANCELLED, "False", "Cancelled", CANCELLED_MESSAGE, False, _restarts(status))
    # A higher attempt number makes the API server reject a still-running runner's writes; written
    # with write_fenced, it is higher than any attempt a runner claimed since this read.
    return {**run_status.status_patch(run, observed), "attempt": int(status.get("attempt") or 0) + 1}


def cancel(run: dict[str, Any], job: dict[str, Any] | None) -> None:
    """Cancelled is final: remove the Job (its pods go with it) and fence out any runner still writing."""
    if job is not None:
        delete_job(run["metadata"]["namespace"], job["metadata"]["name"])
    if write_fenced(run, cancelled_patch) is not None:
        kopf.event(reference(run), type="Normal", reason="Cancelled", message=CANCELLED_MESSAGE)


def failed_patch(reason: str, message: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Like cancelled_patch, for a run the operator fails while its runner may still be writing."""

    def build(run: dict[str, Any]) -> dict[str, Any] | None:
        status = run.get("status") or {}
        if status.get("phase") in TERMINAL_PHASES:
            return None
        observed = run_status.Observed(Phase.FAILED, "False", reason, message, False, _restarts(status))
        return {**run_status.status_patch(run, observed), "attempt": int(status.get("attempt") or 0) + 1}

    return build


def fail_running(run: dict[str, Any], reason: str, message: str) -> None:
    """Fail a run whose pod may be running: fence its runner out (as cancel does) and remove its Job."""
    if write_fenced(run, failed_patch(reason, message)) is not None:
        kopf.event(reference(run), type="Warning", reason=reason, message=message)
    job_name = (run.get("status") or {}).get("jobName")
    if job_name:
        delete_job(run["metadata"]["namespace"], job_name)


def fail(run: dict[str, Any], reason: str, message: str) -> None:
    """The run fails for a reason of the operator's own (not its Job's)."""
    observed = run_status.Observed(Phase.FAILED, "False", reason, message, False, _restarts(run.get("status") or {}))
    _set_phase(run, observed)
    kopf.event(reference(run), type="Warning", reason=reason, message=message)


def _create_segment_job(run: dict[str, Any], default_image: str, restarts: int) -> dict[str, Any] | None:
    """The run's next Job (see job_name_for); idempotent, as a restarted operator may create it again.
    None when its name is taken by an object that is not the run's: the run has failed."""
    status = run.get("status") or {}
    segment = int(status.get("segment") or 1) + 1
    job = build_runner_job(
        run, default_image, segment=segment, restarts_before=restarts, default_store=DEFAULT_CHECKPOINT_STORE
    )
    try:
        children.create_child(job)
    except children.ChildNameConflict as exc:
        fail(run, children.CHILD_NAME_CONFLICT, str(exc))
        return None
    return job


def replace_lost_pod(run: dict[str, Any], lost_job: dict[str, Any], default_image: str) -> None:
    """The run's first pod loss: a new Job resumes it now (see steering.replace_at_once)."""
    status = run.get("status") or {}
    if status.get("error") or (status.get("checkpoint") or {}).get("final") or status.get("waiting"):
        return  # the runner recorded an outcome: the Job controller's verdict follows
    restarts = _restarts(status) + 1
    job = _create_segment_job(run, default_image, restarts)
    if job is None:
        # Failed: the lost pod's Job must not start a replacement of its own either.
        kube.batch().patch_namespaced_job(
            lost_job["metadata"]["name"], run["metadata"]["namespace"], {"spec": {"suspend": True}}
        )
        return
    seq = (status.get("checkpoint") or {}).get("seq") or 0
    message = f"the runner pod was lost; a new pod (Job {job['metadata']['name']}) resumes from checkpoint {seq}"
    observed = run_status.Observed(Phase.RUNNING, "Unknown", "Resuming", message, False, restarts)
    _set_phase(run, observed, {"segment": int(status.get("segment") or 1) + 1, "jobName": job["metadata"]["name"]})
    # Suspended, not deleted: no replacement of its own, and the lost pod's logs stay readable.
    kube.batch().patch_namespaced_job(
        lost_job["metadata"]["name"], run["metadata"]["namespace"], {"spec": {"suspend": True}}
    )


def start_next_segment(run: dict[str, Any], default_image: str) -> None:
    """The answer the parked run waits for is in spec.events: a new Job resumes it from its checkpoint."""
    status = run.get("status") or {}
    segment = int(status.get("segment") or 1) + 1
    job = _create_segment_job(run, default_image, _restarts(status))
    if job is None:
        return
    index = int((status.get("waiting") or {}).get("eventIndex") or 0)
    seq = (status.get("checkpoint") or {}).get("seq")
    message = f"delivering spec.events[{index}]; a new pod resumes from checkpoint {seq}"
    observed = run_status.Observed(Phase.PENDING, "Unknown", "Answered", message, False, _restarts(status))
    _set_phase(
        {**run, "status": {**status, "phase": None}},
        observed,
        {"segment": segment, "jobName": job["metadata"]["name"]},
    )
    kopf.event(
        reference(run), type="Normal", reason="Answered", message=f"created Job {job['metadata']['name']}: {message}"
    )


def wait_timed_out(timer: timers.Timer, run: dict[str, Any]) -> bool:
    """spec.waitTimeoutSeconds passed while the run waited for input: it fails. Only if `run` (fresh)
    and the status the write lands on still wait on the question the timer was made for. Returns
    whether it failed the run."""
    message = ""

    def timed_out(current: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal message
        if not timers.wait_due(timer, current, time.time()):
            return None  # answered, asked again, re-created or given more time
        status = current.get("status") or {}
        timeout = current["spec"].get("waitTimeoutSeconds")
        index = (status.get("waiting") or {}).get("eventIndex", 0)
        message = f"no answer within spec.waitTimeoutSeconds ({timeout}s); it waited for spec.events[{index}]"
        observed = run_status.Observed(Phase.FAILED, "False", "WaitTimeout", message, False, _restarts(status))
        return run_status.status_patch(current, observed)

    if write_fenced(run, timed_out) is None:
        return False
    kopf.event(reference(run), type="Warning", reason="WaitTimeout", message=message)
    return True
