"""`kwf runner`: the entrypoint of a WorkflowRun's pod.

Claim the run, import the workflow, restore its Context from the last checkpoint (or from
`spec.contextFrom`), run it with a checkpoint after every completed step, then record the result
or the error. Exit codes (see `exit_codes`) tell the Job which failures are worth another pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
import signal
import traceback
from concurrent.futures import Future
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from workflows.events import Event
from workflows.handler import WorkflowHandler

from kube_workflows.builders.job import owner_reference
from kube_workflows.checkpoint.offload import CHUNK_BYTES as MAX_OUTPUTS_BYTES
from kube_workflows.checkpoint.outputs import ERROR_KEY, withheld_error
from kube_workflows.checkpoint.outputs import to_text as outputs_text
from kube_workflows.models import WorkflowRunSpec, exit_codes
from kube_workflows.models.workflowrun import effective_spec
from kube_workflows.restclient import ApiError
from kube_workflows.runner import context_store, failpoints, outputs, patches
from kube_workflows.runner.identity import RunnerIdentity
from kube_workflows.runner.loader import WorkflowLoadError, load_workflow
from kube_workflows.runner.reporter import ApiUnavailable, NotClaimable, Reporter, StatusTooLarge, Superseded
from kube_workflows.runner.restore import RunFailure, restore_context
from kube_workflows.runner.startup import Claimed, claim_in_background
from kube_workflows.runner.status_store import CheckpointTooLarge, StatusStore
from kube_workflows.runner.stream import StreamWindow
from kube_workflows.runtime import compat
from kube_workflows.runtime._engine import RunRecorder
from kube_workflows.runtime.durable import DurableRuntime
from kube_workflows.runtime.idempotency import RUN_UID_ENV

log = logging.getLogger("kube_workflows.runner")


# status.error is part of the object's budget; exception text can be any length.
MAX_ERROR_MESSAGE = 4000


def error_record(reason: str, exc: BaseException, step: str | None = None) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(exc))
    return {
        "reason": reason,
        "type": type(exc).__name__,
        "message": (str(exc) or type(exc).__name__)[:MAX_ERROR_MESSAGE],
        "step": step,
        "traceback": tb[-4000:],
    }


def record_failure(
    store: StatusStore,
    reason: str,
    exc: BaseException,
    code: int,
    step: str | None = None,
    events: tuple[dict[str, Any], ...] = (),
) -> int:
    """Record why the run failed (best effort: the exit code fails it anyway), with the streamed `events`
    not published yet (what the failing steps streamed: no pod runs them again); return `code`."""
    reporter = store.reporter
    try:
        error = error_record(reason, exc, step)
        if store.policy.sensitive:  # exception text can quote anything the workflow held
            details = {"message": error["message"], "traceback": error["traceback"]}
            ref = outputs.withhold(reporter, store.owner, ERROR_KEY, details)
            error = withheld_error(error, ref)
        reporter.write("recording the error", patches.error_patch(store.attempt, error) + store.stream.publish(events))
    except (Superseded, ApiUnavailable, ApiError, StatusTooLarge) as write_exc:
        log.error("could not record the error: %s", write_exc)
    log.error("run failed (%s): %s", reason, exc)
    return code


async def execute(
    identity: RunnerIdentity, reporter: Reporter | None = None, claiming: Future[Claimed] | None = None
) -> int:
    """Run the workflow of the run `identity` names; `claiming`: its claim, when already under way."""
    claiming = claiming or claim_in_background(identity, reporter)
    try:
        claimed_by, run, attempt = await asyncio.wrap_future(claiming)
    except NotClaimable as exc:
        log.warning("not running %s/%s: %s", identity.namespace, identity.name, exc)
        return exit_codes.NOT_CLAIMED
    except (ApiUnavailable, ApiError) as exc:
        log.error("cannot claim %s/%s: %s", identity.namespace, identity.name, exc)
        return exit_codes.INFRASTRUCTURE
    reporter = claimed_by
    status = run.get("status") or {}
    last = status.get("checkpoint") or {}
    if last.get("final"):
        log.info("the run already finished (final checkpoint %s); nothing to do", last.get("seq"))
        return exit_codes.SUCCEEDED
    failpoints.arm(attempt)
    failpoints.reached("after-claim")
    log.info("attempt %d of %s/%s on pod %s", attempt, identity.namespace, identity.name, identity.pod)
    # Steps may use them: kube_workflows.idempotency_key() builds on the uid.
    os.environ["KWF_ATTEMPT"] = str(attempt)
    os.environ[RUN_UID_ENV] = str(run["metadata"].get("uid") or "")

    try:  # spec.checkpoint.store: its writes are fenced by this attempt too
        contexts = await asyncio.to_thread(context_store.from_env, run, attempt)
    except Superseded as exc:
        log.warning("%s; stopping", exc)
        return exit_codes.SUPERSEDED
    except ApiUnavailable as exc:
        log.error("cannot reach the checkpoint store: %s", exc)
        return exit_codes.INFRASTRUCTURE
    policy = WorkflowRunSpec.model_validate(effective_spec(run)).checkpoint
    store = StatusStore(
        reporter,
        pod=identity.pod,
        policy=policy,
        owner=owner_reference(run),
        seq=int(last.get("seq") or 0),
        records=patches.Records(
            steps_len=len(status.get("steps") or []),
            history_len=len(status.get("history") or []),
            history_keep=policy.history,
            clear_waiting=bool(status.get("waiting")),
            previous=status.get("previousCheckpoint"),
        ),
        current=last or None,
        result_limit=WorkflowRunSpec.model_validate(effective_spec(run)).result_limit_bytes,
        contexts=contexts,
        # Sequence numbers go on from the last pod's.
        stream=StreamWindow.from_status(status.get("stream"), withhold=policy.sensitive),
    )
    # The same durable runtime a user runs in-process, over the run's status instead of a database.
    runtime = DurableRuntime(
        store,
        every_steps=policy.every_steps,
        every_seconds=policy.every_milliseconds / 1000 if policy.every_milliseconds is not None else None,
    )
    recorder = runtime.recorder(
        identity.name,
        steps_completed=int(last.get("stepsCompleted") or 0),
        events_delivered=int(last.get("eventsDelivered") or 0),
    )
    recorder.on_stop = functools.partial(_stop_now, store)
    if identity.handle_sigterm:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, lambda: asyncio.ensure_future(_stop_gracefully(recorder, store))
        )

    fail = functools.partial(record_failure, store)

    try:
        spec = WorkflowRunSpec.model_validate(effective_spec(run))
        if spec.workflow is None:  # the operator records the template before it creates the Job
            raise WorkflowLoadError("spec.templateRef: the WorkflowTemplate was not resolved (status.template)")
        # The user's code constructs the workflow (on import, or when we call its class or factory)
        # onto the durable runtime.
        with runtime.registering():
            workflow = load_workflow(spec.workflow, spec.step_timeout_seconds)
        restored = await asyncio.to_thread(restore_context, workflow, run, reporter, contexts)
        ctx, resuming = restored.ctx, restored.resuming
        if restored.recovered_from:
            older = restored.checkpoint or {}
            store.resume_from(older)
            recorder.steps_completed = int(older.get("stepsCompleted") or 0)
            recorder.events_delivered = int(older.get("eventsDelivered") or 0)
            await asyncio.to_thread(
                reporter.write,
                "recording the recovery",
                patches.recovery_patch(attempt, restored.recovered_from),
            )
    except WorkflowLoadError as exc:
        return await asyncio.to_thread(fail, "WorkflowNotImportable", exc, exit_codes.INVALID_RUN)
    except RunFailure as exc:
        return await asyncio.to_thread(fail, exc.reason, exc, exc.exit_code)
    except Superseded as exc:
        log.warning("%s; stopping", exc)
        return exit_codes.SUPERSEDED
    except StatusTooLarge as exc:
        return await asyncio.to_thread(fail, "StatusTooLarge", exc, exit_codes.INVALID_RUN)
    except (ApiUnavailable, ApiError) as exc:
        log.error("API error while restoring: %s", exc)
        return exit_codes.INFRASTRUCTURE

    if resuming:
        log.info("resuming from checkpoint %d (%d steps done)", store.seq, recorder.steps_completed)
    try:
        handler = runtime.begin(workflow, recorder, ctx, **({} if resuming else spec.input))
    except compat.RuntimeConflict as exc:
        problem = WorkflowLoadError(f'spec.workflow "{spec.workflow}": {exc}')
        return await asyncio.to_thread(fail, "WorkflowNotImportable", problem, exit_codes.INVALID_RUN)
    except Exception as exc:  # raised before any step ran: the start event rejected spec.input
        return await asyncio.to_thread(fail, "InvalidInput", _input_error(exc), exit_codes.INVALID_RUN)
    if resuming and compat.is_idle(recorder.snapshot()):
        recorder.idle.set()  # restored while waiting for input: the library announces no idle again
    outcome = asyncio.ensure_future(handler)
    try:
        parked = await _answer_or_park(recorder, reporter, handler, outcome, status.get("waiting"))
        if parked is not None:
            return parked
        result = await outcome
    except BaseException as exc:
        if isinstance(recorder.fatal, Superseded) or isinstance(exc, Superseded):
            log.warning("%s; stopping", recorder.fatal or exc)
            return exit_codes.SUPERSEDED
        refused = next((e for e in (recorder.fatal, exc) if isinstance(e, StatusTooLarge)), None)
        if refused is not None:  # permanent: the same write would be refused again on a new pod
            return await asyncio.to_thread(fail, "StatusTooLarge", refused, exit_codes.INVALID_RUN)
        if isinstance(recorder.fatal, ApiUnavailable | ApiError) or isinstance(exc, ApiUnavailable):
            log.error("checkpoint write failed: %s", recorder.fatal or exc)
            return exit_codes.INFRASTRUCTURE
        if isinstance(recorder.fatal, CheckpointTooLarge):
            return await asyncio.to_thread(fail, "CheckpointTooLarge", recorder.fatal, exit_codes.INVALID_RUN)
        if isinstance(exc, ValidationError) and recorder.steps_completed == 0 and not resuming:
            return await asyncio.to_thread(fail, "InvalidInput", _input_error(exc), exit_codes.INVALID_RUN)
        if not isinstance(exc, Exception):
            raise
        streamed = recorder.take_streamed(None, everything=True)
        return await asyncio.to_thread(
            fail, "WorkflowRaised", exc, exit_codes.WORKFLOW_RAISED, recorder.running_step(), streamed
        )
    return await _finish(recorder, store, result)


async def _answer_or_park(
    recorder: RunRecorder,
    reporter: Reporter,
    handler: WorkflowHandler,
    outcome: asyncio.Future[Any],
    previous_wait: dict[str, Any] | None,
) -> int | None:
    """Until the workflow finishes: each time it idles waiting for input, send it the next answer from
    spec.events, or, when there is none yet, checkpoint, record what it waits for, and exit (no pod
    runs while a run waits). Returns the exit code when parked, None when the workflow finished."""
    rejected: str | None = None
    delivered_here = False
    while True:
        idle = asyncio.ensure_future(recorder.idle.wait())
        await asyncio.wait({outcome, idle}, return_when=asyncio.FIRST_COMPLETED)
        if outcome.done():
            idle.cancel()
            return None
        recorder.idle.clear()
        async with recorder.write_lock:  # the last step's checkpoint has landed
            pass
        snapshot = recorder.snapshot()
        expects = compat.awaited_events(snapshot) or recorder.answer_events
        if delivered_here and recorder.steps_since_delivery == 0:
            index = recorder.events_delivered - 1
            rejected = f"spec.events[{index}] woke no step; the workflow waits for {', '.join(expects) or 'input'}"
        delivered_here = False
        run = await asyncio.to_thread(reporter.read)
        events = run["spec"].get("events") or []
        index = recorder.events_delivered
        if index < len(events) and rejected is None:
            try:
                event = build_event(events[index], expects, index)
            except ValueError as exc:
                rejected = str(exc)
            else:
                log.info("delivering spec.events[%d] (%s)", index, type(event).__name__)
                recorder.events_delivered += 1
                recorder.steps_since_delivery = 0
                delivered_here = True
                recorder.requests = []
                handler.ctx.send_event(event)
                continue
        requests = recorder.requests or list((previous_wait or {}).get("requests") or [])
        waiting: dict[str, Any] = {
            "since": patches.now(),
            "requests": requests,
            "expects": expects,
            "eventIndex": recorder.events_delivered,
        }
        previous_ref = (previous_wait or {}).get("requestsRef")
        if not recorder.requests and previous_ref:
            # Parked again with no new question: a sensitive run's questions are still where status said.
            waiting["requestsRef"] = previous_ref
        if rejected:
            waiting.update(error=rejected, rejectedGeneration=run["metadata"].get("generation"))
            log.warning("%s", rejected)
        await recorder.park(snapshot, waiting)
        log.info("waiting for spec.events[%d]; the pod exits and a new one resumes", recorder.events_delivered)
        with contextlib.suppress(Exception):
            await handler.cancel_run()
        with contextlib.suppress(BaseException):
            outcome.exception()  # the cancellation we asked for
        return exit_codes.WAITING


def build_event(item: dict[str, Any], expects: list[str], index: int) -> Event:
    """spec.events[index] as the event class it names, or the one the workflow waits for."""
    where = f"spec.events[{index}]"
    type_name = item.get("type")
    if type_name:
        module_name, _, attr = str(type_name).partition(":")
    elif len(expects) == 1:
        module_name, _, attr = expects[0].rpartition(".")
    else:
        module_name, attr = "workflows.events", "HumanResponseEvent"
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"{where}.type: cannot import {module_name}:{attr}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Event)):
        raise ValueError(f"{where}.type: {module_name}:{attr} is not a workflows Event class")
    try:
        return cls(**(item.get("data") or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.data.{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{problems} (for {cls.__name__})") from exc
    except Exception as exc:
        raise ValueError(f"{where}.data: not accepted by {cls.__name__}: {exc}") from exc


def _input_error(exc: BaseException) -> Exception:
    cause = f"{exc}" + (f": {exc.__cause__}" if exc.__cause__ else "")
    return ValueError(f"spec.input is not accepted by the workflow's start event: {cause}")


async def _finish(recorder: RunRecorder, store: StatusStore, result: Any) -> int:
    """Record the result and the final Context (what `contextFrom` continues) in one write."""
    value = to_jsonable_python(result, fallback=repr)
    size = len(outputs_text(value).encode())
    if size > MAX_OUTPUTS_BYTES:  # over spec.resultLimitBytes (store.result_limit) it is offloaded, up to this
        problem = ValueError(
            f"the result is {size} bytes as JSON, over the {MAX_OUTPUTS_BYTES} bytes one outputs object holds; "
            "return a reference to large outputs (an object store key, a URL) instead"
        )
        return await asyncio.to_thread(record_failure, store, "ResultTooLarge", problem, exit_codes.INVALID_RUN)
    try:
        await recorder.finish(value)
    except Superseded as exc:
        log.warning("%s", exc)
        return exit_codes.SUPERSEDED
    except StatusTooLarge as exc:
        return await asyncio.to_thread(record_failure, store, "StatusTooLarge", exc, exit_codes.INVALID_RUN)
    except (ApiUnavailable, ApiError) as exc:
        log.error("could not record the result: %s", exc)
        return exit_codes.INFRASTRUCTURE
    log.info("workflow finished; result recorded")
    return exit_codes.SUCCEEDED


def _stop_now(store: StatusStore) -> None:
    log.warning("stopping (SIGTERM) with checkpoint %d written; the next pod resumes from it", store.seq)
    logging.shutdown()
    os._exit(128 + signal.SIGTERM)


async def _stop_gracefully(recorder: RunRecorder, store: StatusStore) -> None:
    """SIGTERM: let the running step finish and checkpoint (within the pod's grace period), then exit."""
    if not recorder.running_steps():
        with contextlib.suppress(Exception):  # best effort: the steps it would save can run again
            await recorder.flush()
        async with recorder.write_lock:
            _stop_now(store)
    log.warning("SIGTERM: stopping after the running step(s) %s checkpoint", sorted(recorder.running_steps()))
    recorder.stop_requested = True


def main(identity: RunnerIdentity, claiming: Future[Claimed]) -> int:
    """`kwf runner` once `runner.startup` has found the library supported (and started the claim)."""
    return asyncio.run(execute(identity, claiming=claiming))
