"""Guide example 3: a step snapshots state into SQLite through a `Resource`.

The guide calls `ctx.to_dict()` inside the step; llama-index-workflows 2.26 refuses that
("to_dict is only available from handler code, not from within steps"), in or out of Kubernetes.
The nearest working form snapshots the step's state store, `ctx.store.to_dict(...)`, which is the
part the guide's restore carries over. In a pod the database file lives in the pod's working
directory and goes away with the pod; the operator's per-step checkpoint in status is what makes
the run durable, with no code of the user's.
"""

import json
import sqlite3
from typing import Annotated

from workflows import Context, Workflow, step
from workflows.context import JsonSerializer
from workflows.events import StartEvent, StopEvent
from workflows.resource import Resource


def get_db() -> sqlite3.Connection:
    db = sqlite3.connect("mydb.db")
    db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
    return db


class MyWorkflow(Workflow):
    @step
    async def count(
        self,
        ctx: Context,
        ev: StartEvent,
        db: Annotated[sqlite3.Connection, Resource(get_db)],
    ) -> StopEvent:
        async with ctx.store.edit_state() as state:
            counter = state.get("counter", 1)
            retval = StopEvent(result=f"The step ran {counter} times")
            state["counter"] = counter + 1

        cursor = db.cursor()
        ctx_dict = ctx.store.to_dict(serializer=JsonSerializer())
        cursor.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", ("last_ctx", json.dumps(ctx_dict)))
        db.commit()

        return retval
