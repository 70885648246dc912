"""Bad input gets a clear error naming the field, at admission or as a Failed run; nothing retries forever."""

from __future__ import annotations

import copy
import json
import signal
from typing import Any

import pytest
import yaml

from support import Cluster, OperatorProcess, wait_for, workflow_run

GOOD = workflow_run("bad", "kwf_testflows.steps:StepChain", {"steps": 2})


def with_spec(**changes: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    for path, value in changes.items():
        node = manifest["spec"]
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return manifest


DELETE = object()

# (case id, manifest, fragments the `kubectl apply` error must contain)
ADMISSION_CASES = [
    ("missing-workflow", with_spec(workflow=DELETE), ["spec.workflow", "Required value"]),
    ("workflow-without-colon", with_spec(workflow="pkg.mod"), ["spec.workflow", "should match"]),
    ("workflow-empty-attribute", with_spec(workflow="pkg.mod:"), ["spec.workflow", "should match"]),
    ("workflow-with-spaces", with_spec(workflow="my pkg:Flow"), ["spec.workflow", "should match"]),
    ("workflow-path-like", with_spec(workflow="pkg/mod.py:Flow"), ["spec.workflow", "should match"]),
    ("workflow-too-long", with_spec(workflow="a" * 600 + ":B"), ["spec.workflow", "Too long"]),
    ("workflow-not-a-string", with_spec(workflow=42), ["spec.workflow", "string"]),
    ("timeout-zero", with_spec(timeoutSeconds=0), ["spec.timeoutSeconds", "greater than or equal to 1"]),
    ("timeout-negative", with_spec(timeoutSeconds=-5), ["spec.timeoutSeconds", "greater than or equal to 1"]),
    ("timeout-not-a-number", with_spec(timeoutSeconds="ten"), ["spec.timeoutSeconds", "integer"]),
    ("step-timeout-zero", with_spec(stepTimeoutSeconds=0), ["spec.stepTimeoutSeconds", "greater than 0"]),
    ("max-restarts-negative", with_spec(retry__maxRestarts=-1), ["spec.retry.maxRestarts", "greater than or equal"]),
    ("max-restarts-huge", with_spec(retry__maxRestarts=1000), ["spec.retry.maxRestarts", "less than or equal"]),
    ("ttl-negative", with_spec(ttlSecondsAfterFinished=-1), ["spec.ttlSecondsAfterFinished", "greater than or"]),
    ("unknown-spec-field", with_spec(worflow_typo="x"), ['unknown field "spec.worflow_typo"']),
    ("unknown-nested-field", with_spec(retry__backoff=5), ['unknown field "spec.retry.backoff"']),
    ("input-not-an-object", with_spec(input=[1, 2]), ["spec.input", "object"]),
    ("context-from-bad-name", with_spec(contextFrom={"name": "Not_A_Name"}), ["spec.contextFrom.name", "should match"]),
    ("context-from-a-plain-name", with_spec(contextFrom="earlier"), ["spec.contextFrom", "object"]),
    ("context-from-without-name", with_spec(contextFrom={"seq": 3}), ["spec.contextFrom.name", "Required value"]),
    ("context-from-seq-zero", with_spec(contextFrom={"name": "a", "seq": 0}), ["spec.contextFrom.seq", "greater than"]),
    ("events-not-a-list", with_spec(events="yes"), ["spec.events", "array"]),
    (
        "event-type-not-an-import-path",
        with_spec(events=[{"type": "Approval"}]),
        ["spec.events[0].type", "should match"],
    ),
    ("event-data-not-an-object", with_spec(events=[{"data": "yes"}]), ["spec.events[0].data", "object"]),
    ("wait-timeout-zero", with_spec(waitTimeoutSeconds=0), ["spec.waitTimeoutSeconds", "greater than or equal to 1"]),
    ("history-too-long", with_spec(checkpoint__history=50), ["spec.checkpoint.history", "less than or equal to 20"]),
    ("suspend-not-a-boolean", with_spec(suspend="yes"), ["spec.suspend", "boolean"]),
    (
        "node-selector-not-strings",
        with_spec(template__nodeSelector={"pool": 1}),
        ["spec.template.nodeSelector.pool", "string"],
    ),
    ("env-not-a-list", with_spec(template__env={"A": "b"}), ["spec.template.env"]),
    (
        "service-account-too-long",
        with_spec(template__serviceAccountName="s" * 300),
        ["spec.template.serviceAccountName", "Too long"],
    ),
]


@pytest.mark.parametrize(("case", "manifest", "fragments"), ADMISSION_CASES, ids=[c[0] for c in ADMISSION_CASES])
def test_rejected_at_admission(
    cluster: Cluster, crd_installed: None, namespace: str, case: str, manifest: dict[str, Any], fragments: list[str]
) -> None:
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    for fragment in fragments:
        assert fragment in result.stderr, f"{case}: {fragment!r} not in {result.stderr!r}"
    assert cluster.kubectl("get", "wfr", "-n", namespace, "-o", "name").stdout == ""  # nothing half-created


@pytest.mark.parametrize("field", ["workflow", "input", "contextFrom"])
def test_identity_fields_are_immutable(cluster: Cluster, crd_installed: None, namespace: str, field: str) -> None:
    original = with_spec(contextFrom={"name": "earlier"}, input={"steps": 2})
    # Without an operator the run just sits there; this is about the API's answer alone.
    cluster.apply(original, namespace)
    changed = copy.deepcopy(original)
    changed["spec"][field] = {"workflow": "other.mod:Flow", "input": {"steps": 3}, "contextFrom": {"name": "later"}}[
        field
    ]
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(changed), check=False)
    assert result.returncode != 0
    assert f"spec.{field} is immutable" in result.stderr


# (field edited, the edit) on an existing run: what its pods and Role were built from.
PINNED_EDITS = [
    ("image", [{"op": "add", "path": "/spec/image", "value": "other:2"}]),
    ("image", [{"op": "remove", "path": "/spec/image"}]),
    ("checkpoint", [{"op": "add", "path": "/spec/checkpoint", "value": {"sensitive": True}}]),
    ("checkpoint", [{"op": "add", "path": "/spec/checkpoint/sensitive", "value": True}]),
    ("template", [{"op": "add", "path": "/spec/template/env", "value": [{"name": "A", "value": "b"}]}]),
    ("template", [{"op": "add", "path": "/spec/template", "value": {"labels": {"team": "a"}}}]),
]


@pytest.mark.parametrize(
    ("field", "edit"), PINNED_EDITS, ids=[f"{f}-{e[0]['op']}-{e[0]['path']}" for f, e in PINNED_EDITS]
)
def test_what_pods_are_built_from_is_pinned(
    cluster: Cluster, crd_installed: None, namespace: str, field: str, edit: list[dict[str, Any]]
) -> None:
    original = with_spec(checkpoint={"history": 2}, template={"nodeSelector": {"pool": "a"}})
    if edit[0]["path"] in ("/spec/checkpoint", "/spec/template"):
        original["spec"].pop(field)  # adding the whole field later is a change too
    cluster.apply(original, namespace)
    result = cluster.kubectl("patch", "-n", namespace, "wfr", "bad", "--type=json", "-p", json.dumps(edit), check=False)
    assert result.returncode != 0, f"{edit} was accepted"
    assert f"spec.{field} is immutable" in result.stderr, result.stderr


def test_steering_fields_stay_editable(cluster: Cluster, crd_installed: None, namespace: str) -> None:
    cluster.apply(with_spec(checkpoint={"sensitive": True}, template={"labels": {"team": "a"}}), namespace)
    edit = {"spec": {"suspend": True, "ttlSecondsAfterFinished": 60, "waitTimeoutSeconds": 30, "timeoutSeconds": 90}}
    cluster.kubectl("patch", "-n", namespace, "wfr", "bad", "--type=merge", "-p", json.dumps(edit))
    cluster.kubectl("patch", "-n", namespace, "wfr", "bad", "--type=merge", "-p", '{"spec": {"suspend": false}}')
    events = [{"op": "add", "path": "/spec/events", "value": [{"data": {"response": "yes"}}]}]
    cluster.kubectl("patch", "-n", namespace, "wfr", "bad", "--type=json", "-p", json.dumps(events))
    cluster.kubectl("patch", "-n", namespace, "wfr", "bad", "--type=merge", "-p", '{"spec": {"cancel": true}}')
    spec = cluster.run(namespace, "bad")["spec"]
    assert spec["cancel"] is True and spec["suspend"] is False and spec["ttlSecondsAfterFinished"] == 60
    assert spec["checkpoint"] == {"sensitive": True} and spec["template"] == {"labels": {"team": "a"}}


def failed_condition(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    status = cluster.wait_phase(namespace, name, "Failed", timeout=120)["status"]
    condition: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["status"] == "False"
    return condition


RUNTIME_CASES = [
    (
        "module-not-importable",
        "kwf_testflows.does_not_exist:Flow",
        {},
        "WorkflowNotImportable",
        'module "kwf_testflows.does_not_exist" cannot be imported',
    ),
    (
        "attribute-missing",
        "kwf_testflows.steps:NoSuchClass",
        {},
        "WorkflowNotImportable",
        'has no attribute "NoSuchClass"',
    ),
    ("attribute-not-a-workflow", "kwf_testflows.steps:Path", {}, "WorkflowNotImportable", "not a Workflow"),
    # Called, sys.exit() ended the runner with exit 0 and the run "Succeeded" with no result.
    ("workflow-is-a-builtin", "sys:exit", {}, "WorkflowNotImportable", 'spec.workflow "sys:exit" is a builtin'),
    (
        "input-rejected-by-start-event",
        "kwf_testflows.typed:PlaceOrder",
        {"item": "tea", "quantity": "many"},
        "InvalidInput",
        "spec.input is not accepted",
    ),
]


@pytest.mark.parametrize(
    ("case", "workflow", "input", "reason", "fragment"), RUNTIME_CASES, ids=[c[0] for c in RUNTIME_CASES]
)
def test_fails_at_run_time_with_a_reason_and_no_retries(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    case: str,
    workflow: str,
    input: dict[str, Any],
    reason: str,
    fragment: str,
) -> None:
    cluster.apply(workflow_run("r", workflow, input, retry={"maxRestarts": 3}), namespace)
    condition = failed_condition(cluster, namespace, "r")
    assert condition["reason"] == reason and fragment in condition["message"], condition
    assert len(cluster.runner_pods(namespace, "r")) == 1, "a permanent error was retried"


def test_context_from_a_failed_run_fails(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(workflow_run("broken", "kwf_testflows.failing:RaisesInSecondStep"), namespace)
    cluster.wait_phase(namespace, "broken", "Failed")
    cluster.apply(
        workflow_run("next", "kwf_testflows.failing:RaisesInSecondStep", contextFrom={"name": "broken"}), namespace
    )
    condition = failed_condition(cluster, namespace, "next")
    assert condition["reason"] == "ContextSourceFailed" and "spec.contextFrom" in condition["message"]
    assert not cluster.runner_pods(namespace, "next")


def test_context_from_another_workflow_is_incompatible(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("counter", "kwf_examples.context_state:MyWorkflow"), namespace)
    cluster.wait_phase(namespace, "counter", "Succeeded")
    cluster.apply(workflow_run("chain", "kwf_testflows.steps:StepChain", contextFrom={"name": "counter"}), namespace)
    condition = failed_condition(cluster, namespace, "chain")
    assert condition["reason"] == "CheckpointIncompatible" and "steps ['count']" in condition["message"]


def test_context_from_a_missing_run_waits_and_says_so(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # GitOps applies a run and its contextFrom source together, in any order: waiting beats rejecting.
    cluster.apply(
        workflow_run("later", "kwf_examples.context_state:MyWorkflow", contextFrom={"name": "earlier"}), namespace
    )
    wait_for(
        "a WaitingForContext event",
        lambda: (
            "WaitingForContext"
            in cluster.kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}").stdout
        ),
    )
    assert cluster.run(namespace, "later")["status"]["phase"] == "Pending"
    assert not cluster.runner_pods(namespace, "later")
    cluster.apply(workflow_run("earlier", "kwf_examples.context_state:MyWorkflow"), namespace)
    assert cluster.wait_phase(namespace, "later", "Succeeded")["status"]["result"] == "The step ran 2 times"


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_checkpoint_fails_instead_of_starting_over(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Any, damage: str
) -> None:
    release = tmp_path / "release"
    cluster.apply(
        workflow_run("r", "kwf_testflows.steps:StepChain", {"steps": 5, "hold_at": 3, "release": str(release)}),
        namespace,
    )
    wait_for(
        "two steps checkpointed",
        lambda: (cluster.run(namespace, "r").get("status") or {}).get("checkpoint", {}).get("stepsCompleted", 0) >= 3,
    )
    data = cluster.run(namespace, "r")["status"]["checkpoint"]["data"]
    bad = "!!not-base64!!" if damage == "corrupt" else data[: len(data) // 2]
    cluster.custom.patch_namespaced_custom_object_status(
        "kube-workflows.dev", "v1alpha1", namespace, "workflowruns", "r", {"status": {"checkpoint": {"data": bad}}}
    )
    cluster.crash_pod(namespace, cluster.runner_pods(namespace, "r")[0].metadata.name, signal.SIGKILL)
    condition = failed_condition(cluster, namespace, "r")
    assert condition["reason"] == "CheckpointCorrupt" and "status.checkpoint.data" in condition["message"]
    status = cluster.run(namespace, "r")["status"]
    assert status["attempt"] == 2 and status["restarts"] == 1  # the crash was retried once; the corruption was not
