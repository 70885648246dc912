"""`kwf logs`: the runner's log, across the pods that took over a run; `--events`: what the workflow
streamed (status.stream), followed through a watch on the run."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kube_workflows.cli import render, stream
from kube_workflows.cli.api import (
    CONNECT_TIMEOUT,
    EXIT_CODES,
    FAILED,
    OK,
    POLL_SECONDS,
    REQUEST_TIMEOUT,
    CliError,
    Json,
    api_message,
    command,
    err,
    namespace_flag,
    namespace_of,
    out,
    raw,
    read_run,
    runner_pods,
)

FOLLOW_READ_TIMEOUT = 300  # a followed log quiet this long reconnects


class _PodGone(Exception):
    pass


def _pod_name(pod: Json) -> str:
    return str(pod["metadata"]["name"])


def _phase(obj: Json) -> str:
    return str((obj.get("status") or {}).get("phase") or "unknown")


def _log_response(namespace: str, pod: str, *, follow: bool) -> Any:
    """The log stream of the runner container; None while the container has not started."""
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    timeout = (CONNECT_TIMEOUT, FOLLOW_READ_TIMEOUT) if follow else REQUEST_TIMEOUT
    try:
        return kube.core().read_namespaced_pod_log(
            pod,
            namespace,
            container="runner",
            follow=follow,
            _preload_content=False,
            _request_timeout=timeout,
        )
    except ApiException as exc:
        if exc.status == 400 and "waiting to start" in api_message(exc):
            return None
        if exc.status == 404:
            raise _PodGone from None
        raise


def _copy_log(namespace: str, pod: Json, *, follow: bool) -> bool:
    """Write the pod's runner log to stdout; False when the container never started.

    Following, a quiet log's read timeout or a dropped connection reconnects and skips the bytes
    already written (the log is served from its start again).
    """
    import urllib3

    name = _pod_name(pod)
    written = 0
    stdout = sys.stdout.buffer
    while True:
        try:
            response = _log_response(namespace, name, follow=follow)
        except _PodGone:
            if follow:  # deleted while we followed it: its replacement comes next
                return True
            raise CliError(f"pod {name} was deleted; its log is gone") from None
        if response is None:
            phase = ((_pod_or_none(namespace, name) or {}).get("status") or {}).get("phase")
            if not follow or phase in ("Succeeded", "Failed", None):
                return written > 0
            time.sleep(POLL_SECONDS / 2)
            continue
        skip = written
        try:
            while chunk := response.read1(64 * 1024):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if chunk:
                    stdout.write(chunk)
                    stdout.flush()
                    written += len(chunk)
            return True
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            if not follow:
                raise
        finally:
            response.release_conn()


def _pod_or_none(namespace: str, name: str) -> Json | None:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    try:
        return raw(kube.core().read_namespaced_pod, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _show_log(namespace: str, pod: Json, *, follow: bool) -> bool:
    if _copy_log(namespace, pod, follow=follow):
        return True
    err(f"pod {_pod_name(pod)}: the runner container has not started (pod phase {_phase(pod)}); no log yet")
    return False


@command
def _logs(args: argparse.Namespace) -> int:
    namespace, name = namespace_of(args), args.run
    if args.events:
        return _events(namespace, name, follow=args.follow)
    run = read_run(namespace, name)
    pods = runner_pods(namespace, name)
    if pods is None:
        raise CliError(f"not allowed to list pods in namespace {namespace}; the runner's log needs pods get/list")
    if not pods and not args.follow:
        raise CliError(
            f"WorkflowRun {name} has no runner pod yet (phase {_phase(run)}); `kwf logs -f {name}` waits for one"
        )
    shown = False
    if args.all_attempts:
        for index, pod in enumerate(pods, 1):
            out(render.log_header(pod, index, len(pods)))
            if not (args.follow and index == len(pods)):
                shown = _show_log(namespace, pod, follow=False) or shown
    if not args.follow:
        if not args.all_attempts:
            shown = _show_log(namespace, pods[-1], follow=False)
        return OK if shown else FAILED
    return _follow(namespace, name, pods, header=args.all_attempts)


def _follow(namespace: str, name: str, pods: list[Json], *, header: bool) -> int:
    """Follow the newest pod; when it ends before the run does, follow its replacement (a new pod after
    a lost one, or the next Job's once a run that waited for input is answered or resumed)."""
    shown = {_pod_name(p) for p in pods}  # older pods are done (or printed by --all-attempts)
    current = pods[-1] if pods else None
    parked = False
    while True:
        if current is not None:
            shown.add(_pod_name(current))
            _show_log(namespace, current, follow=True)
            current = None
        run = read_run(namespace, name)
        pods = runner_pods(namespace, name) or []
        newer = [p for p in pods if _pod_name(p) not in shown]
        if newer:
            current = newer[0]
            parked = False
            if header or shown:
                out(render.log_header(current, pods.index(current) + 1, len(pods)))
            continue
        phase = _phase(run)
        if phase in render.TERMINAL_PHASES:
            return OK
        if phase in render.PARKED_PHASES and not parked:  # no pod until someone acts: say so once
            parked = True
            err(f"{name} is {phase} and has no pod; following the next one (Ctrl-C stops)")
        time.sleep(POLL_SECONDS)


def _events(namespace: str, name: str, *, follow: bool) -> int:
    """Print the run's streamed events; following, each new version of the run prints the ones after the
    last printed (sequence numbers go on across pods), until the run finishes."""
    from kube_workflows.cli.watch import RunGone, finished, run_versions

    after = 0
    versions = run_versions(namespace, name) if follow else iter([read_run(namespace, name)])
    try:
        for run in versions:
            missed, lines, after = stream.event_lines((run.get("status") or {}).get("stream"), after)
            if missed:
                err(missed)
            for line in lines:
                out(line)
            if not follow or finished(run):
                break
    except RunGone:
        raise CliError(f"WorkflowRun {name} was deleted") from None
    return OK


EVENTS_HELP = """\
--events prints what the workflow wrote with ctx.write_event_to_stream (InputRequiredEvents included),
one line each: [sequence] time step EventClass field=value ... They are published with the checkpoint
of the step that wrote them, so they appear when that step completes, not mid-step, and a step that
runs again after a lost pod streams its events again: each is printed once, numbered 1, 2, ... across
pods. status.stream keeps the newest 100 events (32 KiB); an event over 4 KiB of JSON is kept without
its value. With -f, new events print as steps complete, until the run finishes.

"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser(
        "logs",
        help="the runner's log (newest pod; --all-attempts: every pod in order; --events: streamed events)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EVENTS_HELP + EXIT_CODES,
    )
    logs.add_argument("run", metavar="RUN")
    namespace_flag(logs)
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream the log, and the next pod's after a pod is lost or a waiting run goes on",
    )
    logs.add_argument("--all-attempts", action="store_true", help="each pod's log in creation order, with a header")
    logs.add_argument(
        "--events", action="store_true", help="the events the workflow streamed (status.stream) instead of the log"
    )
    logs.set_defaults(func=_logs)
