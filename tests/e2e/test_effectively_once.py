"""Effectively-once side effects on the real control plane: the payment example's pod dies after it
charged and before its checkpoint landed; the next pod re-runs the step with the same key."""

from __future__ import annotations

import json
from pathlib import Path

from support import Cluster, OperatorProcess, workflow_run


def test_a_charge_whose_pod_died_before_its_checkpoint_is_made_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    crash_before_the_charge_is_checkpointed = {"name": "KWF_FAILPOINTS", "value": "before-checkpoint@1:crash"}
    cluster.apply(
        workflow_run(
            "pay",
            "kwf_examples.payment:Payment",
            {"ledger": str(ledger), "amount": 42},
            template={"env": [crash_before_the_charge_is_checkpointed]},
        ),
        namespace,
    )
    status = cluster.wait_phase(namespace, "pay", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded", status.get("conditions")
    assert status["restarts"] == 1  # the first pod died
    calls = [json.loads(line) for line in ledger.read_text().splitlines()]
    uid = cluster.run(namespace, "pay")["metadata"]["uid"]
    assert [(c["attempt"], c["charged"]) for c in calls] == [("1", True), ("2", False)]
    assert calls[0]["key"] == calls[1]["key"] and calls[0]["key"].startswith(f"{uid}/charge/")
    assert status["result"] == {"charge": "ch_1", "charges": 1}
