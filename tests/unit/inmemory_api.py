"""An in-memory stand-in for the API server, for the runner's unit tests (the RunApi protocol).

It answers the way kube-apiserver does where the runner's correctness depends on it: every write
bumps resourceVersion; a merge patch or replace carrying a stale resourceVersion gets 409; a create of
an existing name gets 409; a JSON patch whose `test` fails (or that removes a missing path) gets 422.
It also plays the operator's part the runner depends on: it creates the chunk and outputs objects a
runner asks for in status.runner.storageWanted (the runner may create none itself).
"""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import jsonpatch

from kube_workflows.builders.storage import build_run_storage, wanted
from kube_workflows.controller.storage import unserved
from kube_workflows.restclient import ApiError


class InMemoryApi(dict[str, dict[str, Any]]):
    """WorkflowRuns by name (a dict, as tests read them) plus chunk objects by (kind, name)."""

    def __init__(self, runs: dict[str, dict[str, Any]] | None = None, **named: dict[str, Any]) -> None:
        super().__init__({**(runs or {}), **named})
        self.chunks: dict[tuple[str, str], dict[str, Any]] = {}
        self.patches: list[list[dict[str, Any]]] = []  # JSON patches applied to status
        # After this many applied status patches, another pod claims the run (its attempt goes up).
        self.supersede_after: int | None = None
        self.lost_responses = 0  # the next N status patches apply, but their caller sees a timeout
        self.write_delay = 0.0  # seconds each status write takes, as on a slow API server
        # A status patch whose JSON is over this many bytes is refused as the API server refuses an object
        # over its size limit: 413, or 422 "Too long" (too_large_status picks which).
        self.max_body_bytes: int | None = None
        self.too_large_status = 413
        self.refused_as_too_large = 0
        # The operator's part: serve storage asks (off: a runner waits, as with the operator down).
        self.serves_storage = True
        self.storage_asks = 0
        self._version = 100

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _run(self, name: str) -> dict[str, Any]:
        if name not in self:
            raise ApiError(status=404, reason=f"workflowruns {name} not found")
        run = self[name]
        run["metadata"].setdefault("resourceVersion", self._next_version())
        return run

    # --- RunApi ---------------------------------------------------------------------------
    def get_run(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._run(name))

    def patch_run_status(self, name: str, body: Any, content_type: str) -> None:
        time.sleep(self.write_delay)
        run = self._run(name)
        if self.max_body_bytes is not None and len(json.dumps(body)) > self.max_body_bytes:
            self.refused_as_too_large += 1
            if self.too_large_status == 413:
                raise ApiError(status=413, reason="Request Entity Too Large")
            exc = ApiError(status=422, reason="Unprocessable Entity")
            exc.body = json.dumps(
                {"message": f"WorkflowRun {name} is invalid: []: Too long: must have at most 8192 bytes"}
            )
            raise exc
        if content_type == "application/merge-patch+json":
            expected = (body.get("metadata") or {}).get("resourceVersion")
            if expected is not None and expected != run["metadata"]["resourceVersion"]:
                raise ApiError(status=409, reason="Conflict: the object has been modified")
            run.setdefault("status", {}).update(copy.deepcopy(body["status"]))
        else:
            if self.supersede_after is not None and len(self.patches) >= self.supersede_after:
                status = run.setdefault("status", {})
                status["attempt"] = int(status.get("attempt") or 0) + 1
                self.supersede_after = None
            try:
                self[name] = run = jsonpatch.apply_patch(run, body)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(status=422, reason=f"Unprocessable Entity: {exc}") from exc
            self.patches.append(body)
        run["metadata"]["resourceVersion"] = self._next_version()
        if self.serves_storage and unserved(run.get("status") or {}):
            self._serve_storage(run)
        if self.lost_responses:
            self.lost_responses -= 1
            raise ApiError(status=504, reason="Gateway Timeout (the write landed)")

    def get_chunk(self, kind: str, name: str) -> dict[str, Any] | None:
        obj = self.chunks.get((kind, name))
        return copy.deepcopy(obj) if obj is not None else None

    def _serve_storage(self, run: dict[str, Any]) -> None:
        """What controller/storage.serve does: create the missing objects, record the ask as served."""
        self.storage_asks += 1
        for obj in build_run_storage(run, *wanted(run)):
            if (obj["kind"], obj["metadata"]["name"]) not in self.chunks:
                self.create_chunk(obj)
        asked = run["status"]["runner"]["storageWanted"]
        run["status"]["storage"] = {**dict(zip(("chunks", "outputs"), wanted(run), strict=True)), **asked}

    # --- what only the operator (and tests) may do -------------------------------------------
    def create_chunk(self, body: dict[str, Any]) -> str:
        key = (body["kind"], body["metadata"]["name"])
        if key in self.chunks:
            raise ApiError(status=409, reason="AlreadyExists")
        return self._store(key, body)

    def replace_chunk(self, body: dict[str, Any]) -> str:
        key = (body["kind"], body["metadata"]["name"])
        current = self.chunks.get(key)
        if current is None:
            raise ApiError(status=404, reason="NotFound")
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(status=409, reason="Conflict: the object has been modified")
        return self._store(key, body)

    def _store(self, key: tuple[str, str], body: dict[str, Any]) -> str:
        obj = copy.deepcopy(body)
        if obj["kind"] == "Secret" and "stringData" in obj:  # as the API server stores it
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()}
        obj["metadata"]["resourceVersion"] = self._next_version()
        self.chunks[key] = obj
        return str(obj["metadata"]["resourceVersion"])
