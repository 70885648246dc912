"""A workflow whose second step raises."""

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Half(Event):
    pass


class RaisesInSecondStep(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Half:
        return Half()

    @step
    async def second(self, ev: Half) -> StopEvent:
        raise ValueError("the second step cannot go on")
