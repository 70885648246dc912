"""The WorkflowRun resource's names and phases, apart from the pydantic models in `workflowrun`:
a runner pod claims its run with these while the models (~0.15 s of CPU) are still to be built.
"""

from __future__ import annotations

from enum import StrEnum

GROUP = "kube-workflows.dev"
VERSION = "v1alpha1"
KIND = "WorkflowRun"
PLURAL = "workflowruns"
SINGULAR = "workflowrun"
SHORT_NAMES = ["wfr"]
CATEGORIES = ["kube-workflows"]


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    WAITING = "Waiting"
    SUSPENDED = "Suspended"
    QUEUED = "Queued"  # its Job waits for Kueue's admission (first start, or after a preemption)
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


TERMINAL_PHASES = (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)
