"""The WorkflowTemplate API (kube-workflows.dev/v1alpha1): a named, reusable workflow that runs refer to."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kube_workflows.models.workflowrun import (
    TEMPLATE_FIELDS,
    WORKFLOW_PATTERN,
    AnyObject,
    CheckpointPolicy,
    ObjectMeta,
    PodTemplate,
    _Model,
)

KIND = "WorkflowTemplate"
PLURAL = "workflowtemplates"
SINGULAR = "workflowtemplate"
SHORT_NAMES = ["wft"]


class WorkflowTemplateSpec(_Model):
    """What every run that names this template (spec.templateRef) runs, unless the run sets it itself."""

    workflow: str = Field(
        description='Import path of the workflow, "package.module:Attribute" (as WorkflowRun spec.workflow).',
        pattern=WORKFLOW_PATTERN,
        max_length=512,
    )
    image: str | None = Field(default=None, description="Container image of its runs.", max_length=1024)
    template: PodTemplate | None = Field(default=None, description="Runner pod settings of its runs.")
    checkpoint: CheckpointPolicy | None = Field(default=None, description="Checkpoint storage of its runs.")
    input: AnyObject = Field(
        default_factory=dict, description="Default start-event arguments; a run's spec.input adds and overrides keys."
    )


class WorkflowTemplateStatus(_Model):
    """Reserved (the operator writes nothing here yet)."""


class WorkflowTemplate(_Model):
    """A named, reusable workflow: WorkflowRuns (and CronWorkflowRun run templates) name it in
    spec.templateRef instead of repeating its workflow, image, pod template and checkpoint policy."""

    api_version: str = "kube-workflows.dev/v1alpha1"
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkflowTemplateSpec
    status: WorkflowTemplateStatus | None = None


def template_used(template: dict[str, Any]) -> dict[str, Any]:
    """status.template of a run that starts from `template` (a WorkflowTemplate as the API returns it)."""
    spec = template.get("spec") or {}
    meta = template.get("metadata") or {}
    return {
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
        "spec": {k: spec[k] for k in TEMPLATE_FIELDS if k in spec},
    }
