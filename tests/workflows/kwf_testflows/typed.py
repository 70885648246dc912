"""A workflow whose start event declares typed fields, so bad `spec.input` is rejected."""

from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent


class OrderPlaced(StartEvent):
    item: str
    quantity: int


class PlaceOrder(Workflow):
    @step
    async def place(self, ev: OrderPlaced) -> StopEvent:
        return StopEvent(result=f"{ev.quantity} x {ev.item}")
