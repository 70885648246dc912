"""A chain of N steps, each recording a side effect once it has done its work.

Input: `steps` (default 10), `record` (a file each step appends "step <i> <pod> <attempt>" to),
`delay` (seconds of work per step), `hold_at` + `release` (step `hold_at` waits until the file
`release` exists before recording: a test kills the pod while it waits), `pad` (bytes of incompressible
text kept in ctx.store, to make the Context large).
"""

import asyncio
import os
from pathlib import Path
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Next(Event):
    i: int


class StepChain(Workflow):
    def __init__(self, **kwargs: Any) -> None:  # e.g. runtime=..., as the bench's DBOS peer passes
        super().__init__(**{"timeout": None, **kwargs})

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Next:
        async with ctx.store.edit_state() as state:
            state["steps"] = int(ev.get("steps", 10))
            state["record"] = ev.get("record")
            state["delay"] = float(ev.get("delay", 0.0))
            state["hold_at"] = ev.get("hold_at")
            state["release"] = ev.get("release")
            state["total"] = 0
            if ev.get("pad"):
                state["pad"] = os.urandom(int(ev.get("pad")) // 2).hex()
        return Next(i=1)

    @step
    async def work(self, ctx: Context, ev: Next) -> Next | StopEvent:
        state = await ctx.store.get_state()
        await asyncio.sleep(state["delay"])
        if state["hold_at"] == ev.i and state["release"]:
            while not Path(state["release"]).exists():
                await asyncio.sleep(0.05)
        if state["record"]:
            with open(state["record"], "a") as f:
                f.write(f"step {ev.i} {os.environ.get('KWF_POD_NAME', '-')} {os.environ.get('KWF_ATTEMPT', '-')}\n")
        async with ctx.store.edit_state() as s:
            s["total"] = s["total"] + ev.i
        if ev.i < state["steps"]:
            return Next(i=ev.i + 1)
        return StopEvent(result={"steps": ev.i, "total": (await ctx.store.get("total"))})
