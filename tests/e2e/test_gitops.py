"""A GitOps tool's server-side apply (Argo CD, Flux) sees no drift on a WorkflowRun the operator ran.

The CRD has no server-side defaults and the operator writes only the status subresource (kopf's
bookkeeping included: status.kopf, no annotations, no finalizers), so the applier's fields stay exactly
what it applied and metadata.generation stays 1 for the whole run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import Cluster, OperatorProcess, workflow_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARGOCD, FLUX = "argocd-controller", "kustomize-controller"  # the tools' server-side apply field managers


def counter_a() -> dict[str, Any]:
    docs = yaml.safe_load_all((EXAMPLES / "02-context-store.yaml").read_text())
    return next(d for d in docs if d["metadata"]["name"] == "counter-a")


def ssa(cluster: Cluster, verb: str, namespace: str, path: Path, manager: str = ARGOCD, check: bool = True) -> Any:
    return cluster.kubectl(
        verb, "--server-side", f"--field-manager={manager}", "-n", namespace, "-f", str(path), check=check
    )


@pytest.mark.parametrize("manager", [ARGOCD, FLUX])
def test_server_side_apply_shows_no_drift_after_the_run(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path, manager: str
) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(yaml.safe_dump(counter_a()))
    ssa(cluster, "apply", namespace, manifest, manager)
    ssa(cluster, "apply", namespace, manifest, manager)
    assert cluster.run(namespace, "counter-a")["metadata"]["generation"] == 1

    run = cluster.wait_phase(namespace, "counter-a", "Succeeded", "Failed", timeout=120)
    assert run["status"]["phase"] == "Succeeded", run["status"].get("error")

    diff = ssa(cluster, "diff", namespace, manifest, manager, check=False)
    assert diff.returncode == 0, f"drift after the run (exit {diff.returncode}):\n{diff.stdout}{diff.stderr}"
    assert diff.stdout == ""

    # Re-applying after the run changes nothing either.
    ssa(cluster, "apply", namespace, manifest, manager)
    run = cluster.run(namespace, "counter-a")
    meta, status = run["metadata"], run["status"]
    assert meta["generation"] == 1
    assert status["observedGeneration"] == 1
    assert {c["type"]: c["observedGeneration"] for c in status["conditions"]} == {
        "Succeeded": 1,
        "Running": 1,
        "Ready": 1,
        "Reconciling": 1,
    }
    assert not [k for k in meta.get("annotations") or {} if "kopf" in k], meta.get("annotations")
    assert not meta.get("finalizers"), meta.get("finalizers")
    # Every field outside status belongs to the applier; everyone else wrote through /status only.
    others = [(m["manager"], m.get("subresource")) for m in meta["managedFields"] if m["manager"] != manager]
    assert others and all(sub == "status" for _, sub in others), others
    mine = [m for m in meta["managedFields"] if m["manager"] == manager]
    assert [(m["operation"], m.get("subresource")) for m in mine] == [("Apply", None)]


def test_changing_spec_input_through_server_side_apply_is_rejected(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "run.yaml"
    run = workflow_run("chain", "kwf_testflows.steps:StepChain", {"steps": 2})
    manifest.write_text(yaml.safe_dump(run))
    ssa(cluster, "apply", namespace, manifest)

    run["spec"]["input"] = {"steps": 3}
    manifest.write_text(yaml.safe_dump(run))
    rejected = ssa(cluster, "apply", namespace, manifest, check=False)
    assert rejected.returncode != 0
    assert "spec.input" in rejected.stderr and "immutable" in rejected.stderr, rejected.stderr
    live = cluster.run(namespace, "chain")
    assert live["spec"]["input"] == {"steps": 2}
    assert live["metadata"]["generation"] == 1


def test_adding_spec_input_to_a_run_created_without_it_is_rejected(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(yaml.safe_dump(counter_a()))  # no spec.input
    ssa(cluster, "apply", namespace, manifest)
    changed = counter_a()
    changed["spec"]["input"] = {"extra": 1}
    manifest.write_text(yaml.safe_dump(changed))
    added = ssa(cluster, "apply", namespace, manifest, check=False)
    assert added.returncode != 0 and "spec.input" in added.stderr, added.stdout


def kstatus(obj: dict[str, Any]) -> str:
    """What kstatus (sigs.k8s.io/cli-utils/pkg/kstatus, which Flux's `wait: true` uses) computes for a
    custom resource: its generic rules in order, then Ready as Flux's fork reads it; else Current."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if "observedGeneration" in status and status["observedGeneration"] != meta.get("generation"):
        return "InProgress"
    conditions = status.get("conditions") or []
    for condition in conditions:
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    if ready is not None:
        return "Current" if ready["status"] == "True" else "InProgress"
    return "Current"


@pytest.mark.parametrize(
    ("workflow", "input", "phase", "final"),
    [
        ("kwf_testflows.steps:StepChain", {"steps": 4, "delay": 0.3}, "Succeeded", "Current"),
        ("kwf_testflows.failing:RaisesInSecondStep", {}, "Failed", "Failed"),
    ],
)
def test_kstatus_is_in_progress_until_the_run_ends(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    workflow: str,
    input: dict[str, Any],
    phase: str,
    final: str,
) -> None:
    cluster.apply(workflow_run("k", workflow, input), namespace)
    seen: list[tuple[str | None, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = cluster.run(namespace, "k")
        status = run.get("status") or {}
        if status:  # before the operator writes anything no CRD can say it is in progress
            seen.append((status.get("phase"), kstatus(run)))
        if status.get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(0.1)
    assert seen and seen[-1] == (phase, final), seen
    unfinished = {k for p, k in seen if p not in ("Succeeded", "Failed")}
    assert unfinished <= {"InProgress"}, seen
