"""What the debugger asks of a workflow: its start and stop events' schemas, its graph, its event types.

Upstream reads them off the Workflow object it serves. `kwf serve` has a template's `spec.workflow`
("module:Attribute"), whose code lives in the workflow's image: when that module is importable here
too, the workflow is built as the runner builds it and described exactly; when it is not (the chart's
`kwf serve` runs the kube-workflows image), the answer says only what holds for every workflow: a
StartEvent accepting any fields, a StopEvent, the library's human-in-the-loop events, and a graph
without steps. `exact` says which of the two an answer is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from workflows import Workflow
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.representation.build import get_workflow_representation

from kube_workflows.runner.loader import WorkflowLoadError, load_workflow

Json = dict[str, Any]
# Every workflow may receive or emit these (`ctx.wait_for_event`, the human-in-the-loop pair).
GENERIC_EVENTS: tuple[type[Event], ...] = (StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent)


@dataclass(frozen=True, kw_only=True)
class Description:
    exact: bool  # built from the workflow itself, else the generic answer
    start: Json
    stop: Json
    events: list[Json]
    graph: Json  # a generic one's `description` says why it is not exact


def describe_workflow(workflow: Workflow) -> Description:
    events = list(workflow.events)
    for generic in (InputRequiredEvent, HumanResponseEvent):
        if generic not in events:
            events.append(generic)  # sent or awaited through ctx.wait_for_event, which steps do not declare
    stop: type[Event] = workflow.stop_event_class  # a StopEvent subclass (typed generically upstream)
    return Description(
        exact=True,
        start=workflow.start_event_class.model_json_schema(),
        stop=stop.model_json_schema(),
        events=[e.model_json_schema() for e in events],
        graph=get_workflow_representation(workflow).model_dump(),
    )


def generic_description(workflow_ref: str, why: str) -> Description:
    class_name = workflow_ref.rpartition(":")[2] or workflow_ref
    return Description(
        exact=False,
        start=StartEvent.model_json_schema(),
        stop=StopEvent.model_json_schema(),
        events=[e.model_json_schema() for e in GENERIC_EVENTS],
        graph={"name": class_name, "nodes": [], "edges": [], "description": why},
    )


@functools.lru_cache(maxsize=64)
def describe(workflow_ref: str) -> Description:
    """The workflow a template names, described; cached (a module is imported once per process anyway)."""
    try:
        workflow = load_workflow(workflow_ref)
    except WorkflowLoadError as exc:
        return generic_description(workflow_ref, f"not importable by kwf serve, so described generically: {exc}")
    return describe_workflow(workflow)


def to_json(description: Description, part: str) -> Json:
    """The body of `/schema`, `/representation` or `/events` (upstream's shapes, plus `exact`)."""
    bodies: dict[str, Json] = {
        "schema": {"start": description.start, "stop": description.stop},
        "representation": {"graph": description.graph},
        "events": {"events": description.events},
    }
    return {**bodies[part], "exact": description.exact}
