"""Fan-out and fan-in: `items` events worked on by 4 parallel workers, collected by one step.

Input: `items` (default 8), `delay` (seconds of work per item), `record` (a file each item appends
"item <i> <pod> <attempt>" to once done). Each item also writes its own key into ctx.store.
"""

import asyncio
import os

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Item(Event):
    i: int


class Done(Event):
    i: int
    square: int


class FanOut(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def scatter(self, ctx: Context, ev: StartEvent) -> Item | None:
        items = int(ev.get("items", 8))
        await ctx.store.set("items", items)
        await ctx.store.set("delay", float(ev.get("delay", 0.2)))
        await ctx.store.set("record", ev.get("record"))
        for i in range(1, items + 1):
            ctx.send_event(Item(i=i))
        return None

    @step(num_workers=4)
    async def work(self, ctx: Context, ev: Item) -> Done:
        await asyncio.sleep(await ctx.store.get("delay"))
        record = await ctx.store.get("record")
        if record:
            with open(record, "a") as f:
                f.write(f"item {ev.i} {os.environ.get('KWF_POD_NAME', '-')} {os.environ.get('KWF_ATTEMPT', '-')}\n")
        await ctx.store.set(f"done_{ev.i}", ev.i * ev.i)
        return Done(i=ev.i, square=ev.i * ev.i)

    @step
    async def gather(self, ctx: Context, ev: Done) -> StopEvent | None:
        done = ctx.collect_events(ev, [Done] * await ctx.store.get("items"))
        if done is None:
            return None
        stored = [await ctx.store.get(f"done_{d.i}") for d in done]
        return StopEvent(result={"sum": sum(d.square for d in done), "stored": sum(stored)})
