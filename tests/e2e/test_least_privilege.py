"""Each run's pod can read its own WorkflowRun and write its own status, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support import Cluster, OperatorProcess, workflow_run

GROUP, VERSION, PLURAL = "kube-workflows.dev", "v1alpha1", "workflowruns"


def runner_client(cluster: Cluster, namespace: str, service_account: str) -> client.ApiClient:
    """An API client holding a token of the run's ServiceAccount, as its pod gets one."""
    token = cluster.core.create_namespaced_service_account_token(
        service_account, namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    configuration = client.Configuration()
    configuration.host = cluster.api.configuration.host
    configuration.ssl_ca_cert = cluster.api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def status_code(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def test_runner_identity_is_confined_to_its_own_run(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    for name in ("mine", "theirs"):
        cluster.apply(workflow_run(name, "kwf_testflows.steps:StepChain", {"steps": 1}), namespace)
    for name in ("mine", "theirs"):
        cluster.wait_phase(namespace, name, "Succeeded")
    custom = client.CustomObjectsApi(runner_client(cluster, namespace, "mine-runner"))
    core = client.CoreV1Api(custom.api_client)
    noop = {"status": {}}

    def get(name: str) -> Callable[[], Any]:
        return lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def patch_status(name: str) -> Callable[[], Any]:
        return lambda: custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, noop)

    assert status_code(get("mine")) == 200
    assert status_code(patch_status("mine")) == 200
    assert status_code(get("theirs")) == 403
    assert status_code(patch_status("theirs")) == 403
    assert status_code(lambda: custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)) == 403
    assert (
        status_code(  # its own spec is the user's
            lambda: custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "mine", {"spec": {}})
        )
        == 403
    )
    assert status_code(lambda: core.list_namespaced_secret(namespace)) == 403
    assert status_code(lambda: core.list_namespaced_pod(namespace)) == 403


@pytest.mark.parametrize("level", ["restricted"])
def test_runner_pods_pass_pod_security_restricted(
    cluster: Cluster, operator: OperatorProcess, namespace: str, level: str
) -> None:
    cluster.core.patch_namespace(
        namespace,
        {
            "metadata": {
                "labels": {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/warn": level}
            }
        },
    )
    cluster.apply(workflow_run("secure", "kwf_testflows.steps:StepChain", {"steps": 2}), namespace)
    status = cluster.wait_phase(namespace, "secure", "Succeeded", "Failed")["status"]
    assert status["phase"] == "Succeeded", status
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].message}").stdout
    assert "violates PodSecurity" not in events
