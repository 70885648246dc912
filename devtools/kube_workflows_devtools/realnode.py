"""A real node for the dev cluster: the kubelet with containerd and runc (`kwf dev up --node kubelet`).

Pods then run as real containers from images (hack/build-images.sh builds them from Debian
packages and the project's Dockerfiles; no registry is needed). Everything stays on loopback: the
kubelet serves on 127.0.0.1, containerd's streaming server too, and the CNI config gives pod
sandboxes a loopback interface only, so pods are meant to run with `hostNetwork: true`.

Why it is configured as it is (see hack/realnode/README.md for the whole account):
- `--node-ip 127.0.0.1` is refused by the kubelet ("nodeIP can't be loopback"), and without it the
  kubelet would report the machine's default-route address. With `--cloud-provider=external` and
  no node IP it reports only its Hostname and leaves addresses to a cloud controller; this module
  plays that controller: it sets InternalIP 127.0.0.1 (so `kubectl logs` reaches the kubelet on
  loopback) and removes the `uninitialized` taint.
- The kubelet's cgroups live under their own root (`/kwf-<hash of the data dir>`), so two dev
  nodes on one machine (other sessions, CI jobs) never share `/kubepods`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from kube_workflows_devtools.controlplane import ClusterState, DevCluster
    from kube_workflows_devtools.pki import KeyPair

NODE_BINARIES = ("kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl")
CNI_PLUGINS = ("loopback",)
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"


def _hack_script(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "hack" / name


def _built_dir(env: str, script: str, what: str) -> Path:
    """$env if set, else what `hack/<script>` prints (it builds, or reuses its cache)."""
    if os.environ.get(env):
        return Path(os.environ[env])
    from kube_workflows_devtools.controlplane import ClusterError

    path = _hack_script(script)
    if not path.is_file():
        raise ClusterError(f"{what} not found: set {env} or run from a kube-workflows checkout ({path})")
    # Its progress and errors (a missing prerequisite, named) go straight to our stderr.
    out = subprocess.run(["bash", str(path)], check=False, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        raise ClusterError(f"{what}: hack/{script} failed (exit {out.returncode}); its messages are above")
    return Path(out.stdout.strip().splitlines()[-1])


def find_node_binaries() -> Path:
    """The kubelet, containerd, runc, CNI plugins and crictl: $KWF_REALNODE_BIN or hack/build-realnode.sh."""
    directory = _built_dir("KWF_REALNODE_BIN", "build-realnode.sh", "node binaries")
    missing = [b for b in NODE_BINARIES if not (directory / b).exists()]
    missing += [f"cni/{p}" for p in CNI_PLUGINS if not (directory / "cni" / p).exists()]
    if missing:
        from kube_workflows_devtools.controlplane import ClusterError

        raise ClusterError(f"{directory} lacks {', '.join(missing)}; rerun hack/build-realnode.sh")
    return directory


def find_image_archives() -> list[Path]:
    """OCI archives to load into containerd: $KWF_IMAGES_DIR or what hack/build-images.sh built."""
    directory = _built_dir("KWF_IMAGES_DIR", "build-images.sh", "images")
    return sorted(directory.glob("*.oci.tar"))


class RealNode:
    """containerd + kubelet for one dev cluster, in `<data dir>/realnode`."""

    def __init__(self, cluster: DevCluster) -> None:
        self.cluster = cluster
        self.dir = cluster.data_dir / "realnode"
        self.socket = self.dir / "containerd.sock"
        tag = hashlib.sha256(str(cluster.data_dir).encode()).hexdigest()[:10]
        self.cgroup_root = f"/kwf-{tag}"

    # --- commands against the runtime ----------------------------------------------------------
    def bin_dir(self) -> Path:
        state = self.cluster.load_state()
        if state and "containerd" in state.commands:
            return Path(state.commands["containerd"][0]).parent
        return find_node_binaries()

    def crictl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`crictl` against this node's containerd, e.g. `crictl("ps", "-a")`."""
        return subprocess.run(
            [str(self.bin_dir() / "crictl"), f"--runtime-endpoint=unix://{self.socket}", "--timeout=30s", *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir() / "ctr"), f"--address={self.socket}", "--namespace=k8s.io", *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def container_ids(self, namespace: str, pod: str, container: str = "runner") -> list[str]:
        """Ids of the running containers named `container` in a pod (a list of one, normally)."""
        out = self.crictl(
            "ps",
            "-q",
            "--state=Running",
            f"--namespace={namespace}",
            f"--pod={self._pod_id(namespace, pod)}",
            f"--name=^{container}$",
        ).stdout
        return out.split()

    def _pod_id(self, namespace: str, pod: str) -> str:
        ids = self.crictl("pods", "-q", f"--namespace={namespace}", f"--name=^{pod}$", "--state=Ready").stdout.split()
        if not ids:
            raise LookupError(f"no ready sandbox for pod {namespace}/{pod} on the real node")
        return ids[0]

    # --- up ----------------------------------------------------------------------------------
    def start(
        self,
        state: ClusterState,
        node_pair: KeyPair,
        launch: Callable[[str, list[str], Callable[[], bool]], None],
        log: Callable[[str], None],
    ) -> None:
        """Write the configs, start containerd, load the images, start the kubelet and wait for Ready."""
        from kube_workflows_devtools.controlplane import NODE_NAME, free_port

        bins = find_node_binaries()
        archives = find_image_archives()
        for sub in ("containerd/root", "containerd/state", "cni", "kubelet", "pod-logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "cni" / "10-loopback.conflist").write_text(json.dumps(LOOPBACK_CNI))
        (self.dir / "containerd.toml").write_text(containerd_config(self.dir, bins))
        launch(
            "containerd",
            [str(bins / "containerd"), f"--config={self.dir / 'containerd.toml'}"],
            lambda: self.crictl("version", check=False).returncode == 0,
        )
        for archive in archives:
            log(f"loading {archive.name} into containerd")
            self.ctr("images", "import", str(archive))
        kubeconfig = self.dir / "kubelet.kubeconfig"
        self.cluster._write_kubeconfig(state, node_pair, kubeconfig)
        config = kubelet_config(
            port=state.node_port,
            healthz_port=free_port(),
            socket=self.socket,
            pki=self.cluster.pki_dir,
            pair=node_pair,
            pod_logs=self.dir / "pod-logs",
            cgroup_root=self.cgroup_root,
        )
        (self.dir / "kubelet.yaml").write_text(yaml.safe_dump(config))
        _ensure_cgroup(self.cgroup_root)
        launch(
            "kubelet",
            [
                str(bins / "kubelet"),
                f"--config={self.dir / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.dir / 'kubelet'}",
                f"--hostname-override={NODE_NAME}",
                "--cloud-provider=external",
                "--v=2",
            ],
            lambda: self._initialize(NODE_NAME),
        )

    def _initialize(self, node: str) -> bool:
        """What a cloud controller does for a new node: addresses, then lift the `uninitialized` taint."""
        current = self.cluster._get(f"/api/v1/nodes/{node}")
        if not current:
            return False
        status: dict[str, Any] = current.get("status") or {}  # type: ignore[assignment]
        if not any(a.get("type") == "InternalIP" for a in status.get("addresses", [])):
            self._patch(
                f"/api/v1/nodes/{node}/status",
                {
                    "status": {
                        "addresses": [
                            {"type": "InternalIP", "address": "127.0.0.1"},
                            {"type": "Hostname", "address": node},
                        ]
                    }
                },
            )
        taints = (current.get("spec") or {}).get("taints") or []  # type: ignore[attr-defined]
        if any(t.get("key") == UNINITIALIZED_TAINT for t in taints):
            kept = [t for t in taints if t.get("key") != UNINITIALIZED_TAINT]
            self._patch(f"/api/v1/nodes/{node}", {"spec": {"taints": kept or None}})
        return self.cluster._node_ready()

    def _patch(self, path: str, body: dict[str, Any]) -> None:
        state = self.cluster.load_state()
        assert state is not None
        request = urllib.request.Request(
            state.server + path,
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=self.cluster._ssl_context()):
            pass

    # --- down --------------------------------------------------------------------------------
    def stop(self, pids: dict[str, int], grace: float) -> list[str]:
        """Stop the kubelet, remove every pod's containers, stop containerd and its shims, unmount."""
        from kube_workflows_devtools.controlplane import _alive, _stop_group

        stopped = []
        if pids.get("kubelet") and _alive(pids["kubelet"]):
            _stop_group(pids["kubelet"], grace)
            stopped.append("kubelet")
        if pids.get("containerd") and _alive(pids["containerd"]):
            # The shims outlive containerd by design; remove the pods while containerd still runs.
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self.crictl("rmp", "--all", "--force", check=False)
            _stop_group(pids["containerd"], grace)
            stopped.append("containerd")
        self._kill_shims()
        self._unmount()
        _remove_cgroup(self.cgroup_root)
        return stopped

    def _kill_shims(self) -> None:
        # A shim started by this node's containerd has `-address <our socket>` on its command line.
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(self.socket).encode() in argv:
                    os.kill(int(proc.name), signal.SIGKILL)

    def _unmount(self) -> None:
        root = str(self.dir)
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(root)]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


LOOPBACK_CNI: dict[str, Any] = {"cniVersion": "1.0.0", "name": "kwf-loopback", "plugins": [{"type": "loopback"}]}


def containerd_config(directory: Path, bins: Path) -> str:
    """containerd 2.x config (version 3): own root, state and socket; CRI on loopback; our runc."""
    return f"""version = 3
root = "{directory / "containerd/root"}"
state = "{directory / "containerd/state"}"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{directory / "containerd.sock"}"

[ttrpc]
  address = "{directory / "containerd.sock.ttrpc"}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{directory / "containerd/opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_tcp_service = true

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{SANDBOX_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  # Root here may lack CAP_SYS_RESOURCE, and then cannot lower an oom_score_adj below its own: the
  # sandbox's -998 made runc's init die ("can't get final child's PID from pipe: EOF"; runc --debug:
  # "failed to update /proc/self/oom_score_adj: Permission denied"). Clamp to containerd's own score.
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["{bins / "cni"}"]
  conf_dir = "{directory / "cni"}"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "{bins / "runc"}"
  # Not the default /run/containerd/runc: another containerd on the machine may use that.
  Root = "{directory / "runc"}"
"""


def kubelet_config(
    *, port: int, healthz_port: int, socket: Path, pki: Path, pair: KeyPair, pod_logs: Path, cgroup_root: str
) -> dict[str, Any]:
    """The KubeletConfiguration: loopback only, cgroup v1 allowed, no image GC of the local images."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(pair.cert),
        "tlsPrivateKeyFile": str(pair.key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failCgroupV1": False,
        "failSwapOn": False,
        "podLogsDir": str(pod_logs),
        # No registry to pull from again: keep every image.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
    }


def _cgroup_dirs(root: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    return [h / root.lstrip("/") for h in base.iterdir() if h.is_dir() and not h.is_symlink() and h.name != "unified"]


def _remove_cgroup(root: str) -> None:
    """Remove the node's (by now empty) cgroup trees, deepest first."""
    for top in _cgroup_dirs(root):
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _ensure_cgroup(root: str) -> None:
    """The kubelet wants its cgroup root to exist in every v1 hierarchy it uses."""
    for directory in _cgroup_dirs(root):
        with contextlib.suppress(OSError):
            directory.mkdir(exist_ok=True)
