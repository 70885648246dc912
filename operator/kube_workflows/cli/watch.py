"""Following one WorkflowRun until it gets somewhere (`--wait`), printing its progress on stderr; and
`kwf watch RUN`, the same on stdout with the events the workflow streams."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kube_workflows.cli import render, stream
from kube_workflows.cli.api import (
    CONNECT_TIMEOUT,
    EXIT_CODES,
    FAILED,
    INTERRUPTED,
    OK,
    POLL_SECONDS,
    WAIT_TIMEOUT,
    CliError,
    Json,
    command,
    connection_reason,
    err,
    is_connection_error,
    namespace_flag,
    namespace_of,
    out,
    positive,
    read_run,
)

WATCH_WINDOW = 60  # seconds per watch request; the watch reconnects after each
GIVE_UP_AFTER = 60.0  # seconds of a lost API connection while waiting before exit code 3


class _WaitExpired(Exception):
    pass


class RunGone(Exception):
    """The run was deleted while we followed it."""


def finished(run: Json) -> bool:
    return (run.get("status") or {}).get("phase") in render.TERMINAL_PHASES


def wait_for_run(
    namespace: str,
    name: str,
    timeout: float | None,
    until: Callable[[Json], bool] = finished,
    since: Mapping[str, Any] | None = None,
    *,
    emit: Callable[[str], None] = err,
    events: bool = False,
) -> Json:
    """Print progress lines (stderr) until `until(run)` (default: the run finished); returns that object.

    Progress is what changed after status `since` (default: everything the run has done). A run that
    stops to wait for input is shown with its prompt and how to answer it; waiting goes on. `events`: the
    events the workflow streamed too, after the steps that published them.
    """
    deadline = time.monotonic() + timeout if timeout else None
    previous: Json = dict(since or {})
    after = int(((since or {}).get("stream") or {}).get("lastSequence") or 0)
    try:
        for run in run_versions(namespace, name, deadline):
            status = run.get("status") or {}
            for line in render.progress_lines(previous, status):
                emit(line)
            if events:
                missed, lines, after = stream.event_lines(status.get("stream"), after)
                for line in [missed, *lines] if missed else lines:
                    emit(f"  {line}")
            if render.wait_changed(previous, status):
                emit(f"  answer: {render.answer_hint(run)}")
            previous = status
            if until(run):
                return run
    except _WaitExpired:
        raise CliError(
            f"still {previous.get('phase') or 'Pending'} after --wait-timeout {timeout:g}s; "
            f"the run goes on (kwf get {name} -n {namespace})",
            WAIT_TIMEOUT,
        ) from None
    except RunGone:
        raise CliError(f"WorkflowRun {name} was deleted while waiting for it") from None
    except KeyboardInterrupt:
        raise CliError(f"stopped waiting; the run goes on (kwf get {name} -n {namespace})", INTERRUPTED) from None
    raise AssertionError("the run watch ended")  # pragma: no cover - run_versions never returns


def run_versions(namespace: str, name: str, deadline: float | None = None) -> Iterator[Json]:
    """Every new version of one WorkflowRun: a GET, then a watch (fieldSelector metadata.name) that
    reconnects from the last resourceVersion; re-reads after 410 Gone and connection losses; polls
    when watching is not allowed. Raises _WaitExpired at `deadline` and RunGone on deletion."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube
    from kube_workflows.models import GROUP, PLURAL, VERSION

    version: str | None = None
    can_watch = True
    failing_since: float | None = None
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            raise _WaitExpired
        try:
            if version is None or not can_watch:
                run = read_run(namespace, name)
                version = str(run["metadata"]["resourceVersion"])
                failing_since = None
                yield run
                if not can_watch:
                    time.sleep(POLL_SECONDS)
                continue
            left = WATCH_WINDOW if deadline is None else deadline - time.monotonic()
            window = max(1, min(WATCH_WINDOW, math.ceil(left)))
            events = watch.Watch().stream(  # type: ignore[no-untyped-call]
                kube.custom_objects().list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                field_selector=f"metadata.name={name}",
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=window,
                _request_timeout=(CONNECT_TIMEOUT, window + 15),
            )
            for event in events:
                obj = event.get("raw_object") or {}
                if event.get("type") == "DELETED":
                    raise RunGone
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    failing_since = None
                    yield obj
        except ApiException as exc:
            if exc.status == 410:  # our resourceVersion is too old: read the object again
                version = None
                continue
            if exc.status in (403, 405) and can_watch and version is not None:
                can_watch = False  # RBAC allows get but not watch
                continue
            if exc.status and exc.status not in (429, 500, 502, 503, 504):
                raise
            failing_since = _lost_connection(exc, failing_since)
            version = None
        except CliError:
            raise
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            failing_since = _lost_connection(exc, failing_since)
            version = None


def _lost_connection(exc: Exception, since: float | None) -> float:
    """Wait a little before the watch reconnects; re-raise once the API has been gone too long."""
    now = time.monotonic()
    if since is None:
        err(f"lost the connection to the API ({connection_reason(exc)}); reconnecting")
        since = now
    elif now - since > GIVE_UP_AFTER:
        raise exc
    time.sleep(POLL_SECONDS)
    return since


@command
def _watch(args: argparse.Namespace) -> int:
    namespace, name = namespace_of(args), args.run
    run = wait_for_run(namespace, name, args.wait_timeout, emit=out, events=True)
    if (run.get("status") or {}).get("phase") == "Succeeded":
        out(render.success_line(run))
        return OK
    for line in render.failure_lines(run):
        out(line)
    return FAILED


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    watch = sub.add_parser(
        "watch",
        help="follow a run on stdout: its steps, pods, waits and the events it streams, until it finishes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Events appear as the checkpoint of the step that streamed them lands (see kwf logs --help).\n\n"
        + EXIT_CODES,
    )
    watch.add_argument("run", metavar="RUN")
    namespace_flag(watch)
    watch.add_argument(
        "--wait-timeout", type=positive, metavar="S", help="give up after S seconds (exit 124); the run goes on"
    )
    watch.set_defaults(func=_watch)
