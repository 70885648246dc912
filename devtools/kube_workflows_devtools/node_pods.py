"""Per-pod work of the local node: resolve env, run containers as local processes, report status.

The pure functions that mirror what a kubelet computes live in `node_env` (`resolve_container_env`,
`container_argv`, ...) and `node_status` (`build_container_status`, `pod_phase`, `build_pod_status`,
...) and are unit-tested without a cluster; `PodWorker` does the I/O, one thread per pod. For
development and tests only.

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
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kube_workflows_devtools.node_env import (
    FAKE_RUN_ARGV,
    ContainerConfigError,
    Json,
    base_env,
    container_argv,
    fakes_run,
    mount_namespace_argv,
    pod_kubeconfig,
    resolve_container_env,
    volume_env_name,
    wants_service_account_token,
)
from kube_workflows_devtools.node_status import (
    ContainerRecord,
    build_container_status,
    build_pod_status,
    exit_code,
    log_tail,
    pod_phase,
    restart_backoff,
    terminated,
    waiting,
)

log = logging.getLogger("kube_workflows_devtools.node")

TERMINAL_PHASES = ("Succeeded", "Failed")
TOKEN_SECONDS = 3600
TOKEN_REFRESH_SECONDS = 1800
DEFAULT_GRACE_SECONDS = 30
CONFIG_RETRY_SECONDS = 3.0
_MAX_MESSAGE_BYTES = 4096  # the kubelet's limit for termination messages


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


# --- I/O -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSettings:
    data_dir: Path
    node_name: str
    server: str  # the apiserver URL, as pods reach it
    apiserver_ca: Path
    mount_service_account: bool  # whether `unshare --mount` works on this machine
    fake_run: bool = False  # benchmarks only: see `node_env.fakes_run`


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
        # Its containers never exit on their own: nothing to poll for between pod updates.
        self._fake = fakes_run(pod, settings.fake_run)
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
            busy = self._terminal is None and not self._quiet and not self._fake
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
            argv = list(FAKE_RUN_ARGV) if self._fake else container_argv(c.spec, env)
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
        if self._settings.mount_service_account and "KWF_SA_DIR" in env and not self._fake:
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
