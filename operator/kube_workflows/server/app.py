"""The WorkflowServer routes the llama-agents client calls, as a Starlette app over `kubeapi`.

Handlers are thin: read or write through `kubeapi` in a worker thread (the Kubernetes client blocks),
shape the answer with `handlers`. The debugger UI's files are served at `/`, as upstream does (`debugger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kube_workflows import kube
from kube_workflows.server import debugger, handlers, introspection, kubeapi

Json = dict[str, Any]


def build_app(
    namespace: str, *, sse_heartbeat: float | None = handlers.SSE_HEARTBEAT_SECONDS, import_workflows: bool = True
) -> Starlette:
    """The API for one namespace: its WorkflowTemplates are the workflows, its WorkflowRuns the handlers;
    and the debugger UI at `/`. `import_workflows=False`: never import a template's workflow to describe it."""

    async def run_of(handler_id: str) -> Json:
        run = await run_in_threadpool(kubeapi.find_run, namespace, handler_id)
        if run is None:
            raise HTTPException(404, "Handler not found")
        return run

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    async def list_workflows(_: Request) -> JSONResponse:
        return JSONResponse({"workflows": await run_in_threadpool(kubeapi.template_names, namespace)})

    async def start(request: Request) -> Json:
        name = request.path_params["name"]
        try:
            body = await _json_body(request)
            manifest = handlers.run_manifest(name, handlers.start_input(body), body.get("handler_id"))
        except ValueError as exc:
            raise HTTPException(400, f"Validation error for 'start_event': {exc}") from None
        if not await run_in_threadpool(kubeapi.template_exists, namespace, name):
            raise HTTPException(404, "Workflow not found")
        return await run_in_threadpool(kubeapi.create_run, namespace, manifest)

    async def describe(request: Request) -> JSONResponse:
        """`/workflows/{name}/schema`, `/representation`, `/events`: see `introspection`."""
        name = request.path_params["name"]
        found = await run_in_threadpool(kubeapi.template, namespace, name)
        if found is None:
            raise HTTPException(404, f"Workflow '{name}' not found")
        ref = str((found.get("spec") or {}).get("workflow") or "")
        if import_workflows:
            description = await run_in_threadpool(introspection.describe, ref)
        else:
            description = introspection.generic_description(ref, "kwf serve --no-import: described generically")
        return JSONResponse(introspection.to_json(description, request.url.path.rpartition("/")[2]))

    async def run_nowait(request: Request) -> JSONResponse:
        return JSONResponse(handlers.handler_data(await start(request)))

    async def run_wait(request: Request) -> JSONResponse:
        created = await start(request)
        async for run in iterate_in_threadpool(kubeapi.versions(namespace, created["metadata"]["name"])):
            if handlers.finished(run):
                break
        data = handlers.handler_data(await run_of(created["metadata"]["name"]))
        return JSONResponse(data, status_code=200 if data["status"] == "completed" else 500)

    async def result(request: Request) -> JSONResponse:
        handler = handlers.handler_data(await run_of(request.path_params["handler_id"]))
        return JSONResponse(handlers.result_view(handler), status_code=handlers.http_status(handler))

    async def list_handlers(request: Request) -> JSONResponse:
        statuses, names = _list_param(request, "status"), _list_param(request, "workflow_name")
        found = [handlers.handler_data(r) for r in await run_in_threadpool(kubeapi.runs, namespace)]
        return JSONResponse({"handlers": [h for h in found if handlers.matches(h, statuses, names)]})

    async def get_handler(request: Request) -> JSONResponse:
        handler = handlers.handler_data(await run_of(request.path_params["handler_id"]))
        return JSONResponse(handler, status_code=handlers.http_status(handler))

    async def stream_events(request: Request) -> Response:
        run = await run_of(request.path_params["handler_id"])
        sse = request.query_params.get("sse", "true").lower() == "true"
        wanted = request.headers.get("last-event-id") if sse else None
        try:
            after = handlers.parse_after(wanted or request.query_params.get("after_sequence"), run)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if handlers.finished(run) and not handlers.new_events(run, after):
            return Response(status_code=204)
        lines = _event_lines(namespace, run, after, sse=sse)
        if sse and sse_heartbeat:
            lines = _with_heartbeats(lines, sse_heartbeat)
        return StreamingResponse(lines, media_type="text/event-stream" if sse else "application/x-ndjson")

    async def post_event(request: Request) -> JSONResponse:
        handler_id = request.path_params["handler_id"]
        run = await run_of(handler_id)
        if handlers.finished(run):
            raise HTTPException(409, "Workflow already completed")
        try:
            entry = handlers.answer_entry(await _json_body(request), run)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        await run_in_threadpool(kubeapi.append_event, namespace, handler_id, entry)
        return JSONResponse({"status": "sent"})

    async def cancel(request: Request) -> JSONResponse:
        handler_id = request.path_params["handler_id"]
        await run_of(handler_id)
        if request.query_params.get("purge", "false").lower() == "true":
            # Deleting is not among this server's rights (see the README): cancel, then delete with kubectl.
            raise HTTPException(400, f"purge is not supported: cancel, then kubectl delete wfr {handler_id}")
        await run_in_threadpool(kubeapi.cancel, namespace, handler_id)
        return JSONResponse({"status": "cancelled"})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/workflows", list_workflows, methods=["GET"]),
        Route("/workflows/{name}/run", run_wait, methods=["POST"]),
        Route("/workflows/{name}/run-nowait", run_nowait, methods=["POST"]),
        Route("/workflows/{name}/schema", describe, methods=["GET"]),
        Route("/workflows/{name}/representation", describe, methods=["GET"]),
        Route("/workflows/{name}/events", describe, methods=["GET"]),
        Route("/results/{handler_id}", result, methods=["GET"]),
        Route("/handlers", list_handlers, methods=["GET"]),
        Route("/handlers/{handler_id}", get_handler, methods=["GET"]),
        Route("/handlers/{handler_id}/cancel", cancel, methods=["POST"]),
        Route("/events/{handler_id}", stream_events, methods=["GET"]),
        Route("/events/{handler_id}", post_event, methods=["POST"]),
        _ui(),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error, ApiException: _api_error})


def _ui() -> Mount | Route:
    """The debugger's page and files at `/` (after the API routes, as upstream mounts them); without its
    files, `/` says how to install them and the API works on."""
    missing = debugger.problems()
    if not missing:
        return Mount("/", app=StaticFiles(directory=debugger.UI_DIR, html=True), name="ui")
    wanted = debugger.manifest()
    message = (
        f"The debugger UI ({wanted.package}@{wanted.version}) is not installed here: {'; '.join(missing)}. "
        "Install it with `python hack/fetch-debugger.py` (make venv) in a checkout, or use the kube-workflows image."
    )

    async def not_installed(_: Request) -> Response:
        return PlainTextResponse(message, status_code=503)

    return Route("/", not_installed, methods=["GET"])


async def _with_heartbeats(lines: AsyncIterator[str], every: float) -> AsyncIterator[str]:
    """`lines`, with an SSE comment (": heartbeat") whenever `every` seconds pass without one, as upstream
    sends: proxies that cut idle connections keep a quiet run's stream open."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def feed() -> None:
        async for line in lines:
            await queue.put(line)
        await queue.put(None)

    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            try:
                line = await asyncio.wait_for(queue.get(), timeout=every)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if line is None:
                break
            yield line
        await feeder  # its error, if any, is the stream's
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder


async def _event_lines(namespace: str, run: Json, after: int, *, sse: bool) -> AsyncIterator[str]:
    """The run's streamed events after `after`, then live ones as the watch sees them, until it finishes."""

    def lines(version: Json) -> list[str]:
        nonlocal after
        found = handlers.new_events(version, after)
        if found:
            after = found[-1][0]
        return [_frame(seq, env, sse=sse) for seq, env in found]

    for line in lines(run):
        yield line
    if handlers.finished(run):
        return
    async for version in iterate_in_threadpool(kubeapi.versions(namespace, run["metadata"]["name"])):
        for line in lines(version):
            yield line
        if handlers.finished(version):
            return


def _frame(sequence: int, envelope: Json, *, sse: bool) -> str:
    payload = json.dumps(envelope, separators=(",", ":"))
    return f"id: {sequence}\ndata: {payload}\n\n" if sse else f"{payload}\n"


async def _json_body(request: Request) -> Json:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _list_param(request: Request, name: str) -> list[str] | None:
    values = [v.strip() for v in request.query_params.getlist(name) if v.strip()]
    return values or None


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def _api_error(_: Request, exc: Exception) -> Response:
    """The API server's refusal, passed on: 403 names the verb the server's Role lacks, 409 a taken name."""
    assert isinstance(exc, ApiException)
    code = exc.status if exc.status and 400 <= exc.status < 600 else 502
    return JSONResponse({"detail": kube.api_message(exc)}, status_code=code)
