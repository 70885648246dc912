"""WorkflowTemplate: what a run takes from it (models.effective_spec, template_used)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kube_workflows.models import WorkflowRunSpec
from kube_workflows.models.workflowrun import effective_spec
from kube_workflows.models.workflowtemplate import template_used

TEMPLATE = {
    "metadata": {"name": "docs", "uid": "t-uid", "resourceVersion": "7"},
    "spec": {
        "workflow": "kwf_examples.documents:DocumentPipeline",
        "image": "registry.example.com/flows:1",
        "checkpoint": {"everySteps": 5},
        "input": {"documents": 10, "language": "en"},
    },
}


def test_the_run_takes_what_it_does_not_set_and_merges_input() -> None:
    run = {
        "spec": {"templateRef": {"name": "docs"}, "input": {"documents": 20}},
        "status": {"template": template_used(TEMPLATE)},
    }
    spec = WorkflowRunSpec.model_validate(effective_spec(run))
    assert spec.workflow == "kwf_examples.documents:DocumentPipeline" and spec.image == "registry.example.com/flows:1"
    assert spec.input == {"documents": 20, "language": "en"} and spec.checkpoint.every_steps == 5


def test_the_runs_own_fields_win() -> None:
    run = {
        "spec": {"templateRef": {"name": "docs"}, "workflow": "pkg.mod:Other", "image": "mine:2"},
        "status": {"template": template_used(TEMPLATE)},
    }
    assert effective_spec(run)["workflow"] == "pkg.mod:Other" and effective_spec(run)["image"] == "mine:2"


def test_what_was_used_is_recorded_with_the_templates_identity() -> None:
    used = template_used(TEMPLATE)
    assert (used["name"], used["uid"], used["resourceVersion"]) == ("docs", "t-uid", "7")
    assert set(used["spec"]) == {"workflow", "image", "checkpoint", "input"}


def test_a_run_names_a_workflow_or_a_template() -> None:
    assert WorkflowRunSpec.model_validate({"templateRef": {"name": "docs"}}).workflow is None
    with pytest.raises(ValidationError, match=r"spec.workflow is required \(or spec.templateRef"):
        WorkflowRunSpec.model_validate({})
    assert effective_spec({"spec": {"workflow": "a.b:C"}}) == {"workflow": "a.b:C"}  # no template: unchanged
