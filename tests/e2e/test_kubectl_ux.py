"""What a kubectl user sees: explain, printer columns, short name and category."""

from __future__ import annotations

import itertools

from support import Cluster, OperatorProcess, wait_for, workflow_run


def test_explain_describes_every_field(cluster: Cluster, crd_installed: None) -> None:
    # The API server publishes a new CRD's schema for explain a moment after it is Established.
    spec = wait_for(
        "the CRD's OpenAPI schema", lambda: cluster.kubectl("explain", "workflowrun.spec", check=False).stdout
    )
    assert "Desired state: which workflow to run" in spec
    for field in ("workflow", "image", "input", "contextFrom", "timeoutSeconds", "retry", "checkpoint", "template"):
        assert f"  {field}\t" in spec or f"  {field} " in spec, field
    workflow = cluster.kubectl("explain", "wfr.spec.workflow").stdout
    assert '"package.module:Attribute"' in workflow
    assert "stepsCompleted" in cluster.kubectl("explain", "wfr.status.checkpoint").stdout


def test_get_shows_phase_step_checkpoint_restarts(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(workflow_run("shown", "kwf_testflows.steps:StepChain", {"steps": 3}), namespace)
    cluster.wait_phase(namespace, "shown", "Succeeded")
    header, row = cluster.kubectl("get", "wfr", "-n", namespace).stdout.splitlines()
    names = header.split()
    assert names == ["NAME", "PHASE", "STEP", "CHECKPOINT", "RESTARTS", "AGE"]
    starts = [header.index(n) for n in names] + [None]
    cells = dict(zip(names, (row[a:b].strip() for a, b in itertools.pairwise(starts)), strict=True))
    assert (cells["NAME"], cells["PHASE"], cells["STEP"]) == ("shown", "Succeeded", "")  # nothing runs now
    assert cells["CHECKPOINT"] == "4"  # begin, 2 work steps, then the final Context
    wide = cluster.kubectl("get", "wfr", "-n", namespace, "-o", "wide").stdout
    assert "kwf_testflows.steps:StepChain" in wide
    assert "shown" in cluster.kubectl("get", "kube-workflows", "-n", namespace).stdout  # the category
