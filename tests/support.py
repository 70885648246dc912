"""Helpers for tests on the real control plane: kubectl, waiting, reading WorkflowRuns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
KWF = str(Path(sys.executable).with_name("kwf"))
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Cluster:
    kubeconfig: Path
    data_dir: Path | None
    _api: client.ApiClient | None = field(default=None, repr=False)

    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = config.new_client_from_config(str(self.kubeconfig))
        return self._api

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def node_dir(self) -> Path:
        if self.data_dir is None:
            raise RuntimeError("this needs the local dev cluster's node (KWF_TEST_CLUSTER=local)")
        return self.data_dir / "node"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=self.env())
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def kwf(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KWF, *args], capture_output=True, text=True, env=self.env(), timeout=timeout, check=False
        )

    def apply(self, manifest: dict[str, Any] | str, namespace: str) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.kubectl("apply", "-n", namespace, "-f", "-", input=text)

    # --- WorkflowRuns ---------------------------------------------------------------------
    def run(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(
            "kube-workflows.dev", "v1alpha1", namespace, "workflowruns", name
        )
        assert isinstance(obj, dict)
        return obj

    def wait_phase(self, namespace: str, name: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            run = self.run(namespace, name)
            return run if (run.get("status") or {}).get("phase") in phases else None

        try:
            return wait_for(f"WorkflowRun {namespace}/{name} to reach {'/'.join(phases)}", check, timeout)
        except AssertionError as exc:
            run = self.run(namespace, name)
            status = {k: v for k, v in (run.get("status") or {}).items() if k not in ("checkpoint", "kopf")}
            raise AssertionError(f"{exc}\nstatus: {json.dumps(status, indent=1)[:3000]}") from None

    def runner_pods(self, namespace: str, name: str) -> list[client.V1Pod]:
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"kube-workflows.dev/run={name}").items
        return sorted(pods, key=lambda p: p.metadata.creation_timestamp)

    def crash_pod(self, namespace: str, pod: str, sig: signal.Signals = signal.SIGKILL) -> list[int]:
        """Signal the pod's processes on the local node without telling the API (a crash)."""
        from kube_workflows_devtools.node import kill_pod_processes

        return kill_pod_processes(self.node_dir, namespace, pod, sig)


def workflow_run(name: str, workflow: str, input: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": name},
        "spec": {"workflow": workflow, "image": "local", "input": input or {}, **spec},
    }


class OperatorProcess:
    """`kwf operator` as a subprocess with the admin kubeconfig."""

    def __init__(self, cluster: Cluster, log_path: Path, *args: str, runner_image: str = "local") -> None:
        self.cluster = cluster
        self.runner_image = runner_image
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [KWF, "operator", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.cluster.env(), "KWF_RUNNER_IMAGE": self.runner_image},
            start_new_session=True,
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def count_reruns(status: dict[str, Any], record: Path, steps: int) -> tuple[int, int]:
    """(completed steps re-run, in-flight steps re-run) of a finished StepChain run, from its status
    and its record file. The first must be 0: a step whose checkpoint was written never runs again;
    the second is at-least-once for a step whose pod died in it."""
    # work step i is checkpoint seq i + 1 ("begin" is seq 1); which attempt wrote it:
    checkpointed_by = {s["seq"] - 1: s["attempt"] for s in status["steps"] if s["name"] == "work"}
    assert sorted(checkpointed_by) == list(range(1, steps + 1)), record.name
    replayed_completed, rerun_in_flight = 0, 0
    for line in record.read_text().splitlines():
        _, step, _, attempt = line.split()
        if int(attempt) > checkpointed_by[int(step)]:
            replayed_completed += 1
        elif int(attempt) < checkpointed_by[int(step)]:
            rerun_in_flight += 1
    return replayed_completed, rerun_in_flight
