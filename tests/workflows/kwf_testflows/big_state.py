"""A workflow that puts `size_mb` megabytes of incompressible text into ctx.store."""

import os

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Stored(Event):
    pass


class BigState(Workflow):
    @step
    async def fill(self, ctx: Context, ev: StartEvent) -> Stored:
        await ctx.store.set("blob", os.urandom(int(float(ev.get("size_mb", 2)) * 1024 * 1024 // 2)).hex())
        return Stored()

    @step
    async def finish(self, ctx: Context, ev: Stored) -> StopEvent:
        return StopEvent(result=len(await ctx.store.get("blob")))
