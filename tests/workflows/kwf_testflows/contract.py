"""Workflows that pin down the durability contract's fine print (see README, Guarantees).

`InFlightWrites`: a fast step and a slow one run in parallel; the slow one counts its starts in
ctx.store before it waits for the file `release`. A checkpoint taken when the fast one completes holds
the slow one's write, so after a crash the slow step runs again on top of it.

`AskOnce`: one `ctx.wait_for_event` step that records "before" and "after" around its wait.
"""

import asyncio
import os
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Fast(Event):
    pass


class Slow(Event):
    pass


class FastDone(Event):
    pass


class SlowDone(Event):
    starts: int


class InFlightWrites(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def fork(self, ctx: Context, ev: StartEvent) -> Fast | Slow:
        await ctx.store.set("release", ev.get("release"))
        ctx.send_event(Slow())
        return Fast()

    @step
    async def fast(self, ctx: Context, ev: Fast) -> FastDone:
        await asyncio.sleep(0.2)  # the slow step has written its count by now
        return FastDone()

    @step
    async def slow(self, ctx: Context, ev: Slow) -> SlowDone:
        starts = await ctx.store.get("slow_starts", default=0) + 1
        await ctx.store.set("slow_starts", starts)
        release = await ctx.store.get("release")
        while release and not Path(release).exists():
            await asyncio.sleep(0.05)
        return SlowDone(starts=starts)

    @step
    async def join(self, ctx: Context, ev: FastDone | SlowDone) -> StopEvent | None:
        done = ctx.collect_events(ev, [FastDone, SlowDone])
        if done is None:
            return None
        slow = next(e for e in done if isinstance(e, SlowDone))
        return StopEvent(result={"slow_starts": slow.starts})


class AskOnce(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        record = ev.get("record")
        with Path(record).open("a") as out:
            out.write(f"before {os.environ.get('KWF_ATTEMPT', '-')}\n")
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="yes?"), waiter_id="q", timeout=None
        )
        with Path(record).open("a") as out:
            out.write(f"after {os.environ.get('KWF_ATTEMPT', '-')}\n")
        return StopEvent(result=answer.response)
