"""`kwf submit|get|describe|logs`: WorkflowRuns from the command line.

Handlers are thin: they read from the API (clients come from `kube_workflows.kube`) and print what
the pure functions in `render` make of it. Errors go to stderr and end in one of `EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kube_workflows.cli import render

OK, FAILED, USAGE, UNREACHABLE, WAIT_TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 124, 130

EXIT_CODES = """\
exit codes of submit, get, describe and logs:
  0    done; with --wait: the run Succeeded
  1    the run Failed, the WorkflowRun (or its pod) does not exist, or the API refused the request
  2    usage or validation error (bad flags or spec; nothing was created)
  3    cannot reach the Kubernetes API (check KUBECONFIG; `kwf dev up` starts a local cluster)
  124  --wait-timeout passed before the run finished (the run goes on)
  130  interrupted (Ctrl-C); a submitted run goes on
"""

REQUEST_TIMEOUT = (10, 60)  # (connect, read) seconds for ordinary requests
CONNECT_TIMEOUT = 10
FOLLOW_READ_TIMEOUT = 300  # a followed log quiet this long reconnects
WATCH_WINDOW = 60  # seconds per watch request; the watch reconnects after each
GIVE_UP_AFTER = 60.0  # seconds of a lost API connection while waiting before exit code 3
POLL_SECONDS = 1.0
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HINT = "is KUBECONFIG set? (`kwf dev up` starts a local cluster)"

Handler = Callable[[argparse.Namespace], int]
Json = dict[str, Any]


class CliError(Exception):
    """A message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


class _WaitExpired(Exception):
    pass


class _RunGone(Exception):
    pass


class _PodGone(Exception):
    pass


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


# --- cluster access -----------------------------------------------------------------------
def default_namespace() -> str:
    """The namespace of the current kubeconfig context (in a pod: the pod's), else "default"."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and IN_CLUSTER_NAMESPACE.exists():
        return IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    from kubernetes import config

    try:
        _, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG")
        )
    except Exception:  # no or broken kubeconfig: the first API call says so
        return "default"
    namespace = ((current or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


def _namespace(args: argparse.Namespace) -> str:
    return str(args.namespace) if args.namespace else default_namespace()


def _api_host() -> str:
    from kube_workflows import kube

    try:
        return str(kube.api_client().configuration.host)
    except Exception:
        return "(unknown host)"


def _connection_reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = str(inner if isinstance(inner, BaseException | str) and str(inner) else exc)
    text = re.sub(r"<[^>]*>: ", "", text)  # urllib3 prefixes the connection object's repr
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        text = errno.group(1)
    text = text.replace("\n", ": ").strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _unreachable_message(exc: BaseException) -> str:
    return f"cannot reach the Kubernetes API at {_api_host()}: {_connection_reason(exc)}; {_HINT}"


def _is_connection_error(exc: BaseException) -> bool:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return not exc.status  # status 0: TLS and other transport errors
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError) and not isinstance(exc, BrokenPipeError)


def _api_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or f"{exc.status} {exc.reason}".strip())


def _command(handler: Handler) -> Handler:
    """Map what can go wrong to a message on stderr and an exit code (see EXIT_CODES)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config import ConfigException

        prefix = f"kwf {args.command}"
        try:
            return handler(args)
        except CliError as exc:
            _err(f"{prefix}: {exc}")
            return exc.code
        except ConfigException as exc:
            reason = str(exc).rstrip(".")
            _err(f"{prefix}: cannot reach the Kubernetes API: no usable client configuration ({reason}); {_HINT}")
            return UNREACHABLE
        except ApiException as exc:
            if _is_connection_error(exc):
                _err(f"{prefix}: {_unreachable_message(exc)}")
                return UNREACHABLE
            if exc.status == 401:
                _err(f"{prefix}: the Kubernetes API at {_api_host()} rejected the credentials (401); {_HINT}")
                return UNREACHABLE
            _err(f"{prefix}: {_api_message(exc)}")
            return USAGE if exc.status in (400, 422) else FAILED
        except BrokenPipeError:  # `kwf get | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return OK
        except KeyboardInterrupt:
            _err(f"{prefix}: interrupted")
            return INTERRUPTED
        except Exception as exc:
            if _is_connection_error(exc):
                _err(f"{prefix}: {_unreachable_message(exc)}")
                return UNREACHABLE
            raise

    return run


def _raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
    """Call the API and return the JSON it sent (plain camelCase dicts, no client models)."""
    response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    data = json.loads(response.data)
    assert isinstance(data, dict)
    return data


def _items_or_none(call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Json] | None:
    """A list's items; None when RBAC does not allow it (describe shows what it can)."""
    from kubernetes.client.exceptions import ApiException

    try:
        return list(_raw(call, *args, **kwargs).get("items") or [])
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise


def _not_found(exc: Any, namespace: str, name: str) -> CliError:
    try:
        details = (json.loads(exc.body or "{}") or {}).get("details") or {}
    except (TypeError, ValueError):
        details = {}
    if details.get("name") == name:
        return CliError(f'WorkflowRun "{name}" not found in namespace {namespace} (list them: kwf get -n {namespace})')
    return CliError(
        f"the WorkflowRun API is not installed in this cluster ({_api_message(exc)}); "
        "install the CRD: kwf crd | kubectl apply -f -"
    )


def _read_run(namespace: str, name: str) -> Json:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    try:
        return _raw(
            kube.custom_objects().get_namespaced_custom_object, namespace=namespace, name=name, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 404:
            raise _not_found(exc, namespace, name) from None
        raise


def _runner_pods(namespace: str, run: str) -> list[Json] | None:
    """The run's pods, oldest first (None when RBAC does not allow listing them)."""
    from kube_workflows import kube
    from kube_workflows.builders.names import RUN_LABEL, bounded_name

    pods = _items_or_none(kube.core().list_namespaced_pod, namespace, label_selector=f"{RUN_LABEL}={bounded_name(run)}")
    if pods is None:
        return None
    return sorted(
        pods, key=lambda p: (p.get("metadata", {}).get("creationTimestamp", ""), p.get("metadata", {}).get("name"))
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _print_objects(objects: list[Json], output: str, *, as_list: bool) -> None:
    import yaml

    value: Any = {"apiVersion": "v1", "kind": "List", "items": objects} if as_list else objects[0]
    if output == "json":
        _out(json.dumps(value, indent=2))
    else:
        _out(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))


# --- kwf submit ---------------------------------------------------------------------------
def build_run(args: argparse.Namespace) -> Json:
    """The WorkflowRun to create, validated locally; CliError(exit 2) names the bad field or flag."""
    from pydantic import ValidationError

    from kube_workflows.models import GROUP, KIND, VERSION, WorkflowRunSpec

    try:
        run_input = render.parse_input(args.input or [], args.input_json)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    spec: Json = {"workflow": args.workflow}
    if run_input:
        spec["input"] = run_input
    optional = {
        "image": args.image,
        "contextFrom": args.context_from,
        "timeoutSeconds": args.timeout,
        "stepTimeoutSeconds": args.step_timeout,
        "ttlSecondsAfterFinished": args.ttl,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    if args.max_restarts is not None:
        spec["retry"] = {"maxRestarts": args.max_restarts}
    try:
        WorkflowRunSpec.model_validate(spec)
    except ValidationError as exc:
        raise CliError(
            "invalid WorkflowRun:\n  " + "\n  ".join(render.spec_errors(exc.errors(), spec)), USAGE
        ) from None
    metadata: Json = {}
    if args.name:
        if len(args.name) > 253 or not _NAME.match(args.name):
            raise CliError(
                f'--name "{args.name}" is not a valid object name: lowercase letters, digits, "-" and ".", '
                "starting and ending with a letter or digit",
                USAGE,
            )
        metadata["name"] = args.name
    else:
        metadata["generateName"] = render.generate_name(args.workflow)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec}


@_command
def _submit(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    body = build_run(args)
    namespace = _namespace(args)
    try:
        created = _raw(
            kube.custom_objects().create_namespaced_custom_object, namespace=namespace, body=body, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 409:
            name = body["metadata"].get("name")
            raise CliError(
                f'WorkflowRun "{name}" already exists in namespace {namespace}; choose another --name '
                f"(or leave it out for a generated one), or delete it: kubectl delete wfr {name} -n {namespace}"
            ) from None
        if exc.status == 404:
            if f'namespaces "{namespace}" not found' in _api_message(exc):
                raise CliError(
                    f"namespace {namespace} does not exist; create it (kubectl create namespace {namespace}) "
                    "or pick another with -n"
                ) from None
            raise _not_found(exc, namespace, "") from None
        raise
    name = created["metadata"]["name"]
    created_line = f"{render.RESOURCE}/{name} created"
    if not args.wait:
        if args.output == "name":
            _out(f"{render.RESOURCE}/{name}")
        elif args.output in ("json", "yaml"):
            _print_objects([created], args.output, as_list=False)
        else:
            _out(created_line)
        return OK
    _err(f"{created_line} in namespace {namespace}; waiting for it to finish")
    run = wait_for_run(namespace, name, args.wait_timeout)
    status = run.get("status") or {}
    if args.output in ("json", "yaml"):
        _print_objects([run], args.output, as_list=False)
    if status.get("phase") != "Succeeded":
        for line in render.failure_lines(run):
            _err(line)
        _err(f"details: kwf describe {name} -n {namespace}; kwf logs {name} -n {namespace} --all-attempts")
        return FAILED
    _err(render.success_line(run))
    if args.output == "name":
        _out(f"{render.RESOURCE}/{name}")
    elif args.output is None:
        _out(json.dumps(status.get("result"), ensure_ascii=False))
    return OK


def wait_for_run(namespace: str, name: str, timeout: float | None) -> Json:
    """Print progress lines (stderr) until the run Succeeded or Failed; returns the final object."""
    deadline = time.monotonic() + timeout if timeout else None
    previous: Json = {}
    try:
        for run in _run_versions(namespace, name, deadline):
            status = run.get("status") or {}
            for line in render.progress_lines(previous, status):
                _err(line)
            previous = status
            if status.get("phase") in render.TERMINAL_PHASES:
                return run
    except _WaitExpired:
        raise CliError(
            f"still {previous.get('phase') or 'Pending'} after --wait-timeout {timeout:g}s; "
            f"the run goes on (kwf get {name} -n {namespace})",
            WAIT_TIMEOUT,
        ) from None
    except _RunGone:
        raise CliError(f"WorkflowRun {name} was deleted while waiting for it") from None
    except KeyboardInterrupt:
        raise CliError(f"stopped waiting; the run goes on (kwf get {name} -n {namespace})", INTERRUPTED) from None
    raise AssertionError("the run watch ended")  # pragma: no cover - _run_versions never returns


def _run_versions(namespace: str, name: str, deadline: float | None) -> Iterator[Json]:
    """Every new version of one WorkflowRun: a GET, then a watch (fieldSelector metadata.name) that
    reconnects from the last resourceVersion; re-reads after 410 Gone and connection losses; polls
    when watching is not allowed. Raises _WaitExpired at `deadline` and _RunGone on deletion."""
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
                run = _read_run(namespace, name)
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
                    raise _RunGone
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
            if not _is_connection_error(exc):
                raise
            failing_since = _lost_connection(exc, failing_since)
            version = None


def _lost_connection(exc: Exception, since: float | None) -> float:
    """Wait a little before the watch reconnects; re-raise once the API has been gone too long."""
    now = time.monotonic()
    if since is None:
        _err(f"lost the connection to the API ({_connection_reason(exc)}); reconnecting")
        since = now
    elif now - since > GIVE_UP_AFTER:
        raise exc
    time.sleep(POLL_SECONDS)
    return since


# --- kwf get / describe -------------------------------------------------------------------
@_command
def _get(args: argparse.Namespace) -> int:
    from kube_workflows import kube

    if args.run and args.all_namespaces:
        raise CliError("a run name needs one namespace: use -n NAMESPACE instead of -A", USAGE)
    namespace = None if args.all_namespaces else _namespace(args)
    api = kube.custom_objects()
    if args.run and namespace:
        runs = [_read_run(namespace, args.run)]
    elif namespace:
        runs = _raw(api.list_namespaced_custom_object, namespace=namespace, **kube.WORKFLOWRUN).get("items") or []
    else:
        runs = _raw(api.list_cluster_custom_object, **kube.WORKFLOWRUN).get("items") or []
    runs.sort(key=lambda r: (r.get("metadata", {}).get("namespace", ""), r.get("metadata", {}).get("name", "")))
    if args.output in ("json", "yaml"):
        _print_objects(runs, args.output, as_list=not args.run)
        return OK
    if not runs:
        _err("No WorkflowRuns found" + (f" in namespace {namespace}." if namespace else "."))
        return OK
    _out(render.runs_table(runs, _now(), wide=args.output == "wide", all_namespaces=args.all_namespaces))
    return OK


@_command
def _describe(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube
    from kube_workflows.builders.names import bounded_name

    namespace = _namespace(args)
    run = _read_run(namespace, args.run)
    job_name = (run.get("status") or {}).get("jobName") or bounded_name(args.run)
    job: Json | None = None
    try:
        job = _raw(kube.batch().read_namespaced_job, job_name, namespace)
    except ApiException as exc:
        if exc.status not in (403, 404):
            raise
    events = _items_or_none(
        kube.core().list_namespaced_event, namespace, field_selector=f"involvedObject.name={args.run}"
    )
    if events is not None and job_name != args.run:
        events += (
            _items_or_none(
                kube.core().list_namespaced_event, namespace, field_selector=f"involvedObject.name={job_name}"
            )
            or []
        )
    pods = _runner_pods(namespace, args.run)
    _out(render.describe(run, job=job, pods=pods, events=events, now=_now()))
    return OK


# --- kwf logs -----------------------------------------------------------------------------
def _pod_name(pod: Json) -> str:
    return str(pod["metadata"]["name"])


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
        if exc.status == 400 and "waiting to start" in _api_message(exc):
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
    out = sys.stdout.buffer
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
                    out.write(chunk)
                    out.flush()
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
        return _raw(kube.core().read_namespaced_pod, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _show_log(namespace: str, pod: Json, *, follow: bool) -> bool:
    if _copy_log(namespace, pod, follow=follow):
        return True
    _err(f"pod {_pod_name(pod)}: the runner container has not started (pod phase {_phase(pod)}); no log yet")
    return False


def _phase(obj: Json) -> str:
    return str((obj.get("status") or {}).get("phase") or "unknown")


@_command
def _logs(args: argparse.Namespace) -> int:
    namespace, name = _namespace(args), args.run
    run = _read_run(namespace, name)
    pods = _runner_pods(namespace, name)
    if pods is None:
        raise CliError(f"not allowed to list pods in namespace {namespace}; the runner's log needs pods get/list")
    if not pods and not args.follow:
        raise CliError(
            f"WorkflowRun {name} has no runner pod yet (phase {_phase(run)}); `kwf logs -f {name}` waits for one"
        )
    shown = False
    if args.all_attempts:
        for index, pod in enumerate(pods, 1):
            _out(render.log_header(pod, index, len(pods)))
            if not (args.follow and index == len(pods)):
                shown = _show_log(namespace, pod, follow=False) or shown
    if not args.follow:
        if not args.all_attempts:
            shown = _show_log(namespace, pods[-1], follow=False)
        return OK if shown else FAILED
    return _follow(namespace, name, pods, header=args.all_attempts)


def _follow(namespace: str, name: str, pods: list[Json], *, header: bool) -> int:
    """Follow the newest pod; when it ends before the run does, follow its replacement."""
    shown = {_pod_name(p) for p in pods}  # older pods are done (or printed by --all-attempts)
    current = pods[-1] if pods else None
    while True:
        if current is not None:
            shown.add(_pod_name(current))
            _show_log(namespace, current, follow=True)
            current = None
        run = _read_run(namespace, name)
        pods = _runner_pods(namespace, name) or []
        newer = [p for p in pods if _pod_name(p) not in shown]
        if newer:
            current = newer[0]
            if header or shown:
                _out(render.log_header(current, pods.index(current) + 1, len(pods)))
            continue
        if _phase(run) in render.TERMINAL_PHASES:
            return OK
        time.sleep(POLL_SECONDS)


# --- argparse -----------------------------------------------------------------------------
def _namespace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's namespace, else default)"
    )


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0 seconds")
    return number


def add_parsers(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register submit, get, describe and logs; put the exit codes in `kwf --help`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    fmt = argparse.RawDescriptionHelpFormatter

    submit = sub.add_parser(
        "submit",
        help="create a WorkflowRun (with --wait: follow it step by step and print its result)",
        formatter_class=fmt,
        epilog="examples:\n"
        "  kwf submit my_pkg.flows:DocumentPipeline --input documents=20 --wait\n"
        '  kwf submit my_pkg.flows:Flow --name second --context-from first --input-json \'{"topic": "x"}\'\n\n'
        "--input values are JSON when they parse as JSON (n=3 → 3, flag=true → true), else strings.\n"
        "With --wait, progress goes to stderr and the result (JSON) to stdout.\n\n" + EXIT_CODES,
    )
    submit.add_argument("workflow", metavar="MODULE:ATTR", help='spec.workflow, e.g. "my_pkg.flows:MyWorkflow"')
    submit.add_argument("--name", help="metadata.name (default: generated from the workflow's name)")
    _namespace_flag(submit)
    submit.add_argument(
        "--input", action="append", metavar="KEY=VALUE", help="one spec.input field (repeatable; JSON values)"
    )
    submit.add_argument("--input-json", metavar="JSON", help="spec.input as a JSON object (--input adds to it)")
    submit.add_argument("--image", help="spec.image (default: the operator's runner image)")
    submit.add_argument("--context-from", metavar="RUN", help="spec.contextFrom: continue a Succeeded run's Context")
    submit.add_argument("--timeout", type=int, metavar="S", help="spec.timeoutSeconds: wall-clock limit of the run")
    submit.add_argument("--step-timeout", type=float, metavar="S", help="spec.stepTimeoutSeconds")
    submit.add_argument("--max-restarts", type=int, metavar="N", help="spec.retry.maxRestarts (default 3)")
    submit.add_argument("--ttl", type=int, metavar="S", help="spec.ttlSecondsAfterFinished")
    submit.add_argument("--wait", action="store_true", help="follow the run until it Succeeded (0) or Failed (1)")
    submit.add_argument(
        "--wait-timeout", type=_positive, metavar="S", help="with --wait: give up waiting after S seconds (exit 124)"
    )
    submit.add_argument(
        "-o",
        "--output",
        choices=["name", "json", "yaml"],
        help="print the run's name or the object (with --wait: the finished object) instead of the default",
    )
    submit.set_defaults(func=_submit)

    get = sub.add_parser(
        "get",
        help="list WorkflowRuns, or show one",
        formatter_class=fmt,
        epilog="STEP is the step running now, else the last one completed; CHECKPOINT is status.checkpoint.seq.\n\n"
        + EXIT_CODES,
    )
    get.add_argument("run", nargs="?", metavar="RUN", help="a WorkflowRun name (default: all in the namespace)")
    _namespace_flag(get)
    get.add_argument("-A", "--all-namespaces", action="store_true", help="list WorkflowRuns in every namespace")
    get.add_argument("-o", "--output", choices=["wide", "json", "yaml"], help="wide adds WORKFLOW, ATTEMPT, RESULT")
    get.set_defaults(func=_get)

    describe = sub.add_parser(
        "describe",
        help="a WorkflowRun in detail: conditions, checkpoint, step timeline, result or error, pods, events",
        formatter_class=fmt,
        epilog=EXIT_CODES,
    )
    describe.add_argument("run", metavar="RUN")
    _namespace_flag(describe)
    describe.set_defaults(func=_describe)

    logs = sub.add_parser(
        "logs",
        help="the runner's log (newest pod; --all-attempts: every pod in order)",
        formatter_class=fmt,
        epilog=EXIT_CODES,
    )
    logs.add_argument("run", metavar="RUN")
    _namespace_flag(logs)
    logs.add_argument(
        "-f", "--follow", action="store_true", help="stream the log, and the replacement pod's after a pod is lost"
    )
    logs.add_argument("--all-attempts", action="store_true", help="each pod's log in creation order, with a header")
    logs.set_defaults(func=_logs)
