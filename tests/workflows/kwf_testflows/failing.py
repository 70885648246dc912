"""Workflows that end badly: a second step that raises, one that exits the process."""

import sys

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


class ExitsInSecondStep(Workflow):
    """sys.exit(0) in a step: the pod ends with exit 0 but the workflow never returned."""

    @step
    async def first(self, ev: StartEvent) -> Half:
        return Half()

    @step
    async def second(self, ev: Half) -> StopEvent:
        sys.exit(0)
