"""The real node's containerd and kubelet configs: loopback only, nothing shared with another node."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kube_workflows_devtools.pki import KeyPair
from kube_workflows_devtools.realnode import LOOPBACK_CNI, containerd_config, kubelet_config


def test_containerd_keeps_to_its_own_dirs_and_clamps_oom_scores() -> None:
    config = tomllib.loads(containerd_config(Path("/d/realnode"), Path("/bin/node")))
    assert config["version"] == 3
    assert (config["root"], config["state"], config["grpc"]["address"]) == (
        "/d/realnode/containerd/root",
        "/d/realnode/containerd/state",
        "/d/realnode/containerd.sock",
    )
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    # Without it, sandboxes (oom_score_adj -998) fail where root lacks CAP_SYS_RESOURCE.
    assert runtime["restrict_oom_score_adj"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc == {"BinaryName": "/bin/node/runc", "Root": "/d/realnode/runc"}
    assert runtime["cni"] == {"bin_dirs": ["/bin/node/cni"], "conf_dir": "/d/realnode/cni"}
    assert config["plugins"]["io.containerd.grpc.v1.cri"]["stream_server_address"] == "127.0.0.1"
    assert config["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"


def test_kubelet_serves_on_loopback_only_under_its_own_cgroup_root() -> None:
    config = kubelet_config(
        port=10250,
        healthz_port=10248,
        socket=Path("/d/realnode/containerd.sock"),
        pki=Path("/d/pki"),
        pair=KeyPair(Path("/d/pki/node.crt"), Path("/d/pki/node.key")),
        pod_logs=Path("/d/realnode/pod-logs"),
        cgroup_root="/kwf-abc",
    )
    assert config["address"] == config["healthzBindAddress"] == "127.0.0.1"
    assert config["readOnlyPort"] == 0
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["containerRuntimeEndpoint"] == "unix:///d/realnode/containerd.sock"
    assert (config["cgroupRoot"], config["failCgroupV1"], config["cgroupDriver"]) == ("/kwf-abc", False, "cgroupfs")
    assert config["imageGCHighThresholdPercent"] == 100  # nothing could be pulled back


def test_pods_get_a_loopback_interface_and_nothing_else() -> None:
    assert [p["type"] for p in LOOPBACK_CNI["plugins"]] == ["loopback"]
