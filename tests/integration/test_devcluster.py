"""The dev cluster behaves like Kubernetes where the operator depends on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from support import KWF, Cluster, wait_for

PY = sys.executable


def pod(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "python:3.11", "command": [PY, "-c", code]}],
            **spec,
        },
    }


def phase(cluster: Cluster, namespace: str, name: str) -> str | None:
    p = cluster.core.read_namespaced_pod(name, namespace)
    return p.status.phase if p.status.phase in ("Succeeded", "Failed") else None


def test_namespace_create_and_delete_completes(cluster: Cluster) -> None:
    cluster.core.create_namespace({"metadata": {"name": "ns-lifecycle"}})
    wait_for(
        "the default ServiceAccount",
        lambda: any(
            sa.metadata.name == "default" for sa in cluster.core.list_namespaced_service_account("ns-lifecycle").items
        ),
    )
    cluster.core.delete_namespace("ns-lifecycle")

    def gone() -> bool:
        try:
            cluster.core.read_namespace("ns-lifecycle")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for("namespace deletion to finish", gone, timeout=90)


def test_pod_succeeds_and_its_log_is_readable(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, pod("hello", "print('hello from the local node')"))
    assert wait_for("pod to finish", lambda: phase(cluster, namespace, "hello")) == "Succeeded"
    status = cluster.core.read_namespaced_pod("hello", namespace).status
    terminated = status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0 and terminated.reason == "Completed"
    # through the API server → the local node's kubelet endpoint, as `kubectl logs` does
    assert "hello from the local node" in cluster.kubectl("logs", "-n", namespace, "hello").stdout


def test_failing_container_reports_its_exit_code(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, pod("fails", "import sys; print('bad'); sys.exit(7)"))
    assert wait_for("pod to finish", lambda: phase(cluster, namespace, "fails")) == "Failed"
    terminated = cluster.core.read_namespaced_pod("fails", namespace).status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (7, "Error")


def test_env_is_resolved_from_values_fields_secrets_and_configmaps(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"k": "secret-v"}})
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"k": "config-v"}})
    manifest = pod("env", "import os; print(os.environ['A'], os.environ['POD'], os.environ['S'], os.environ['C'])")
    manifest["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "plain"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
    ]
    cluster.core.create_namespaced_pod(namespace, manifest)
    assert wait_for("pod to finish", lambda: phase(cluster, namespace, "env")) == "Succeeded"
    assert "plain env secret-v config-v" in cluster.kubectl("logs", "-n", namespace, "env").stdout


def test_job_completes_and_its_pods_go_with_it(cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"backoffLimit": 0, "template": {"spec": pod("x", "print('job ran')")["spec"]}},
    }
    cluster.batch.create_namespaced_job(namespace, job)

    def complete() -> bool:
        conditions = cluster.batch.read_namespaced_job("j", namespace).status.conditions or []
        return any(c.type == "Complete" and c.status == "True" for c in conditions)

    wait_for("the Job to complete", complete, timeout=90)
    assert len(cluster.core.list_namespaced_pod(namespace, label_selector="job-name=j").items) == 1
    cluster.batch.delete_namespaced_job("j", namespace, propagation_policy="Background")
    wait_for(
        "the garbage collector to remove the Job's pods",
        lambda: not cluster.core.list_namespaced_pod(namespace, label_selector="job-name=j").items,
        timeout=90,
    )


def test_deleting_a_running_pod_delivers_sigterm(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    marker = tmp_path / "got-sigterm"
    code = (
        "import signal, sys, time, pathlib\n"
        f"def bye(*_):\n    pathlib.Path({str(marker)!r}).write_text('TERM'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(300)\n"
    )
    cluster.core.create_namespaced_pod(namespace, pod("term", code, terminationGracePeriodSeconds=20))
    wait_for(
        "the pod to run",
        lambda: "ready" in cluster.kubectl("logs", "-n", namespace, "term", check=False).stdout,
    )
    cluster.core.delete_namespaced_pod("term", namespace)
    wait_for("the process to see SIGTERM", marker.exists, timeout=30)

    def removed() -> bool:
        try:
            cluster.core.read_namespaced_pod("term", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for("the pod object to be removed", removed, timeout=30)


def test_service_account_rbac_is_enforced(cluster: Cluster, namespace: str) -> None:
    code = (
        "from kubernetes import client, config\n"
        "config.load_incluster_config()\n"
        "try:\n"
        f"    client.CoreV1Api().list_namespaced_config_map({namespace!r}); print('ALLOWED')\n"
        "except client.exceptions.ApiException as e:\n"
        "    print('STATUS', e.status)\n"
    )
    for sa in ("reader", "nobody"):
        cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": sa}})
    rbac = __import__("kubernetes").client.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "cm"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "cm"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    for sa in ("reader", "nobody"):
        wait_for(f"ServiceAccount {sa}", lambda sa=sa: cluster.core.read_namespaced_service_account(sa, namespace))
        cluster.core.create_namespaced_pod(namespace, pod(sa, code, serviceAccountName=sa))
    for sa in ("reader", "nobody"):
        wait_for("pod to finish", lambda sa=sa: phase(cluster, namespace, sa))
    assert "ALLOWED" in cluster.kubectl("logs", "-n", namespace, "reader").stdout
    assert "STATUS 403" in cluster.kubectl("logs", "-n", namespace, "nobody").stdout


def test_restricted_namespace_rejects_a_privileged_pod(cluster: Cluster, namespace: str) -> None:
    cluster.core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    privileged = pod("priv", "print(1)")
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    with pytest.raises(ApiException) as info:
        cluster.core.create_namespaced_pod(namespace, privileged)
    assert info.value.status == 403 and "restricted" in str(info.value.body)


def test_a_crashed_pod_is_seen_as_killed(cluster: Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(namespace, pod("crash", "import time; print('up', flush=True); time.sleep(300)"))
    wait_for(
        "the pod to run",
        lambda: "up" in cluster.kubectl("logs", "-n", namespace, "crash", check=False).stdout,
    )
    cluster.crash_pod(namespace, "crash")
    assert wait_for("pod to fail", lambda: phase(cluster, namespace, "crash")) == "Failed"
    terminated = cluster.core.read_namespaced_pod("crash", namespace).status.container_statuses[0].state.terminated
    assert terminated.exit_code == 137


def _listening_ports(pids: set[int]) -> set[str]:
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    return {line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)}


def test_dev_up_and_down_leave_nothing_behind(tmp_path: Path) -> None:
    env = {**os.environ, "KWF_DEV_DATA_DIR": str(tmp_path / "dev")}
    up = subprocess.run([KWF, "dev", "up"], capture_output=True, text=True, env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("export KUBECONFIG=")
    again = subprocess.run([KWF, "dev", "up"], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and again.stdout == up.stdout  # idempotent
    from kube_workflows_devtools.controlplane import DevCluster

    state = DevCluster(tmp_path / "dev").load_state()
    assert state is not None and len(state.pids) == 5
    pids = set(state.pids.values())
    assert _listening_ports(pids)
    down = subprocess.run([KWF, "dev", "down"], capture_output=True, text=True, env=env, timeout=120)
    assert down.returncode == 0, down.stderr

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    time.sleep(0.5)
    assert not [p for p in pids if running(p)]
    assert not _listening_ports(pids)
    for port in (state.apiserver_port, state.etcd_port, state.node_port):
        assert not any(
            f":{port} " in line
            for line in subprocess.run(["ss", "-Htln"], capture_output=True, text=True).stdout.splitlines()
        )


def test_up_fails_clearly_when_a_component_cannot_start(tmp_path: Path) -> None:
    bad_bin = tmp_path / "bin"
    bad_bin.mkdir()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        (bad_bin / name).write_text("#!/bin/sh\necho 'cannot start: simulated failure' >&2\nexit 3\n")
        (bad_bin / name).chmod(0o755)
    result = subprocess.run(
        [KWF, "dev", "--data-dir", str(tmp_path / "d"), "up", "--bin-dir", str(bad_bin)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "etcd did not come up (exited with 3)" in result.stderr
    assert "simulated failure" in result.stderr  # the log tail is shown


def test_the_cluster_is_as_honest_as_production(cluster: Cluster, crd_installed: None, namespace: str) -> None:
    """etcd fsyncs every write, API Priority and Fairness is on, and the hardened admission plugins act:
    figures measured here are figures a real cluster would give."""
    import urllib.request

    from kube_workflows_devtools.controlplane import DevCluster

    assert cluster.data_dir is not None
    state = DevCluster(cluster.data_dir).load_state()
    assert state is not None

    def fsyncs() -> float:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{state.etcd_port}/metrics", timeout=10).read().decode()
        line = next(m for m in metrics.splitlines() if m.startswith("etcd_disk_wal_fsync_duration_seconds_count"))
        return float(line.split()[-1])

    before = fsyncs()
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "written"}})
    assert fsyncs() > before  # the write was fsynced

    flow_schemas = cluster.kubectl("get", "flowschemas", "-o", "name").stdout.split()
    assert "flowschema.flowcontrol.apiserver.k8s.io/global-default" in flow_schemas

    # OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs `update` on the owner's finalizers.
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "maker"}})
    cluster.kubectl(
        "create", "role", "maker", "-n", namespace, "--verb=create,get", "--resource=configmaps,workflowruns"
    )
    cluster.kubectl(
        "create", "rolebinding", "maker", "-n", namespace, "--role=maker", f"--serviceaccount={namespace}:maker"
    )
    cluster.apply(
        {
            "apiVersion": "kube-workflows.dev/v1alpha1",
            "kind": "WorkflowRun",
            "metadata": {"name": "owner"},
            "spec": {"workflow": "kwf_testflows.steps:StepChain", "image": "local", "suspend": True},
        },
        namespace,
    )
    uid = cluster.run(namespace, "owner")["metadata"]["uid"]
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [
                {
                    "apiVersion": "kube-workflows.dev/v1alpha1",
                    "kind": "WorkflowRun",
                    "name": "owner",
                    "uid": uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }
    import yaml

    refused = cluster.kubectl(
        "create",
        "-n",
        namespace,
        f"--as=system:serviceaccount:{namespace}:maker",
        "-f",
        "-",
        input=yaml.safe_dump(owned),
        check=False,
    )
    assert refused.returncode != 0 and "blockOwnerDeletion" in refused.stderr
