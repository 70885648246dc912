"""The local node: a stand-in for a kubelet, for development and tests. NOT a production kubelet.

There is no container runtime: each container's `command` + `args` runs as a local process in its
own process group (the image is ignored; the local Python environment is the image). The node
registers a `Node`, renews its `Lease`, watches the pods bound to it, runs them (`node_pods`, with
`node_env` and `node_status`), reports their status like a kubelet, and serves their logs to the
apiserver (`node_logs`), so `kubectl logs`, Jobs, Deployments and RBAC behave as on a real cluster.
No isolation, no resource limits, no probes, no volumes other than emptyDir (as plain directories).

Run it as `python -m kube_workflows_devtools.node --kubeconfig ... --data-dir ... --node-name ...
--port ... --tls-cert ... --tls-key ... --apiserver-ca ...` (`controlplane` does).
Tests crash a pod behind the API's back with `kill_pod_processes`. `--fake-run` is for the scale
benchmark: annotated pods get a container that only sleeps (`node_env.fakes_run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kube_workflows_devtools.node_env import (
    FAKE_RUN_ANNOTATION,
    FAKE_RUN_ARGV,
    LOCAL_IP,
    SA_MOUNT,
    Json,
    mount_namespace_argv,
)
from kube_workflows_devtools.node_logs import LogServer, LogTarget
from kube_workflows_devtools.node_pods import (
    TERMINAL_PHASES,
    NodeSettings,
    PodApi,
    PodWorker,
    find_pod_dirs,
    rfc3339,
    signal_group,
)

log = logging.getLogger("kube_workflows_devtools.node")

KUBELET_VERSION = "v1.36.3-localnode"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10
STATUS_REFRESH_SECONDS = 30
SHUTDOWN_GRACE_SECONDS = 5
# Taints the control plane puts on a node it thinks is not (yet) usable.
_UNUSABLE_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/network-unavailable",
        "node.cloudprovider.kubernetes.io/uninitialized",
    }
)


# --- for tests: the pods' processes, without asking the API ---------------------------------------
def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_pod_process(pid: int) -> bool:
    """Alive (not a zombie) and started by a local node, so a stale pid file never hits a stranger."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and b"KWF_LOCAL_NODE=1" in environ


def pod_pids(data_dir: Path, namespace: str, pod: str) -> dict[str, int]:
    """Container name -> pid (= process group) of each running process of pod `namespace/pod`."""
    pids: dict[str, int] = {}
    for pod_dir in find_pod_dirs(data_dir, namespace, pod):  # newest first: it wins a name clash
        for pid_file in sorted(pod_dir.glob("*.pid")):
            pid = _read_pid(pid_file)
            if pid is not None and pid_file.stem not in pids and _is_pod_process(pid):
                pids[pid_file.stem] = pid
    return pids


def kill_pod_processes(data_dir: Path, namespace: str, pod: str, sig: int = signal.SIGKILL) -> list[int]:
    """Signal the process groups of pod `namespace/pod` without telling the API (a node-level crash).

    `data_dir` is the node's `--data-dir`. Returns the pids signalled; LookupError if none runs.
    """
    pids = []
    for pod_dir in find_pod_dirs(data_dir, namespace, pod):
        for pid_file in sorted(pod_dir.glob("*.pid")):
            pid = _read_pid(pid_file)
            if pid is None or not _is_pod_process(pid):
                continue
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                continue
            pids.append(pid)
    if not pids:
        raise LookupError(f"no running process of pod {namespace}/{pod} under {data_dir / 'pods'}")
    return pids


def pod_log_path(data_dir: Path, namespace: str, pod: str, container: str) -> Path:
    """The log file (stdout + stderr, all restarts) of `container` in the newest pod `namespace/pod`."""
    dirs = find_pod_dirs(data_dir, namespace, pod)
    if not dirs:
        raise LookupError(f"pod {namespace}/{pod} never ran on the local node under {data_dir / 'pods'}")
    return dirs[0] / "logs" / f"{container}.log"


# --- the Node object -----------------------------------------------------------------------------
def _first_line(path: str, default: str) -> str:
    try:
        return Path(path).read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return default


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"


def _memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _architecture() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def node_status(node_name: str, port: int, ready_since: str, data_dir: Path) -> Json:
    """The Node's status: Ready, no pressure, generous capacity, the kubelet port for `kubectl logs`."""
    now = rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> Json:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": ready_since,
        }

    # Pods are processes sharing this machine: report more CPU than it has so tests can request some.
    capacity = {
        "cpu": str((os.cpu_count() or 1) * 4),
        "memory": f"{_memory_kib()}Ki",
        "pods": "1100",
        "ephemeral-storage": str(shutil.disk_usage(data_dir).total),
    }
    machine_id = _first_line("/etc/machine-id", node_name)
    return {
        "conditions": [
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "local node (a development stand-in for a kubelet) is posting ready status",
            ),
        ],
        "capacity": capacity,
        "allocatable": capacity,
        "addresses": [
            {"type": "InternalIP", "address": LOCAL_IP},
            {"type": "Hostname", "address": node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": machine_id,
            "systemUUID": machine_id,
            "bootID": _first_line("/proc/sys/kernel/random/boot_id", ""),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": f"local://python-{platform.python_version()}",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _architecture(),
        },
    }


def probe_mount_namespace(probe: Path) -> bool:
    """Whether `unshare --mount` + `mount --bind` work here (they need root), so pods see their token
    where in-cluster clients look."""
    if shutil.which("unshare") is None:
        return False
    try:
        SA_MOUNT.mkdir(parents=True, exist_ok=True)  # a bind mount needs its mount point on the host
        probe.mkdir(parents=True, exist_ok=True)
        (probe / "token").write_text("probe")
        argv = mount_namespace_argv(["cat", str(SA_MOUNT / "token")])
        env = {"KWF_SA_DIR": str(probe), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        result = subprocess.run(argv, env=env, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and result.stdout == b"probe"


def _lines(resp: Any) -> Iterator[str]:
    """The lines of a streaming (watch) response, as they arrive."""
    pending = b""
    for chunk in resp.stream(amt=None):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line.decode() for line in lines)
    if pending:
        yield pending.decode()


class LocalNode:
    def __init__(self, args: argparse.Namespace) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(args.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = 64  # one connection per busy pod worker thread
        api_client = client.ApiClient(configuration)
        # Any: the calls use _preload_content=False, whose raw responses the client's types don't describe.
        self.core: Any = client.CoreV1Api(api_client)
        self.coordination: Any = client.CoordinationV1Api(api_client)
        self.name: str = args.node_name
        self.port: int = args.port
        self.data_dir: Path = args.data_dir.resolve()
        (self.data_dir / "pods").mkdir(parents=True, exist_ok=True)
        self.stopping = threading.Event()
        mount = probe_mount_namespace(self.data_dir / "mount-probe")
        log.info(
            "pods get their ServiceAccount token %s",
            f"bind-mounted on {SA_MOUNT}" if mount else "through a per-pod KUBECONFIG",
        )
        self.settings = NodeSettings(
            self.data_dir, self.name, configuration.host, args.apiserver_ca, mount, fake_run=args.fake_run
        )
        if args.fake_run:
            log.info("fake-run mode (benchmarks): pods annotated %s=true run %s", FAKE_RUN_ANNOTATION, FAKE_RUN_ARGV)
        self.pod_api = PodApi(self.core)
        self.server = LogServer(self.port, args.tls_cert, args.tls_key, self._find_log)
        self._ready_since = rfc3339()
        self._workers: dict[str, PodWorker] = {}  # by pod uid, while the pod exists
        self._retired: list[PodWorker] = []  # deleted pods whose processes may still be stopping
        self._lock = threading.Lock()
        self._node_uid = ""

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (sets `stopping`), then stop every pod process."""
        self._kill_leftovers()
        threading.Thread(target=self.server.serve_forever, name="log-server", daemon=True).start()
        self._retry("register the node", self._register)
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        threading.Thread(target=self._watch_loop, name="pod-watch", daemon=True).start()
        log.info("local node %s is up; logs on https://127.0.0.1:%d", self.name, self.port)
        while not self.stopping.wait(1.0):
            with self._lock:
                self._retired = [w for w in self._retired if w.thread.is_alive()]
        self.shutdown()

    def _retry(self, what: str, action: Callable[[], None]) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            try:
                action()
                return
            except Exception as e:
                log.warning("cannot %s yet (%s); retrying in %.0fs", what, e, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, 10.0)

    def shutdown(self) -> None:
        """No orphans: SIGTERM every pod's process group, SIGKILL after a grace period."""
        self.stopping.set()
        with self._lock:
            workers = [*self._workers.values(), *self._retired]
        for worker in workers:
            worker.thread.join(timeout=2)  # so that none starts a process after this
        for worker in workers:
            worker.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while time.monotonic() < deadline and any(w.any_alive() for w in workers):
            time.sleep(0.1)
        for worker in workers:
            worker.reap()
        self.server.shutdown()
        self.server.server_close()
        log.info("local node %s stopped", self.name)

    def _kill_leftovers(self) -> None:
        """Processes of an earlier node process that was killed without its shutdown running."""
        for pid_file in self.data_dir.glob("pods/*/*.pid"):
            pid = _read_pid(pid_file)
            if pid is not None and _is_pod_process(pid):
                log.info("killing leftover process group %d (%s)", pid, pid_file)
                signal_group(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)

    # --- Node and Lease ----------------------------------------------------------------------------
    def _register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _architecture(),
            "kube-workflows.dev/local-node": "true",
        }
        try:
            node = client.V1Node.from_dict({"metadata": {"name": self.name, "labels": labels}})
            self.core.create_node(node, _preload_content=False)
            log.info("registered node %s", self.name)
        except ApiException as e:
            if e.status != 409:
                raise
            self.core.patch_node(
                self.name,
                {"metadata": {"labels": labels}},
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        self._report_node_status()
        self._renew_lease()

    def _report_node_status(self) -> None:
        status = node_status(self.name, self.port, self._ready_since, self.data_dir)
        resp = self.core.patch_node_status(
            self.name,
            {"status": status},
            _preload_content=False,
            _content_type="application/strategic-merge-patch+json",
        )
        node = json.loads(resp.data)
        taints = node.get("spec", {}).get("taints") or []
        usable = [t for t in taints if t.get("key") not in _UNUSABLE_TAINTS]
        if len(usable) != len(taints):
            self.core.patch_node(
                self.name,
                {"spec": {"taints": usable or None}},
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        self._node_uid = node["metadata"]["uid"]

    def _renew_lease(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # MicroTime
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now}
        try:
            self.coordination.patch_namespaced_lease(
                self.name,
                LEASE_NAMESPACE,
                {"spec": spec},
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
            return
        except ApiException as e:
            if e.status != 404:
                raise
        owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self._node_uid}
        # The Python model would reformat renewTime (a MicroTime) badly: create bare, then patch.
        lease = client.V1Lease.from_dict(
            {
                "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE, "ownerReferences": [owner]},
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS},
            }
        )
        self.coordination.create_namespaced_lease(LEASE_NAMESPACE, lease, _preload_content=False)
        self._renew_lease()

    def _heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self.stopping.wait(LEASE_RENEW_SECONDS):
            try:
                if time.monotonic() - last_status >= STATUS_REFRESH_SECONDS:
                    self._report_node_status()
                    last_status = time.monotonic()
                self._renew_lease()
            except ApiException as e:
                if e.status != 404:
                    log.warning("node heartbeat failed (%s); retrying", e)
                    continue
                log.warning("node %s was deleted from the API; registering it again", self.name)
                self._retry("register the node", self._register)
            except Exception as e:
                log.warning("node heartbeat failed (%s); retrying", e)

    # --- pods --------------------------------------------------------------------------------------
    def _watch_loop(self) -> None:
        """List + watch the pods bound to this node; relist when the watch expires or fails."""
        selector = f"spec.nodeName={self.name}"
        resource_version: str | None = None
        while not self.stopping.is_set():
            try:
                if resource_version is None:
                    listed = json.loads(
                        self.core.list_pod_for_all_namespaces(field_selector=selector, _preload_content=False).data
                    )
                    self._sync(listed["items"])
                    resource_version = listed["metadata"]["resourceVersion"]
                resource_version = self._watch(selector, resource_version)
            except Exception as e:
                log.warning("pod watch failed (%s); relisting", e)
                resource_version = None
                self.stopping.wait(1.0)

    def _watch(self, selector: str, resource_version: str) -> str | None:
        """Stream pod events from `resource_version`; the version to resume from, None to relist."""
        resp = self.core.list_pod_for_all_namespaces(
            field_selector=selector,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=300,
            _preload_content=False,
            _request_timeout=(10, 330),
        )
        try:
            for line in _lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    log.info("pod watch ended: %s", obj.get("message"))
                    return None  # typically 410 Gone: our resourceVersion is too old
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self._on_pod(event["type"], obj)
                if self.stopping.is_set():
                    break
        finally:
            resp.close()
            resp.release_conn()
        return resource_version

    def _sync(self, pods: list[Json]) -> None:
        listed = {p["metadata"]["uid"] for p in pods}
        with self._lock:
            vanished = [uid for uid in self._workers if uid not in listed]
        for uid in vanished:
            self._on_pod("DELETED", {"metadata": {"uid": uid}})
        for pod in pods:
            self._on_pod("MODIFIED", pod)

    def _on_pod(self, kind: str, pod: Json) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self._workers.get(uid)
            if kind == "DELETED":
                if worker is not None:
                    worker.gone()
                    self._retired.append(self._workers.pop(uid))
            elif worker is not None:
                worker.update(pod)
            elif not self.stopping.is_set():
                worker = self._workers[uid] = PodWorker(pod, self.pod_api, self.settings, self.stopping)
                worker.thread.start()
                phase = (pod.get("status") or {}).get("phase")
                if phase not in TERMINAL_PHASES:
                    log.info("pod %s/%s: new (%s)", worker.namespace, worker.name, uid)

    def _find_log(self, namespace: str, pod: str, container: str) -> LogTarget | None:
        with self._lock:
            workers = [w for w in self._workers.values() if (w.namespace, w.name) == (namespace, pod)]
        if workers:
            worker = workers[-1]  # the newest pod of that name
            if not worker.has_container(container):
                return None
            return LogTarget(worker.log_path(container), lambda: worker.is_running(container))
        try:
            return LogTarget(pod_log_path(self.data_dir, namespace, pod, container), lambda: False)
        except LookupError:
            return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kube_workflows_devtools.node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", type=Path, required=True, help="an admin (system:masters) kubeconfig")
    parser.add_argument("--data-dir", type=Path, required=True, help="where pods' directories and logs go")
    parser.add_argument("--node-name", default="local-node")
    parser.add_argument("--port", type=int, required=True, help="HTTPS port for the apiserver (logs)")
    parser.add_argument("--tls-cert", type=Path, required=True, help="serving certificate for --port")
    parser.add_argument("--tls-key", type=Path, required=True)
    parser.add_argument("--apiserver-ca", type=Path, required=True, help="CA of the apiserver (pods' ca.crt)")
    parser.add_argument(
        "--fake-run",
        action="store_true",
        help=f"benchmarks only: containers of pods annotated {FAKE_RUN_ANNOTATION}=true run "
        f"`{' '.join(FAKE_RUN_ARGV)}` instead of their command (see bench/scale.py)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry warnings duplicate ours
    node = LocalNode(args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: node.stopping.set())
    node.run()


if __name__ == "__main__":
    main()
