"""Guide example 2: state in the Context's store, carried into the next run.

The guide runs it again with `w.run(ctx=handler.ctx)`; here a second WorkflowRun names the first
in `spec.contextFrom` and starts from its final Context.
"""

from workflows import Context, Workflow, step
from workflows.events import StartEvent, StopEvent


class MyWorkflow(Workflow):
    @step
    async def count(self, ctx: Context, ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as state:
            counter = state.get("counter", 1)
            retval = StopEvent(result=f"The step ran {counter} times")
            state["counter"] = counter + 1
        return retval
