"""`kwf serve`'s routes over an in-memory stand-in for its API calls (`server.kubeapi`): the HTTP codes,
bodies and stream framing the llama-agents client reads, and what each route writes to a run."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from kube_workflows.server import app, debugger, kubeapi

Json = dict[str, Any]


class FakeApi:
    def __init__(self) -> None:
        self.templates = ["chain"]
        self.workflows = {"chain": "kwf_testflows.streaming:StreamChain"}  # each template's spec.workflow
        self.runs: dict[str, Json] = {}
        self.versions: list[Json] = []  # what the watch will show next
        self.sent: list[Json] = []
        self.cancelled: list[str] = []

    def add(self, name: str, phase: str, **status: Any) -> Json:
        run = {
            "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"templateRef": {"name": "chain"}},
            "status": {"phase": phase, **status},
        }
        self.runs[name] = run
        return run

    def create_run(self, namespace: str, body: Json) -> Json:
        name = body["metadata"].get("name") or "chain-abcde"
        run = {**body, "metadata": {"name": name, "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z"}}
        self.runs[name] = run
        return run

    def stream_versions(self, namespace: str, name: str) -> Iterator[Json]:
        for version in self.versions:
            self.runs[name] = version
            yield version


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi()
    monkeypatch.setattr(kubeapi, "template_names", lambda ns: api.templates)
    monkeypatch.setattr(kubeapi, "template_exists", lambda ns, name: name in api.templates)
    monkeypatch.setattr(
        kubeapi,
        "template",
        lambda ns, name: {"spec": {"workflow": api.workflows[name]}} if name in api.templates else None,
    )
    monkeypatch.setattr(kubeapi, "runs", lambda ns: list(api.runs.values()))
    monkeypatch.setattr(kubeapi, "find_run", lambda ns, name: api.runs.get(name))
    monkeypatch.setattr(kubeapi, "create_run", api.create_run)
    monkeypatch.setattr(kubeapi, "append_event", lambda ns, name, entry: api.sent.append(entry))
    monkeypatch.setattr(kubeapi, "cancel", lambda ns, name: api.cancelled.append(name))
    monkeypatch.setattr(kubeapi, "versions", api.stream_versions)
    return api


@pytest.fixture
def http(fake: FakeApi) -> TestClient:
    return TestClient(app.build_app("team-a"))


def progress(sequence: int, msg: str) -> Json:
    return {"sequence": sequence, "type": "flows.ProgressEvent", "value": {"msg": msg}}


def stream(*events: Json) -> Json:
    return {"firstSequence": 1, "lastSequence": max(e["sequence"] for e in events), "events": list(events)}


def test_health_and_workflows(http: TestClient) -> None:
    assert http.get("/health").json() == {"status": "healthy"}
    assert http.get("/workflows").json() == {"workflows": ["chain"]}


def test_run_nowait_creates_a_run_of_the_template_with_the_start_events_fields(http: TestClient, fake: FakeApi) -> None:
    body = {"start_event": {"value": {"_data": {"steps": 2}}, "type": "StartEvent"}, "handler_id": "mine"}
    handler = http.post("/workflows/chain/run-nowait", json=body).json()
    assert (handler["handler_id"], handler["status"], handler["phase"]) == ("mine", "running", "Pending")
    assert fake.runs["mine"]["spec"] == {"templateRef": {"name": "chain"}, "input": {"steps": 2}}


def test_run_waits_for_the_outcome(http: TestClient, fake: FakeApi) -> None:
    running = {
        "metadata": {"name": "chain-abcde"},
        "spec": {"templateRef": {"name": "chain"}},
        "status": {"phase": "Running"},
    }
    done = {**running, "status": {"phase": "Succeeded", "result": {"steps": 1}}}
    fake.versions = [running, done]
    answer = http.post("/workflows/chain/run", json={"start_event": {"steps": 1}})
    assert answer.status_code == 200 and answer.json()["result"]["value"] == {"result": {"steps": 1}}
    fake.versions = [{**running, "status": {"phase": "Failed", "error": {"reason": "WorkflowRaised", "message": "no"}}}]
    failed = http.post("/workflows/chain/run", json={})
    assert failed.status_code == 500 and failed.json()["error"] == "WorkflowRaised: no"


def test_unknown_workflows_handlers_and_bad_bodies(http: TestClient) -> None:
    assert http.post("/workflows/nope/run-nowait", json={}).status_code == 404
    assert http.post("/workflows/chain/run-nowait", content=b"[1]").status_code == 400
    for path in ("/handlers/nope", "/results/nope", "/events/nope"):
        assert http.get(path).status_code == 404, path
    assert http.post("/events/nope", json={"event": {"value": {}}}).status_code == 404
    assert http.post("/handlers/nope/cancel").status_code == 404


def test_handlers_answer_with_upstreams_codes_and_filter(http: TestClient, fake: FakeApi) -> None:
    fake.add("a", "Waiting")
    fake.add("b", "Succeeded", result=7)
    fake.add("c", "Cancelled")
    assert [http.get(f"/handlers/{n}").status_code for n in "abc"] == [202, 200, 500]
    assert http.get("/results/b").json()["result"] == 7
    listed = http.get("/handlers", params={"status": ["running", "cancelled"]}).json()["handlers"]
    assert sorted(h["handler_id"] for h in listed) == ["a", "c"]
    assert http.get("/handlers", params={"workflow_name": "other"}).json() == {"handlers": []}


def test_events_stream_as_sse_from_after_sequence_then_live_until_the_end(http: TestClient, fake: FakeApi) -> None:
    first = fake.add("a", "Running", stream=stream(progress(1, "one"), progress(2, "two")))
    fake.versions = [
        {**first, "status": {"phase": "Succeeded", "result": "ok", "stream": stream(progress(3, "three"))}}
    ]
    with http.stream("GET", "/events/a", params={"after_sequence": "1"}) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())
    frames = [f for f in text.split("\n\n") if f]
    ids = [int(f.split("\n")[0].removeprefix("id: ")) for f in frames]
    payloads = [json.loads(f.split("\n")[1].removeprefix("data: ")) for f in frames]
    assert ids == [2, 3, 4]
    assert [p["type"] for p in payloads] == ["ProgressEvent", "ProgressEvent", "StopEvent"]
    assert payloads[-1]["value"] == {"result": "ok"}


def test_events_as_ndjson_and_nothing_left_is_204(http: TestClient, fake: FakeApi) -> None:
    fake.add("a", "Failed", stream=stream(progress(1, "one")))
    lines = http.get("/events/a", params={"sse": "false", "after_sequence": "-1"}).text.splitlines()
    assert [json.loads(line)["value"] for line in lines] == [{"msg": "one"}]
    assert http.get("/events/a", params={"after_sequence": "1"}).status_code == 204
    assert http.get("/events/a").status_code == 204  # default "now", and the run ended
    assert http.get("/events/a", params={"after_sequence": "soon"}).status_code == 400


def test_post_event_appends_an_answer_and_refuses_an_ended_run(http: TestClient, fake: FakeApi) -> None:
    fake.add("a", "Waiting", waiting={"expects": ["workflows.events.HumanResponseEvent"]})
    sent = http.post("/events/a", json={"event": {"value": {"response": "Ada"}, "type": "HumanResponseEvent"}})
    assert sent.json() == {"status": "sent"}
    assert fake.sent == [{"data": {"response": "Ada"}, "type": "workflows.events:HumanResponseEvent"}]
    assert http.post("/events/a", json={}).status_code == 400
    fake.add("b", "Succeeded")
    assert http.post("/events/b", json={"event": {"value": {}}}).status_code == 409


def test_cancel_sets_spec_cancel_and_refuses_purge(http: TestClient, fake: FakeApi) -> None:
    fake.add("a", "Running")
    assert http.post("/handlers/a/cancel").json() == {"status": "cancelled"}
    assert fake.cancelled == ["a"]
    refused = http.post("/handlers/a/cancel", params={"purge": "true"})
    assert refused.status_code == 400 and "purge is not supported" in refused.json()["detail"]
    assert fake.cancelled == ["a"]


def test_kwf_serve_is_a_command_and_says_which_extra_it_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kube_workflows.cli.main import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as without the `serve` extra
    assert main(["serve", "-n", "team-a", "--port", "1"]) == 1
    assert "pip install 'kube-workflows[serve]'" in capsys.readouterr().err


def test_a_workflows_schema_graph_and_events_come_from_its_code_when_importable(http: TestClient) -> None:
    schema = http.get("/workflows/chain/schema").json()
    assert (schema["start"]["title"], schema["stop"]["title"], schema["exact"]) == ("StartEvent", "StopEvent", True)
    graph = http.get("/workflows/chain/representation").json()["graph"]
    assert graph["name"] == "StreamChain"
    assert {"begin", "work", "answered"} <= {n["id"] for n in graph["nodes"] if n["node_type"] == "step"}
    events = [e["title"] for e in http.get("/workflows/chain/events").json()["events"]]
    assert {"Next", "HumanResponseEvent", "InputRequiredEvent"} <= set(events)


def test_a_workflow_the_server_cannot_import_is_described_generically_and_says_so(
    http: TestClient, fake: FakeApi
) -> None:
    fake.templates.append("elsewhere")
    fake.workflows["elsewhere"] = "team_a_flows.nowhere:Flow"  # its code is in its image only
    schema = http.get("/workflows/elsewhere/schema").json()
    assert (schema["start"]["title"], schema["exact"]) == ("StartEvent", False)
    graph = http.get("/workflows/elsewhere/representation").json()["graph"]
    assert graph["name"] == "Flow" and graph["nodes"] == [] and "not importable" in graph["description"]
    events = [e["title"] for e in http.get("/workflows/elsewhere/events").json()["events"]]
    assert events == ["StartEvent", "StopEvent", "InputRequiredEvent", "HumanResponseEvent"]
    for part in ("schema", "representation", "events"):
        assert http.get(f"/workflows/nope/{part}").status_code == 404


def test_no_import_describes_even_an_importable_workflow_generically(fake: FakeApi) -> None:
    http = TestClient(app.build_app("team-a", import_workflows=False))
    assert http.get("/workflows/chain/schema").json()["exact"] is False
    graph = http.get("/workflows/chain/representation").json()["graph"]
    assert graph["nodes"] == [] and "--no-import" in graph["description"]


def test_a_quiet_sse_stream_carries_heartbeats_and_ndjson_none(fake: FakeApi) -> None:
    fake.add("a", "Running", stream=stream(progress(1, "one")))
    ended = {**fake.runs["a"], "status": {"phase": "Succeeded", "result": 1, "stream": stream(progress(1, "one"))}}

    def slow_versions(namespace: str, name: str) -> Iterator[Json]:
        time.sleep(0.5)  # nothing happens to the run for a while
        fake.runs[name] = ended
        yield ended

    http = TestClient(app.build_app("team-a", sse_heartbeat=0.1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubeapi, "versions", slow_versions)
        text = http.get("/events/a", params={"after_sequence": "-1"}).text
        assert ": heartbeat\n\n" in text
        frames = [f for f in text.split("\n\n") if f.startswith("id: ")]
        assert [f.split("\n")[0] for f in frames] == ["id: 1", "id: 2"]  # the event, then the StopEvent
        fake.runs["a"] = {**ended, "status": {**ended["status"], "phase": "Running"}}
        ndjson = http.get("/events/a", params={"after_sequence": "-1", "sse": "false"}).text
        assert "heartbeat" not in ndjson and len(ndjson.splitlines()) == 2


def test_the_debugger_ui_is_served_at_the_root_from_the_package(http: TestClient) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="dist/app.js"' in page.text and 'href="dist/app.css"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "the page loads something from elsewhere"
    script = http.get("/dist/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert debugger.integrity(script.content) == debugger.manifest().files["dist/app.js"]
    assert http.get("/health").json() == {"status": "healthy"}  # the API's routes come first


def test_without_the_ui_files_the_root_says_how_to_install_them_and_the_api_works(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debugger, "problems", lambda: ["dist/app.js is missing"])
    http = TestClient(app.build_app("team-a"))
    page = http.get("/")
    assert page.status_code == 503
    assert "dist/app.js is missing" in page.text and "hack/fetch-debugger.py" in page.text
    assert http.get("/workflows").json() == {"workflows": ["chain"]}
