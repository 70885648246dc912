"""The local node's pure parts: env resolution, container/pod status, log tails, pid helpers."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kube_workflows_devtools.node import kill_pod_processes, pod_log_path, pod_pids
from kube_workflows_devtools.node_env import (
    ContainerConfigError,
    base_env,
    container_argv,
    expand,
    fakes_run,
    resolve_container_env,
    volume_env_name,
    wants_service_account_token,
)
from kube_workflows_devtools.node_logs import tail_offset
from kube_workflows_devtools.node_status import (
    ContainerRecord,
    build_container_status,
    build_pod_status,
    log_tail,
    merge_conditions,
    pod_phase,
    restart_backoff,
    terminated,
    waiting,
)

Json = dict[str, Any]


def make_pod(**spec: Any) -> Json:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "0123456789ab",
            "generation": 1,
            "labels": {"app": "x"},
            "annotations": {"note": "hi"},
        },
        "spec": {
            "nodeName": "local-node",
            "serviceAccountName": "runner",
            "containers": [{"name": "main", "image": "img", "command": ["python"]}],
            **spec,
        },
    }


SECRETS: dict[tuple[str, str], dict[str, str]] = {("ns", "creds"): {"user": "alice", "pass": "s3cret"}}
CONFIGMAPS: dict[tuple[str, str], dict[str, str]] = {("ns", "settings"): {"level": "debug", "mode": "fast"}}


def secrets(namespace: str, name: str) -> Mapping[str, str] | None:
    return SECRETS.get((namespace, name))


def configmaps(namespace: str, name: str) -> Mapping[str, str] | None:
    return CONFIGMAPS.get((namespace, name))


def resolve(container: Json, pod: Json | None = None) -> dict[str, str]:
    return resolve_container_env(container, pod or make_pod(), secrets, configmaps)


# --- env ---------------------------------------------------------------------------------------
def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("cost: $5 $(A", env) == "cost: $5 $(A"
    assert expand("end$", env) == "end$"


def test_values_expand_earlier_variables_only() -> None:
    env = resolve(
        {
            "env": [
                {"name": "A", "value": "x"},
                {"name": "B", "value": "$(A)/$(C)"},
                {"name": "C", "value": "c"},
            ]
        }
    )
    assert env == {"A": "x", "B": "x/$(C)", "C": "c"}


def test_field_refs() -> None:
    paths = {
        "NAME": "metadata.name",
        "NS": "metadata.namespace",
        "UID": "metadata.uid",
        "LABEL": "metadata.labels['app']",
        "NOTE": "metadata.annotations['note']",
        "NODE": "spec.nodeName",
        "SA": "spec.serviceAccountName",
        "IP": "status.podIP",
        "HOST": "status.hostIP",
    }
    env = resolve({"env": [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}} for k, v in paths.items()]})
    assert env == {
        "NAME": "p",
        "NS": "ns",
        "UID": "0123456789ab",
        "LABEL": "x",
        "NOTE": "hi",
        "NODE": "local-node",
        "SA": "runner",
        "IP": "127.0.0.1",
        "HOST": "127.0.0.1",
    }


def test_secret_and_configmap_key_refs() -> None:
    env = resolve(
        {
            "env": [
                {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
                {
                    "name": "OPT",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope", "optional": True}},
                },
                {
                    "name": "OPT2",
                    "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}},
                },
            ]
        }
    )
    assert env == {"USER": "alice", "LEVEL": "debug"}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"secretKeyRef": {"name": "creds", "key": "nope"}}, "couldn't find key nope in Secret ns/creds"),
        ({"secretKeyRef": {"name": "gone", "key": "k"}}, 'secret "gone" not found'),
        (
            {"configMapKeyRef": {"name": "settings", "key": "x"}},
            "couldn't find key x in ConfigMap ns/settings",
        ),
        ({"fieldRef": {"fieldPath": "spec.bogus"}}, "not supported"),
        ({"resourceFieldRef": {"resource": "limits.cpu"}}, "not supported"),
    ],
)
def test_missing_required_sources_are_config_errors(ref: Json, message: str) -> None:
    with pytest.raises(ContainerConfigError, match=message):
        resolve({"env": [{"name": "X", "valueFrom": ref}]})


def test_env_from_with_prefix_then_env_wins() -> None:
    env = resolve(
        {
            "envFrom": [
                {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}},
                {"secretRef": {"name": "gone", "optional": True}},
            ],
            "env": [{"name": "user", "value": "bob"}, {"name": "L", "value": "$(CFG_level)"}],
        }
    )
    assert env == {"CFG_level": "debug", "CFG_mode": "fast", "user": "bob", "pass": "s3cret", "L": "debug"}
    with pytest.raises(ContainerConfigError, match='configmap "gone" not found'):
        resolve({"envFrom": [{"configMapRef": {"name": "gone"}}]})


def test_container_argv_expands_and_requires_a_command() -> None:
    container = {"name": "c", "command": ["python", "-c"], "args": ["print('$(MSG)')"]}
    assert container_argv(container, {"MSG": "hi"}) == ["python", "-c", "print('hi')"]
    with pytest.raises(ContainerConfigError, match="has no command"):
        container_argv({"name": "c", "args": ["x"]}, {})


def test_base_env_puts_the_venv_first_and_leaks_nothing(tmp_path: Path) -> None:
    host = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "SECRET_TOKEN": "x", "PYTHONPATH": "/src"}
    env = base_env(make_pod(), "https://127.0.0.1:6443", tmp_path, host)
    assert env["PATH"].split(os.pathsep) == [os.path.dirname(sys.executable), "/usr/bin"]
    assert env["HOME"] == str(tmp_path)
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert env["KWF_LOCAL_NODE"] == "1"
    assert env["LANG"] == "C.UTF-8" and env["PYTHONPATH"] == "/src"
    assert "SECRET_TOKEN" not in env


def test_fake_run_needs_both_the_node_flag_and_the_pod_annotation() -> None:
    pod = make_pod()
    annotated = make_pod()
    annotated["metadata"]["annotations"]["kube-workflows.dev/fake-run"] = "true"
    assert fakes_run(annotated, enabled=True)
    assert not fakes_run(annotated, enabled=False)  # a normal node ignores the annotation
    assert not fakes_run(pod, enabled=True)
    annotated["metadata"]["annotations"]["kube-workflows.dev/fake-run"] = "false"
    assert not fakes_run(annotated, enabled=True)
    del pod["metadata"]["annotations"]
    assert not fakes_run(pod, enabled=True)


def test_volume_env_name() -> None:
    assert volume_env_name("scratch-data.v1") == "KWF_VOLUME_SCRATCH_DATA_V1"


def test_service_account_token_follows_admission_and_opt_out() -> None:
    token_volume = {
        "name": "kube-api-access-x",
        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
    }
    assert wants_service_account_token(make_pod(volumes=[token_volume]))
    assert not wants_service_account_token(make_pod(volumes=[token_volume], automountServiceAccountToken=False))
    assert not wants_service_account_token(make_pod(volumes=[{"name": "v", "emptyDir": {}}]))


# --- status ------------------------------------------------------------------------------------
def test_terminated_state_maps_signals_like_a_shell() -> None:
    assert terminated(0, "a", "b")["terminated"]["reason"] == "Completed"
    failed = terminated(3, "a", "b", "boom", pid=42)["terminated"]
    assert failed == {
        "exitCode": 3,
        "reason": "Error",
        "startedAt": "a",
        "finishedAt": "b",
        "message": "boom",
        "containerID": "local://42",
    }
    killed = terminated(-signal.SIGKILL, "a", "b")["terminated"]
    assert (killed["exitCode"], killed["reason"]) == (137, "Error")
    assert terminated(-signal.SIGTERM, "a", "b")["terminated"]["exitCode"] == 143


def test_build_container_status() -> None:
    running = ContainerRecord("main", "img", pid=7, state={"running": {"startedAt": "t"}})
    status = build_container_status(running)
    assert status == {
        "name": "main",
        "image": "img",
        "imageID": "",
        "containerID": "local://7",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": "t"}},
        "lastState": {},
    }
    assert "containerID" not in build_container_status(ContainerRecord("w"))
    done_init = ContainerRecord("init", init=True, state=terminated(0, "a", "b"))
    assert build_container_status(done_init)["ready"] is True
    assert build_container_status(ContainerRecord("m", state=terminated(0, "a", "b")))["ready"] is False


def status_of(state: Json, last: Json | None = None, init: bool = False) -> Json:
    return build_container_status(ContainerRecord("c", init=init, state=state, last_state=last or {}))


RUNNING: Json = {"running": {"startedAt": "t"}}
OK, FAIL = terminated(0, "a", "b"), terminated(1, "a", "b")
BACKOFF = waiting("CrashLoopBackOff")


@pytest.mark.parametrize(
    ("policy", "init", "main", "phase"),
    [
        ("Never", [], [waiting("ContainerCreating")], "Pending"),
        ("Never", [], [RUNNING, OK], "Running"),
        ("Never", [], [OK, OK], "Succeeded"),
        ("Never", [], [OK, FAIL], "Failed"),
        ("OnFailure", [], [OK], "Succeeded"),
        ("OnFailure", [], [(BACKOFF, FAIL)], "Running"),
        ("Always", [], [OK], "Running"),
        ("Never", [RUNNING], [waiting("PodInitializing")], "Pending"),
        ("Never", [FAIL], [waiting("PodInitializing")], "Failed"),
        ("OnFailure", [(BACKOFF, FAIL)], [waiting("PodInitializing")], "Pending"),
        ("Never", [OK], [RUNNING], "Running"),
        ("Never", [], [waiting("CreateContainerConfigError")], "Pending"),
    ],
)
def test_pod_phase(policy: str, init: list[Any], main: list[Any], phase: str) -> None:
    def statuses(states: list[Any], is_init: bool) -> list[Json]:
        return [status_of(*s, init=is_init) if isinstance(s, tuple) else status_of(s, init=is_init) for s in states]

    assert pod_phase(policy, statuses(init, True), statuses(main, False)) == phase


def test_merge_conditions_keeps_transition_times_of_unchanged_conditions() -> None:
    before = [
        {"type": "Ready", "status": "False", "lastTransitionTime": "t0"},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "t0"},
    ]
    now = [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]
    merged = {c["type"]: c["lastTransitionTime"] for c in merge_conditions(before, now, "t1")}
    assert merged == {"Ready": "t1", "PodScheduled": "t0"}


def test_build_pod_status_running_then_succeeded() -> None:
    pod = make_pod(restartPolicy="Never")
    running = ContainerRecord("main", "img", pid=9, state={"running": {"startedAt": "t"}})
    status = build_pod_status(pod, [], [running], start_time="t0", previous_conditions=[], now="t1")
    assert status["phase"] == "Running"
    assert (status["podIP"], status["hostIP"], status["startTime"]) == ("127.0.0.1", "127.0.0.1", "t0")
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
        "PodScheduled": "True",
    }
    assert status["observedGeneration"] == 1 and "initContainerStatuses" not in status

    done = ContainerRecord("main", "img", pid=9, state=terminated(0, "t", "t2"))
    later = build_pod_status(pod, [], [done], start_time="t0", previous_conditions=status["conditions"], now="t2")
    assert later["phase"] == "Succeeded"
    ready = next(c for c in later["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == ("False", "PodCompleted", "t2")


def test_build_pod_status_terminal_override_and_init_containers() -> None:
    pod = make_pod(initContainers=[{"name": "setup"}])
    init = ContainerRecord("setup", init=True, state={"running": {"startedAt": "t"}})
    main = ContainerRecord("main", state=waiting("PodInitializing"))
    status = build_pod_status(pod, [init], [main], start_time="t0", previous_conditions=[], now="t1")
    assert status["phase"] == "Pending"
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["message"] == "containers with incomplete status: [setup]"
    deadline = ("Failed", "DeadlineExceeded", "too long")
    status = build_pod_status(pod, [init], [main], start_time="t0", previous_conditions=[], now="t1", terminal=deadline)
    assert (status["phase"], status["reason"], status["message"]) == deadline


def test_restart_backoff_doubles_up_to_ten_seconds() -> None:
    assert [restart_backoff(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


# --- logs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\n", 5, b"a\nb\n"),
        (b"a\nb\n", 0, b""),
        (b"", 3, b""),
    ],
)
def test_tail_offset(content: bytes, lines: int, expected: bytes) -> None:
    f = io.BytesIO(content)
    f.seek(tail_offset(f, lines))
    assert f.read() == expected


def test_tail_offset_spans_blocks() -> None:
    content = b"".join(b"line %05d %s\n" % (i, b"x" * 100) for i in range(2000))
    f = io.BytesIO(content)
    f.seek(tail_offset(f, 1500))
    assert f.read() == b"".join(content.splitlines(keepends=True)[-1500:])


def test_log_tail_only_reads_this_run(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_bytes(b"old run\n" + b"".join(b"%d\n" % i for i in range(100)))
    assert log_tail(log, start=len(b"old run\n")).split("\n") == [str(i) for i in range(20, 100)]
    assert log_tail(log, start=0, lines=1000, max_bytes=6) == "98\n99"
    assert log_tail(tmp_path / "missing", 0) == ""


# --- helpers for tests ---------------------------------------------------------------------------
def test_kill_pod_processes_signals_the_process_group(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pods" / "ns_p_01234567"
    (pod_dir / "logs").mkdir(parents=True)
    (pod_dir / "pod.json").write_text("{}")
    with pytest.raises(LookupError):
        kill_pod_processes(tmp_path, "ns", "p")
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True, env={**os.environ, "KWF_LOCAL_NODE": "1"})
    try:
        (pod_dir / "main.pid").write_text(str(proc.pid))
        # The pid only counts once the child has exec'd with the node's marker in its environment.
        deadline = time.monotonic() + 5
        while b"KWF_LOCAL_NODE=1" not in Path(f"/proc/{proc.pid}/environ").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert pod_pids(tmp_path, "ns", "p") == {"main": proc.pid}
        assert kill_pod_processes(tmp_path, "ns", "p") == [proc.pid]
        assert proc.wait(timeout=5) == -signal.SIGKILL
        time.sleep(0.05)
        assert pod_pids(tmp_path, "ns", "p") == {}
        with pytest.raises(LookupError):
            kill_pod_processes(tmp_path, "ns", "p")
    finally:
        proc.kill()
        proc.wait()
    assert pod_log_path(tmp_path, "ns", "p", "main") == pod_dir / "logs" / "main.log"
    with pytest.raises(LookupError):
        pod_log_path(tmp_path, "ns", "other", "main")


def test_stale_pid_files_of_strangers_are_ignored(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pods" / "ns_p_01234567"
    pod_dir.mkdir(parents=True)
    (pod_dir / "pod.json").write_text("{}")
    (pod_dir / "main.pid").write_text(str(os.getpid()))  # a reused pid: not a pod's process
    assert pod_pids(tmp_path, "ns", "p") == {}
