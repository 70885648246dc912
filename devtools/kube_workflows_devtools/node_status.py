"""Container and pod status of the local node, as a kubelet computes it.

Pure functions, unit-tested without a cluster: a `ContainerRecord` becomes a container status,
container statuses give the pod phase and conditions, and `build_pod_status` assembles the
`status` the node patches; plus the log tail of terminationMessagePolicy FallbackToLogsOnError.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kube_workflows_devtools.node_env import LOCAL_IP, Json

_FALLBACK_LINES, _FALLBACK_BYTES = 80, 2048  # terminationMessagePolicy: FallbackToLogsOnError


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
