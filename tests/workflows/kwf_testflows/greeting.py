"""A workflow for the debugger UI's browser test: it streams progress, asks a typed question, greets.

`Greeting`: step `work` streams `steps` ProgressEvents ("working <i>/<steps>", `delay` seconds apart)
and returns an InputRequiredEvent; the answer is a `Name` (a HumanResponseEvent with a declared field,
so the debugger's Send Event form has a field to fill); step `greet` streams "hello <name>" and ends.
"""

import asyncio

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class ProgressEvent(Event):
    msg: str


class Name(HumanResponseEvent):
    """The answer: who to greet."""

    name: str


class Greeting(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def work(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        steps, delay = int(ev.get("steps", 3)), float(ev.get("delay", 0.2))
        for i in range(1, steps + 1):
            ctx.write_event_to_stream(ProgressEvent(msg=f"working {i}/{steps}"))
            await asyncio.sleep(delay)
        return InputRequiredEvent(prefix="Who should I greet?")

    @step
    async def greet(self, ctx: Context, ev: Name) -> StopEvent:
        ctx.write_event_to_stream(ProgressEvent(msg=f"hello {ev.name}"))
        return StopEvent(result={"greeting": f"hello {ev.name}"})
