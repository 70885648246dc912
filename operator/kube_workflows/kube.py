"""The one place that creates Kubernetes API clients."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from kubernetes import client, config

from kube_workflows.models import GROUP, PLURAL, VERSION


@functools.cache
def api_client() -> client.ApiClient:
    """In-cluster credentials in a pod, else $KUBECONFIG / ~/.kube/config."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        # Read $KUBECONFIG now: the client library captures it once, at import.
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    # One keep-alive pool sized for the operator's concurrent handlers.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def custom_objects() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def batch() -> client.BatchV1Api:
    return client.BatchV1Api(api_client())


def rbac() -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api_client())


WORKFLOWRUN: dict[str, Any] = {"group": GROUP, "version": VERSION, "plural": PLURAL}


def discard(response: Any) -> None:
    """Read an unparsed (`_preload_content=False`) response to its end and return its keep-alive
    connection to the pool: an unread one is dropped, and the next call pays a new TLS handshake."""
    response.drain_conn()
    response.release_conn()


def parsed(response: Any) -> dict[str, Any]:
    """An unparsed (`_preload_content=False`) response's JSON object, as the API sent it."""
    obj = json.loads(response.data)
    assert isinstance(obj, dict)
    return obj


def api_message(exc: Any) -> str:
    """The API server's own message of an ApiException (its Status body), else its code and reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or f"{exc.status} {exc.reason}".strip())
