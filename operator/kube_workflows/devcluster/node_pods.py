"""Per-pod work of the local node: resolve env, run containers as local processes, report status.

The pure functions (`resolve_container_env`, `build_container_status`, `pod_phase`,
`build_pod_status`, ...) mirror what a kubelet computes and are unit-tested without a cluster;
`PodWorker` does the I/O, one thread per pod. For development and tests only.

A pod's directory, `<data-dir>/pods/<ns>_<pod>_<uid8>/`:

    pod.json                  namespace, name, uid (written once; its mtime orders recreated pods)
    work/                     working directory and HOME of the containers
    logs/<container>.log      stdout and stderr, appended across restarts
    <container>.pid           pid (= process group) of the running process; removed once reaped
    termination/<container>   $KWF_TERMINATION_MESSAGE_PATH
    volumes/<name>/           emptyDir volumes, announced as $KWF_VOLUME_<NAME>; other volume
                              types are ignored (paths inside the pod are not emulated)
    serviceaccount/           token, ca.crt, namespace: bind-mounted on SA_MOUNT
    kubeconfig                the same credentials as a kubeconfig ($KWF_POD_KUBECONFIG)
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("kube_workflows.devcluster.node")

Json = dict[str, Any]
Lookup = Callable[[str, str], Mapping[str, str] | None]
"""(namespace, name) -> the decoded data of a Secret or ConfigMap, or None when it does not exist."""

LOCAL_IP = "127.0.0.1"
SA_MOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TERMINAL_PHASES = ("Succeeded", "Failed")
TOKEN_SECONDS = 3600
TOKEN_REFRESH_SECONDS = 1800
DEFAULT_GRACE_SECONDS = 30
CONFIG_RETRY_SECONDS = 3.0
_MAX_MESSAGE_BYTES = 4096  # the kubelet's limit for termination messages
_FALLBACK_LINES, _FALLBACK_BYTES = 80, 2048  # terminationMessagePolicy: FallbackToLogsOnError
_PASSTHROUGH_ENV = ("LANG", "LC_ALL", "TZ", "PYTHONPATH")
_MOUNT_SCRIPT = f'mkdir -p {SA_MOUNT} 2>/dev/null; mount --bind "$KWF_SA_DIR" {SA_MOUNT} && exec "$@"'


def rfc3339(timestamp: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(value: str) -> float:
    return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


# --- pod directory layout ------------------------------------------------------------------------
def pod_dir_name(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}_{name}_{uid[:8]}"


def find_pod_dirs(data_dir: Path, namespace: str, name: str) -> list[Path]:
    """Directories of every pod `namespace/name` that ran here, newest first."""
    # Namespace and pod names never contain "_", so this pattern cannot match another pod.
    dirs = [d for d in (data_dir / "pods").glob(f"{namespace}_{name}_*") if (d / "pod.json").exists()]
    return sorted(dirs, key=lambda d: (d / "pod.json").stat().st_mtime, reverse=True)


# --- environment ---------------------------------------------------------------------------------
class ContainerConfigError(Exception):
    """A container cannot be configured (the kubelet's CreateContainerConfigError); retried later."""


def expand(value: str, variables: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` is `$`, anything else stays."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            if value[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            end = value.find(")", i + 2) if value[i + 1] == "(" else -1
            if end != -1:
                name = value[i + 2 : end]
                out.append(variables[name] if name in variables else value[i : end + 1])
                i = end + 1
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


_META_KEY = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref_value(pod: Json, path: str) -> str:
    """The value of a downward-API `fieldRef.fieldPath` for env vars."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    match = _META_KEY.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": LOCAL_IP,
        "status.podIPs": LOCAL_IP,
        "status.hostIP": LOCAL_IP,
        "status.hostIPs": LOCAL_IP,
    }
    if path not in values:
        raise ContainerConfigError(f"fieldRef.fieldPath {path!r} is not supported by the local node")
    return str(values[path] or "")


def _source_data(kind: str, namespace: str, ref: Json, lookup: Lookup) -> Mapping[str, str] | None:
    data = lookup(namespace, ref.get("name", ""))
    if data is None and not ref.get("optional"):
        raise ContainerConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
    return data


def _key_ref(kind: str, namespace: str, ref: Json, lookup: Lookup) -> str | None:
    data = _source_data(kind, namespace, ref, lookup)
    if data is None:
        return None
    key = ref.get("key", "")
    if key not in data:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{ref.get('name', '')}")
    return data[key]


def resolve_container_env(
    container: Json, pod: Json, lookup_secret: Lookup, lookup_configmap: Lookup
) -> dict[str, str]:
    """The variables a kubelet gives `container`: `envFrom` first, then `env` (a later name wins).

    `$(VAR)` in `env[].value` expands against the variables defined before it. A missing Secret,
    ConfigMap or key that is not `optional` raises ContainerConfigError, like the kubelet.
    """
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for kind, key, lookup in (
            ("ConfigMap", "configMapRef", lookup_configmap),
            ("Secret", "secretRef", lookup_secret),
        ):
            if key in source:
                data = _source_data(kind, namespace, source[key], lookup) or {}
                env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name, source = var["name"], var.get("valueFrom")
        value: str | None
        if source is None:
            value = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            value = field_ref_value(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source:
            value = _key_ref("Secret", namespace, source["secretKeyRef"], lookup_secret)
        elif "configMapKeyRef" in source:
            value = _key_ref("ConfigMap", namespace, source["configMapKeyRef"], lookup_configmap)
        else:
            raise ContainerConfigError(f"env {name}: valueFrom.{next(iter(source), '?')} is not supported")
        if value is not None:
            env[name] = value
    return env


def container_argv(container: Json, env: Mapping[str, str]) -> list[str]:
    """`command` + `args` with `$(VAR)` expanded, as the kubelet does."""
    if not container.get("command"):
        raise ContainerConfigError(
            f"container {container['name']!r} has no command; the local node runs `command` + `args` "
            "as a local process and cannot run an image's entrypoint"
        )
    return [expand(a, env) for a in [*container["command"], *(container.get("args") or [])]]


def base_env(pod: Json, server: str, home: Path, host_env: Mapping[str, str]) -> dict[str, str]:
    """What every container starts from: no leak of the node's own env beyond a few basics."""
    url = urlsplit(server)
    env = {k: host_env[k] for k in _PASSTHROUGH_ENV if k in host_env}
    # The venv of the node is the "image": its python and console scripts come first on PATH.
    path = host_env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        PATH=os.pathsep.join([os.path.dirname(sys.executable), path]),
        HOME=str(home),
        HOSTNAME=pod["metadata"]["name"],
        KUBERNETES_SERVICE_HOST=url.hostname or LOCAL_IP,
        KUBERNETES_SERVICE_PORT=str(url.port or 443),
        KWF_LOCAL_NODE="1",
    )
    return env


def volume_env_name(volume: str) -> str:
    return "KWF_VOLUME_" + re.sub(r"[^A-Za-z0-9]", "_", volume).upper()


def mount_namespace_argv(argv: Sequence[str]) -> list[str]:
    """Run `argv` in its own mount namespace with $KWF_SA_DIR bind-mounted on SA_MOUNT."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _MOUNT_SCRIPT, "sh", *argv]


def pod_kubeconfig(server: str, ca: Path, token_file: Path, namespace: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        # tokenFile, not token: kubectl and the Python client re-read it, so refreshes apply.
        "users": [{"name": "pod", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "pod", "context": {"cluster": "local", "user": "pod", "namespace": namespace}}],
        "current-context": "pod",
    }


def wants_service_account_token(pod: Json) -> bool:
    """Whether the pod gets a token: not opted out, and admission added the token volume."""
    spec = pod["spec"]
    if spec.get("automountServiceAccountToken") is False:
        return False
    # The ServiceAccount admission plugin adds a projected `kube-api-access-*` volume when the pod
    # or its ServiceAccount want a token, so its presence already folds in both settings.
    return any(
        "serviceAccountToken" in source
        for volume in spec.get("volumes") or []
        for source in (volume.get("projected") or {}).get("sources") or []
    )


# --- status --------------------------------------------------------------------------------------
@dataclass
class ContainerRecord:
    """What the node knows about one container; `build_container_status` makes it API status."""

    name: str
    image: str = ""
    init: bool = False
    restart_count: int = 0
    state: Json = field(default_factory=lambda: waiting("ContainerCreating"))
    last_state: Json = field(default_factory=dict)
    pid: int | None = None


def waiting(reason: str, message: str = "") -> Json:
    return {"waiting": {"reason": reason, **({"message": message} if message else {})}}


def exit_code(returncode: int) -> int:
    """Popen's returncode as a container exit code: death by signal N is 128+N, as in a shell."""
    return 128 - returncode if returncode < 0 else returncode


def terminated(returncode: int, started_at: str, finished_at: str, message: str = "", pid: int | None = None) -> Json:
    code = exit_code(returncode)
    state: Json = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": started_at,
        "finishedAt": finished_at,
    }
    if message:
        state["message"] = message
    if pid is not None:
        state["containerID"] = f"local://{pid}"
    return {"terminated": state}


def restart_backoff(restart_count: int) -> float:
    """Seconds before restarting a container: 1s doubling, capped at 10s (short: this is for tests)."""
    return float(min(2**restart_count, 10))


def build_container_status(record: ContainerRecord) -> Json:
    running = "running" in record.state
    done = record.state.get("terminated")
    status: Json = {
        "name": record.name,
        "image": record.image,
        "imageID": "",
        # No probes: a running container is ready; an init container is ready once it succeeded.
        "ready": bool(done and done["exitCode"] == 0) if record.init else running,
        "started": running,
        "restartCount": record.restart_count,
        "state": record.state,
        "lastState": record.last_state,
    }
    if record.pid is not None:
        status["containerID"] = f"local://{record.pid}"
    return status


def pod_phase(restart_policy: str, init_statuses: Sequence[Json], statuses: Sequence[Json]) -> str:
    """The pod phase from container statuses, following the kubelet's getPhase."""
    for s in init_statuses:
        done = s["state"].get("terminated")
        if done and done["exitCode"] != 0 and restart_policy == "Never":
            return "Failed"
    if not all(s["ready"] for s in init_statuses):
        return "Pending"
    waiting_, running, stopped, succeeded = 0, 0, 0, 0
    for s in statuses:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif s.get("lastState", {}).get("terminated"):
            stopped += 1  # waiting to restart: it has run
        else:
            waiting_ += 1
    if waiting_:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always" or (restart_policy == "OnFailure" and stopped != succeeded):
        return "Running"
    return "Succeeded" if stopped == succeeded else "Failed"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Json:
    condition: Json = {"type": kind, "status": "True" if ok else "False"}
    if not ok:
        condition.update(reason=reason, **({"message": message} if message else {}))
    return condition


def pod_conditions(phase: str, init_statuses: Sequence[Json], statuses: Sequence[Json]) -> list[Json]:
    """The kubelet's pod conditions, without lastTransitionTime (see `merge_conditions`)."""
    not_initialized = [s["name"] for s in init_statuses if not s["ready"]]
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    completed = phase == "Succeeded"
    ready_reason = "PodCompleted" if completed else "ContainersNotReady"
    ready_message = "" if completed else f"containers with unready status: [{' '.join(not_ready)}]"
    return [
        _condition("PodReadyToStartContainers", True),
        _condition(
            "Initialized",
            not not_initialized,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(not_initialized)}]",
        ),
        _condition("ContainersReady", not not_ready, ready_reason, ready_message),
        _condition("Ready", not not_ready, ready_reason, ready_message),
        _condition("PodScheduled", True),
    ]


def merge_conditions(previous: Sequence[Json], current: Sequence[Json], now: str) -> list[Json]:
    """`current` with lastTransitionTime kept from `previous` where a condition's status is unchanged."""
    before = {c["type"]: c for c in previous}
    merged = []
    for condition in current:
        old = before.get(condition["type"])
        unchanged = old is not None and old.get("status") == condition["status"]
        since = old.get("lastTransitionTime") if old is not None and unchanged else None
        merged.append({**condition, "lastTransitionTime": since or now})
    return merged


def build_pod_status(
    pod: Json,
    init_records: Sequence[ContainerRecord],
    records: Sequence[ContainerRecord],
    *,
    start_time: str,
    previous_conditions: Sequence[Json],
    now: str,
    terminal: tuple[str, str | None, str | None] | None = None,
) -> Json:
    """The pod's `status` as the kubelet would patch it; `terminal` = (phase, reason, message) overrides."""
    init_statuses = [build_container_status(r) for r in init_records]
    statuses = [build_container_status(r) for r in records]
    phase = pod_phase(pod["spec"].get("restartPolicy", "Always"), init_statuses, statuses)
    reason = message = None
    if terminal is not None:
        phase, reason, message = terminal
    status: Json = {
        "phase": phase,
        "reason": reason,
        "message": message,
        "conditions": merge_conditions(previous_conditions, pod_conditions(phase, init_statuses, statuses), now),
        "hostIP": LOCAL_IP,
        "hostIPs": [{"ip": LOCAL_IP}],
        "podIP": LOCAL_IP,
        "podIPs": [{"ip": LOCAL_IP}],
        "startTime": start_time,
        "containerStatuses": statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if pod["metadata"].get("generation") is not None:
        status["observedGeneration"] = pod["metadata"]["generation"]
    return status


def log_tail(path: Path, start: int, lines: int = _FALLBACK_LINES, max_bytes: int = _FALLBACK_BYTES) -> str:
    """The last `lines` lines (at most `max_bytes`) written to `path` after offset `start`."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(start, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").rstrip("\n").split("\n")[-lines:])


# --- I/O -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSettings:
    data_dir: Path
    node_name: str
    server: str  # the apiserver URL, as pods reach it
    apiserver_ca: Path
    mount_service_account: bool  # whether `unshare --mount` works on this machine


class PodApi:
    """The API calls a pod worker makes, on one shared (thread-safe) CoreV1Api."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def _read(self, method: Callable[..., Any], namespace: str, name: str) -> Json | None:
        try:
            return dict(json.loads(method(name, namespace, _preload_content=False).data))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = self._read(self._core.read_namespaced_secret, namespace, name)
        if secret is None:
            return None
        data = secret.get("data") or {}
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}

    def read_config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        config_map = self._read(self._core.read_namespaced_config_map, namespace, name)
        return None if config_map is None else dict(config_map.get("data") or {})

    def request_token(self, pod: Json) -> str:
        meta = pod["metadata"]
        body = client.AuthenticationV1TokenRequest.from_dict(
            {
                "spec": {
                    "audiences": [],  # the apiserver's own audiences, as for a projected token volume
                    "expirationSeconds": TOKEN_SECONDS,
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                }
            }
        )
        account = pod["spec"].get("serviceAccountName") or "default"
        resp = self._core.create_namespaced_service_account_token(
            account, meta["namespace"], body, _preload_content=False
        )
        return str(json.loads(resp.data)["status"]["token"])

    def patch_status(self, namespace: str, name: str, status: Json) -> None:
        # Strategic merge: conditions merge by type, so conditions set by others survive.
        self._core.patch_namespaced_pod_status(
            name,
            namespace,
            {"status": status},
            _content_type="application/strategic-merge-patch+json",
            _preload_content=False,
        )

    def delete(self, namespace: str, name: str, uid: str) -> None:
        options = client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid))
        try:
            self._core.delete_namespaced_pod(name, namespace, body=options, _preload_content=False)
        except ApiException as e:
            if e.status not in (404, 409):  # gone already, or a newer pod with the same name
                raise


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)  # a rename inside the bind-mounted dir: readers never see a partial token


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


@dataclass
class _Container:
    spec: Json
    record: ContainerRecord
    proc: subprocess.Popen[bytes] | None = None
    next_start: float = 0.0  # monotonic time before which it must not (re)start
    log_offset: int = 0  # where this run's output starts in the log
    done: bool = False  # terminated and will not restart

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class PodWorker:
    """Runs one pod's containers and reports its status; its thread lives until the pod is gone."""

    def __init__(self, pod: Json, api: PodApi, settings: NodeSettings, stopping: threading.Event) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir = settings.data_dir / "pods" / pod_dir_name(self.namespace, self.name, self.uid)
        self._api, self._settings, self._stopping = api, settings, stopping
        self._pod = pod
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._gone = False  # deleted from the API: stop everything, report nothing
        self._init = [
            _Container(c, ContainerRecord(c["name"], c.get("image", ""), init=True))
            for c in spec.get("initContainers") or []
        ]
        first_wait = waiting("PodInitializing" if self._init else "ContainerCreating")
        self._main = [
            _Container(c, ContainerRecord(c["name"], c.get("image", ""), state=first_wait)) for c in spec["containers"]
        ]
        self._start_time = status.get("startTime") or rfc3339()
        self._conditions: list[Json] = list(status.get("conditions") or [])
        self._terminal: tuple[str, str | None, str | None] | None = None
        # A pod that ended before this node process started: only its deletion is left to handle.
        self._quiet = status.get("phase") in TERMINAL_PHASES
        self._env: dict[str, str] | None = None  # set once the pod's directories and token exist
        self._empty_dirs: dict[str, Path] = {}
        self._retry_at = 0.0
        self._token_at = 0.0
        self._reported: Json | None = None
        self._report_at = 0.0
        self._report_failures = 0
        self._deleted = False
        if not self._quiet:
            self._recover(status)
        self.thread = threading.Thread(target=self._run, name=f"pod {self.namespace}/{self.name}", daemon=True)

    # --- called from other threads ---------------------------------------------------------------
    def update(self, pod: Json) -> None:
        with self._lock:
            self._pod = pod
        self._wake.set()

    def gone(self) -> None:
        """The pod was deleted from the API: kill its processes without reporting anything."""
        with self._lock:
            self._gone = True
        self._wake.set()

    def has_container(self, name: str) -> bool:
        return any(c.name == name for c in self._all())

    def is_running(self, container: str) -> bool:
        return any(c.running for c in self._all() if c.name == container)

    def log_path(self, container: str) -> Path:
        return self.dir / "logs" / f"{container}.log"

    def signal_all(self, sig: int) -> None:
        for c in self._all():
            if c.proc is not None and c.proc.poll() is None:
                signal_group(c.proc.pid, sig)

    def any_alive(self) -> bool:
        return any(c.proc is not None and c.proc.poll() is None for c in self._all())

    def reap(self) -> None:
        """After SIGKILL at node shutdown: wait for the processes and drop their pid files."""
        for c in self._all():
            if c.proc is not None:
                signal_group(c.proc.pid, signal.SIGKILL)
                c.proc.wait()
                (self.dir / f"{c.name}.pid").unlink(missing_ok=True)

    # --- the worker thread -----------------------------------------------------------------------
    def _all(self) -> list[_Container]:
        return [*self._init, *self._main]

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                pod, gone = self._pod, self._gone
            if gone:
                self._stop_processes(2.0)
                return
            try:
                if pod["metadata"].get("deletionTimestamp"):
                    self._delete(pod)
                elif self._terminal is None and not self._quiet:
                    self._check_deadline(pod)
                    if self._terminal is None:
                        self._step(pod)
                self._report(pod)
            except Exception:
                log.exception("pod %s/%s: unexpected error; retrying", self.namespace, self.name)
                time.sleep(1.0)
            busy = self._terminal is None and not self._quiet
            self._wake.wait(0.2 if busy else 5.0)
            self._wake.clear()

    def _recover(self, status: Json) -> None:
        """Pick up a pod that ran under an earlier node process, whose processes died with it."""
        before = {
            s["name"]: s
            for s in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        }
        for c in self._all():
            old = before.get(c.name)
            if not old or not str(old.get("containerID", "")).startswith("local://"):
                continue
            c.record.restart_count = old.get("restartCount", 0)
            old_state = old.get("state", {})
            if "terminated" in old_state:
                self._finish(c, old_state)
            elif "running" in old_state:
                message = "the local node restarted while the container ran"
                started = old_state["running"].get("startedAt", "")
                self._finish(c, terminated(-signal.SIGKILL, started, rfc3339(), message))
            else:
                c.record.last_state = old.get("lastState") or {}

    def _policy(self) -> str:
        return str(self._pod["spec"].get("restartPolicy", "Always"))

    def _step(self, pod: Json) -> None:
        now = time.monotonic()
        if self._env is None:
            if now < self._retry_at:
                return
            try:
                self._prepare(pod)
            except Exception as e:
                log.warning("pod %s/%s: cannot prepare it yet (%s); retrying", self.namespace, self.name, e)
                self._retry_at = now + 2.0
                return
        if self._token_at and now - self._token_at > TOKEN_REFRESH_SECONDS:
            try:
                self._write_token(pod)
            except Exception as e:
                log.warning("pod %s/%s: token refresh failed (%s)", self.namespace, self.name, e)
                self._token_at += 30.0
        for c in self._all():
            if c.proc is not None and c.proc.returncode is None and c.proc.poll() is not None:
                self._exited(c)
        phase = self._status(pod)["phase"]
        if phase in TERMINAL_PHASES:
            self._terminal = (phase, None, None)
            return
        pending_init = next((c for c in self._init if not c.done), None)
        for c in [pending_init] if pending_init else self._main:
            if not c.done and not c.running and now >= c.next_start:
                self._start(c, pod)

    def _prepare(self, pod: Json) -> None:
        for sub in ("work", "logs", "termination"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        meta = {"namespace": self.namespace, "name": self.name, "uid": self.uid}
        (self.dir / "pod.json").write_text(json.dumps(meta))
        for volume in pod["spec"].get("volumes") or []:
            if "emptyDir" in volume:
                path = self.dir / "volumes" / volume["name"]
                path.mkdir(parents=True, exist_ok=True)
                self._empty_dirs[volume["name"]] = path
        env = base_env(pod, self._settings.server, self.dir / "work", os.environ)
        if wants_service_account_token(pod):
            self._write_token(pod)
            kubeconfig = str(self.dir / "kubeconfig")
            env.update(KWF_SA_DIR=str(self.dir / "serviceaccount"), KWF_POD_KUBECONFIG=kubeconfig)
            if not self._settings.mount_service_account:
                env["KUBECONFIG"] = kubeconfig
        self._env = env

    def _write_token(self, pod: Json) -> None:
        token = self._api.request_token(pod)
        sa_dir = self.dir / "serviceaccount"
        sa_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(sa_dir / "token", token)
        _write_atomic(sa_dir / "ca.crt", self._settings.apiserver_ca.read_bytes())
        _write_atomic(sa_dir / "namespace", self.namespace)
        config = pod_kubeconfig(self._settings.server, sa_dir / "ca.crt", sa_dir / "token", self.namespace)
        _write_atomic(self.dir / "kubeconfig", yaml.safe_dump(config))
        self._token_at = time.monotonic()

    def _container_env(self, c: _Container, pod: Json) -> dict[str, str]:
        assert self._env is not None
        env = dict(self._env, KWF_TERMINATION_MESSAGE_PATH=str(self.dir / "termination" / c.name))
        for mount in c.spec.get("volumeMounts") or []:
            if mount["name"] in self._empty_dirs:
                env[volume_env_name(mount["name"])] = str(self._empty_dirs[mount["name"]])
        env.update(resolve_container_env(c.spec, pod, self._api.read_secret, self._api.read_config_map))
        return env

    def _start(self, c: _Container, pod: Json) -> None:
        try:
            env = self._container_env(c, pod)
            argv = container_argv(c.spec, env)
        except ContainerConfigError as e:
            if c.record.state.get("waiting", {}).get("message") != str(e):
                log.warning("pod %s/%s container %s: %s", self.namespace, self.name, c.name, e)
            c.record.state = waiting("CreateContainerConfigError", str(e))
            c.next_start = time.monotonic() + CONFIG_RETRY_SECONDS
            return
        except Exception as e:  # the API failed to answer a Secret/ConfigMap lookup
            log.warning("pod %s/%s container %s: env lookup failed (%s)", self.namespace, self.name, c.name, e)
            c.next_start = time.monotonic() + CONFIG_RETRY_SECONDS
            return
        workdir = c.spec.get("workingDir")
        cwd = Path(workdir) if workdir and Path(workdir).is_dir() else self.dir / "work"
        program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH"))
        if program is None or not os.access(cwd / program, os.X_OK):
            now = rfc3339()
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
            state = terminated(128, now, now, message)
            state["terminated"]["reason"] = "StartError"
            self._finish(c, state)
            return
        if c.proc is not None or c.record.last_state:
            c.record.restart_count += 1
        (self.dir / "termination" / c.name).unlink(missing_ok=True)
        log_path = self.log_path(c.name)
        c.log_offset = log_path.stat().st_size if log_path.exists() else 0
        if self._settings.mount_service_account and "KWF_SA_DIR" in env:
            argv = mount_namespace_argv(argv)
        with log_path.open("ab") as out:
            c.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach the whole container
            )
        (self.dir / f"{c.name}.pid").write_text(str(c.proc.pid))
        c.record.pid = c.proc.pid
        c.record.state = {"running": {"startedAt": rfc3339()}}
        log.info("pod %s/%s container %s started (pid %d)", self.namespace, self.name, c.name, c.proc.pid)

    def _exited(self, c: _Container, may_restart: bool = True) -> None:
        assert c.proc is not None and c.proc.returncode is not None
        signal_group(c.proc.pid, signal.SIGKILL)  # what it left behind dies with it, as with a cgroup
        (self.dir / f"{c.name}.pid").unlink(missing_ok=True)
        code = exit_code(c.proc.returncode)
        message = self._termination_message(c, code)
        started = c.record.state.get("running", {}).get("startedAt", "")
        state = terminated(c.proc.returncode, started, rfc3339(), message, c.proc.pid)
        log.info("pod %s/%s container %s exited with %d", self.namespace, self.name, c.name, code)
        self._finish(c, state, may_restart)

    def _finish(self, c: _Container, state: Json, may_restart: bool = True) -> None:
        """Record a terminated container and decide, by restartPolicy, whether it runs again."""
        code = state["terminated"]["exitCode"]
        policy = self._policy()
        if c.record.init:
            restart = code != 0 and policy != "Never"
        else:
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if not (restart and may_restart):
            c.record.state, c.done = state, True
            return
        delay = restart_backoff(c.record.restart_count)
        c.record.last_state = state
        c.record.state = waiting(
            "CrashLoopBackOff",
            f"back-off {delay:g}s restarting failed container={c.name} pod={self.name}_{self.namespace}({self.uid})",
        )
        c.next_start = time.monotonic() + delay

    def _termination_message(self, c: _Container, code: int) -> str:
        try:
            message = (self.dir / "termination" / c.name).read_bytes()[:_MAX_MESSAGE_BYTES].decode(errors="replace")
        except OSError:
            message = ""
        if not message and code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = log_tail(self.log_path(c.name), c.log_offset)
        return message

    def _grace_seconds(self, pod: Json) -> float:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds")
        return float(DEFAULT_GRACE_SECONDS if grace is None else grace)

    def _stop_processes(self, grace: float) -> None:
        """SIGTERM every running container, SIGKILL what is left after the grace period; no restarts."""
        running = [c for c in self._all() if c.running]
        for c in running:
            assert c.proc is not None
            signal_group(c.proc.pid, signal.SIGTERM)
        started = time.monotonic()
        while any(c.proc is not None and c.proc.poll() is None for c in running):
            with self._lock:  # a second delete may shorten the grace period, or force it
                grace = min(grace, 2.0 if self._gone else self._grace_seconds(self._pod))
            if time.monotonic() - started >= grace or self._stopping.is_set():
                break
            self._wake.wait(0.1)
            self._wake.clear()
        for c in running:
            assert c.proc is not None
            signal_group(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
            self._exited(c, may_restart=False)

    def _check_deadline(self, pod: Json) -> None:
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline is None or time.time() - _parse_rfc3339(self._start_time) < deadline:
            return
        log.info("pod %s/%s: activeDeadlineSeconds exceeded", self.namespace, self.name)
        self._stop_processes(self._grace_seconds(pod))
        message = "Pod was active on the node longer than the specified deadline"
        self._terminal = ("Failed", "DeadlineExceeded", message)

    def _delete(self, pod: Json) -> None:
        """Graceful deletion as the kubelet does it: stop, report a terminal phase, delete with grace 0."""
        if self._deleted:
            return
        if self._terminal is None and not self._quiet:
            self._stop_processes(self._grace_seconds(pod))
            statuses = [build_container_status(c.record) for c in self._main]
            inits = [build_container_status(c.record) for c in self._init]
            phase = pod_phase("Never", inits, statuses)
            self._terminal = (phase if phase in TERMINAL_PHASES else "Failed", None, None)
        if not self._report(pod):
            return  # the pod must show its terminal status before it goes away; retried next tick
        self._api.delete(self.namespace, self.name, self.uid)
        self._deleted = True
        log.info("pod %s/%s: stopped and deleted", self.namespace, self.name)

    def _status(self, pod: Json) -> Json:
        return build_pod_status(
            pod,
            [c.record for c in self._init],
            [c.record for c in self._main],
            start_time=self._start_time,
            previous_conditions=self._conditions,
            now=rfc3339(),
            terminal=self._terminal,
        )

    def _report(self, pod: Json) -> bool:
        """Patch the pod's status if it changed; False while that has not succeeded."""
        if self._quiet or self._deleted:
            return True
        status = self._status(pod)
        if status == self._reported:
            return True
        if time.monotonic() < self._report_at:
            return False
        try:
            self._api.patch_status(self.namespace, self.name, status)
        except Exception as e:
            if isinstance(e, ApiException) and e.status == 404:
                self.gone()
                return False
            self._report_failures += 1
            self._report_at = time.monotonic() + min(0.5 * 2**self._report_failures, 10.0)
            log.warning("pod %s/%s: status update failed (%s); retrying", self.namespace, self.name, e)
            return False
        self._reported, self._conditions, self._report_failures = status, status["conditions"], 0
        return True
