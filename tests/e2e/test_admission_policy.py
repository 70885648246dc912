"""The chart's admission policy on the real API server: creating a WorkflowRun grants no more than
creating its pod would. `bob` may create WorkflowRuns but not pods; `alice` may create both."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import Cluster, wait_for, workflow_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def helm() -> str:
    built = subprocess.run(["bash", str(REPO / "hack" / "build-helm.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture
def policy(cluster: Cluster, crd_installed: None, helm: str, namespace: str) -> Iterator[str]:
    """The chart's policy, bound to this test's namespace only (other tests' users are admins anyway)."""
    release = f"pol-{uuid.uuid4().hex[:6]}"
    rendered = subprocess.run(
        [
            helm,
            "template",
            release,
            str(REPO / "charts" / "kube-workflows"),
            "-s",
            "templates/admission-policy.yaml",
            "--set-json",
            f"watch.namespaces={json.dumps([namespace])}",
            "--set-json",
            'policy.allowedImages=["local", "registry.example.com/team-a/"]',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=rendered)
    for user, verbs in (
        ("bob", ["workflowruns", "cronworkflowruns", "workflowtemplates"]),
        ("alice", ["workflowruns", "pods"]),
    ):
        cluster.kubectl(
            "create", "role", user, "-n", namespace, "--verb=create,get", *[f"--resource={r}" for r in verbs]
        )
        cluster.kubectl("create", "rolebinding", user, "-n", namespace, f"--role={user}", f"--user={user}")
    try:
        yield release
    finally:
        cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered)


def create_as(cluster: Cluster, user: str, namespace: str, **spec: Any) -> subprocess.CompletedProcess[str]:
    run = workflow_run(f"r-{uuid.uuid4().hex[:6]}", "kwf_testflows.steps:StepChain", {"steps": 1}, suspend=True)
    run["spec"].update(spec)
    return cluster.kubectl("create", "-n", namespace, f"--as={user}", "-f", "-", input=yaml.safe_dump(run), check=False)


POWERFUL = {"template": {"serviceAccountName": "powerful"}}
REFUSED = {
    "spec.template.serviceAccountName": POWERFUL,
    "spec.template.volumes": {"template": {"volumes": [{"name": "s", "secret": {"secretName": "db-password"}}]}},
    "spec.template.envFrom": {"template": {"envFrom": [{"secretRef": {"name": "db-password"}}]}},
    "spec.template.hostNetwork": {"template": {"hostNetwork": True}},
    "spec.template.env": {
        "template": {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db-password", "key": "p"}}}]}
    },
    # The DSN reaches the runner's environment, where the workflow's code can read it.
    "spec.checkpoint.store": {
        "checkpoint": {"store": {"postgres": {"dsnSecretRef": {"name": "db-password", "key": "p"}}}}
    },
    "spec.image": {"image": "evil.example.com/miner:latest"},
}


def test_a_run_grants_no_more_than_its_pod_would(cluster: Cluster, namespace: str, policy: str) -> None:
    # The policy takes a moment to be compiled and bound.
    wait_for("the policy to act", lambda: create_as(cluster, "bob", namespace, **POWERFUL).returncode != 0, 60, 1)
    for field, spec in REFUSED.items():
        refused = create_as(cluster, "bob", namespace, **spec)
        assert refused.returncode != 0 and field in refused.stderr, (field, refused.stderr)
        assert "bob may not" in refused.stderr or field == "spec.image", refused.stderr
    # A plain run, an allowed image, and the same requests from a user who may create pods: admitted.
    assert create_as(cluster, "bob", namespace).returncode == 0
    assert create_as(cluster, "bob", namespace, image="registry.example.com/team-a/flows:1").returncode == 0
    for spec in [POWERFUL, *(s for f, s in REFUSED.items() if f != "spec.image")]:
        allowed = create_as(cluster, "alice", namespace, **spec)
        assert allowed.returncode == 0, allowed.stderr
    # Images are checked for every user.
    assert "spec.image" in create_as(cluster, "alice", namespace, **REFUSED["spec.image"]).stderr


def test_with_the_policy_off_bob_can_name_any_service_account(cluster: Cluster, namespace: str, policy: str) -> None:
    wait_for("the policy to act", lambda: create_as(cluster, "bob", namespace, **POWERFUL).returncode != 0, 60, 1)
    cluster.kubectl("delete", "validatingadmissionpolicybinding", f"{policy}-kube-workflows-runs")
    wait_for("the policy to stop", lambda: create_as(cluster, "bob", namespace, **POWERFUL).returncode == 0, 60, 1)


def create_cron_as(cluster: Cluster, user: str, namespace: str, **spec: Any) -> subprocess.CompletedProcess[str]:
    run_spec = workflow_run("x", "kwf_testflows.steps:StepChain", {"steps": 1})["spec"] | spec
    cron = {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "CronWorkflowRun",
        "metadata": {"name": f"c-{uuid.uuid4().hex[:6]}"},
        "spec": {"schedule": "0 0 1 1 *", "suspend": True, "runTemplate": {"spec": run_spec}},
    }
    return cluster.kubectl(
        "create", "-n", namespace, f"--as={user}", "-f", "-", input=yaml.safe_dump(cron), check=False
    )


def test_a_schedule_grants_no_more_than_its_runs_would(cluster: Cluster, namespace: str, policy: str) -> None:
    """The operator creates a CronWorkflowRun's runs, so its run template is checked against its author."""
    wait_for("the policy to act", lambda: create_cron_as(cluster, "bob", namespace, **POWERFUL).returncode != 0, 60, 1)
    for field, spec in REFUSED.items():
        refused = create_cron_as(cluster, "bob", namespace, **spec)
        cron_field = field.replace("spec.", "spec.runTemplate.spec.", 1)
        assert refused.returncode != 0 and cron_field in refused.stderr, (cron_field, refused.stderr)
    assert create_cron_as(cluster, "bob", namespace).returncode == 0


def test_a_template_grants_no_more_than_its_runs_would(cluster: Cluster, namespace: str, policy: str) -> None:
    def create_template_as(user: str, **spec: Any) -> subprocess.CompletedProcess[str]:
        body = {
            "apiVersion": "kube-workflows.dev/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": f"t-{uuid.uuid4().hex[:6]}"},
            "spec": {"workflow": "kwf_testflows.steps:StepChain", **spec},
        }
        return cluster.kubectl(
            "create", "-n", namespace, f"--as={user}", "-f", "-", input=yaml.safe_dump(body), check=False
        )

    wait_for("the policy to act", lambda: create_template_as("bob", **POWERFUL).returncode != 0, 60, 1)
    refused = create_template_as("bob", **POWERFUL)
    assert "spec.template.serviceAccountName" in refused.stderr and "bob may not" in refused.stderr
    assert create_template_as("bob").returncode == 0
