"""The runner's only link to the API server: read its WorkflowRun, claim it, write status.

Writes retry with backoff through API-server outages (the checkpoint is the durable record, so
giving up early would throw work away); a 409/422 on a fenced write means a newer attempt owns
the run, and this pod must stop.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kube_workflows import kube
from kube_workflows.runner import patches

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
AUTH_STATUS = {401, 403}
AUTH_SETTLE_SECONDS = 60.0


class Superseded(Exception):
    """A newer runner attempt has claimed this run; this pod's writes are rejected."""


class ApiUnavailable(Exception):
    """The API server did not accept a write within the retry budget."""


class Reporter:
    def __init__(self, namespace: str, name: str, *, retry_budget_seconds: float = 300.0) -> None:
        self.namespace = namespace
        self.name = name
        self.retry_budget_seconds = retry_budget_seconds
        self._api = kube.custom_objects()

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        started = time.monotonic()
        deadline = started + self.retry_budget_seconds
        delay = 0.2
        while True:
            try:
                return call()
            except ApiException as exc:
                # Right after an API server restart, authorization answers 401/403 until its RBAC
                # caches have synced: worth a short wait, not a failed attempt.
                settling = exc.status in AUTH_STATUS and time.monotonic() - started < AUTH_SETTLE_SECONDS
                if exc.status not in RETRYABLE_STATUS and not settling:
                    raise
                problem = f"HTTP {exc.status}"
            except (HTTPError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise ApiUnavailable(f"{what} failed for {self.retry_budget_seconds:.0f}s: {problem}")
            log.warning("%s failed (%s); retrying in %.1fs", what, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0) * random.uniform(0.8, 1.2)

    def read(self, name: str | None = None) -> dict[str, Any]:
        target = name or self.name
        obj = self._with_retries(
            f"reading WorkflowRun {self.namespace}/{target}",
            lambda: self._api.get_namespaced_custom_object(namespace=self.namespace, name=target, **kube.WORKFLOWRUN),
        )
        assert isinstance(obj, dict)
        return obj

    def put_chunk(self, body: dict[str, Any]) -> None:
        """Create or replace one checkpoint chunk (a ConfigMap or Secret the run owns)."""
        core = kube.core()
        name, kind = body["metadata"]["name"], body["kind"]
        # The client accepts plain dicts for its model types.
        manifest: Any = body
        replace: Callable[..., Any] = (
            core.replace_namespaced_secret if kind == "Secret" else core.replace_namespaced_config_map
        )
        create: Callable[..., Any] = (
            core.create_namespaced_secret if kind == "Secret" else core.create_namespaced_config_map
        )

        def send() -> None:
            try:
                kube.discard(replace(name=name, namespace=self.namespace, body=manifest, _preload_content=False))
            except ApiException as exc:
                if exc.status != 404:
                    raise
                kube.discard(create(namespace=self.namespace, body=manifest, _preload_content=False))

        self._with_retries(f"writing checkpoint chunk {kind} {name}", send)

    def read_chunk(self, kind: str, name: str) -> str:
        from kube_workflows.checkpoint.offload import DATA_KEY

        core = kube.core()
        if kind == "Secret":
            secret = self._with_retries(f"reading {name}", lambda: core.read_namespaced_secret(name, self.namespace))
            return base64.b64decode((secret.data or {}).get(DATA_KEY, "")).decode()
        config_map = self._with_retries(
            f"reading {name}", lambda: core.read_namespaced_config_map(name, self.namespace)
        )
        return str((config_map.data or {}).get(DATA_KEY, ""))

    def claim(self, pod: str) -> tuple[dict[str, Any], int]:
        """Become the run's current attempt (compare-and-swap on resourceVersion). Returns (run, attempt)."""
        for _ in range(20):
            run = self.read()
            status = run.get("status") or {}
            attempt = int(status.get("attempt") or 0) + 1
            body = patches.claim_patch(run["metadata"]["resourceVersion"], attempt, pod, status)
            try:
                self._send_merge(body)
            except ApiException as exc:
                if exc.status == 409:  # the operator wrote status meanwhile: read again
                    continue
                raise
            run["status"] = {**status, **body["status"]}
            return run, attempt
        raise ApiUnavailable("could not claim the run: its status kept changing")

    def _send_merge(self, body: dict[str, Any]) -> None:
        self._with_retries(
            "claiming the run",
            lambda: kube.discard(
                self._api.patch_namespaced_custom_object_status(
                    namespace=self.namespace,
                    name=self.name,
                    body=body,
                    _preload_content=False,
                    _content_type="application/merge-patch+json",
                    **kube.WORKFLOWRUN,
                )
            ),
        )

    def write(self, what: str, patch: patches.JsonPatch) -> None:
        """Send a fenced JSON patch; raise Superseded when a newer attempt owns the run."""

        def send() -> None:
            # _preload_content=False: the response echoes the whole object (checkpoint included);
            # parsing it would cost more than the write.
            kube.discard(
                self._api.patch_namespaced_custom_object_status(
                    namespace=self.namespace,
                    name=self.name,
                    body=patch,
                    _preload_content=False,
                    _content_type="application/json-patch+json",
                    **kube.WORKFLOWRUN,
                )
            )

        try:
            self._with_retries(what, send)
        except ApiException as exc:
            # A failed JSON-patch `test` comes back as a bare 422; so does a patch the schema rejects.
            # Only the run's current attempt number tells them apart.
            fence = patch[0] if patch and patch[0].get("op") == "test" else None
            if exc.status == 422 and fence is not None:
                owner = (self.read().get("status") or {}).get("attempt")
                if owner != fence["value"]:
                    raise Superseded(f"{what} rejected: attempt {owner} now owns {self.namespace}/{self.name}") from exc
            raise
