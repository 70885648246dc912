"""A workflow that asks a person two questions, in the library's two human-in-the-loop styles.

1. `ctx.wait_for_event(HumanResponseEvent, waiter_event=InputRequiredEvent(...))` inside a step.
2. A step returns an `InputRequiredEvent`; another step accepts the answer (a `HumanResponseEvent`
   subclass).

Input: `record` (optional file each step appends "<step> <attempt>" to once its work is done), so tests
can see which steps ran where.
"""

import os
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Named(Event):
    name: str


class Colour(HumanResponseEvent):
    """The answer to the second question (its own class, so it cannot wake the first question's waiter)."""

    response: str


def _record(ctx_record: str | None, what: str) -> None:
    if ctx_record:
        with Path(ctx_record).open("a") as out:
            out.write(f"{what} {os.environ.get('KWF_ATTEMPT', '-')}\n")


class Questions(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def greet(self, ctx: Context, ev: StartEvent) -> Named:
        await ctx.store.set("record", ev.get("record"))
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="What is your name?"),
            waiter_id="name",
            timeout=None,
        )
        _record(await ctx.store.get("record"), "greet")
        return Named(name=answer.response)

    @step
    async def ask_color(self, ctx: Context, ev: Named) -> InputRequiredEvent:
        await ctx.store.set("name", ev.name)
        _record(await ctx.store.get("record"), "ask_color")
        return InputRequiredEvent(prefix=f"{ev.name}, what is your favourite colour?")

    @step
    async def finish(self, ctx: Context, ev: Colour) -> StopEvent:
        name = await ctx.store.get("name")
        _record(await ctx.store.get("record"), "finish")
        return StopEvent(result={"name": name, "colour": ev.response, "answer": f"{name} likes {ev.response}"})
