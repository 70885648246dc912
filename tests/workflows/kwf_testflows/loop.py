"""A one-step loop: `go` runs `steps` times (input, default 1,000), nothing else. With the library's
default workflow timeout (45 s), unlike the other test workflows: long runs must fit it in a pod too.
`stamps` (a file): every 100th step appends "<step> <unix time>" to it (the bench's clock).
`TimedLoop` has a 2-second timeout and sleeps `delay` seconds per step."""

import asyncio
import time

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Next(Event):
    i: int
    steps: int
    delay: float = 0.0
    stamps: str | None = None


class Loop(Workflow):
    @step
    async def go(self, ctx: Context, ev: StartEvent | Next) -> Next | StopEvent:
        if isinstance(ev, StartEvent):
            ev = Next(i=0, steps=int(ev.get("steps", 1000)), delay=float(ev.get("delay", 0.0)), stamps=ev.get("stamps"))
        if ev.delay:
            await asyncio.sleep(ev.delay)
        if ev.stamps and ev.i % 100 == 0:
            with open(ev.stamps, "a") as out:
                out.write(f"{ev.i} {time.time()}\n")
        if ev.i + 1 >= ev.steps:
            return StopEvent(result={"steps": ev.i + 1})
        return ev.model_copy(update={"i": ev.i + 1})


class TimedLoop(Loop):
    def __init__(self) -> None:
        super().__init__(timeout=2)
