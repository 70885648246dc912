"""A workflow that puts `size_mb` megabytes of incompressible text into ctx.store.

Its second step waits for the file `release` when given (so a test can kill the pod between steps).
"""

import asyncio
import os
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Stored(Event):
    pass


class BigState(Workflow):
    @step
    async def fill(self, ctx: Context, ev: StartEvent) -> Stored:
        await ctx.store.set("blob", os.urandom(int(float(ev.get("size_mb", 2)) * 1024 * 1024 // 2)).hex())
        await ctx.store.set("release", ev.get("release"))
        return Stored()

    @step
    async def finish(self, ctx: Context, ev: Stored) -> StopEvent:
        release = await ctx.store.get("release")
        while release and not Path(release).exists():
            await asyncio.sleep(0.05)
        return StopEvent(result=len(await ctx.store.get("blob")))


class BigAtTheEnd(Workflow):
    """One step that leaves `size_mb` in ctx.store as it returns: only the final Context is large."""

    @step
    async def only(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.store.set("blob", os.urandom(int(float(ev.get("size_mb", 2)) * 1024 * 1024 // 2)).hex())
        return StopEvent(result="done")
