"""The Helm chart (charts/kube-workflows): lint and render, then install it on the real control plane.

The installed operator runs as a pod on the local node under the chart's ServiceAccount, so the
chart's RBAC is what lets it work. helm itself is built from source by hack/build-helm.sh (cached).
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import Cluster, wait_for, workflow_run

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kube-workflows"
RELEASE = "kwf-chart"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


@pytest.fixture(scope="module")
def helm() -> str:
    """The helm binary: built from source on a fresh machine, cached afterwards."""
    built = subprocess.run(["bash", str(REPO / "hack" / "build-helm.sh")], capture_output=True, text=True)
    assert built.returncode == 0, f"hack/build-helm.sh failed:\n{built.stderr[-3000:]}"
    return built.stdout.strip().splitlines()[-1]


def run_helm(helm: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([helm, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def render(helm: str, *values: str) -> list[dict[str, Any]]:
    out = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", "kwf-system", *values)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def component(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"]["labels"].get("app.kubernetes.io/component") == name]


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(component(docs, "operator"), "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


CONFIGURATIONS = {
    "defaults": [],
    "namespace-scoped": ["--set-json", 'watch.namespaces=["a","b"]'],
    "ha": ["--set", "replicaCount=2"],
    "metrics": ["--set", "metrics.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"],
    "serve": ["--set", "serve.enabled=true", "--set", "serve.namespace=team-a"],
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_lint_strict(helm: str, name: str) -> None:
    run_helm(helm, "lint", "--strict", str(CHART), *CONFIGURATIONS[name])


def test_defaults_watch_the_cluster_with_a_restricted_pod(helm: str) -> None:
    docs = render(helm)
    assert {d["kind"] for d in docs} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "ValidatingAdmissionPolicy",  # on by default: a run grants no more than its pod would
        "ValidatingAdmissionPolicyBinding",
    }
    assert not by_kind(render(helm, "--set", "policy.enabled=false"), "ValidatingAdmissionPolicy")
    container = operator_container(docs)
    assert container["command"] == ["kwf", "operator"]
    assert container["args"] == ["--liveness=http://0.0.0.0:8080/healthz"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KWF_RUNNER_IMAGE"] == container["image"] == "ghcr.io/kube-workflows/kube-workflows:0.1.0"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["runAsNonRoot"] and security["runAsUser"] == 65532
    assert security["capabilities"] == {"drop": ["ALL"]} and security["allowPrivilegeEscalation"] is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    (role,) = by_kind(docs, "ClusterRole")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "workflowruns" in resources and "namespaces" not in resources and "clusterkopfpeerings" not in resources
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE and labels["app.kubernetes.io/managed-by"] == "Helm"


def test_namespace_scoped_grants_the_operator_rules_only_in_the_watched_namespaces(helm: str) -> None:
    docs = render(helm, *CONFIGURATIONS["namespace-scoped"])
    assert [r["metadata"]["namespace"] for r in by_kind(docs, "Role")] == ["a", "b"]
    assert [r["metadata"]["namespace"] for r in by_kind(docs, "RoleBinding")] == ["a", "b"]
    (cluster_role,) = by_kind(docs, "ClusterRole")  # only kopf's startup scan, read-only
    assert all(set(rule["verbs"]) == {"list", "watch"} for rule in cluster_role["rules"])
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "namespaces",
        "customresourcedefinitions",
    }
    assert operator_container(docs)["args"][1:] == ["--namespace=a", "--namespace=b"]


def secret_rules(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for rule in role["rules"] if "secrets" in rule["resources"]]


def test_secret_rights_only_where_rbac_secret_namespaces_says(helm: str) -> None:
    # Cluster-wide by default: no Secret rights anywhere (sensitive runs fail StorageRefused).
    docs = render(helm)
    assert not secret_rules(by_kind(docs, "ClusterRole")[0]) and not by_kind(docs, "Role")
    everywhere = render(helm, "--set-json", 'rbac.secretNamespaces=["*"]')
    assert secret_rules(by_kind(everywhere, "ClusterRole")[0])[0]["verbs"] == ["get", "create", "update"]
    listed = render(helm, "--set-json", 'rbac.secretNamespaces=["team-a"]')
    assert not secret_rules(by_kind(listed, "ClusterRole")[0])
    (role,) = by_kind(listed, "Role")
    assert role["metadata"]["namespace"] == "team-a" and secret_rules(role) == role["rules"]
    (binding,) = by_kind(listed, "RoleBinding")
    assert binding["metadata"]["namespace"] == "team-a" and binding["roleRef"]["name"] == role["metadata"]["name"]
    # Namespace-scoped: the watched namespaces by default, or fewer.
    watched = render(helm, *CONFIGURATIONS["namespace-scoped"])
    assert all(secret_rules(r) for r in by_kind(watched, "Role"))
    fewer = render(helm, *CONFIGURATIONS["namespace-scoped"], "--set-json", 'rbac.secretNamespaces=["b"]')
    with_secrets = {r["metadata"]["namespace"]: bool(secret_rules(r)) for r in by_kind(fewer, "Role")}
    assert with_secrets == {"a": False, "b": True}
    for bad in ('rbac.secretNamespaces="all"', 'rbac.secretNamespaces=["Not_A_Namespace"]'):
        result = subprocess.run(
            [helm, "template", "x", str(CHART), "--set-json", bad], capture_output=True, text=True, check=False
        )
        assert result.returncode != 0 and "schema" in result.stderr, (bad, result.stderr)


def test_ha_peers_through_a_kopf_peering_object(helm: str) -> None:
    docs = render(helm, *CONFIGURATIONS["ha"])
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2 and "strategy" not in deployment["spec"]
    assert f"--peering={RELEASE}-kube-workflows" in operator_container(docs)["args"]
    (peering,) = by_kind(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == f"{RELEASE}-kube-workflows"
    peering_crds = (CHART / "crds" / "kopf-peering.yaml").read_text()
    assert "clusterkopfpeerings.kopf.dev" in peering_crds and "kopfpeerings.kopf.dev" in peering_crds
    single = by_kind(render(helm), "Deployment")[0]
    assert single["spec"]["strategy"] == {"type": "Recreate"}  # never two standalone operators at once
    # The replica holding the Lease runs the TTL and wait-timeout sweep: its own Lease, by name.
    (sweep_role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-sweep")]
    by_name = next(rule for rule in sweep_role["rules"] if rule.get("resourceNames"))
    assert by_name["resourceNames"] == [f"kube-workflows-sweep-{RELEASE}-kube-workflows"]
    env = {e["name"] for e in operator_container(docs)["env"]}
    assert "POD_NAMESPACE" in env
    assert not [r for r in by_kind(render(helm), "Role") if r["metadata"]["name"].endswith("-sweep")]


def test_metrics_service_and_service_monitor(helm: str) -> None:
    docs = render(helm, *CONFIGURATIONS["metrics"])
    assert "--metrics-port=9090" in operator_container(docs)["args"]
    (service,) = by_kind(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_serve_is_off_by_default_and_on_runs_with_a_role_in_one_namespace(helm: str) -> None:
    assert not component(render(helm), "serve")
    docs = render(helm, *CONFIGURATIONS["serve"])
    serve = component(docs, "serve")
    assert sorted(d["kind"] for d in serve) == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    (deployment,) = by_kind(serve, "Deployment")
    pod = deployment["spec"]["template"]
    # Its own selector: the operator's Deployment never adopts these pods, nor the other way round.
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "serve"
    (operator,) = by_kind(component(docs, "operator"), "Deployment")
    assert operator["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["kwf", "serve"]
    assert container["args"] == ["--namespace=team-a", "--host=0.0.0.0", "--port=8080"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["securityContext"]["readOnlyRootFilesystem"]
    (account,) = by_kind(serve, "ServiceAccount")
    assert (
        pod["spec"]["serviceAccountName"]
        == account["metadata"]["name"]
        != operator["spec"]["template"]["spec"]["serviceAccountName"]
    )
    (role,) = by_kind(serve, "Role")
    (binding,) = by_kind(serve, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "team-a"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "kwf-system"}
    ]
    # Exactly what the API needs, nothing the operator has: no delete, no secrets, no pods.
    assert {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]} == {
        ("workflowtemplates", "get"),
        ("workflowtemplates", "list"),
        *{("workflowruns", v) for v in ("create", "get", "list", "watch", "patch")},
    }
    (service,) = by_kind(serve, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    bad = ["--set", "serve.namespace=Not_A_Namespace"]
    result = subprocess.run([helm, "template", "x", str(CHART), *bad], capture_output=True, text=True)
    assert result.returncode != 0 and "schema" in result.stderr, result.stderr


def test_serve_runs_the_operators_image_or_one_with_the_workflows_code(helm: str) -> None:
    def serve_container(*values: str) -> dict[str, Any]:
        (deployment,) = by_kind(component(render(helm, *CONFIGURATIONS["serve"], *values), "serve"), "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return container  # type: ignore[no-any-return]

    (operator,) = by_kind(component(render(helm), "operator"), "Deployment")
    assert serve_container()["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    mine = serve_container("--set", "serve.image=registry.example.com/my-workflows:1.2.0")
    assert mine["image"] == "registry.example.com/my-workflows:1.2.0"
    assert "--no-import" not in mine["args"]
    assert serve_container("--set", "serve.importWorkflows=false")["args"][-1] == "--no-import"


def test_the_installs_checkpoint_store_reaches_the_operator_as_json(helm: str) -> None:
    store = {"postgres": {"dsnSecretRef": {"name": "kwf-postgres", "key": "dsn"}}}
    container = operator_container(render(helm, "--set-json", f"runner.checkpointStore={json.dumps(store)}"))
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["KWF_DEFAULT_CHECKPOINT_STORE"]) == store
    assert "KWF_DEFAULT_CHECKPOINT_STORE" not in {e["name"] for e in operator_container(render(helm))["env"]}
    bad = ["--set-json", 'runner.checkpointStore={"postgres": {"dsnSecretRef": {"name": "x"}}}']
    result = subprocess.run([helm, "template", "x", str(CHART), *bad], capture_output=True, text=True)
    assert result.returncode != 0 and "schema" in result.stderr, result.stderr


def test_schema_rejects_unknown_and_invalid_values(helm: str) -> None:
    for bad in (["--set", "replicas=2"], ["--set", "metrics.serviceMonitor.enabled=true"]):
        result = subprocess.run([helm, "template", "x", str(CHART), *bad], capture_output=True, text=True)
        assert result.returncode != 0 and "schema" in result.stderr, (bad, result.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_install_run_uninstall(cluster: Cluster, helm: str, solo_namespace: str) -> None:
    # solo_namespace pauses the session's host operator: here the chart's operator is alone.
    namespace = solo_namespace
    env = cluster.env()
    metrics_port = free_port()
    # Enforce the restricted Pod Security Standard: the operator pod and the runner pods must pass it.
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    run_helm(
        helm,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--set-json",
        f"watch.namespaces={json.dumps([namespace])}",
        # No Secret rights at all: plain runs need none, and a sensitive run fails clearly.
        "--set-json",
        "rbac.secretNamespaces=[]",
        "--set",
        "image.repository=local",
        "--set",
        "image.tag=test",
        # The local node runs pods as host processes, on the host's network: ports of their own.
        "--set",
        f"healthPort={free_port()}",
        "--set",
        "metrics.enabled=true",
        "--set",
        f"metrics.port={metrics_port}",
        "--wait",
        "--timeout",
        "120s",
        env=env,
    )
    deployment = f"{RELEASE}-kube-workflows"
    (pod,) = cluster.core.list_namespaced_pod(namespace, label_selector=INSTANCE).items
    assert pod.spec.service_account_name == deployment

    def operator_log() -> str:
        return cluster.kubectl("logs", "-n", namespace, f"deployment/{deployment}", check=False).stdout

    # RBAC: everything the operator needs here, nothing elsewhere.
    account = f"system:serviceaccount:{namespace}:{deployment}"
    for question, allowed in [
        (["create", "jobs", "-n", namespace], "yes"),
        (["patch", "workflowruns.kube-workflows.dev", "--subresource=status", "-n", namespace], "yes"),
        (["create", "jobs", "-n", "default"], "no"),
        (["list", "secrets", "-n", namespace], "no"),
        (["get", "secrets", "-n", namespace], "no"),
        (["create", "configmaps", "-n", namespace], "yes"),  # the runner's checkpoint chunks
        (["create", "configmaps", "-n", "default"], "no"),
        (["delete", "jobs", "-n", namespace], "yes"),  # spec.cancel, and a parked run's finished Job
        (["delete", "pods", "-n", namespace], "no"),
        (["watch", "pods", "-n", namespace], "yes"),  # failed runner pods (pod_loss)
        (["get", "pods", "-n", "default"], "no"),
        # Children block their run's deletion: OwnerReferencesPermissionEnforcement asks for this.
        (["update", "workflowruns.kube-workflows.dev", "--subresource=finalizers", "-n", namespace], "yes"),
    ]:
        answer = cluster.kubectl("auth", "can-i", *question, "--as", account, check=False)
        assert answer.stdout.strip() == allowed, (question, answer.stdout, answer.stderr)

    cluster.apply(workflow_run("chart-chain", "kwf_testflows.steps:StepChain", {"steps": 3}), namespace)
    try:
        done = cluster.wait_phase(namespace, "chart-chain", "Succeeded", "Failed", timeout=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{operator_log()[-4000:]}") from None
    assert done["status"]["phase"] == "Succeeded", done["status"].get("error")
    assert done["status"]["result"] == {"steps": 3, "total": 6}
    assert "Handler 'start_run' succeeded" in operator_log()  # the chart's operator did it
    assert "Forbidden" not in operator_log()
    vault = workflow_run("chart-vault", "kwf_testflows.steps:StepChain", {"steps": 1}, checkpoint={"sensitive": True})
    cluster.apply(vault, namespace)
    refused = cluster.wait_phase(namespace, "chart-vault", "Succeeded", "Failed", timeout=60)["status"]
    (succeeded,) = [c for c in refused.get("conditions") or [] if c["type"] == "Succeeded"]
    assert refused["phase"] == "Failed" and succeeded["reason"] == "StorageRefused", refused
    assert "rbac.secretNamespaces" in succeeded["message"]
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        assert 'kwf_runs_finished_total{phase="Succeeded"' in response.read().decode()
    cluster.kubectl("get", "service", "-n", namespace, f"{deployment}-metrics")

    run_helm(helm, "uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", "60s", env=env)

    def leftovers() -> list[str]:
        found = []
        for kind in ("deployments", "replicasets", "pods", "serviceaccounts", "roles", "rolebindings", "services"):
            out = cluster.kubectl("get", kind, "-n", namespace, "-l", INSTANCE, "-o", "name").stdout
            found += out.split()
        for kind in ("clusterroles", "clusterrolebindings", "clusterkopfpeerings.kopf.dev"):
            found += cluster.kubectl("get", kind, "-l", INSTANCE, "-o", "name").stdout.split()
        found += cluster.kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "name").stdout.split()
        return found

    try:
        wait_for("the release's objects to be gone", lambda: not leftovers(), timeout=60, interval=1)
    except AssertionError:
        assert leftovers() == []
    # Helm never deletes CRDs: WorkflowRuns outlive the release.
    cluster.kubectl("get", "crd", "workflowruns.kube-workflows.dev")
    assert cluster.run(namespace, "chart-chain")["status"]["phase"] == "Succeeded"
