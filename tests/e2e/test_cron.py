"""CronWorkflowRun on the real control plane: runs on a schedule, each concurrency policy, history limits,
suspend, and never a second run for one scheduled time (operator restarts, two standalone operators)."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

from support import Cluster, OperatorProcess, wait_for, workflow_run

GROUP, VERSION = "kube-workflows.dev", "v1alpha1"


def cron(name: str, schedule: str, run_spec: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CronWorkflowRun",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "runTemplate": {"spec": run_spec}, **spec},
    }


def runs_of(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = cluster.custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "workflowruns", label_selector=f"kube-workflows.dev/cron={name}"
    )
    return sorted(listed["items"], key=lambda r: r["metadata"]["name"])


def cron_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    obj = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "cronworkflowruns", name)
    return dict(obj.get("status") or {})


def events_of(cluster: Cluster, namespace: str, name: str) -> list[str]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "jsonpath={range .items[*]}{.reason}{'\\n'}{end}",
    ).stdout
    return out.split()


def quick() -> dict[str, Any]:
    return workflow_run("x", "kwf_testflows.steps:StepChain", {"steps": 1})["spec"]


def gated(release: Path) -> dict[str, Any]:
    return workflow_run("x", "kwf_testflows.big_state:BigState", {"size_mb": 0.001, "release": str(release)})["spec"]


def test_runs_on_schedule_named_after_their_time_and_history_is_trimmed(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # Forbid: one run at a time, so a slow machine does not pile runs up.
    schedule = "*/3 * * * * *"
    cluster.apply(
        cron("every2", schedule, quick(), successfulRunsHistoryLimit=2, concurrencyPolicy="Forbid"), namespace
    )
    wait_for(
        "four runs created, one succeeded",
        lambda: (
            cron_status(cluster, namespace, "every2").get("lastSuccessfulTime")
            and events_of(cluster, namespace, "every2").count("Created") >= 4
        ),
        timeout=90,
        interval=1,
    )

    def succeeded() -> int:
        return sum((r.get("status") or {}).get("phase") == "Succeeded" for r in runs_of(cluster, namespace, "every2"))

    wait_for("history trimmed to 2 succeeded", lambda: succeeded() <= 2, timeout=60, interval=0.5)
    # Four or more created, at most three left (two succeeded, one running): the oldest were deleted.
    assert events_of(cluster, namespace, "every2").count("Created") > len(runs_of(cluster, namespace, "every2"))
    for run in runs_of(cluster, namespace, "every2"):
        stamp = int(run["metadata"]["name"].rsplit("-", 1)[1])
        assert stamp % 3 == 0 and run["metadata"]["ownerReferences"][0]["kind"] == "CronWorkflowRun"
        assert run["metadata"]["annotations"]["kube-workflows.dev/scheduled-at"]
    status = cron_status(cluster, namespace, "every2")
    assert status["lastScheduleTime"] and status["nextScheduleTime"] > status["lastScheduleTime"]
    assert [c["reason"] for c in status["conditions"] if c["type"] == "Ready"] == ["Scheduled"]
    shown = cluster.kubectl("get", "cwfr", "-n", namespace).stdout
    assert "SCHEDULE" in shown and schedule in shown and "LAST SCHEDULE" in shown
    print(f"\n{shown}\n{cluster.kubectl('get', 'wfr', '-n', namespace, '-l', 'kube-workflows.dev/cron=every2').stdout}")
    # Suspended: no new runs.
    cluster.kubectl("patch", "cwfr", "every2", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_for("suspended", lambda: cron_status(cluster, namespace, "every2").get("nextScheduleTime") is None, 30, 0.5)
    before = {r["metadata"]["name"] for r in runs_of(cluster, namespace, "every2")}
    time.sleep(5)
    created = {r["metadata"]["name"] for r in runs_of(cluster, namespace, "every2")} - before
    assert not created, created


def test_forbid_skips_while_a_run_is_active_and_replace_cancels_it(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    cluster.apply(cron("forbid", "*/2 * * * * *", gated(tmp_path / "f"), concurrencyPolicy="Forbid"), namespace)
    cluster.apply(cron("replace", "*/3 * * * * *", gated(tmp_path / "r"), concurrencyPolicy="Replace"), namespace)
    wait_for("Forbid to skip", lambda: "Skipped" in events_of(cluster, namespace, "forbid"), timeout=60, interval=1)
    (only,) = runs_of(cluster, namespace, "forbid")  # one run; later times were skipped
    assert cron_status(cluster, namespace, "forbid")["active"] == [
        {"name": only["metadata"]["name"], "uid": only["metadata"]["uid"]}
    ]
    wait_for(
        "Replace to cancel the first run",
        lambda: any(
            (r.get("status") or {}).get("phase") == "Cancelled" for r in runs_of(cluster, namespace, "replace")
        ),
        timeout=60,
        interval=1,
    )
    assert "Replaced" in events_of(cluster, namespace, "replace")
    active = [
        r
        for r in runs_of(cluster, namespace, "replace")
        if (r.get("status") or {}).get("phase") not in ("Cancelled", "Succeeded", "Failed")
    ]
    assert len(active) <= 2  # the newest, and at most one being cancelled right now
    # Released: Forbid's run finishes, and the next time starts a new one.
    (tmp_path / "f").touch()
    wait_for("a second Forbid run", lambda: len(runs_of(cluster, namespace, "forbid")) >= 2, timeout=60, interval=1)


def test_allow_starts_the_next_time_while_earlier_runs_are_still_active(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    cluster.apply(cron("allow", "*/2 * * * * *", gated(tmp_path / "a")), namespace)  # Allow is the default

    def active_runs() -> list[dict[str, Any]]:
        return [
            r
            for r in runs_of(cluster, namespace, "allow")
            if (r.get("status") or {}).get("phase") not in ("Cancelled", "Succeeded", "Failed")
        ]

    wait_for("two runs active at once", lambda: len(active_runs()) >= 2, timeout=60, interval=1)
    # status.active is written on the cron's next tick after its index sees the run: it lags by a tick.
    wait_for(
        "the cron's status to list two active runs",
        lambda: len(cron_status(cluster, namespace, "allow").get("active") or []) >= 2,
        timeout=10,
        interval=0.5,
    )
    assert "Skipped" not in events_of(cluster, namespace, "allow")
    cluster.kubectl("patch", "cwfr", "allow", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    (tmp_path / "a").touch()
    wait_for("the runs to finish", lambda: not active_runs(), timeout=90, interval=1)


def test_no_second_run_for_a_time_across_restarts_and_two_operators(
    cluster: Cluster, solo_namespace: str, tmp_path: Path
) -> None:
    namespace = solo_namespace
    first = OperatorProcess(cluster, tmp_path / "a.log", "--namespace", namespace)
    second = OperatorProcess(cluster, tmp_path / "b.log", "--namespace", namespace)
    first.start()
    try:
        cluster.apply(cron("twice", "*/2 * * * * *", quick(), successfulRunsHistoryLimit=100), namespace)
        wait_for("a run", lambda: runs_of(cluster, namespace, "twice"), timeout=60, interval=0.5)
        first.stop()
        time.sleep(7)  # three or four scheduled times pass with no operator
        missed_from = len(runs_of(cluster, namespace, "twice"))
        first.start()
        second.start()  # two standalone operators (no peering): both act on every time
        time.sleep(12)
    finally:
        first.stop()
        second.stop()
    runs = runs_of(cluster, namespace, "twice")
    times = Counter(r["metadata"]["annotations"]["kube-workflows.dev/scheduled-at"] for r in runs)
    assert all(n == 1 for n in times.values()), times  # never two runs for one time
    assert len(runs) >= missed_from + 4  # both operators kept the schedule going
    # After the outage only the latest missed time started, not one run per missed time.
    stamps = sorted(int(r["metadata"]["name"].rsplit("-", 1)[1]) for r in runs)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) >= 6, gaps
