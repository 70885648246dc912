"""The runner's only link to the API server: read its WorkflowRun, claim it, write status and chunks.

Writes retry with backoff through API-server outages (the checkpoint is the durable record, so
giving up early would throw work away). Three fences keep a stale pod (one a newer attempt has
replaced) from changing anything:
- status writes are JSON patches that `test` the run's attempt number;
- each status write also tests and bumps the attempt's write counter (`status.runner.writes`), so a
  write retried after a lost response applies once, and the retry learns that it had landed;
- a checkpoint chunk is replaced only under its resourceVersion, and never when a newer attempt wrote
  it last (its `kube-workflows.dev/attempt` annotation): a stale pod cannot overwrite chunks that the
  run's current checkpoint points at.

The runner creates nothing. A chunk or outputs object that does not exist yet (or is not the run's
own) it asks the operator for in `status.runner.storageWanted`, and waits for (builders/storage.py).
"""

from __future__ import annotations

import base64
import functools
import http.client
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from kube_workflows import restclient
from kube_workflows.checkpoint import offload
from kube_workflows.models import GROUP, PLURAL, TERMINAL_PHASES, VERSION, Phase
from kube_workflows.restclient import ApiError
from kube_workflows.runner import patches

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
AUTH_STATUS = {401, 403}
AUTH_SETTLE_SECONDS = 60.0
# Concurrent writers of one chunk can make its compare-and-swap fail; more than this is a bug.
CHUNK_CAS_TRIES = 10
# How long the runner waits for the operator to create an object it asked for, and how often it asks
# again meanwhile: each ask is a status change the operator acts on, so an ask it could not serve
# (an API-server outage, a chunk of a deleted run of the same name not yet garbage-collected) is retried.
STORAGE_WAIT_SECONDS = 180.0
STORAGE_ASK_SECONDS = 10.0


class Superseded(Exception):
    """A newer runner attempt has claimed this run; this pod's writes are rejected."""


class NotClaimable(Exception):
    """The run must not run now (finished, cancelled or suspended); this pod leaves it alone."""


class ApiUnavailable(Exception):
    """The API server did not accept a write within the retry budget."""


class StatusTooLarge(Exception):
    """The API server refused a write as too large for one object: retrying cannot help."""


# What kube-apiserver and etcd say when an object or request is over their size limits (413 for the
# request body, 422 "Too long" from validation, 500 "request is too large" from etcd).
_TOO_LARGE_WORDS = ("too large", "too long")


def too_large(exc: ApiError) -> bool:
    """Whether `exc` refuses a write for its size (a failed JSON-patch `test` is also a 422, but not this)."""
    if exc.status == 413:
        return True
    if exc.status not in (422, 500):
        return False
    said = f"{exc.reason or ''} {exc.body or ''}".lower()
    return any(words in said for words in _TOO_LARGE_WORDS)


class RunApi(Protocol):
    """The API calls the runner makes. Errors are `ApiError`s with the real server's status codes:
    409 for a stale resourceVersion or an existing name, 422 for a failed JSON-patch `test`; a lost
    connection is an `OSError` or `http.client.HTTPException`."""

    def get_run(self, name: str) -> dict[str, Any]: ...

    def patch_run_status(self, name: str, body: Any, content_type: str) -> None: ...

    def get_chunk(self, kind: str, name: str) -> dict[str, Any] | None:
        """The chunk object as the API returns it, None when it does not exist."""
        ...

    def replace_chunk(self, body: dict[str, Any]) -> str:
        """Replace under body's metadata.resourceVersion; return the new one."""
        ...


class RestRunApi:
    """RunApi over `restclient`: the runner's default, which spares a starting pod the `kubernetes` imports."""

    def __init__(self, namespace: str, client: restclient.Client) -> None:
        self.namespace = namespace
        self._client = client
        ns = quote(namespace, safe="")
        self._runs = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}"
        self._core = f"/api/v1/namespaces/{ns}"

    def get_run(self, name: str) -> dict[str, Any]:
        obj = self._client.request("GET", f"{self._runs}/{quote(name, safe='')}")
        assert isinstance(obj, dict)
        return obj

    def patch_run_status(self, name: str, body: Any, content_type: str) -> None:
        self._client.request("PATCH", f"{self._runs}/{quote(name, safe='')}/status", body, content_type)

    def _chunk_path(self, kind: str, name: str) -> str:
        return f"{self._core}/{'secrets' if kind == 'Secret' else 'configmaps'}/{quote(name, safe='')}"

    def get_chunk(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            obj = self._client.request("GET", self._chunk_path(kind, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        assert isinstance(obj, dict)
        return obj

    def replace_chunk(self, body: dict[str, Any]) -> str:
        obj = self._client.request("PUT", self._chunk_path(body["kind"], body["metadata"]["name"]), body)
        return str(obj["metadata"]["resourceVersion"])


class KubeRunApi:
    """RunApi on the official Kubernetes client, for credentials `restclient` does not speak (an exec
    plugin, an auth provider). Its errors are translated to the ones `RestRunApi` raises."""

    def __init__(self, namespace: str) -> None:
        from kube_workflows import kube

        self.namespace = namespace
        self._kube = kube
        self._custom = kube.custom_objects()
        self._core = kube.core()

    def _call(self, call: Callable[[], T]) -> T:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return call()
        except ApiException as exc:
            raise ApiError(int(exc.status or 0), str(exc.reason or ""), exc.body) from exc
        except HTTPError as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    def get_run(self, name: str) -> dict[str, Any]:
        get = self._custom.get_namespaced_custom_object
        obj = self._call(lambda: get(namespace=self.namespace, name=name, **self._kube.WORKFLOWRUN))
        assert isinstance(obj, dict)
        return obj

    def patch_run_status(self, name: str, body: Any, content_type: str) -> None:
        # Unparsed: a status write echoes the whole object, checkpoint included.
        patch = functools.partial(
            self._custom.patch_namespaced_custom_object_status,
            namespace=self.namespace,
            name=name,
            body=body,
            _preload_content=False,
            _content_type=content_type,
            **self._kube.WORKFLOWRUN,
        )
        self._call(lambda: self._kube.discard(patch()))

    def get_chunk(self, kind: str, name: str) -> dict[str, Any] | None:
        read = self._core.read_namespaced_secret if kind == "Secret" else self._core.read_namespaced_config_map
        try:
            obj: dict[str, Any] = self._call(
                lambda: self._kube.parsed(read(name, self.namespace, _preload_content=False))
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def replace_chunk(self, body: dict[str, Any]) -> str:
        replace: Callable[..., Any] = (
            self._core.replace_namespaced_secret
            if body["kind"] == "Secret"
            else self._core.replace_namespaced_config_map
        )
        name = body["metadata"]["name"]
        response = self._call(lambda: replace(name=name, namespace=self.namespace, body=body, _preload_content=False))
        return str(self._kube.parsed(response)["metadata"]["resourceVersion"])


def run_api(namespace: str) -> RunApi:
    """The runner's API: `restclient` where it speaks the credentials (a pod's service account always),
    else the official client."""
    endpoint = restclient.from_environment()
    if endpoint is None:
        return KubeRunApi(namespace)
    return RestRunApi(namespace, _client(endpoint))


@functools.cache
def _client(endpoint: restclient.Endpoint) -> restclient.Client:
    return restclient.Client(endpoint)  # one keep-alive pool per process, as kube.api_client


def chunk_payload(obj: dict[str, Any]) -> str:
    """The checkpoint text a chunk object holds (Secrets come back base64-encoded)."""
    value = (obj.get("data") or {}).get(offload.DATA_KEY, "")
    return base64.b64decode(value).decode() if obj.get("kind") == "Secret" else str(value)


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """Whether the run with `uid` owns `obj` (else the name is taken by someone else's object)."""
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def claim_refusal(run: dict[str, Any]) -> str | None:
    """Why a pod must not claim the run now, or None: a late pod of a deleted or suspended Job."""
    spec, phase = run.get("spec") or {}, (run.get("status") or {}).get("phase")
    if phase in TERMINAL_PHASES:
        return f"the run is {phase}"
    if spec.get("cancel"):
        return "the run is cancelled (spec.cancel)"
    if spec.get("suspend"):
        return "the run is suspended (spec.suspend)"
    return None


class Reporter:
    def __init__(
        self, namespace: str, name: str, *, api: RunApi | None = None, retry_budget_seconds: float = 300.0
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.retry_budget_seconds = retry_budget_seconds
        self.api: RunApi = api or run_api(namespace)
        self.attempt = 0
        # Status writes this attempt has made (the claim sets status.runner.writes to 0).
        self.writes = 0
        # resourceVersions of the chunks this attempt wrote last: the precondition of its next write.
        self._chunk_versions: dict[tuple[str, str], str] = {}
        # What this attempt asked the operator for (status.runner.storageWanted): asks only grow.
        self._wanted_chunks, self._wanted_outputs = 0, False

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        started = time.monotonic()
        deadline = started + self.retry_budget_seconds
        delay = 0.2
        while True:
            try:
                return call()
            except ApiError as exc:
                if too_large(exc):
                    raise StatusTooLarge(
                        f"{what} was refused as too large (HTTP {exc.status}: {exc.reason}); lower "
                        "spec.checkpoint.inlineLimitBytes or spec.resultLimitBytes, or keep less in ctx.store"
                    ) from exc
                # Right after an API server restart, authorization answers 401/403 until its RBAC
                # caches have synced: worth a short wait, not a failed attempt.
                settling = exc.status in AUTH_STATUS and time.monotonic() - started < AUTH_SETTLE_SECONDS
                if exc.status not in RETRYABLE_STATUS and not settling:
                    raise
                problem = f"HTTP {exc.status}"
            except (http.client.HTTPException, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise ApiUnavailable(f"{what} failed for {self.retry_budget_seconds:.0f}s: {problem}")
            log.warning("%s failed (%s); retrying in %.1fs", what, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0) * random.uniform(0.8, 1.2)

    def read(self, name: str | None = None) -> dict[str, Any]:
        target = name or self.name
        return self._with_retries(f"reading WorkflowRun {self.namespace}/{target}", lambda: self.api.get_run(target))

    def put_chunk(self, body: dict[str, Any], *, chunks: int = 0, outputs: bool = False) -> None:
        """Write one checkpoint chunk or the outputs object (a ConfigMap or Secret the run owns), fenced
        by attempt. `chunks`/`outputs`: what to ask the operator for should the object not exist yet."""
        kind, name = body["kind"], body["metadata"]["name"]
        key = (kind, name)
        owner_uid = body["metadata"]["ownerReferences"][0]["uid"]

        def send() -> None:
            for _ in range(CHUNK_CAS_TRIES):
                version = self._chunk_versions.get(key)
                if version is None:
                    current = self._provided(kind, name, owner_uid, chunks, outputs)
                    writer = offload.written_by(current)
                    if writer > self.attempt:
                        raise Superseded(
                            f"chunk {name} was written by attempt {writer}; this is attempt {self.attempt}"
                        )
                    version = str(current["metadata"]["resourceVersion"])
                fenced = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
                try:
                    self._chunk_versions[key] = self.api.replace_chunk(fenced)
                    return
                except ApiError as exc:
                    if exc.status not in (404, 409):
                        raise
                    self._chunk_versions.pop(key, None)  # someone else wrote (or removed) it: read again
            raise ApiUnavailable(f"chunk {name} kept changing under {CHUNK_CAS_TRIES} writes")

        self._with_retries(f"writing checkpoint chunk {kind} {name}", send)

    def _provided(self, kind: str, name: str, owner_uid: str, chunks: int, outputs: bool) -> dict[str, Any]:
        """The run's own object `name`, once the operator has created it (asked for and waited on)."""
        deadline = time.monotonic() + STORAGE_WAIT_SECONDS
        asked_at: float | None = None
        delay = 0.05
        while True:
            current = self.api.get_chunk(kind, name)
            if current is not None and owned_by(current, owner_uid):
                return current
            now = time.monotonic()
            if now > deadline:
                raise ApiUnavailable(
                    f"{kind} {name}: the operator did not create it within {STORAGE_WAIT_SECONDS:.0f}s of the ask "
                    "in status.runner.storageWanted (is the operator running? its Events on the run say more)"
                )
            if asked_at is None or now - asked_at >= STORAGE_ASK_SECONDS:
                if not outputs:  # at least up to this chunk
                    chunks = max(chunks, offload.chunk_index(name) + 1)
                self._wanted_chunks = max(self._wanted_chunks, chunks)
                self._wanted_outputs = self._wanted_outputs or outputs
                patch = patches.storage_patch(self.attempt, self._wanted_chunks, self._wanted_outputs)
                self.write(f"asking the operator for {kind} {name}", patch)
                asked_at = now
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def read_chunk(self, kind: str, name: str) -> str:
        """The payload of chunk `name`; ApiError 404 when it is missing."""
        obj = self._with_retries(f"reading {kind} {name}", lambda: self.api.get_chunk(kind, name))
        if obj is None:
            raise ApiError(status=404, reason=f"{kind} {name} not found")
        return chunk_payload(obj)

    def claim(self, pod: str) -> tuple[dict[str, Any], int]:
        """Become the run's current attempt (compare-and-swap on resourceVersion). Returns (run, attempt).

        Raises NotClaimable for a run that must not run now, which a late pod finds."""
        for _ in range(20):
            run = self.read()
            refusal = claim_refusal(run)
            if refusal and (run.get("status") or {}).get("phase") != Phase.SUCCEEDED:
                raise NotClaimable(refusal)
            status = run.get("status") or {}
            if (status.get("checkpoint") or {}).get("final"):
                return run, int(status.get("attempt") or 0)  # finished: nothing to claim
            attempt = int(status.get("attempt") or 0) + 1
            body = patches.claim_patch(run["metadata"]["resourceVersion"], attempt, pod, status)
            try:
                self._with_retries("claiming the run", lambda b=body: self._send_merge(b))  # type: ignore[misc]
            except ApiError as exc:
                if exc.status == 409:  # someone wrote the run meanwhile: read again
                    continue
                raise
            run["status"] = {**status, **body["status"]}
            self.attempt, self.writes = attempt, 0
            self._chunk_versions.clear()
            self._wanted_chunks, self._wanted_outputs = 0, False
            return run, attempt
        raise ApiUnavailable("could not claim the run: its status kept changing")

    def _send_merge(self, body: dict[str, Any]) -> None:
        self.api.patch_run_status(self.name, body, "application/merge-patch+json")

    def write(self, what: str, patch: patches.JsonPatch) -> None:
        """Send a fenced JSON patch once; raise Superseded when a newer attempt owns the run."""
        guarded = patches.guarded(patch, self.writes)
        try:
            self._with_retries(
                what, lambda: self.api.patch_run_status(self.name, guarded, "application/json-patch+json")
            )
        except ApiError as exc:
            # A failed `test` comes back as a bare 422, as does a patch the schema rejects: the run's
            # attempt and write counter tell a newer owner, a retry of a write that landed, and a bug apart.
            if exc.status != 422:
                raise
            status = self.read().get("status") or {}
            if status.get("attempt") != self.attempt:
                raise Superseded(
                    f"{what} rejected: attempt {status.get('attempt')} now owns {self.namespace}/{self.name}"
                ) from exc
            if (status.get("runner") or {}).get("writes") != self.writes + 1:
                raise
            log.info("%s: an earlier try of this write had landed", what)
        self.writes += 1
