"""`kwf serve` driven by the real llama-agents client (0.4.1): list workflows, run one to its result, stream
events live and resume `after_sequence` across a SIGKILLed runner pod, answer an InputRequiredEvent,
cancel. The same test bodies run against llama-agents-server's own `WorkflowServer`, in-process, as the
reference: what passes there and here is the contract the client relies on."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from llama_agents.client import WorkflowClient
from llama_agents.server import WorkflowServer
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent

import serving
from support import Cluster, wait_for

WORKFLOW = "stream-chain"
STEPS, PER_STEP, HOLD_AT = 3, 2, 2
MESSAGES = [f"step {i} part {j}" for i in range(1, STEPS + 1) for j in range(1, PER_STEP + 1)]
TIMEOUT = 180


@dataclass
class Backend:
    client: WorkflowClient
    # Called while the run's step HOLD_AT holds: kills its pod on the cluster, nothing in-process.
    interrupt: Callable[[str], None]


@pytest.fixture
def kwf_serve(request: pytest.FixtureRequest) -> Iterator[Backend]:
    cluster: Cluster = request.getfixturevalue("cluster")
    request.getfixturevalue("operator")
    namespace: str = request.getfixturevalue("namespace")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    with serving.kwf_serve(cluster, namespace, tmp_path, {WORKFLOW: "kwf_testflows.streaming:StreamChain"}) as url:

        def kill_runner(handler_id: str) -> None:
            [pod] = cluster.runner_pods(namespace, handler_id)
            cluster.crash_pod(namespace, pod.metadata.name)

        yield Backend(WorkflowClient(base_url=url), kill_runner)


# One for the module: the workflows library's default runtime is process-wide, and a second server on a
# new event loop would run workflows on the runtime the first one left on its (closed) loop.
@pytest.fixture(scope="module")
def reference() -> Iterator[Backend]:
    from kwf_testflows.streaming import StreamChain

    server = WorkflowServer()
    server.add_workflow(WORKFLOW, StreamChain())
    port = serving.free_port()
    web = uvicorn.Server(uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning"))

    async def serve() -> None:
        async with server.contextmanager():
            await web.serve()

    # Upstream (llama-agents-server 0.8.0, workflows 2.26.1) holds a workflow that waits for input only
    # through reference cycles: a collection then destroys its pending tasks ("Task was destroyed but it
    # is pending!") and the answer reaches nothing. Seen under load; no cycle collection while it serves.
    gc.disable()
    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        serving.wait_healthy(f"http://127.0.0.1:{port}")
        yield Backend(WorkflowClient(base_url=f"http://127.0.0.1:{port}"), lambda _: None)
    finally:
        web.should_exit = True
        thread.join(timeout=30)
        gc.enable()


@pytest.fixture(params=["kwf-serve", "reference"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue("kwf_serve" if request.param == "kwf-serve" else "reference")  # type: ignore[no-any-return]


def start(**fields: Any) -> StartEvent:
    return StartEvent(**{"delay": 0.05, **fields})


async def test_lists_workflows_and_runs_one_to_its_result(backend: Backend) -> None:
    client = backend.client
    assert (await client.is_healthy()).status == "healthy"
    assert WORKFLOW in (await client.list_workflows()).workflows
    done = await asyncio.wait_for(client.run_workflow(WORKFLOW, start_event=start(steps=2, per_step=1)), TIMEOUT)
    assert done.status == "completed", done
    assert done.result is not None and done.result.type == "StopEvent"
    assert done.result.value["result"] == {"steps": 2}
    assert (await client.get_handler(done.handler_id)).status == "completed"
    listed = await client.get_handlers(status=["completed"], workflow_name=[WORKFLOW])
    assert done.handler_id in [h.handler_id for h in listed.handlers]
    assert not (await client.get_handlers(status=["failed"])).handlers


async def test_streams_events_live_and_resumes_after_sequence_across_an_interruption(
    backend: Backend, tmp_path: Path
) -> None:
    client = backend.client
    release, record = tmp_path / "release", tmp_path / "record"
    fields = {"steps": STEPS, "per_step": PER_STEP, "hold_at": HOLD_AT, "release": str(release), "record": str(record)}
    handler = await client.run_workflow_nowait(WORKFLOW, start_event=start(**fields))
    assert handler.status == "running"

    # Live: the first step's events, as they come; then the reader goes away.
    stream = client.get_workflow_events(handler.handler_id, after_sequence=-1)
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in stream:
            if event.type == "ProgressEvent":
                seen.append(event.value["msg"])
            if len(seen) == PER_STEP:
                break
    await stream.aclose()
    assert seen == MESSAGES[:PER_STEP]
    resume_at = stream.last_sequence
    assert isinstance(resume_at, int)

    # Step HOLD_AT has streamed and holds: kill its pod (on the cluster), then let it go on.
    def held() -> bool:  # "<step> <attempt>" lines ("-" in-process)
        return any(
            line.startswith(f"{HOLD_AT} ") for line in (record.read_text() if record.exists() else "").split("\n")
        )

    await asyncio.to_thread(wait_for, "the held step to stream", held, 120)
    backend.interrupt(handler.handler_id)
    release.touch()

    rest: list[tuple[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in client.get_workflow_events(handler.handler_id, after_sequence=resume_at):
            rest.append((event.type, event.value))
    progress = [value["msg"] for kind, value in rest if kind == "ProgressEvent"]
    assert progress == MESSAGES[PER_STEP:], rest  # none lost, none repeated
    assert rest[-1] == ("StopEvent", {"result": {"steps": STEPS}}), rest
    assert (await client.get_handler(handler.handler_id)).status == "completed"


async def test_answers_an_input_required_event(backend: Backend) -> None:
    client = backend.client
    handler = await client.run_workflow_nowait(WORKFLOW, start_event=start(steps=1, per_step=1, ask=True))
    async with asyncio.timeout(TIMEOUT):
        async for event in client.get_workflow_events(handler.handler_id, after_sequence=-1):
            if event.type == "InputRequiredEvent":
                # Loaded the client's way: the value may keep extra fields under `_data` (upstream) or not.
                asked = event.load_event()
                assert isinstance(asked, InputRequiredEvent) and asked.prefix == "your name?"
                break
    assert (await client.send_event(handler.handler_id, HumanResponseEvent(response="Ada"))).status == "sent"
    done = await client.wait_for_handler(handler.handler_id, timeout=TIMEOUT)
    assert done.status == "completed", done
    assert done.result is not None and done.result.value["result"] == {"name": "Ada"}


async def test_cancels_a_run(backend: Backend, tmp_path: Path) -> None:
    client = backend.client
    never = tmp_path / "never"
    handler = await client.run_workflow_nowait(WORKFLOW, start_event=start(hold_at=1, release=str(never)))
    assert (await client.cancel_handler(handler.handler_id)).status == "cancelled"

    # Upstream answers a cancelled handler with 500 (so wait_for_handler raises): look in the list instead.
    async def cancelled() -> bool:
        return handler.handler_id in [h.handler_id for h in (await client.get_handlers(status=["cancelled"])).handlers]

    async with asyncio.timeout(TIMEOUT):
        while not await cancelled():
            await asyncio.sleep(0.5)
    assert not never.exists()
    with pytest.raises(httpx.HTTPStatusError):
        await client.send_event(handler.handler_id, HumanResponseEvent(response="too late"))


def test_kwf_serve_reports_the_kubernetes_phase(kwf_serve: Backend) -> None:
    """The extra field the client ignores: a handler's Kubernetes phase."""
    url = kwf_serve.client.base_url
    body = {"start_event": {"steps": 1, "per_step": 1, "ask": True}}
    created = httpx.post(f"{url}/workflows/{WORKFLOW}/run-nowait", json=body, timeout=30).json()
    assert created["phase"] == "Pending" and created["status"] == "running"

    def waiting() -> dict[str, Any] | None:
        handler = httpx.get(f"{url}/handlers/{created['handler_id']}", timeout=30).json()
        return handler if handler["phase"] == "Waiting" else None

    assert wait_for("the run to wait for input", waiting, TIMEOUT)["status"] == "running"  # 202, for the client
    assert httpx.get(f"{url}/handlers/nope", timeout=30).status_code == 404
