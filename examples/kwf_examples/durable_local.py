"""Guide example 3 without the snapshot code: `MyWorkflow(runtime=DurableRuntime(SqliteStore(...)))`.

The guide snapshots the Context into SQLite by hand; here the runtime checkpoints after every step
instead, and running the same run id again after a crash resumes after the last completed step (a
finished run returns its recorded result). The same workflow class runs unchanged as a WorkflowRun.

    python -m kwf_examples.durable_local runs.db order-1
"""

import asyncio
import sys

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

from kube_workflows.runtime import DurableRuntime, SqliteStore


class Counted(Event):
    counter: int


class MyWorkflow(Workflow):
    @step
    async def count(self, ctx: Context, ev: StartEvent) -> Counted:
        async with ctx.store.edit_state() as state:
            state["counter"] = state.get("counter", 0) + 1
            return Counted(counter=state["counter"])

    @step
    async def report(self, ev: Counted) -> StopEvent:
        return StopEvent(result=f"The step ran {ev.counter} times")


async def main(database: str, run_id: str) -> None:
    runtime = DurableRuntime(SqliteStore(database))
    print(await runtime.run(MyWorkflow(runtime=runtime), run_id))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
