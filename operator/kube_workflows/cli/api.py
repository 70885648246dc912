"""The Kubernetes API as the kwf run commands use it: plain JSON in and out, and everything that can go
wrong mapped to one line on stderr and an exit code (`EXIT_CODES`).

Clients come from `kube_workflows.kube`; nothing else under `cli/` calls the API directly.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OK, FAILED, USAGE, UNREACHABLE, WAIT_TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 124, 130

EXIT_CODES = """\
exit codes of the run commands (submit, get, describe, logs, send-event, suspend, resume, cancel, fork):
  0    done; with --wait: the run Succeeded (send-event: the run took the event)
  1    the run Failed or was Cancelled, the WorkflowRun (or its pod) does not exist, the run has
       finished and cannot take the change, or the API refused the request
  2    usage or validation error (bad flags or spec; nothing was created or changed)
  3    cannot reach the Kubernetes API (check KUBECONFIG; `kwf dev up` starts a local cluster)
  124  --wait-timeout passed before the run got there (the run goes on)
  130  interrupted (Ctrl-C); a submitted run goes on
"""

REQUEST_TIMEOUT = (10, 60)  # (connect, read) seconds for ordinary requests
CONNECT_TIMEOUT = 10
POLL_SECONDS = 1.0
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_HINT = "is KUBECONFIG set? (`kwf dev up` starts a local cluster)"

Handler = Callable[[argparse.Namespace], int]
Json = dict[str, Any]


class CliError(Exception):
    """A message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def now() -> datetime:
    return datetime.now(UTC)


# --- where -----------------------------------------------------------------------------------
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


def namespace_of(args: argparse.Namespace) -> str:
    return str(args.namespace) if args.namespace else default_namespace()


# --- what went wrong -------------------------------------------------------------------------
def _api_host() -> str:
    from kube_workflows import kube

    try:
        return str(kube.api_client().configuration.host)
    except Exception:
        return "(unknown host)"


def connection_reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = str(inner if isinstance(inner, BaseException | str) and str(inner) else exc)
    text = re.sub(r"<[^>]*>: ", "", text)  # urllib3 prefixes the connection object's repr
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        text = errno.group(1)
    text = text.replace("\n", ": ").strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _unreachable_message(exc: BaseException) -> str:
    return f"cannot reach the Kubernetes API at {_api_host()}: {connection_reason(exc)}; {_HINT}"


def is_connection_error(exc: BaseException) -> bool:
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return not exc.status  # status 0: TLS and other transport errors
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError) and not isinstance(exc, BrokenPipeError)


def api_message(exc: Any) -> str:
    from kube_workflows import kube

    return kube.api_message(exc)


def command(handler: Handler) -> Handler:
    """Map what can go wrong to a message on stderr and an exit code (see EXIT_CODES)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config import ConfigException

        prefix = f"kwf {args.command}"
        try:
            return handler(args)
        except CliError as exc:
            err(f"{prefix}: {exc}")
            return exc.code
        except ConfigException as exc:
            reason = str(exc).rstrip(".")
            err(f"{prefix}: cannot reach the Kubernetes API: no usable client configuration ({reason}); {_HINT}")
            return UNREACHABLE
        except ApiException as exc:
            if is_connection_error(exc):
                err(f"{prefix}: {_unreachable_message(exc)}")
                return UNREACHABLE
            if exc.status == 401:
                err(f"{prefix}: the Kubernetes API at {_api_host()} rejected the credentials (401); {_HINT}")
                return UNREACHABLE
            err(f"{prefix}: {api_message(exc)}")
            return USAGE if exc.status in (400, 422) else FAILED
        except BrokenPipeError:  # `kwf get | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return OK
        except KeyboardInterrupt:
            err(f"{prefix}: interrupted")
            return INTERRUPTED
        except Exception as exc:
            if is_connection_error(exc):
                err(f"{prefix}: {_unreachable_message(exc)}")
                return UNREACHABLE
            raise

    return run


# --- calls -----------------------------------------------------------------------------------
def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
    """Call the API and return the JSON it sent (plain camelCase dicts, no client models)."""
    response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    data = json.loads(response.data)
    assert isinstance(data, dict)
    return data


def items_or_none(call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Json] | None:
    """A list's items; None when RBAC does not allow it (describe shows what it can)."""
    from kubernetes.client.exceptions import ApiException

    try:
        return list(raw(call, *args, **kwargs).get("items") or [])
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
        f"the WorkflowRun API is not installed in this cluster ({api_message(exc)}); "
        "install the CRD: kwf crd | kubectl apply -f -"
    )


def read_run(namespace: str, name: str) -> Json:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    try:
        return raw(
            kube.custom_objects().get_namespaced_custom_object, namespace=namespace, name=name, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 404:
            raise _not_found(exc, namespace, name) from None
        raise


def with_outputs(run: Json) -> Json:
    """`run` with what a sensitive run keeps in its outputs Secret put back into a copy of its status, for
    display; unchanged (and a note on stderr) when that Secret cannot be read."""
    import base64

    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube
    from kube_workflows.checkpoint import outputs

    status = run.get("status") or {}
    refs = outputs.refs(status)
    if not refs:
        return run
    namespace = run["metadata"]["namespace"]
    kind, name = ("Secret", refs[0]["secret"]) if refs[0].get("secret") else ("ConfigMap", refs[0]["configMap"])
    try:
        if kind == "Secret":
            stored = raw(kube.core().read_namespaced_secret, name, namespace)
            texts = json.loads(base64.b64decode((stored.get("data") or {}).get("data") or "e30=").decode())
        else:
            stored = raw(kube.core().read_namespaced_config_map, name, namespace)
            texts = json.loads((stored.get("data") or {}).get("data") or "{}")
    except ApiException as exc:
        err(f"note: this run keeps its outputs in {kind} {name}; kwf cannot read it ({api_message(exc)})")
        return run
    return {**run, "status": outputs.inline(status, texts)}


def runner_pods(namespace: str, run: str) -> list[Json] | None:
    """The run's pods, oldest first (None when RBAC does not allow listing them)."""
    from kube_workflows import kube
    from kube_workflows.models.names import RUN_LABEL, bounded_name

    pods = items_or_none(kube.core().list_namespaced_pod, namespace, label_selector=f"{RUN_LABEL}={bounded_name(run)}")
    if pods is None:
        return None
    return sorted(
        pods, key=lambda p: (p.get("metadata", {}).get("creationTimestamp", ""), p.get("metadata", {}).get("name"))
    )


def patch_run(namespace: str, name: str, patch: Any, content_type: str) -> Json:
    """Patch a WorkflowRun's spec or metadata; returns the object as the patch left it."""
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    try:
        return raw(
            kube.custom_objects().patch_namespaced_custom_object,
            namespace=namespace,
            name=name,
            body=patch,
            _content_type=content_type,
            **kube.WORKFLOWRUN,
        )
    except ApiException as exc:
        if exc.status == 404:
            raise _not_found(exc, namespace, name) from None
        raise


def create_run(namespace: str, body: Json, *, rename: str = "choose another --name") -> Json:
    """Create a WorkflowRun; a taken name or a missing namespace comes back as a CliError that says what to
    do (`rename`: how to pick another name)."""
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube

    try:
        return raw(
            kube.custom_objects().create_namespaced_custom_object, namespace=namespace, body=body, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 409:
            name = body["metadata"].get("name")
            raise CliError(
                f'WorkflowRun "{name}" already exists in namespace {namespace}; {rename}, '
                f"or delete it: kubectl delete wfr {name} -n {namespace}"
            ) from None
        if exc.status == 404:
            if f'namespaces "{namespace}" not found' in api_message(exc):
                raise CliError(
                    f"namespace {namespace} does not exist; create it (kubectl create namespace {namespace}) "
                    "or pick another with -n"
                ) from None
            raise _not_found(exc, namespace, "") from None
        raise


def print_objects(objects: list[Json], output: str, *, as_list: bool) -> None:
    import yaml

    value: Any = {"apiVersion": "v1", "kind": "List", "items": objects} if as_list else objects[0]
    if output == "json":
        out(json.dumps(value, indent=2))
    else:
        out(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))


# --- flags every command shares ----------------------------------------------------------------
def namespace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's namespace, else default)"
    )


def positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0 seconds")
    return number


def wait_timeout_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-timeout", type=positive, metavar="S", help="with --wait: give up waiting after S seconds (exit 124)"
    )
