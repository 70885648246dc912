"""WorkflowTemplate on the real control plane: a run names one instead of repeating it, waits for it
when it is not there yet, and keeps what it started with when the template changes."""

from __future__ import annotations

from typing import Any

import yaml

from support import Cluster, OperatorProcess

GROUP, VERSION = "kube-workflows.dev", "v1alpha1"


def template(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkflowTemplate", "metadata": {"name": name}, "spec": spec}


def run_from(name: str, template_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowRun",
        "metadata": {"name": name},
        "spec": {"templateRef": {"name": template_name}, **spec},
    }


def test_a_run_takes_its_templates_workflow_and_input_defaults(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        template("chain", workflow="kwf_testflows.steps:StepChain", image="local", input={"steps": 2}), namespace
    )
    cluster.apply(run_from("defaults", "chain"), namespace)
    cluster.apply(run_from("more", "chain", input={"steps": 4}), namespace)
    done = cluster.wait_phase(namespace, "defaults", "Succeeded", "Failed")["status"]
    assert done["phase"] == "Succeeded" and done["result"] == {"steps": 2, "total": 3}, done
    used = done["template"]
    assert used["name"] == "chain" and used["uid"] and used["spec"]["workflow"] == "kwf_testflows.steps:StepChain"
    more = cluster.wait_phase(namespace, "more", "Succeeded", "Failed")["status"]
    assert more["result"] == {"steps": 4, "total": 10}  # its own input wins
    shown = cluster.kubectl("get", "wft", "-n", namespace).stdout
    assert "kwf_testflows.steps:StepChain" in shown and "WORKFLOW" in shown
    # A later edit of the template leaves a started run alone: what it used is in its status.
    cluster.kubectl("patch", "wft", "chain", "-n", namespace, "--type=merge", "-p", '{"spec":{"input":{"steps":1}}}')
    assert cluster.run(namespace, "defaults")["status"]["template"]["spec"]["input"] == {"steps": 2}


def test_a_run_waits_for_its_template_and_a_bad_one_fails_clearly(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(run_from("early", "later"), namespace)
    waiting = cluster.wait_phase(namespace, "early", "Pending", timeout=60)["status"]
    assert any(c.get("reason") == "WaitingForTemplate" for c in waiting.get("conditions") or []), waiting
    cluster.apply(
        template("later", workflow="kwf_testflows.steps:StepChain", image="local", input={"steps": 1}), namespace
    )
    assert cluster.wait_phase(namespace, "early", "Succeeded", "Failed", timeout=120)["status"]["phase"] == "Succeeded"
    # Neither a workflow nor a template: refused at admission, naming the field.
    bare = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkflowRun",
        "metadata": {"name": "bare"},
        "spec": {"image": "local"},
    }
    refused = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(bare), check=False)
    assert refused.returncode != 0 and "spec.workflow" in refused.stderr and "Required value" in refused.stderr
