"""WorkflowRun API models (pydantic) and the CRD generated from them.

The names and phases import at once; the pydantic models on first use (a runner pod claims its run
before they are built: ~0.15 s of CPU it starts sooner).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kube_workflows.models.resource import GROUP, KIND, PLURAL, TERMINAL_PHASES, VERSION, Phase

if TYPE_CHECKING:
    from kube_workflows.models.workflowrun import (
        Checkpoint,
        Condition,
        ContextSource,
        RunError,
        RunEvent,
        WorkflowRun,
        WorkflowRunSpec,
        WorkflowRunStatus,
    )

_MODELS = frozenset(
    {
        "Checkpoint",
        "Condition",
        "ContextSource",
        "RunError",
        "RunEvent",
        "WorkflowRun",
        "WorkflowRunSpec",
        "WorkflowRunStatus",
    }
)


def __getattr__(name: str) -> Any:
    if name in _MODELS:
        return getattr(importlib.import_module("kube_workflows.models.workflowrun"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "TERMINAL_PHASES",
    "VERSION",
    "Checkpoint",
    "Condition",
    "ContextSource",
    "Phase",
    "RunError",
    "RunEvent",
    "WorkflowRun",
    "WorkflowRunSpec",
    "WorkflowRunStatus",
]
