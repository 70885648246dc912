"""Start and stop the dev cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and the local node, each a local process in its own process group.

Everything lives in one data directory (certificates, etcd data, logs, `kubeconfig`, and
`state.json` with the ports and pids), so `up` is idempotent and `down` stops exactly what `up`
started. For development and tests only.

    from kube_workflows_devtools.controlplane import DevCluster
    cluster = DevCluster(Path("/tmp/somewhere"))
    cluster.up()                  # or up(with_node=False): the control plane alone
    # KUBECONFIG = cluster.kubeconfig; cluster.down() stops it all
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from kube_workflows_devtools import pki

K8S_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_NAME = "local-node"
HARDENED_ADMISSION_PLUGINS = ("NodeRestriction", "OwnerReferencesPermissionEnforcement")
SERVICE_CIDR = "10.0.0.0/24"
# In a checkout: devtools/kube_workflows_devtools/controlplane.py -> <repo>/hack/build-controlplane.sh.
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "build-controlplane.sh"


class ClusterError(RuntimeError):
    """The dev cluster could not be started or found; the message says why and what to do."""


def default_data_dir() -> Path:
    return Path(os.environ.get("KWF_DEV_DATA_DIR") or Path(tempfile.gettempdir()) / "kwf-dev-cluster")


def cache_dir() -> Path:
    return Path(os.environ.get("KWF_CACHE_DIR") or Path.home() / ".cache" / "kube-workflows")


def find_binaries(explicit: Path | None = None) -> Path:
    """Where the control-plane binaries are: explicit dir, $KUBEBUILDER_ASSETS, or the build cache.

    Building them from a source checkout when none is found (`hack/build-controlplane.sh`).
    """
    candidates = [explicit] if explicit else []
    if os.environ.get("KUBEBUILDER_ASSETS"):
        candidates.append(Path(os.environ["KUBEBUILDER_ASSETS"]))
    candidates.append(cache_dir() / "bin" / f"k8s-{K8S_VERSION}-etcd-{ETCD_VERSION}")
    for directory in candidates:
        if all((directory / b).is_file() for b in BINARIES):
            return directory
    if explicit is None and BUILD_SCRIPT.is_file():
        built = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
        return Path(built.stdout.strip().splitlines()[-1])
    raise ClusterError(
        f"control-plane binaries ({', '.join(BINARIES)}) not found in {', '.join(map(str, candidates))}; "
        "run `make cluster-up` from a kube-workflows checkout (builds them from source) "
        "or point KUBEBUILDER_ASSETS at a directory that has them"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class ClusterState:
    """What `up` started; saved as `state.json` in the data directory."""

    data_dir: str
    apiserver_port: int
    etcd_port: int
    etcd_peer_port: int
    node_port: int
    pids: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"


class DevCluster:
    """The dev cluster rooted at one data directory."""

    def __init__(self, data_dir: Path | None = None, bin_dir: Path | None = None) -> None:
        self.data_dir = (data_dir or default_data_dir()).resolve()
        self._bin_dir = bin_dir
        self.pki_dir = self.data_dir / "pki"
        self.log_dir = self.data_dir / "logs"
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.state_file = self.data_dir / "state.json"

    # --- state -------------------------------------------------------------------------------
    def load_state(self) -> ClusterState | None:
        if not self.state_file.exists():
            return None
        return ClusterState(**json.loads(self.state_file.read_text()))

    def _save_state(self, state: ClusterState) -> None:
        self.state_file.write_text(json.dumps(asdict(state), indent=2))

    def status(self) -> dict[str, str]:
        """Component name → "running (pid N)" or "stopped"."""
        state = self.load_state()
        names = (*BINARIES, *_node_components(state))
        if state is None:
            return {n: "stopped" for n in names}
        return {
            n: (f"running (pid {state.pids[n]})" if n in state.pids and _alive(state.pids[n]) else "stopped")
            for n in names
        }

    def is_up(self) -> bool:
        state = self.load_state()
        if state is None or not all(v.startswith("running") for v in self.status().values()):
            return False
        return self._healthy(state.server + "/readyz")

    # --- up ----------------------------------------------------------------------------------
    def up(
        self,
        log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
        *,
        with_node: bool = True,
        fake_run: bool = False,
        node: str = "local",
    ) -> ClusterState:
        """Start every component; return once the node is Ready. A running healthy cluster is kept.

        `with_node=False` starts the control plane alone (for working on the local node itself);
        `fake_run=True` starts the node with `--fake-run` (benchmarks only, see `node`);
        `node="kubelet"` starts a real node instead of the stand-in (see `realnode`).
        """
        if self.is_up():
            state = self.load_state()
            assert state is not None
            return state
        self.down()  # a half-started cluster: clear it rather than guess which parts are sound
        bin_dir = find_binaries(self._bin_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state = ClusterState(
            data_dir=str(self.data_dir),
            apiserver_port=free_port(),
            etcd_port=free_port(),
            etcd_peer_port=free_port(),
            node_port=free_port(),
        )
        certs = self._certificates()
        self._write_kubeconfig(state, certs["admin"], self.kubeconfig)
        self._write_kubeconfig(state, certs["controller-manager"], self.data_dir / "controller-manager.kubeconfig")
        self._write_kubeconfig(state, certs["scheduler"], self.data_dir / "scheduler.kubeconfig")
        self._save_state(state)

        def start(name: str, argv: list[str], ready: Callable[[], bool], timeout: float = 90) -> None:
            log(f"starting {name}")
            state.commands[name] = argv
            proc = self._launch(name, state)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if ready():
                    return
                time.sleep(0.25)
            tail = self.log_tail(name)
            self.down()
            how = f"exited with {proc.returncode}" if proc.returncode is not None else f"not ready after {timeout:.0f}s"
            raise ClusterError(
                f"{name} did not come up ({how}); last lines of {self.log_dir / (name + '.log')}:\n{tail}"
            )

        b = str(bin_dir)
        start(
            "etcd",
            [
                f"{b}/etcd",
                f"--data-dir={self.data_dir / 'etcd'}",
                "--name=dev",
                f"--listen-client-urls=http://127.0.0.1:{state.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{state.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{state.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{state.etcd_peer_port}",
                f"--initial-cluster=dev=http://127.0.0.1:{state.etcd_peer_port}",
                # etcd as production runs it: every write fsynced before it is acknowledged (no
                # --unsafe-no-fsync). Tests and benchmarks measure what a real cluster would do.
                "--quota-backend-bytes=4294967296",
            ],
            lambda: self._healthy(f"http://127.0.0.1:{state.etcd_port}/health"),
        )
        p = self.pki_dir
        start(
            "kube-apiserver",
            [
                f"{b}/kube-apiserver",
                f"--etcd-servers=http://127.0.0.1:{state.etcd_port}",
                f"--secure-port={state.apiserver_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={certs['apiserver'].cert}",
                f"--tls-private-key-file={certs['apiserver'].key}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--api-audiences=https://kubernetes.default.svc",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--kubelet-client-certificate={certs['apiserver-kubelet-client'].cert}",
                f"--kubelet-client-key={certs['apiserver-kubelet-client'].key}",
                f"--kubelet-certificate-authority={p / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                # As a hardened cluster: API Priority and Fairness on (the default, so 429s happen), and
                # on top of the default admission plugins (PodSecurity, ValidatingAdmissionPolicy, ...) the
                # ones OpenShift and the CIS benchmark add: owner references that block deletion need
                # `update` on the owner's finalizers, and a node may change only its own objects.
                f"--enable-admission-plugins={','.join(HARDENED_ADMISSION_PLUGINS)}",
                "--profiling=false",
            ],
            lambda: self._healthy(state.server + "/readyz"),
        )
        start(
            "kube-controller-manager",
            [
                f"{b}/kube-controller-manager",
                f"--kubeconfig={self.data_dir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.data_dir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.data_dir / 'controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--use-service-account-credentials",
                "--controllers=*",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The dev cluster has one node and fast tests: evict nothing, garbage-collect terminated pods soon.
                "--terminated-pod-gc-threshold=500",
            ],
            lambda: self._component_started("kube-controller-manager"),
        )
        start(
            "kube-scheduler",
            [
                f"{b}/kube-scheduler",
                f"--kubeconfig={self.data_dir / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.data_dir / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.data_dir / 'scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
            lambda: self._component_started("kube-scheduler"),
        )
        if not with_node:
            return state
        if node == "kubelet":
            from kube_workflows_devtools.realnode import RealNode

            try:
                RealNode(self).start(
                    state, certs["node"], lambda name, argv, ready: start(name, argv, ready, timeout=180), log
                )
            except ClusterError:
                self.down()  # as a component that did not come up: nothing half-started is left
                raise
            log(f"dev cluster is up ({K8S_VERSION}, kubelet node); export KUBECONFIG={self.kubeconfig}")
            return state
        start(
            "local-node",
            [
                sys.executable,
                "-m",
                "kube_workflows_devtools.node",
                f"--kubeconfig={self.kubeconfig}",
                f"--data-dir={self.data_dir / 'node'}",
                f"--node-name={NODE_NAME}",
                f"--port={state.node_port}",
                f"--tls-cert={certs['node'].cert}",
                f"--tls-key={certs['node'].key}",
                f"--apiserver-ca={p / 'ca.crt'}",
                *(["--fake-run"] if fake_run else []),
            ],
            self._node_ready,
        )
        log(f"dev cluster is up ({K8S_VERSION}); export KUBECONFIG={self.kubeconfig}")
        return state

    def _certificates(self) -> dict[str, pki.KeyPair]:
        ca = pki.CertificateAuthority(self.pki_dir)
        pki.service_account_keys(self.pki_dir)
        return {
            "apiserver": ca.issue(
                "apiserver",
                "kube-apiserver",
                server=True,
                dns_names=(
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ),
                ips=("127.0.0.1", "10.0.0.1"),
            ),
            "admin": ca.issue("admin", "kube-workflows-admin", organization="system:masters", client=True),
            "controller-manager": ca.issue("controller-manager", "system:kube-controller-manager", client=True),
            "scheduler": ca.issue("scheduler", "system:kube-scheduler", client=True),
            "apiserver-kubelet-client": ca.issue(
                "apiserver-kubelet-client",
                "kube-apiserver-kubelet-client",
                organization="system:masters",
                client=True,
            ),
            "node": ca.issue(
                "node",
                f"system:node:{NODE_NAME}",
                organization="system:nodes",
                server=True,
                client=True,
                dns_names=("localhost", NODE_NAME),
                ips=("127.0.0.1",),
            ),
        }

    def _write_kubeconfig(self, state: ClusterState, pair: pki.KeyPair, path: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kwf-dev",
                    "cluster": {
                        "server": state.server,
                        "certificate-authority": str(self.pki_dir / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": "kwf-dev",
                    "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)},
                }
            ],
            "contexts": [{"name": "kwf-dev", "context": {"cluster": "kwf-dev", "user": "kwf-dev"}}],
            "current-context": "kwf-dev",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return ctx

    def _healthy(self, url: str) -> bool:
        try:
            context = self._ssl_context() if url.startswith("https") else None
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def _get(self, path: str) -> dict[str, object] | None:
        state = self.load_state()
        if state is None:
            return None
        try:
            with urllib.request.urlopen(state.server + path, timeout=2, context=self._ssl_context()) as r:
                return dict(json.loads(r.read()))
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def _component_started(self, name: str) -> bool:
        # Both components log this once their informers have synced and controllers run.
        text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        return "Started" in text or "Starting" in text or "leaderelection" in text

    def _node_ready(self) -> bool:
        node = self._get(f"/api/v1/nodes/{NODE_NAME}")
        if not node:
            return False
        conditions = node.get("status", {}).get("conditions", [])  # type: ignore[attr-defined]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        # Pods need the namespace's default ServiceAccount, which the controller-manager creates.
        return ready and self._get("/api/v1/namespaces/default/serviceaccounts/default") is not None

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _launch(self, name: str, state: ClusterState) -> subprocess.Popen[bytes]:
        """Start a component in its own process group, logging to logs/<name>.log; record its pid."""
        logfile = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            state.commands[name],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.data_dir,
        )
        state.pids[name] = proc.pid
        self._save_state(state)
        return proc

    def restart(self, name: str, *, downtime: float = 0.0, timeout: float = 90) -> None:
        """Stop one component and start it again with the same command (for outage tests)."""
        state = self.load_state()
        if state is None or name not in state.commands:
            raise ClusterError(f"{name} is not a component of the running dev cluster")
        _stop_group(state.pids[name], 10.0)
        time.sleep(downtime)
        proc = self._launch(name, state)
        deadline = time.monotonic() + timeout
        while not self._healthy(state.server + "/readyz"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"{name} did not come back after a restart:\n{self.log_tail(name)}")
            time.sleep(0.25)

    # --- down --------------------------------------------------------------------------------
    def down(self, grace: float = 10.0) -> list[str]:
        """Stop every process `up` started (the node first, etcd last)."""
        state = self.load_state()
        if state is None:
            return []
        stopped = []
        if "kubelet" in state.commands:
            from kube_workflows_devtools.realnode import RealNode

            stopped += RealNode(self).stop(state.pids, grace)
        order = ("local-node", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
        for name in [n for n in state.pids if n not in order] + list(order):
            pid = state.pids.get(name)
            if pid and _alive(pid):
                _stop_group(pid, grace)
                stopped.append(name)
        state.pids.clear()
        self._save_state(state)
        return stopped


def _node_components(state: ClusterState | None) -> tuple[str, ...]:
    if state is not None and "kubelet" in state.commands:
        return ("containerd", "kubelet")
    return ("local-node",)


def _stop_group(pid: int, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    while _alive(pid):
        with contextlib.suppress(ChildProcessError):  # our own child: reap it so no zombie is left
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return _alive(pgid)
