"""`kwf runner`: the entrypoint of a WorkflowRun's pod.

Claim the run, import the workflow, restore its Context from the last checkpoint (or from
`spec.contextFrom`), run it with a checkpoint after every completed step, then record the result
or the error. Exit codes (see `exit_codes`) tell the Job which failures are worth another pod.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import traceback
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from workflows import Context, Workflow
from workflows.context import JsonSerializer

from kube_workflows.builders.job import owner_reference
from kube_workflows.checkpoint import CheckpointError, decode_checkpoint
from kube_workflows.models import Phase, WorkflowRunSpec
from kube_workflows.runner import checkpointing, exit_codes, patches
from kube_workflows.runner.loader import WorkflowLoadError, load_workflow
from kube_workflows.runner.reporter import ApiUnavailable, Reporter, Superseded

log = logging.getLogger("kube_workflows.runner")


class RunFailure(Exception):
    """The run cannot go on; `reason` and the message go into status.error."""

    def __init__(self, reason: str, message: str, exit_code: int = exit_codes.INVALID_RUN) -> None:
        super().__init__(message)
        self.reason = reason
        self.exit_code = exit_code


@dataclass(frozen=True)
class RunnerIdentity:
    namespace: str
    name: str
    pod: str
    handle_sigterm: bool = True

    @classmethod
    def from_env(cls) -> RunnerIdentity:
        try:
            return cls(
                namespace=os.environ["KWF_RUN_NAMESPACE"],
                name=os.environ["KWF_RUN_NAME"],
                pod=os.environ.get("KWF_POD_NAME") or socket.gethostname(),
            )
        except KeyError as missing:
            raise SystemExit(f"kwf runner: environment variable {missing} is not set (the operator sets it)") from None


def restore_context(workflow: Workflow, run: dict[str, Any], reporter: Reporter) -> tuple[Context | None, bool]:
    """(context, resuming): the last checkpoint of this run, else contextFrom's final Context."""
    status = run.get("status") or {}
    checkpoint = status.get("checkpoint")
    source = f"WorkflowRun {run['metadata']['name']}"
    if not checkpoint:
        spec = run["spec"]
        if not spec.get("contextFrom"):
            return None, False
        other = reporter.read(spec["contextFrom"])
        other_status = other.get("status") or {}
        checkpoint = other_status.get("checkpoint")
        source = f"spec.contextFrom WorkflowRun {spec['contextFrom']}"
        if other_status.get("phase") != Phase.SUCCEEDED or not checkpoint or not checkpoint.get("final"):
            raise RunFailure(
                "ContextSourceNotSucceeded",
                f"{source} is {other_status.get('phase') or 'not started'}; "
                "only a Succeeded run's Context can be continued",
            )
    try:
        encoded = checkpoint.get("data", "")
        if checkpoint.get("chunks"):
            kind = checkpoint.get("storage", "ConfigMap")
            encoded = "".join(reporter.read_chunk(kind, name) for name in checkpoint["chunks"])
        data = decode_checkpoint(
            encoded,
            encoding=checkpoint.get("encoding", ""),
            sha256=checkpoint.get("sha256"),
        )
    except CheckpointError as exc:
        raise RunFailure("CheckpointCorrupt", f"{source}: {exc}") from exc
    check_compatible(workflow, data, f"{source}: the checkpoint", run["spec"]["workflow"])
    try:
        ctx = Context.from_dict(workflow, data, serializer=JsonSerializer())
    except Exception as exc:
        raise RunFailure(
            "CheckpointIncompatible",
            f"{source}: the checkpoint does not fit workflow {run['spec']['workflow']}: {type(exc).__name__}: {exc}",
        ) from exc
    return ctx, bool(data.get("is_running"))


def check_compatible(workflow: Workflow, data: dict[str, Any], what: str, import_path: str) -> None:
    """Refuse a Context saved by a workflow with other steps: the library would restore it silently."""
    expected = set(Context(workflow).to_dict(serializer=JsonSerializer()).get("workers", {}))
    found = set(data.get("workers") or {})
    if found and found != expected:
        raise RunFailure(
            "CheckpointIncompatible",
            f"{what} comes from a workflow with steps {sorted(found)}, but {import_path} has steps {sorted(expected)}",
        )


def error_record(reason: str, exc: BaseException, step: str | None = None) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(exc))
    return {
        "reason": reason,
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "step": step,
        "traceback": tb[-4000:],
    }


async def execute(identity: RunnerIdentity, reporter: Reporter | None = None) -> int:
    reporter = reporter or Reporter(identity.namespace, identity.name)
    try:
        run, attempt = await asyncio.to_thread(reporter.claim, identity.pod)
    except (ApiUnavailable, ApiException) as exc:
        log.error("cannot claim %s/%s: %s", identity.namespace, identity.name, exc)
        return exit_codes.INFRASTRUCTURE
    log.info("attempt %d of %s/%s on pod %s", attempt, identity.namespace, identity.name, identity.pod)
    # Steps may use it, e.g. in idempotency keys for side effects of a step that can run twice.
    os.environ["KWF_ATTEMPT"] = str(attempt)
    status = run.get("status") or {}
    last = status.get("checkpoint") or {}
    if last.get("final"):
        log.info("the run already finished (final checkpoint %s); nothing to do", last.get("seq"))
        return exit_codes.SUCCEEDED

    checkpointer = checkpointing.StepCheckpointer(
        reporter,
        attempt=attempt,
        seq=int(last.get("seq") or 0),
        steps_completed=int(last.get("stepsCompleted") or 0),
        steps_len=len(status.get("steps") or []),
        policy=WorkflowRunSpec.model_validate(run["spec"]).checkpoint,
        owner=owner_reference(run),
        current=last or None,
    )
    if identity.handle_sigterm:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, lambda: asyncio.ensure_future(_stop_after_write(checkpointer))
        )

    def fail(reason: str, exc: BaseException, code: int, step: str | None = None) -> int:
        try:
            reporter.write("recording the error", patches.error_patch(attempt, error_record(reason, exc, step)))
        except (Superseded, ApiUnavailable, ApiException) as write_exc:
            log.error("could not record the error: %s", write_exc)
        log.error("run failed (%s): %s", reason, exc)
        return code

    try:
        spec = WorkflowRunSpec.model_validate(run["spec"])
        workflow = load_workflow(spec.workflow, spec.step_timeout_seconds)
        ctx, resuming = await asyncio.to_thread(restore_context, workflow, run, reporter)
    except WorkflowLoadError as exc:
        return await asyncio.to_thread(fail, "WorkflowNotImportable", exc, exit_codes.INVALID_RUN)
    except RunFailure as exc:
        return await asyncio.to_thread(fail, exc.reason, exc, exc.exit_code)
    except (ApiUnavailable, ApiException) as exc:
        log.error("API error while restoring: %s", exc)
        return exit_codes.INFRASTRUCTURE

    checkpointing.install(workflow, checkpointer)
    if resuming:
        log.info("resuming from checkpoint %d (%d steps done)", checkpointer.seq, checkpointer.steps_completed)
    try:
        handler = workflow.run(ctx=ctx) if resuming else workflow.run(ctx=ctx, **spec.input)
    except Exception as exc:  # raised before any step ran: the start event rejected spec.input
        return await asyncio.to_thread(fail, "InvalidInput", _input_error(exc), exit_codes.INVALID_RUN)
    checkpointer.ctx = handler.ctx
    try:
        result = await handler
    except BaseException as exc:
        if isinstance(checkpointer.fatal, Superseded):
            log.warning("%s; stopping", checkpointer.fatal)
            return exit_codes.SUPERSEDED
        if isinstance(checkpointer.fatal, ApiUnavailable | ApiException):
            log.error("checkpoint write failed: %s", checkpointer.fatal)
            return exit_codes.INFRASTRUCTURE
        if isinstance(checkpointer.fatal, checkpointing.CheckpointTooLarge):
            return await asyncio.to_thread(fail, "CheckpointTooLarge", checkpointer.fatal, exit_codes.INVALID_RUN)
        if isinstance(exc, ValidationError) and checkpointer.steps_completed == 0 and not resuming:
            return await asyncio.to_thread(fail, "InvalidInput", _input_error(exc), exit_codes.INVALID_RUN)
        if not isinstance(exc, Exception):
            raise
        return await asyncio.to_thread(
            fail, "WorkflowRaised", exc, exit_codes.WORKFLOW_RAISED, checkpointer.running_step()
        )
    return await _finish(checkpointer, result)


def _input_error(exc: BaseException) -> Exception:
    cause = f"{exc}" + (f": {exc.__cause__}" if exc.__cause__ else "")
    return ValueError(f"spec.input is not accepted by the workflow's start event: {cause}")


async def _finish(checkpointer: checkpointing.StepCheckpointer, result: Any) -> int:
    """Record the result and the final Context (what `contextFrom` continues) in one write."""
    stop_step = checkpointer.finished_step()
    if stop_step:
        checkpointer.steps_completed += 1
    try:
        checkpoint = await checkpointer.checkpoint_value(
            checkpointer.snapshot(), stop_step or checkpointer.last_step, final=True
        )
    except checkpointing.CheckpointTooLarge as exc:
        checkpoint = None
        log.warning("%s; the result is recorded without a final Context", exc)
    record = checkpointer.step_record(stop_step) if stop_step else None
    patch = patches.final_patch(
        checkpointer.attempt,
        checkpoint or {},
        to_jsonable_python(result, fallback=repr),
        record,
        checkpointer.steps_len,
    )
    if checkpoint is None:
        patch = [p for p in patch if p["path"] != "/status/checkpoint"]
    try:
        async with checkpointer.write_lock:
            await asyncio.to_thread(checkpointer.reporter.write, "recording the result", patch)
    except Superseded as exc:
        log.warning("%s", exc)
        return exit_codes.SUPERSEDED
    except (ApiUnavailable, ApiException) as exc:
        log.error("could not record the result: %s", exc)
        return exit_codes.INFRASTRUCTURE
    log.info("workflow finished; result recorded")
    return exit_codes.SUCCEEDED


async def _stop_after_write(checkpointer: checkpointing.StepCheckpointer) -> None:
    log.warning("SIGTERM: stopping after the checkpoint in flight; the next pod resumes from it")
    async with checkpointer.write_lock:
        logging.shutdown()
        os._exit(128 + signal.SIGTERM)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(execute(RunnerIdentity.from_env()))
