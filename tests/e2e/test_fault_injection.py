"""Fault injection at every write boundary of the runner, for every shape of run (issue: durability).

Each cell runs a WorkflowRun whose first pod hits a failpoint (`KWF_FAILPOINTS`, see
`kube_workflows.runner.failpoints`) at one boundary:
- `crash`: the pod dies there (exit 137, as after SIGKILL); the operator and the Job resume the run;
- `pause`: the pod stops itself there (SIGSTOP: a node that stopped answering); a replacement runner
  claims the run and carries on; then the stale pod is continued and must change nothing.

Invariants per cell, against an uninterrupted run of the same shape: the run Succeeds with the same
result and the same step records; every side effect happened, and at most the steps in flight at the
fault ran twice; every checkpoint that status points at (latest and history) is intact. The matrix is
printed as `cells passed / cells`. `KWF_FAULT_CELLS=<regex>` picks cells (e.g. `offloaded`).
The `postgres` shape keeps its Contexts in the session's PostgreSQL (spec.checkpoint.store): there the
"chunk" boundaries are the Context's database write.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from kube_workflows.checkpoint import decode_checkpoint
from kube_workflows.runner.reporter import chunk_payload
from kube_workflows_devtools.node import pod_pids
from support import KWF, Cluster, OperatorProcess, wait_for, workflow_run


@dataclass(frozen=True)
class Shape:
    name: str
    workflow: str
    input: dict[str, Any]
    spec: dict[str, Any]
    points: tuple[str, ...]
    in_flight: int = 1  # steps that may be running at once, so may run again after a fault
    answers: tuple[dict[str, Any], ...] = ()


CHAIN = "kwf_testflows.steps:StepChain"
SHAPES = (
    Shape(
        "inline",
        CHAIN,
        {"steps": 5, "delay": 0.1},
        {},
        ("after-claim", "before-checkpoint@3", "after-checkpoint@3", "before-final", "after-final"),
    ),
    Shape(
        "offloaded",
        CHAIN,
        {"steps": 5, "delay": 0.1, "pad": 8192},
        {"checkpoint": {"inlineLimitBytes": 1024}},
        ("before-chunk@3", "after-chunk@3", "before-checkpoint@3", "after-checkpoint@3", "before-final", "after-final"),
    ),
    Shape(
        "postgres",
        CHAIN,
        {"steps": 5, "delay": 0.1, "pad": 8192},
        {"checkpoint": {"store": {"postgres": {"dsnSecretRef": {"name": "checkpoints-db", "key": "dsn"}}}}},
        ("before-chunk@3", "after-chunk@3", "before-checkpoint@3", "after-checkpoint@3", "before-final", "after-final"),
    ),
    Shape(
        "history",
        CHAIN,
        {"steps": 6, "delay": 0.1},
        {"checkpoint": {"history": 2}},
        ("before-chunk@4", "after-chunk@4", "before-checkpoint@4", "after-checkpoint@4"),
    ),
    Shape(
        "fanout",
        "kwf_testflows.fanout:FanOut",
        {"items": 8, "delay": 0.3},
        {},
        ("before-checkpoint@4", "after-checkpoint@4", "before-final"),
        in_flight=4,
    ),
    Shape(
        "waiting",
        "kwf_testflows.questions:Questions",
        {},
        {},
        # Attempt 1 asks the first question; each answer starts the next attempt (#2, #3).
        (
            "before-park",
            "after-park",
            "after-checkpoint@1#2",
            "before-checkpoint@2#2",
            "before-park#2",
            "before-final#3",
        ),
        answers=({"data": {"response": "Ada"}}, {"data": {"response": "red"}}),
    ),
)


@dataclass
class Cell:
    shape: Shape
    point: str
    action: str
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return cell_name(self.shape, self.point, self.action)


def cell_name(shape: Shape, point: str, action: str) -> str:
    return f"{shape.name}-{point.replace('@', '-').replace('#', '-a')}-{action}"


def side_effects(path: Path) -> Counter[str]:
    """What the steps recorded: "step 3", "item 5", "greet", ... with how often."""
    if not path.exists():
        return Counter()
    # StepChain and FanOut write "<what> <i> <pod> <attempt>", Questions "<what> <attempt>".
    lines = [line.split() for line in path.read_text().splitlines()]
    return Counter(" ".join(words[:2]) if len(words) == 4 else words[0] for words in lines)


def answer_when_waiting(cluster: Cluster, namespace: str, name: str, answers: tuple[dict[str, Any], ...]) -> None:
    run = cluster.run(namespace, name)
    status = run.get("status") or {}
    index = int((status.get("waiting") or {}).get("eventIndex") or 0)
    if status.get("phase") == "Waiting" and len(run["spec"].get("events") or []) == index < len(answers):
        patch = [{"op": "add", "path": "/spec/events/-", "value": answers[index]}]
        if index == 0:
            patch = [{"op": "add", "path": "/spec/events", "value": [answers[0]]}]
        cluster.kubectl("patch", "wfr", name, "-n", namespace, "--type=json", "-p", json.dumps(patch))


def finish(cluster: Cluster, namespace: str, name: str, shape: Shape, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer_when_waiting(cluster, namespace, name, shape.answers)
        status = cluster.run(namespace, name).get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed", "Cancelled"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"{name} did not finish in {timeout}s: {json.dumps(status)[:2000]}")


def intact(cluster: Cluster, namespace: str, run: dict[str, Any], dsn: str) -> list[str]:
    """Problems with the checkpoints status points at (latest, previous, history): each must decode and
    match its sha256."""
    problems = []
    status = run.get("status") or {}
    kept = [status.get("checkpoint"), status.get("previousCheckpoint"), *(status.get("history") or [])]
    for checkpoint in filter(None, kept):
        if checkpoint.get("storage") == "Omitted":
            continue
        data = checkpoint.get("data", "")
        if checkpoint.get("storage") == "PostgreSQL":
            key = f"{namespace}/{run['metadata']['name']}/{run['metadata']['uid']}"
            with psycopg.connect(dsn) as db:
                row = db.execute(
                    "SELECT data FROM kwf_contexts WHERE run_id = %s AND seq = %s", (key, checkpoint["seq"])
                ).fetchone()
            data = row[0] if row else ""
        elif checkpoint.get("chunks"):
            read = (
                cluster.core.read_namespaced_secret
                if checkpoint.get("storage") == "Secret"
                else cluster.core.read_namespaced_config_map
            )
            parts = [json.loads(read(n, namespace, _preload_content=False).data) for n in checkpoint["chunks"]]
            data = "".join(chunk_payload(p) for p in parts)
        try:
            decode_checkpoint(data, encoding=checkpoint.get("encoding", ""), sha256=checkpoint.get("sha256"))
        except Exception as exc:
            problems.append(f"checkpoint {checkpoint.get('seq')} is corrupt: {exc}")
    return problems


def stopped(cluster: Cluster, namespace: str, pod: str) -> bool:
    for pid in pod_pids(cluster.node_dir, namespace, pod).values():
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
                return True
        except OSError:  # it has just exited
            continue
    return False


def run_cell(cluster: Cluster, namespace: str, cell: Cell, reference: dict[str, Any], tmp: Path, dsn: str) -> Cell:
    shape, name = cell.shape, cell.name
    record = tmp / f"{name}.record"
    point, _, attempt = cell.point.partition("#")
    failpoint = f"{point}:{cell.action}" + (f"#{attempt}" if attempt else "")
    spec = {**shape.spec, "template": {"env": [{"name": "KWF_FAILPOINTS", "value": failpoint}]}}
    cluster.apply(workflow_run(name, shape.workflow, {**shape.input, "record": str(record)}, **spec), namespace)
    stale_exit: int | None = None
    if cell.action == "pause":

        def paused_pod() -> str | None:
            answer_when_waiting(cluster, namespace, name, shape.answers)  # the pause may come after an answer
            return next(
                (
                    p.metadata.name
                    for p in cluster.runner_pods(namespace, name)
                    if stopped(cluster, namespace, p.metadata.name)
                ),
                None,
            )

        pod_name = wait_for(f"{name}'s pod to pause at {cell.point}", paused_pod, timeout=180, interval=0.3)
        # As the Job would: with the DSN when the run's Contexts are in PostgreSQL.
        store = {"KWF_CHECKPOINT_DSN": dsn} if "store" in shape.spec.get("checkpoint", {}) else {}
        replacement = subprocess.Popen(
            [KWF, "runner"],
            env={
                **cluster.env(),
                **store,
                "KWF_RUN_NAME": name,
                "KWF_RUN_NAMESPACE": namespace,
                "KWF_POD_NAME": f"{name}-r",
            },
            stdout=subprocess.DEVNULL,
            stderr=(tmp / f"{name}.replacement.log").open("w"),
        )
        # The replacement runs until the run ends or parks, answering questions as they come.
        while replacement.poll() is None:
            answer_when_waiting(cluster, namespace, name, shape.answers)
            time.sleep(0.3)
        if replacement.returncode != 0:
            cell.problems.append(f"the replacement runner exited {replacement.returncode}")
        cluster.crash_pod(namespace, pod_name, signal.SIGCONT)

        def exit_code() -> int | None:
            for p in cluster.runner_pods(namespace, name):
                if p.metadata.name == pod_name:
                    terminated = (p.status.container_statuses or [None])[0]
                    state = terminated.state.terminated if terminated else None
                    return state.exit_code if state else None
            return -1  # gone: its Job was deleted after the run parked

        stale_exit = wait_for(
            f"{name}'s stale pod to exit", lambda: (lambda c: None if c is None else (c,))(exit_code()), 120
        )[0]
        if stale_exit not in (0, 6, -1):
            cell.problems.append(f"the stale pod exited {stale_exit}")
    status = finish(cluster, namespace, name, shape)
    if cell.action == "crash" and not status.get("restarts"):
        cell.problems.append("the failpoint never fired: no pod was lost")
    if status.get("phase") != "Succeeded":
        cell.problems.append(f"phase {status.get('phase')}: {json.dumps(status.get('conditions'))[:600]}")
        return cell
    if status.get("result") != reference["result"]:
        cell.problems.append(f"result {status.get('result')!r} != {reference['result']!r}")
    steps = Counter(s["name"] for s in status.get("steps") or [])
    if steps != reference["steps"]:
        cell.problems.append(f"step records {dict(steps)} != {dict(reference['steps'])}")
    effects = side_effects(record)
    missing = set(reference["effects"]) - set(effects)
    extra = sum(effects.values()) - sum(reference["effects"].values())
    if missing:
        cell.problems.append(f"side effects missing: {sorted(missing)}")
    # A fault can cost the steps in flight (and, for a stale pod, the one it finishes after resuming).
    allowed = shape.in_flight + (1 if cell.action == "pause" else 0)
    if extra > allowed:
        cell.problems.append(f"{extra} side effects ran again (at most {allowed} may): {dict(effects)}")
    cell.problems.extend(intact(cluster, namespace, cluster.run(namespace, name), dsn))
    return cell


def reference_run(cluster: Cluster, namespace: str, shape: Shape, tmp: Path) -> dict[str, Any]:
    name, record = f"{shape.name}-reference", tmp / f"{shape.name}-reference.record"
    cluster.apply(workflow_run(name, shape.workflow, {**shape.input, "record": str(record)}, **shape.spec), namespace)
    status = finish(cluster, namespace, name, shape)
    assert status["phase"] == "Succeeded", status
    return {
        "result": status["result"],
        "steps": Counter(s["name"] for s in status["steps"]),
        "effects": side_effects(record),
        "status": status,
    }


def test_every_write_boundary_crash_and_stale_writer(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path, postgres_dsn: str
) -> None:
    chosen = re.compile(os.environ.get("KWF_FAULT_CELLS", "."))
    cells = [
        Cell(shape, point, action)
        for shape in SHAPES
        for point in shape.points
        for action in ("crash", "pause")
        if chosen.search(cell_name(shape, point, action))
    ]
    assert cells, f"KWF_FAULT_CELLS={chosen.pattern!r} picks no cell"
    shapes = {c.shape.name: c.shape for c in cells}
    cluster.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "checkpoints-db"}, "stringData": {"dsn": postgres_dsn}}
    )
    with ThreadPoolExecutor(max_workers=len(shapes)) as pool:
        references = dict(
            zip(
                shapes, pool.map(lambda s: reference_run(cluster, namespace, s, tmp_path), shapes.values()), strict=True
            )
        )
    offloaded = references.get("offloaded")
    if offloaded:  # the shape is what it says
        assert offloaded["status"]["checkpoint"]["chunks"], "the offloaded shape's checkpoints stayed inline"
    postgres = references.get("postgres")
    if postgres:
        assert postgres["status"]["checkpoint"]["storage"] == "PostgreSQL", "the postgres shape's stayed in status"

    def attempt(cell: Cell) -> Cell:
        try:
            return run_cell(cluster, namespace, cell, references[cell.shape.name], tmp_path, postgres_dsn)
        except AssertionError as exc:
            cell.problems.append(str(exc)[:1500])
            return cell

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = list(pool.map(attempt, cells))
    failed = [c for c in done if c.problems]
    print(f"\nfault injection: {len(done) - len(failed)} cells passed / {len(done)} cells")
    for cell in done:
        print(f"  {'ok  ' if not cell.problems else 'FAIL'} {cell.name}")
    assert not failed, "\n".join(f"{c.name}: {'; '.join(c.problems)}" for c in failed)
