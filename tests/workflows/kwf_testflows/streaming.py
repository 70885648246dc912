"""Workflows that stream events (`ctx.write_event_to_stream`), to test their durable publication.

`StreamChain`: `steps` steps, each streaming `per_step` ProgressEvents ("step <i> part <j>"); step
`hold_at` streams its events, then waits for the file `release` (a test kills the pod meanwhile, so
that step streams its events again on the next pod); `big` adds an event of that many bytes to step 1;
`quiet` steps (their numbers) stream nothing; `ask` asks for a name after the last step
(InputRequiredEvent) and streams the answer; `record`: a file each step appends "<i> <attempt>" to once
it has streamed; `pad`: that many dots after each message; step `fail_at` raises once it has streamed.

`ParallelStreams`: a fast and a slow step run at once and both stream; the slow one waits for
`release` after streaming, so a checkpoint taken when the fast one completes must not publish the slow
one's events.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from kwf_testflows.contract import Fast, FastDone, Slow, SlowDone  # InFlightWrites' shape, streaming


class ProgressEvent(Event):
    msg: str


class BigEvent(Event):
    blob: str


class Next(Event):
    i: int


async def _held(release: str | None) -> None:
    while release and not Path(release).exists():
        await asyncio.sleep(0.05)


INPUTS: dict[str, Any] = {"steps": 5, "per_step": 2, "hold_at": None, "release": None, "record": None}
INPUTS |= {"pad": 0, "fail_at": None, "big": 0, "quiet": [], "ask": False}


class StreamChain(Workflow):
    def __init__(self, **kwargs: Any) -> None:  # runtime=... for a DurableRuntime in-process
        super().__init__(timeout=None, **kwargs)

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Next:
        async with ctx.store.edit_state() as state:
            for key, default in INPUTS.items():
                state[key] = ev.get(key, default)
            state["delay"] = float(ev.get("delay", 0.0))
        return Next(i=1)

    @step
    async def work(self, ctx: Context, ev: Next) -> Next | InputRequiredEvent | StopEvent:
        state = await ctx.store.get_state()
        await asyncio.sleep(state["delay"])
        if ev.i not in state["quiet"]:
            for part in range(1, state["per_step"] + 1):
                ctx.write_event_to_stream(ProgressEvent(msg=f"step {ev.i} part {part}" + "." * state["pad"]))
        if ev.i == 1 and state["big"]:
            ctx.write_event_to_stream(BigEvent(blob="x" * state["big"]))
        await asyncio.sleep(0)  # the library writes streamed events from a task: let it run
        if state["record"]:
            with open(state["record"], "a") as f:
                f.write(f"{ev.i} {os.environ.get('KWF_ATTEMPT', '-')}\n")
        if state["hold_at"] == ev.i:
            await _held(state["release"])
        if state["fail_at"] == ev.i:
            raise RuntimeError(f"step {ev.i} gives up")
        if ev.i < state["steps"]:
            return Next(i=ev.i + 1)
        if state["ask"]:
            return InputRequiredEvent(prefix="your name?")
        return StopEvent(result={"steps": ev.i})

    @step
    async def answered(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        ctx.write_event_to_stream(ProgressEvent(msg=f"hello {ev.response}"))
        return StopEvent(result={"name": ev.response})


class ParallelStreams(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def fork(self, ctx: Context, ev: StartEvent) -> Fast | Slow:
        await ctx.store.set("release", ev.get("release"))
        ctx.send_event(Slow())
        return Fast()

    @step
    async def fast(self, ctx: Context, ev: Fast) -> FastDone:
        await asyncio.sleep(0.2)  # the slow step has streamed by now
        ctx.write_event_to_stream(ProgressEvent(msg="fast"))
        return FastDone()

    @step
    async def slow(self, ctx: Context, ev: Slow) -> SlowDone:
        ctx.write_event_to_stream(ProgressEvent(msg="slow"))
        await _held(await ctx.store.get("release"))
        return SlowDone(starts=1)

    @step
    async def join(self, ctx: Context, ev: FastDone | SlowDone) -> StopEvent | None:
        if ctx.collect_events(ev, [FastDone, SlowDone]) is None:
            return None
        return StopEvent(result="joined")
