"""`kwf dev up|down|status|logs|kill`: the local dev cluster (development and tests only).

`add_parser` is this distribution's `kube_workflows.cli` entry point (see `kube_workflows.cli.plugins`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from kube_workflows_devtools.controlplane import ClusterError, DevCluster


def _cluster(args: argparse.Namespace) -> DevCluster:
    return DevCluster(args.data_dir, bin_dir=getattr(args, "bin_dir", None))


def _up(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    try:
        cluster.up(node=args.node)
    except ClusterError as exc:
        print(f"kwf dev up: {exc}", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = _cluster(args).down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"), file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    for name, state in cluster.status().items():
        print(f"{name:<24} {state}")
    if cluster.kubeconfig.exists():
        print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0 if cluster.is_up() else 1


def _split(pod: str) -> tuple[str, str]:
    namespace, _, name = pod.rpartition("/")
    return namespace or "default", name


def _logs(args: argparse.Namespace) -> int:
    from kube_workflows_devtools.node import pod_log_path

    namespace, name = _split(args.pod)
    path = pod_log_path(_cluster(args).data_dir / "node", namespace, name, args.container)
    if not path.exists():
        print(
            f"kwf dev logs: no log for {namespace}/{name} container {args.container} on the local node",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(path.read_text(errors="replace"))
    return 0


def _kill(args: argparse.Namespace) -> int:
    from kube_workflows_devtools.node import kill_pod_processes

    namespace, name = _split(args.pod)
    try:
        pids = kill_pod_processes(_cluster(args).data_dir / "node", namespace, name, signal.Signals[args.signal])
    except LookupError as exc:
        print(f"kwf dev kill: {exc}", file=sys.stderr)
        return 1
    print(f"sent {args.signal} to {namespace}/{name} (pids {', '.join(map(str, pids))})")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="a local control plane + local node, for development and tests")
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the cluster keeps its state (default: $TMPDIR/kwf-dev-cluster)",
    )
    commands = dev.add_subparsers(dest="dev_command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start (or keep) the dev cluster; prints export KUBECONFIG=...")
    up.add_argument("--bin-dir", type=Path, default=None, help="directory with etcd and kube-* binaries")
    up.add_argument(
        "--node",
        choices=["local", "kubelet"],
        default="local",
        help="local: the stand-in node (pods as host processes); kubelet: a real kubelet with containerd "
        "and runc (pods as containers from images; needs root, hack/build-realnode.sh, hack/build-images.sh)",
    )
    up.set_defaults(func=_up)
    commands.add_parser("down", help="stop every process the dev cluster started").set_defaults(func=_down)
    commands.add_parser("status", help="which components run").set_defaults(func=_status)
    logs = commands.add_parser("logs", help="a pod's container log on the local node")
    logs.add_argument("pod", help="NAMESPACE/POD")
    logs.add_argument("-c", "--container", default="runner")
    logs.set_defaults(func=_logs)
    kill = commands.add_parser("kill", help="signal a pod's processes without telling the API (a crash)")
    kill.add_argument("pod", help="NAMESPACE/POD")
    kill.add_argument("--signal", default="SIGKILL", choices=["SIGKILL", "SIGTERM", "SIGSTOP", "SIGCONT"])
    kill.set_defaults(func=_kill)
