"""runner/loader.py: what spec.workflow may name, and that nothing else is ever called."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kube_workflows.runner.loader import WorkflowLoadError, load_workflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows import shapes
from kwf_testflows.steps import StepChain


@pytest.fixture(autouse=True)
def _no_calls_yet() -> None:
    shapes.calls.clear()


@pytest.mark.parametrize(
    ("workflow", "called"),
    [
        ("kwf_testflows.steps:StepChain", []),
        ("kwf_testflows.shapes:INSTANCE", []),
        ("kwf_testflows.shapes:factory", ["factory"]),
        ("kwf_testflows.shapes:Builder.create", ["Builder.create"]),
    ],
)
def test_a_workflow_class_instance_or_factory_loads(workflow: str, called: list[str]) -> None:
    assert isinstance(load_workflow(workflow), StepChain)
    assert shapes.calls == called


def test_an_instance_is_used_as_it_is() -> None:
    assert load_workflow("kwf_testflows.shapes:INSTANCE") is shapes.INSTANCE


@pytest.mark.parametrize(
    ("workflow", "fragments", "called"),
    [
        # A builtin is never called: sys.exit() would end the runner with exit 0, as if it had succeeded.
        ("sys:exit", ['spec.workflow "sys:exit"', "a builtin function (exit)", "it was not called"], []),
        ("os:getpid", ["a builtin function (getpid)"], []),
        ("kwf_testflows.steps:Path", ["is a class (Path), not a Workflow"], []),
        ("kwf_testflows.shapes:NOT_A_WORKFLOW", ["is a dict, not a Workflow"], []),
        ("kwf_testflows.shapes:BUILDER", ["is a Builder, not a Workflow", "it was not called"], []),
        ("kwf_testflows.shapes:returns_a_dict", ["returned a dict when called, not a Workflow"], ["returns_a_dict"]),
        ("kwf_testflows.shapes:needs_an_argument", ["cannot be called with no arguments", "steps"], []),
        ("kwf_testflows.shapes:exits", ["called sys.exit(0)"], ["exits"]),
    ],
)
def test_anything_else_is_refused_naming_what_it_is(workflow: str, fragments: list[str], called: list[str]) -> None:
    with pytest.raises(WorkflowLoadError) as raised:
        load_workflow(workflow)
    for fragment in fragments:
        assert fragment in str(raised.value), str(raised.value)
    assert shapes.calls == called


def test_the_step_timeout_overrides_the_classes() -> None:
    assert load_workflow("kwf_testflows.steps:StepChain", timeout=5)._timeout == 5
