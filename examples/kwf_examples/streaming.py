"""The upstream docs' streaming workflow: each step writes ProgressEvents to the stream.

`kwf logs RUN --events` (or `kwf watch RUN`) prints them, numbered, as each step's checkpoint lands;
the second step stands in for an LLM streaming its answer token by token.
"""

import asyncio

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class FirstEvent(Event):
    first_output: str


class SecondEvent(Event):
    second_output: str
    response: str


class ProgressEvent(Event):
    msg: str


class StreamingWorkflow(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def step_one(self, ctx: Context, ev: StartEvent) -> FirstEvent:
        ctx.write_event_to_stream(ProgressEvent(msg="Step one is happening"))
        return FirstEvent(first_output="First step complete.")

    @step
    async def step_two(self, ctx: Context, ev: FirstEvent) -> SecondEvent:
        tokens = []
        for token in ("Durable ", "workflows ", "keep ", "their ", "place."):
            await asyncio.sleep(0.05)  # an LLM's next token
            tokens.append(token)
            ctx.write_event_to_stream(ProgressEvent(msg=token))
        return SecondEvent(second_output="Second step complete, full response attached", response="".join(tokens))

    @step
    async def step_three(self, ctx: Context, ev: SecondEvent) -> StopEvent:
        ctx.write_event_to_stream(ProgressEvent(msg="Step three is happening"))
        return StopEvent(result="Workflow complete.")
