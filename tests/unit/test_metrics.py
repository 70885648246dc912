from prometheus_client import generate_latest

from kube_workflows.controller.metrics import RunPhases


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_phases_and_step_records_become_metrics() -> None:
    runs = RunPhases()
    runs.observe("a", {"phase": "Running", "checkpoint": {"seq": 1}, "steps": [{"seq": 1, "durationMs": 5}]})
    runs.observe("b", {"phase": "Succeeded"})
    assert sorted(runs.phases.values()) == ["Running", "Succeeded"]
    before = sample(generate_latest().decode(), "kwf_step_duration_seconds_count")
    status = {
        "phase": "Running",
        "checkpoint": {"seq": 3, "storedBytes": 2048},
        "steps": [
            {"seq": 1, "durationMs": 5},
            {"seq": 2, "durationMs": 20, "lastWriteMs": 8.0},
            {"seq": 3, "durationMs": 30, "lastWriteMs": 9.0},
        ],
    }
    runs.observe("a", status)
    runs.observe("a", status)  # the same status again (another watch event) counts nothing twice
    after = generate_latest().decode()
    assert sample(after, "kwf_step_duration_seconds_count") == before + 2  # seq 2 and 3 are new
    families = {m.samples[0].labels["phase"]: m.samples for m in runs.collect()}
    gauge = {s.labels["phase"]: s.value for s in families["Pending"]}
    assert gauge["Running"] == 1 and gauge["Succeeded"] == 1
    runs.observe("b", {}, deleted=True)
    assert "b" not in runs.phases
