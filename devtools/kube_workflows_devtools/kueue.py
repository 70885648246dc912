"""Run Kueue's manager against the dev cluster: a local process with its webhooks on 127.0.0.1.

`hack/build-kueue.sh` builds the manager from its Go module and keeps the module's CRDs and webhook
configuration beside it. `Kueue.start` installs the CRDs, issues the webhook server a certificate
from the dev cluster's CA, points Kueue's webhook configurations at https://127.0.0.1:<port> (the
manifests name an in-cluster Service), and starts the manager; `stop` removes the webhook
configurations again (with failurePolicy Fail they would refuse every Job once the manager is gone)
and stops it. Only batch/v1 Jobs are integrated, and only Jobs that name a queue are managed.

    kueue = Kueue(DevCluster(data_dir))
    kueue.start()     # KUBECONFIG of the dev cluster; waits until the webhooks answer
    ...
    kueue.stop()
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kube_workflows_devtools import pki
from kube_workflows_devtools.controlplane import ClusterError, DevCluster, cache_dir, free_port

KUEUE_VERSION = "v0.17.0"
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "build-kueue.sh"
WEBHOOK_CONFIGURATIONS = ("kueue-mutating-webhook-configuration", "kueue-validating-webhook-configuration")
# The webhooks this manager serves with only the batch/job integration: its own kinds, and Jobs.
_SERVED = ("kueue-x-k8s-io", "batch-v1-job")


def find_kueue() -> Path:
    """The cached build (hack/build-kueue.sh builds it when missing, from a checkout)."""
    built = cache_dir() / "bin" / f"kueue-{KUEUE_VERSION}"
    if (built / "kueue").is_file() and (built / "webhooks.yaml").is_file():
        return built
    if not BUILD_SCRIPT.is_file():
        raise ClusterError(f"Kueue {KUEUE_VERSION} is not built in {built}; run hack/build-kueue.sh from a checkout")
    env = {**os.environ, "KUEUE_VERSION": KUEUE_VERSION}
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True, env=env)
    return Path(out.stdout.strip().splitlines()[-1])


def webhook_configurations(manifests: str, url: str, ca_bundle: bytes) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, renamed and pointed at `url` (+ each webhook's path), keeping
    only the webhooks this manager serves."""
    configurations = []
    for document in yaml.safe_load_all(manifests):
        if not document:
            continue
        name = "kueue-" + document["metadata"]["name"]
        webhooks = []
        for webhook in document.get("webhooks") or []:
            path = webhook["clientConfig"]["service"]["path"]
            if not any(part in path for part in _SERVED):
                continue
            webhook["clientConfig"] = {"url": url + path, "caBundle": base64.b64encode(ca_bundle).decode()}
            webhooks.append(webhook)
        configurations.append({**document, "metadata": {"name": name}, "webhooks": webhooks})
    return configurations


def manager_configuration(*, webhook_port: int, health_port: int, cert_dir: Path) -> dict[str, Any]:
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": "0"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
    }


# Without internal certificate management the manager reads its metrics server's certificate from this
# fixed path, even with metrics off (cmd/kueue/main.go).
METRICS_CERT_DIR = Path("/etc/kueue/metrics/certs")


def _metrics_certificates(pair: pki.KeyPair) -> None:
    try:
        METRICS_CERT_DIR.mkdir(parents=True, exist_ok=True)
        (METRICS_CERT_DIR / "tls.crt").write_bytes(pair.cert.read_bytes())
        (METRICS_CERT_DIR / "tls.key").write_bytes(pair.key.read_bytes())
    except PermissionError as exc:
        raise ClusterError(
            f"Kueue's manager reads a certificate from {METRICS_CERT_DIR} (a fixed path): create that "
            f"directory writable for this user, or run as root ({exc})"
        ) from exc


class Kueue:
    def __init__(self, cluster: DevCluster, directory: Path | None = None) -> None:
        self.cluster = cluster
        self.directory = directory or cluster.data_dir / "kueue"
        self.log = self.directory / "kueue.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = 0

    def _kubectl(self, *args: str, stdin: str | None = None) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        # The one beside this interpreter (the Makefile's venv has it), else PATH's.
        beside = Path(sys.executable).with_name("kubectl")
        kubectl = str(beside) if beside.is_file() else (shutil.which("kubectl") or "kubectl")
        done = subprocess.run([kubectl, *args], env=env, input=stdin, text=True, capture_output=True)
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)

    def start(self, timeout: float = 120) -> None:
        built = find_kueue()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._kubectl("apply", "--server-side", "-f", str(built / "crds"))
        for attempt in range(20):  # `kubectl wait` fails, not waits, while a new CRD has no conditions yet
            try:
                self._kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/workloads.kueue.x-k8s.io")
                break
            except subprocess.CalledProcessError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        ca = pki.CertificateAuthority(self.cluster.pki_dir)
        pair = ca.issue("kueue-webhook", "kueue-webhook", server=True, dns_names=("localhost",), ips=("127.0.0.1",))
        cert_dir = self.directory / "certs"
        cert_dir.mkdir(exist_ok=True)
        (cert_dir / "tls.crt").write_bytes(pair.cert.read_bytes())
        (cert_dir / "tls.key").write_bytes(pair.key.read_bytes())
        _metrics_certificates(pair)
        webhook_port, self.health_port = free_port(), free_port()
        config = self.directory / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                manager_configuration(webhook_port=webhook_port, health_port=self.health_port, cert_dir=cert_dir)
            )
        )
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), "POD_NAMESPACE": "kueue-system"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(built / "kueue"),
                    f"--config={config}",
                    # Its aggregated API would want a Service and delegated authentication.
                    "--feature-gates=VisibilityOnDemand=false",
                    "--zap-log-level=2",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        url = f"https://127.0.0.1:{webhook_port}"
        configurations = webhook_configurations((built / "webhooks.yaml").read_text(), url, ca.cert_path.read_bytes())
        self._kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(configurations))
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ClusterError(f"kueue exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ClusterError(f"kueue not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        for name in WEBHOOK_CONFIGURATIONS:
            kind = "mutatingwebhookconfiguration" if "mutating" in name else "validatingwebhookconfiguration"
            self._kubectl("delete", kind, name, "--ignore-not-found")
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
