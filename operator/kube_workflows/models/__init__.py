"""WorkflowRun API models (pydantic) and the CRD generated from them."""

from kube_workflows.models.workflowrun import (
    GROUP,
    KIND,
    PLURAL,
    TERMINAL_PHASES,
    VERSION,
    Checkpoint,
    Condition,
    ContextSource,
    Phase,
    RunError,
    RunEvent,
    WorkflowRun,
    WorkflowRunSpec,
    WorkflowRunStatus,
)

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
