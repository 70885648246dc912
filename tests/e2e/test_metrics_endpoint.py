"""The operator's Prometheus endpoint reports runs, steps, checkpoints and restarts."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path

from support import Cluster, OperatorProcess, wait_for, workflow_run


def scrape(port: int) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:  # the operator is still starting
        return {}
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_follow_runs(cluster: Cluster, solo_namespace: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    operator = OperatorProcess(
        cluster, tmp_path / "operator.log", "--namespace", solo_namespace, "--metrics-port", str(port)
    )
    operator.start()
    try:
        release = tmp_path / "release"
        cluster.apply(
            workflow_run("m", "kwf_testflows.steps:StepChain", {"steps": 4, "hold_at": 3, "release": str(release)}),
            solo_namespace,
        )
        wait_for("a running run", lambda: scrape(port).get('kwf_workflowruns{phase="Running"}') == 1.0, timeout=60)
        pod = cluster.runner_pods(solo_namespace, "m")[0].metadata.name
        cluster.crash_pod(solo_namespace, pod, signal.SIGKILL)
        release.touch()
        cluster.wait_phase(solo_namespace, "m", "Succeeded", timeout=120)
        metrics = wait_for(
            "the final metrics",
            lambda: (lambda m: m if m.get('kwf_workflowruns{phase="Succeeded"}') == 1.0 else None)(scrape(port)),
            timeout=30,
        )
        assert metrics["kwf_run_restarts_total"] >= 1
        assert metrics['kwf_runs_finished_total{phase="Succeeded",reason="Succeeded"}'] == 1
        assert metrics["kwf_step_duration_seconds_count"] >= 3
        assert metrics["kwf_checkpoint_bytes_count"] >= 3
        assert metrics["kwf_checkpoint_write_seconds_count"] >= 1
    finally:
        operator.stop()
