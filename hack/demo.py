"""`make demo`: the dev cluster, the operator, the guide's three examples, a pod killed mid-run, and a
run that waits for a person with no pod running.

Leaves the cluster and operator running so you can explore with kubectl; `make cluster-down` stops both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAMESPACE = "kwf-demo"
# The WorkflowRuns in examples/0*.yaml.
EXAMPLE_RUNS = ("instance-state-1", "instance-state-2", "counter-a", "counter-b", "sqlite-a", "sqlite-b", "documents")


def say(message: str) -> None:
    print(f"\n\033[1m==> {message}\033[0m", flush=True)


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run([str(BIN / "kubectl"), *args], input=input, capture_output=True, text=True)
    if check and result.returncode:
        sys.exit(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def run_status(name: str) -> dict[str, Any]:
    out = kubectl("get", "wfr", name, "-n", NAMESPACE, "-o", "json", check=False)
    return (json.loads(out).get("status") or {}) if out else {}


def wait(what: str, check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    sys.exit(f"timed out waiting for {what}")


def free_port() -> int:
    from kube_workflows_devtools.controlplane import free_port as pick

    return pick()


def main() -> None:
    from kube_workflows_devtools.controlplane import DevCluster
    from kube_workflows_devtools.node import kill_pod_processes

    started = time.monotonic()
    say("Starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler) + local node")
    cluster = DevCluster()
    cluster.up()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)

    say("Installing the Helm chart: CRD, operator Deployment, ServiceAccount, RBAC")
    helm = subprocess.run(
        ["bash", str(REPO / "hack" / "build-helm.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    # The local node runs pods as host processes, so the operator pod's ports are host ports: pick free ones.
    installed = subprocess.run(
        [
            helm,
            "upgrade",
            "--install",
            "kube-workflows",
            str(REPO / "charts" / "kube-workflows"),
            "--namespace",
            "kwf-system",
            "--create-namespace",
            "--set",
            "image.repository=local",
            "--set",
            "image.tag=dev",
            "--set",
            f"healthPort={free_port()}",
            "--set",
            "metrics.enabled=true",
            "--set",
            f"metrics.port={free_port()}",
            "--wait",
            "--timeout",
            "180s",
        ],
        capture_output=True,
        text=True,
    )
    if installed.returncode:
        sys.exit(f"helm install failed: {installed.stderr}")
    print(
        kubectl(
            "get",
            "deployment,serviceaccount,clusterrole",
            "-n",
            "kwf-system",
            "-l",
            "app.kubernetes.io/instance=kube-workflows",
        ).rstrip()
    )
    kubectl("create", "namespace", NAMESPACE, check=False)
    for name in (*EXAMPLE_RUNS, "release-notes"):
        kubectl("delete", "wfr", name, "-n", NAMESPACE, "--ignore-not-found", "--wait=true")

    say("Applying the guide's three examples (examples/*.yaml)")
    for manifest in sorted((REPO / "examples").glob("0*.yaml")):
        print(kubectl("apply", "-n", NAMESPACE, "-f", str(manifest)).rstrip())

    say("Waiting for the document pipeline to checkpoint 6 documents, then killing its pod (SIGKILL)")
    wait(
        "6 checkpoints",
        lambda: (run_status("documents").get("checkpoint") or {}).get("stepsCompleted", 0) >= 7,
    )
    pod = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-l", "kube-workflows.dev/run=documents", "-o", "json"))[
        "items"
    ][0]["metadata"]["name"]
    before = run_status("documents")["checkpoint"]
    kill_pod_processes(cluster.data_dir / "node", NAMESPACE, pod)
    print(f"killed pod {pod} after checkpoint {before['seq']} ({before['stepsCompleted']} steps done)")
    resumed = wait("a new pod", lambda: run_status("documents").get("restarts"))
    print(f"a new pod took over (restarts: {resumed}); it resumes from checkpoint {before['seq']}")

    say("Results (status.result of each WorkflowRun)")
    for name in EXAMPLE_RUNS:
        status = wait(
            f"{name} to finish",
            lambda n=name: (lambda s: s if s.get("phase") in ("Succeeded", "Failed") else None)(run_status(n)),
        )
        print(f"{name:<18} {status['phase']:<10} {json.dumps(status.get('result') or status.get('error'))}")
    docs = run_status("documents")
    attempts = [s["attempt"] for s in docs["steps"]]
    print(
        f"\ndocuments: {len(attempts)} step records, attempts {sorted(set(attempts))}, "
        f"restarts {docs.get('restarts')}; processed_by_pod adds up to "
        f"{sum(docs['result']['processed_by_pod'].values())} of {docs['result']['documents']} documents: "
        "no document was processed twice"
    )
    print(kubectl("get", "wfr", "-n", NAMESPACE))
    say("kwf describe documents: the step timeline shows where the pod died and the next one resumed")
    print(
        subprocess.run(
            [str(BIN / "kwf"), "describe", "documents", "-n", NAMESPACE], capture_output=True, text=True
        ).stdout
    )

    say("Human in the loop: a run that waits for an answer parks with no pod (examples/human-in-the-loop.yaml)")
    print(kubectl("apply", "-n", NAMESPACE, "-f", str(REPO / "examples" / "human-in-the-loop.yaml")).rstrip())
    waiting = wait(
        "the question", lambda: (lambda s: s if s.get("phase") == "Waiting" else None)(run_status("release-notes"))
    )
    print(f"Waiting: {waiting['waiting']['requests'][0]['prefix']}")
    wait(
        "its pod to be gone",
        lambda: (
            not json.loads(
                kubectl("get", "pods", "-n", NAMESPACE, "-l", "kube-workflows.dev/run=release-notes", "-o", "json")
            )["items"]
        ),
    )
    print("pods of release-notes while it waits: none")
    print('$ kwf send-event release-notes --data \'{"response": "yes"}\' --wait')
    answered = subprocess.run(
        [str(BIN / "kwf"), "send-event", "release-notes", "-n", NAMESPACE, "--data", '{"response": "yes"}', "--wait"],
        capture_output=True,
        text=True,
    )
    print((answered.stderr + answered.stdout).rstrip())

    say(f"Done in {time.monotonic() - started:.0f}s. Explore:")
    print(f"""  export KUBECONFIG={cluster.kubeconfig}
  kubectl get wfr -n {NAMESPACE}                 # phase, step, checkpoint, restarts
  kwf describe documents -n {NAMESPACE}          # the step timeline, checkpoint, pods, events
  kwf submit kwf_examples.documents:DocumentPipeline -n {NAMESPACE} --input documents=5 --wait
  kubectl describe wfr documents -n {NAMESPACE}  # conditions, events
  kubectl get wfr documents -n {NAMESPACE} -o jsonpath='{{.status.steps}}'
  kubectl logs -n {NAMESPACE} -l kube-workflows.dev/run=documents
  kubectl explain workflowrun.spec
  kubectl logs -n kwf-system deployment/kube-workflows   # the operator (a pod on the local node)
  make cluster-down                              # stop the cluster and everything on it""")


if __name__ == "__main__":
    main()
