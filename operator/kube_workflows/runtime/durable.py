"""`DurableRuntime`: a llama-index-workflows runtime that checkpoints after every step and resumes.

    from kube_workflows.runtime import DurableRuntime, SqliteStore

    runtime = DurableRuntime(SqliteStore("runs.db"))
    workflow = MyWorkflow(runtime=runtime)
    result = await runtime.run(workflow, "order-42", customer="ada")

Run it again with the same run id after the process was killed, and it resumes after the last
completed step; a finished run returns its recorded result without running anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workflows import Context, Workflow
from workflows.context import JsonSerializer
from workflows.handler import WorkflowHandler

from kube_workflows.runtime import compat, library_version
from kube_workflows.runtime._engine import RecordingRuntime, RunRecorder
from kube_workflows.runtime.store import CheckpointStore, SavedCheckpoint


class IncompatibleCheckpoint(ValueError):
    """The checkpoint was written by a workflow with other steps, or does not restore into this one."""


def restore(workflow: Workflow, context: dict[str, Any], source: str = "the checkpoint") -> Context:
    """The Context a checkpoint holds, for `workflow`; refuses one saved by a workflow with other steps
    (the library would restore it silently)."""
    expected, found = compat.step_names(workflow), compat.snapshot_steps(context)
    name = f"{type(workflow).__module__}.{type(workflow).__qualname__}"
    if found and found != expected:
        raise IncompatibleCheckpoint(
            f"{source} comes from a workflow with steps {sorted(found)}, but {name} has steps {sorted(expected)}"
        )
    try:
        return Context.from_dict(workflow, context, serializer=JsonSerializer())
    except Exception as exc:
        raise IncompatibleCheckpoint(f"{source} does not fit workflow {name}: {type(exc).__name__}: {exc}") from exc


class DurableRuntime(RecordingRuntime):
    """Runs workflows in this process, with a checkpoint in `store` after every completed step.

    Construct workflows with `runtime=` this runtime (or inside `with runtime.registering():`), then
    start or resume a run with `run()`. `every_steps` / `every_seconds` checkpoint less often: after
    that many steps, or once that much time has passed since the last checkpoint (a crash then re-runs
    the steps since). A step in flight when the process dies runs again on resume; completed ones do not.
    """

    def __init__(
        self, store: CheckpointStore, *, every_steps: int | None = None, every_seconds: float | None = None
    ) -> None:
        library_version.require_supported()
        super().__init__()
        self.store = store
        self.every_steps = every_steps
        self.every_seconds = every_seconds

    def recorder(self, run_id: str, *, steps_completed: int = 0, events_delivered: int = 0) -> RunRecorder:
        """A run's recorder, counting on from a checkpoint's counts."""
        return RunRecorder(
            self.store,
            run_id,
            steps_completed=steps_completed,
            events_delivered=events_delivered,
            every_steps=self.every_steps,
            every_seconds=self.every_seconds,
        )

    def begin(
        self, workflow: Workflow, recorder: RunRecorder, ctx: Context | None = None, **start: Any
    ) -> WorkflowHandler:
        """Start the workflow (or resume `ctx`) with `recorder` checkpointing its steps.

        A workflow on the default runtime (constructed before this runtime existed) is moved onto it;
        one the user put on another runtime is refused (compat.RuntimeConflict), not silently switched.
        """
        if self not in list(compat.runtimes_of(workflow)):
            compat.switch_runtime(workflow, self)
        self.attach(workflow, recorder)
        handler = workflow.run(ctx=ctx, **start)
        recorder.ctx = handler.ctx
        return handler

    async def run(self, workflow: Workflow, run_id: str, **start: Any) -> Any:
        """Run `workflow` as run `run_id` to its result: from the start, or from the run's last
        checkpoint when there is one (`start` is then ignored: the checkpoint holds the run's input)."""
        await asyncio.to_thread(self.store.claim, run_id)
        saved: SavedCheckpoint | None = await asyncio.to_thread(self.store.read_checkpoint, run_id)
        if saved is not None and saved.final:
            return saved.result
        recorder = self.recorder(run_id)
        ctx = None
        if saved is not None and compat.is_running(saved.context):
            ctx = restore(workflow, saved.context, saved.source or f"run {run_id!r}")
            recorder.steps_completed, recorder.events_delivered = saved.steps_completed, saved.events_delivered
            start = {}  # the checkpoint holds the run's input
        try:
            handler = self.begin(workflow, recorder, ctx, **start)
            try:
                result = await handler
            except BaseException as exc:
                # A failed checkpoint write says more than what the control loop made of it.
                if recorder.fatal is not None and recorder.fatal is not exc:
                    raise recorder.fatal from exc
                raise
            if recorder.fatal is not None:
                raise recorder.fatal
            await recorder.finish(result)
            return result
        finally:
            self.detach(workflow)
