"""builders/storage.py and controller/storage.unserved: what the operator creates for a runner that may
create nothing itself, and when."""

from __future__ import annotations

from typing import Any

from kube_workflows.builders.storage import build_run_storage, wanted
from kube_workflows.checkpoint import offload
from kube_workflows.controller.storage import unserved


def run(**checkpoint: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ns", "uid": "uid-r"},
        "spec": {"workflow": "pkg.mod:Flow", "checkpoint": checkpoint},
        "status": {"runner": {"storageWanted": {"chunks": 2, "outputs": True, "askedAt": "t1"}}},
    }


def test_an_ask_for_n_chunks_creates_n_in_every_slot_and_the_outputs_object() -> None:
    objects = build_run_storage(run(), *wanted(run()))
    names = [o["metadata"]["name"] for o in objects]
    assert names == [f"r-ckpt-{slot}-{i}" for slot in "abc" for i in range(2)] + ["r-outputs"]
    assert {o["kind"] for o in objects} == {"ConfigMap"}
    for obj in objects:  # empty, writable by any attempt, and the run's own
        assert offload.written_by(obj) == 0
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-r"
        assert obj["metadata"]["ownerReferences"][0]["controller"] is True


def test_a_sensitive_run_gets_secrets_and_history_gets_its_ring() -> None:
    objects = build_run_storage(run(sensitive=True, history=2), 1, False)
    assert {o["kind"] for o in objects} == {"Secret"} and all(o["type"] == "Opaque" for o in objects)
    assert [o["metadata"]["name"] for o in objects] == [f"r-ckpt-{s}-0" for s in ("h0", "h1", "h2")]  # only its ring


def test_an_ask_never_gets_more_chunks_than_max_bytes_can_use() -> None:
    objects = build_run_storage(run(maxBytes=1 << 20), 10_000, False)
    assert len(objects) == 3 * offload.max_chunks(1 << 20) == 6


def test_each_ask_is_served_once_and_none_for_a_finished_run() -> None:
    status = run()["status"]
    assert unserved(status)
    assert not unserved({**status, "storage": {"askedAt": "t1"}})
    assert unserved({**status, "storage": {"askedAt": "t0"}})  # asked again since
    assert not unserved({**status, "phase": "Succeeded"})
    assert not unserved({})
