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


def test_a_runner_may_create_nothing_so_it_cannot_mint_a_token(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    """With create on Secrets a runner could make a service-account-token Secret for any account of the
    namespace and read that token back. It holds no create right at all: the operator made its chunks."""
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "powerful"}})
    big = {"size_mb": 1.5}
    checkpoint = {"sensitive": True, "inlineLimitBytes": 4096}
    for name in ("vault", "other"):
        cluster.apply(workflow_run(name, "kwf_testflows.big_state:BigState", big, checkpoint=checkpoint), namespace)
    for name in ("vault", "other"):
        status = cluster.wait_phase(namespace, name, "Succeeded", "Failed")["status"]
        assert status["phase"] == "Succeeded", status
        chunks = status["checkpoint"]["chunks"]
        assert status["checkpoint"]["storage"] == "Secret" and len(chunks) >= 2
        assert status["storage"]["chunks"] == len(chunks)  # made by the operator, on the runner's ask
    core = client.CoreV1Api(runner_client(cluster, namespace, "vault-runner"))
    token_secret = {
        "metadata": {"name": "vault-ckpt-z-0", "annotations": {"kubernetes.io/service-account.name": "powerful"}},
        "type": "kubernetes.io/service-account-token",
    }
    assert status_code(lambda: core.create_namespaced_secret(namespace, token_secret)) == 403
    assert status_code(lambda: core.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})) == 403
    request = {"spec": {"expirationSeconds": 600}}
    for account in ("powerful", "vault-runner"):
        assert status_code(lambda a=account: core.create_namespaced_service_account_token(a, namespace, request)) == 403
    # Its own chunk cannot become a token either: a Secret's type is immutable.
    own = core.read_namespaced_secret("vault-ckpt-a-0", namespace)
    own.type = "kubernetes.io/service-account-token"
    own.metadata.annotations = {**(own.metadata.annotations or {}), "kubernetes.io/service-account.name": "powerful"}
    assert status_code(lambda: core.replace_namespaced_secret("vault-ckpt-a-0", namespace, own)) == 422
    # Another run's chunks and outputs are out of reach.
    assert status_code(lambda: core.read_namespaced_secret("other-ckpt-a-0", namespace)) == 403
    assert status_code(lambda: core.read_namespaced_secret("other-outputs", namespace)) == 403
    # What the API server says it may do: no `create` on anything but the self-reviews every user has.
    review = client.AuthorizationV1Api(core.api_client).create_self_subject_rules_review(
        {"spec": {"namespace": namespace}}
    )
    creates = {res for r in review.status.resource_rules if {"create", "*"} & set(r.verbs) for res in r.resources}
    assert creates <= {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}, creates
