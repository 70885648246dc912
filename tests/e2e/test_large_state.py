"""Contexts too large for status go to owned ConfigMaps (or Secrets), survive a pod kill, and go with the run."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

from support import Cluster, OperatorProcess, wait_for, workflow_run


def chunk_objects(cluster: Cluster, namespace: str, kind: str) -> list[str]:
    lister = cluster.core.list_namespaced_secret if kind == "Secret" else cluster.core.list_namespaced_config_map
    return sorted(o.metadata.name for o in lister(namespace, label_selector="kube-workflows.dev/checkpoint=true").items)


def test_a_5mb_context_round_trips_through_configmaps_across_a_pod_kill(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    cluster.apply(
        workflow_run("big", "kwf_testflows.big_state:BigState", {"size_mb": 5, "release": str(release)}), namespace
    )
    wait_for(
        "the 5 MB checkpoint",
        lambda: (cluster.run(namespace, "big").get("status") or {}).get("checkpoint"),
        timeout=120,
    )
    checkpoint = cluster.run(namespace, "big")["status"]["checkpoint"]
    assert checkpoint["storage"] == "ConfigMap" and checkpoint["data"] == ""
    assert checkpoint["sizeBytes"] > 5 * 1024 * 1024 and len(checkpoint["chunks"]) >= 2
    # The operator made them (the runner may create nothing): as many in each of the three slots.
    per_slot = len(checkpoint["chunks"])
    assert chunk_objects(cluster, namespace, "ConfigMap") == sorted(
        f"big-ckpt-{slot}-{i}" for slot in "abc" for i in range(per_slot)
    )
    owner = cluster.core.read_namespaced_config_map(checkpoint["chunks"][0], namespace).metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("WorkflowRun", "big", True)

    cluster.crash_pod(namespace, cluster.runner_pods(namespace, "big")[0].metadata.name, signal.SIGKILL)
    release.touch()
    status = cluster.wait_phase(namespace, "big", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == 5 * 1024 * 1024  # the blob came back whole from the chunks
    assert status["restarts"] == 1 and [s["name"] for s in status["steps"]] == ["fill", "finish"]
    assert status["checkpoint"]["chunks"][0].startswith("big-ckpt-b-")  # the final one went to the other slot

    cluster.custom.delete_namespaced_custom_object(
        "kube-workflows.dev", "v1alpha1", namespace, "workflowruns", "big", propagation_policy="Foreground"
    )
    wait_for(
        "the chunks to be garbage-collected", lambda: not chunk_objects(cluster, namespace, "ConfigMap"), timeout=90
    )


def test_sensitive_checkpoints_go_to_secrets(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(
        workflow_run("secret", "kwf_testflows.big_state:BigState", {"size_mb": 1}, checkpoint={"sensitive": True}),
        namespace,
    )
    status = cluster.wait_phase(namespace, "secret", "Succeeded", "Failed", timeout=120)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["checkpoint"]["storage"] == "Secret"
    assert chunk_objects(cluster, namespace, "Secret") and not chunk_objects(cluster, namespace, "ConfigMap")


def test_a_sensitive_run_keeps_its_question_and_result_out_of_the_run_object(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    secret = "321cba-SECRET"  # kwf_testflows.confidential.secret_of("abc123"): not in spec.input
    cluster.apply(
        workflow_run(
            "vault",
            "kwf_testflows.confidential:Confidential",
            {"seed": "abc123", "mode": "ask"},
            checkpoint={"sensitive": True},
        ),
        namespace,
    )
    run = cluster.wait_phase(namespace, "vault", "Waiting", "Failed", timeout=120)
    assert secret not in json.dumps(run) and run["status"]["waiting"]["requestsRef"]["secret"] == "vault-outputs"
    assert run["status"]["checkpoint"]["storage"] == "Secret"  # small, yet not inline
    described = cluster.kwf("describe", "vault", "-n", namespace)
    assert described.returncode == 0 and f"confirm {secret}?" in described.stdout, described.stderr

    sent = cluster.kwf("send-event", "vault", "-n", namespace, "--data", json.dumps({"response": "yes"}), "--wait")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"answer": "yes", "secret": secret}  # kwf follows status.resultRef
    run = cluster.run(namespace, "vault")
    assert run["status"]["phase"] == "Succeeded" and secret not in json.dumps(run)
    stored = cluster.core.read_namespaced_secret("vault-outputs", namespace)
    texts = json.loads(base64.b64decode(stored.data["data"]))
    assert json.loads(texts["result"])["secret"] == secret and stored.metadata.owner_references[0].name == "vault"


def test_over_the_hard_cap_the_run_fails_with_a_reason(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        workflow_run(
            "huge",
            "kwf_testflows.big_state:BigState",
            {"size_mb": 2},
            checkpoint={"maxBytes": 1024 * 1024},
            retry={"maxRestarts": 2},
        ),
        namespace,
    )
    status = cluster.wait_phase(namespace, "huge", "Failed", timeout=120)["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["reason"] == "CheckpointTooLarge" and "spec.checkpoint.maxBytes" in condition["message"]
    assert len(cluster.runner_pods(namespace, "huge")) == 1


def test_a_result_over_the_result_limit_goes_to_the_outputs_config_map(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        workflow_run("report", "kwf_testflows.confidential:Confidential", {"seed": "s", "pad": 100_000}), namespace
    )
    run = cluster.wait_phase(namespace, "report", "Succeeded", "Failed", timeout=120)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status.get("result") is None and status["resultRef"]["configMap"] == "report-outputs"
    assert len(json.dumps(run)) < 16 * 1024  # the run object stays small
    stored = cluster.core.read_namespaced_config_map("report-outputs", namespace)
    assert stored.metadata.owner_references[0].name == "report"
    texts = json.loads(stored.data["data"])
    assert len(json.loads(texts["result"])["pad"]) == 100_000
    assert status["resultRef"]["sizeBytes"] == len(texts["result"].encode())
