"""Steering a run from the CLI without a cluster: the patches and forks kwf sends, the checks before
sending, and how waiting, suspended and cancelled runs read in get, describe and progress lines."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kube_workflows.cli import api, describe, render, specs
from kube_workflows.cli.main import build_parser, main
from kube_workflows.models import WorkflowRun, WorkflowRunSpec

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
ASK_NAME = {"prefix": "What is your name?", "type": "workflows.events.InputRequiredEvent"}
HUMAN = "workflows.events.HumanResponseEvent"


def checkpoint(seq: int, *, delivered: int = 0) -> dict[str, Any]:
    return {
        "seq": seq,
        "attempt": 1,
        "step": "greet",
        "stepsCompleted": seq,
        "eventsDelivered": delivered,
        "encoding": "json+zlib+base64",
        "sizeBytes": 900,
        "storedBytes": 400,
        "sha256": "ab" * 32,
        "time": "2025-01-01T11:59:00Z",
    }


def a_run(name: str = "chat", *, generation: int = 1, spec: dict[str, Any] | None = None, **status: Any) -> Any:
    return {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "generation": generation,
            "resourceVersion": "42",
            "creationTimestamp": "2025-01-01T11:58:00Z",
        },
        "spec": {"workflow": "kwf_testflows.questions:Questions", **(spec or {})},
        "status": status,
    }


def waiting(index: int = 0, *, requests: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "since": "2025-01-01T11:59:00Z",
        "requests": [ASK_NAME] if requests is None else requests,
        "expects": [HUMAN],
        "eventIndex": index,
        **extra,
    }


def waiting_run(index: int = 0, *, events: list[Any] | None = None, generation: int = 1, **extra: Any) -> Any:
    spec = {"events": events} if events is not None else {}
    return a_run(
        generation=generation,
        spec=spec,
        phase="Waiting",
        checkpoint=checkpoint(2, delivered=index),
        waiting=waiting(index, **extra),
    )


ANSWER = {"data": {"response": "Ada"}}


# --- send-event: parsing and the patch ---------------------------------------------------------
def test_parse_event() -> None:
    assert specs.parse_event('{"response": "Ada"}', None) == ANSWER
    typed = specs.parse_event("{}", "my_pkg.events:Approval")
    assert typed == {"data": {}, "type": "my_pkg.events:Approval"}


@pytest.mark.parametrize(
    ("data", "event_type", "message"),
    [
        ("{nope", None, "--data is not valid JSON"),
        ('"Ada"', None, "--data must be a JSON object"),
        ("[1]", None, "--data must be a JSON object"),
        ("{}", "my_pkg.events.Approval", '--type "my_pkg.events.Approval" must be "module:Class"'),
    ],
)
def test_parse_event_names_the_flag(data: str, event_type: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        specs.parse_event(data, event_type)


def test_the_first_event_creates_the_list_only_on_the_version_read() -> None:
    patch, index = specs.event_patch(waiting_run(), ANSWER)
    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "add", "path": "/spec/events", "value": [ANSWER]},
    ]
    assert index == 0


def test_later_events_are_appended() -> None:
    run = waiting_run(1, events=[{"data": {"response": "x"}}])
    assert specs.event_patch(run, ANSWER) == ([{"op": "add", "path": "/spec/events/-", "value": ANSWER}], None)
    running = a_run(spec={"events": []}, phase="Running")
    assert specs.event_patch(running, ANSWER)[0][0]["path"] == "/spec/events/-"


def test_a_rejected_answer_is_replaced_in_place() -> None:
    bad = {"data": {"answer": "Ada"}}
    run = waiting_run(1, events=[{"data": {"response": "x"}}, bad], generation=3, error="no", rejectedGeneration=3)
    patch, index = specs.event_patch(run, ANSWER)
    assert patch == [
        {"op": "test", "path": "/spec/events/1", "value": bad},
        {"op": "replace", "path": "/spec/events/1", "value": ANSWER},
    ]
    assert index == 1
    # Edited since it was rejected: the runner has not tried the new entry yet, so leave it alone.
    retrying = waiting_run(1, events=[{"data": {}}, bad], generation=4, error="no", rejectedGeneration=3)
    assert specs.event_patch(retrying, ANSWER)[0][0]["op"] == "add"
    # An answer that woke no step was delivered; the wait moved on to the next index: append.
    woke_none = waiting_run(2, events=[{"data": {}}, bad], generation=3, error="woke no step", rejectedGeneration=3)
    assert specs.event_patch(woke_none, ANSWER)[0][0]["path"] == "/spec/events/-"


def test_event_outcome() -> None:
    assert specs.event_outcome(waiting_run(0, events=[ANSWER]), 0, 2) is None  # not taken yet
    running = a_run(phase="Running", checkpoint=checkpoint(3, delivered=1))
    assert specs.event_outcome(running, 0, 2) is None  # taken, but still busy with it
    assert specs.event_outcome(waiting_run(1), 0, 2) == "delivered"  # waiting again, for the next one
    rejected = waiting_run(0, generation=2, error="bad", rejectedGeneration=2)
    assert specs.event_outcome(rejected, 0, 2) == "rejected"
    assert specs.event_outcome(rejected, 0, 3) is None  # an older rejection, not of what we sent
    woke_none = waiting_run(1, generation=2, error="woke no step", rejectedGeneration=2)
    assert specs.event_outcome(woke_none, 0, 2) == "rejected"
    assert specs.event_outcome(a_run(phase="Cancelled"), 0, 2) == "finished"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Cancelled"])
def test_a_finished_run_takes_no_changes(phase: str) -> None:
    run = a_run(phase=phase)
    for command in ("send-event", "suspend", "resume", "cancel"):
        reason = specs.refusal(run, command)
        assert reason is not None and reason.startswith(f"WorkflowRun chat is {phase}: ")
    assert "kwf fork chat --from-seq N" in str(specs.refusal(run, "send-event"))
    assert specs.refusal(run, "cancel") == f"WorkflowRun chat is {phase}: there is nothing left to cancel"


def test_a_run_being_cancelled_takes_only_cancel() -> None:
    run = a_run(spec={"cancel": True}, phase="Running")
    assert "being cancelled" in str(specs.refusal(run, "send-event"))
    assert specs.refusal(run, "cancel") is None
    assert specs.refusal(waiting_run(), "send-event") is None


# --- fork ------------------------------------------------------------------------------------
SOURCE_SPEC = {
    "workflow": "kwf_testflows.questions:Questions",
    "image": "flows:1",
    "input": {"record": "/tmp/r"},
    "events": [ANSWER],
    "suspend": True,
    "cancel": False,
    "template": {"env": [{"name": "A", "value": "1"}]},
    "retry": {"maxRestarts": 0},
    "checkpoint": {"history": 2},
    "timeoutSeconds": 60,
    "stepTimeoutSeconds": 5.0,
    "waitTimeoutSeconds": 600,
    "ttlSecondsAfterFinished": 30,
    "contextFrom": {"name": "older"},
}


def source(**status: Any) -> Any:
    return a_run(
        spec=copy.deepcopy(SOURCE_SPEC),
        phase="Waiting",
        checkpoint=checkpoint(5),
        history=[checkpoint(3), checkpoint(4)],
        **status,
    )


def test_fork_seqs_are_history_and_the_current_checkpoint() -> None:
    assert specs.fork_seqs(source()) == [3, 4, 5]
    assert specs.fork_seqs(a_run(phase="Pending")) == []
    for seq in (3, 4, 5):
        specs.check_fork_seq(source(), seq)


def test_a_seq_not_kept_lists_the_ones_that_are() -> None:
    with pytest.raises(ValueError) as caught:
        specs.check_fork_seq(source(), 2)
    message = str(caught.value)
    assert "--from-seq 2: chat does not keep checkpoint 2; it keeps 3, 4, 5 (current)." in message
    assert "spec.checkpoint.history" in message and "chat has 2" in message
    with pytest.raises(ValueError, match="has no checkpoint yet"):
        specs.check_fork_seq(a_run(phase="Running"), 1)


def test_build_fork() -> None:
    body = specs.build_fork(source(), 4)
    assert body["metadata"] == {
        "name": "chat-fork-4",
        "labels": {"kube-workflows.dev/forked-from": "chat"},
        "annotations": {"kube-workflows.dev/forked-from": "chat@4"},
    }
    assert body["spec"] == {
        "workflow": "kwf_testflows.questions:Questions",
        "image": "flows:1",
        "template": {"env": [{"name": "A", "value": "1"}]},
        "retry": {"maxRestarts": 0},
        "checkpoint": {"history": 2},
        "timeoutSeconds": 60,
        "stepTimeoutSeconds": 5.0,
        "waitTimeoutSeconds": 600,
        "contextFrom": {"name": "chat", "seq": 4},
    }
    WorkflowRun.model_validate(body)
    named = specs.build_fork(source(), 4, name="retry-1", image="flows:2")
    assert named["metadata"]["name"] == "retry-1" and named["spec"]["image"] == "flows:2"


def test_fork_names_fit_253_characters() -> None:
    long = "a" * 250
    name = specs.fork_name(long, 12)
    assert len(name) <= 253 and name.endswith("-fork-12")
    assert name != specs.fork_name("a" * 249, 12)
    specs.check_name(name)
    label = specs.build_fork(a_run(long), 12)["metadata"]["labels"]["kube-workflows.dev/forked-from"]
    assert len(label) <= 63


# --- get and progress lines for the new phases -----------------------------------------------
def test_waiting_prompt() -> None:
    assert render.waiting_prompt(waiting()) == '"What is your name?"'
    fields = waiting(requests=[{"type": "x.Ask", "options": ["a", "b"]}, ASK_NAME])
    assert render.waiting_prompt(fields) == '{"options": ["a", "b"]} (+1 more)'
    assert render.waiting_prompt(waiting(requests=[])) == "(no prompt; waits for HumanResponseEvent)"


def test_answer_hint_names_the_fields_or_the_type() -> None:
    assert render.answer_hint(waiting_run()) == 'kwf send-event chat -n ns --data \'{"response": "..."}\''
    custom = waiting_run()
    custom["status"]["waiting"]["expects"] = ["my_pkg.events.Approval"]
    assert render.answer_hint(custom) == "kwf send-event chat -n ns --data '{...}' (the fields of Approval)"
    custom["status"]["waiting"]["expects"] = ["my_pkg.events.Approval", HUMAN]
    assert render.answer_hint(custom) == (
        "kwf send-event chat -n ns --type my_pkg.events:Approval|workflows.events:HumanResponseEvent --data '{...}'"
    )


def test_get_shows_the_prompt_and_how_to_answer() -> None:
    run = waiting_run(1, error="spec.events[1].data.response: Field required (for HumanResponseEvent)")
    assert render.short_outcome(render.status_of(run)) == 'waits for input: "What is your name?"'
    assert render.waiting_lines(run) == [
        'chat waits for input (spec.events[1]): "What is your name?"',
        "  answer not accepted: spec.events[1].data.response: Field required (for HumanResponseEvent)",
        '  answer: kwf send-event chat -n ns --data \'{"response": "..."}\'',
    ]
    row = render.run_row(run, NOW, wide=True)
    assert row[1] == "Waiting" and row[-1].startswith("waits for input")


def test_cancelled_reads_as_cancelled() -> None:
    cond = {"type": "Succeeded", "status": "False", "reason": "Cancelled", "message": "spec.cancel is true"}
    run = a_run(phase="Cancelled", conditions=[cond])
    assert render.short_outcome(render.status_of(run)) == "Cancelled: spec.cancel is true"
    assert render.failure_lines(run) == ["Cancelled: spec.cancel is true"]
    timeout = {**cond, "reason": "WaitTimeout", "message": "waited 600s for input"}
    assert render.failure_lines(a_run(phase="Failed", conditions=[timeout])) == [
        "Failed: WaitTimeout: waited 600s for input"
    ]
    assert render.state_line(run) == "chat: Cancelled: spec.cancel is true"


def test_progress_through_a_wait_a_rejection_and_an_answer() -> None:
    running = {"phase": "Running", "attempt": 1, "checkpoint": checkpoint(1)}
    parked = render.status_of(waiting_run(0))
    assert render.progress_lines(running, parked) == ['waiting for input (spec.events[0]): "What is your name?"']
    assert render.wait_changed(running, parked) and not render.wait_changed(parked, parked)
    rejected = {**parked, "waiting": waiting(0, error="spec.events[0].data: bad", rejectedGeneration=2)}
    assert render.progress_lines(parked, rejected) == ["answer not accepted: spec.events[0].data: bad"]
    assert render.wait_changed(parked, rejected)
    answered = {"phase": "Running", "attempt": 2, "checkpoint": checkpoint(3, delivered=1)}
    assert render.progress_lines(rejected, answered)[0] == "spec.events[0] delivered"
    assert render.progress_lines({}, answered) == ["attempt 2 started, from checkpoint 3"]  # no history replay


def test_progress_through_a_suspension() -> None:
    running = {"phase": "Running", "attempt": 1, "checkpoint": checkpoint(3)}
    suspended = {**running, "phase": "Suspended"}
    assert render.progress_lines(running, suspended) == ["suspended at checkpoint 3"]
    assert render.progress_lines(suspended, running) == ["resumed"]


def test_progress_through_kueues_queue() -> None:
    running = {"phase": "Running", "attempt": 1, "checkpoint": checkpoint(3)}
    message = "preempted by Kueue at checkpoint 3; queued in LocalQueue team, resumes from it when admitted"
    queued = {**running, "phase": "Queued", "conditions": [{"type": "Queued", "status": "True", "message": message}]}
    assert render.progress_lines(running, queued) == [f"queued: {message}"]
    assert render.progress_lines(queued, running) == ["admitted by Kueue"]


def test_sent_line() -> None:
    assert render.sent_line(waiting_run(1), 1) == 'sent as spec.events[1] to chat; it answers: "What is your name?"'
    assert (
        render.sent_line(waiting_run(1), 2)
        == "sent as spec.events[2] to chat; queued: chat waits for spec.events[1] first"
    )
    replaced = render.sent_line(waiting_run(1), 1, replaced=True)
    assert replaced.startswith("replaced the rejected spec.events[1] of chat; it answers")
    running = render.sent_line(a_run(phase="Running"), 0)
    assert running == "sent as spec.events[0] to chat; chat is Running: it answers the run's next wait for input"


def test_steer_lines() -> None:
    run = a_run(phase="Running", checkpoint=checkpoint(3))
    assert render.steer_line(run, "suspend").startswith(
        "workflowrun.kube-workflows.dev/chat suspend requested: it stops after the current step's checkpoint"
    )
    assert render.steer_line(run, "suspend").endswith("until kwf resume chat -n ns")
    assert render.steer_line(run, "resume").endswith("resume requested: it goes on from checkpoint 3")
    assert "cannot be undone" in render.steer_line(run, "cancel")
    assert render.steer_line(run, "resume", unchanged=True).endswith(
        "unchanged: spec.suspend is not true (Running); there is nothing to resume"
    )


# --- describe --------------------------------------------------------------------------------
def test_describe_a_waiting_run() -> None:
    events = [{"data": {"response": "Ada"}}, {"data": {"answer": "blue"}, "type": "my_pkg.events:Colour"}]
    run = waiting_run(1, events=events, generation=3, error="spec.events[1].type: cannot import", rejectedGeneration=3)
    run["spec"].update(waitTimeoutSeconds=600, checkpoint={"history": 2}, contextFrom={"name": "first", "seq": 4})
    run["status"].update(history=[checkpoint(1), checkpoint(2)], segment=2, attempt=2)
    text = describe.describe(run, job=None, pods=[], events=[], now=NOW)
    assert "Context from:  first, checkpoint 4 (a fork: continues from there)" in text
    assert "Timeouts:      waiting for input 600s" in text
    assert "Phase:         Waiting (attempt 2, 0 restarts, 2 jobs)" in text
    assert "Waiting:       for input since 2025-01-01T11:59:00Z (60s ago), answered by spec.events[1]" in text
    assert '  Prompt:      "What is your name?"' in text
    assert '  Request:     {"prefix": "What is your name?", "type": "workflows.events.InputRequiredEvent"}' in text
    assert f"  Expects:     {HUMAN}" in text
    assert "  Times out:   in 9m (spec.waitTimeoutSeconds)" in text
    assert "  Rejected:    spec.events[1].type: cannot import" in text
    assert "  Answer:      kwf send-event chat -n ns" in text
    assert "Input events (spec.events, 1 of 2 delivered):" in text
    lines = text.splitlines()
    first = next(ln for ln in lines if ln.startswith("  0 "))
    assert first.split()[-1] == "delivered" and "(the awaited class)" in first
    second = next(ln for ln in lines if ln.startswith("  1 "))
    assert "my_pkg.events:Colour" in second and second.endswith("rejected (see Waiting above)")
    assert "Fork points:   1, 2 (spec.checkpoint.history keeps 2); kwf fork chat --from-seq N" in text


def test_the_timeline_blames_no_lost_pod_after_a_wait() -> None:
    status = {"phase": "Running", "attempt": 2, "segment": 2, "steps": [{"seq": 1, "name": "greet", "attempt": 1}]}
    status["steps"].append({"seq": 2, "name": "ask_color", "attempt": 2})
    assert "— resumed on attempt 2 (a new pod) —" in describe.timeline(status)[2]


def test_describe_shows_pending_events_suspend_and_cancel() -> None:
    run = a_run(spec={"events": [ANSWER], "suspend": True, "cancel": True, "contextFrom": {"name": "a"}})
    run["status"] = {"phase": "Suspended", "checkpoint": checkpoint(2)}
    text = describe.describe(run, job=None, pods=[], events=[], now=NOW)
    assert "Context from:  a (starts from its final Context)" in text
    assert "Suspend:       requested (kwf resume chat lets it go on)" in text
    assert "Cancel:        requested (cannot be undone)" in text
    assert next(ln for ln in text.splitlines() if ln.startswith("  0 ")).endswith("pending")
    assert "Fork points:   2 (spec.checkpoint.history keeps 0)" in text
    cond = {"type": "Succeeded", "status": "False", "reason": "Cancelled", "message": "spec.cancel is true"}
    run["status"].update(phase="Cancelled", conditions=[cond])
    cancelled = describe.describe(run, job=None, pods=[], events=[], now=NOW)
    assert "not delivered (the run finished)" in cancelled and "\nCancelled: spec.cancel is true\n" in cancelled


# --- the command line --------------------------------------------------------------------------
def test_submit_sets_the_new_spec_fields() -> None:
    from kube_workflows.cli import runs

    args = build_parser().parse_args(
        ["submit", "pkg.mod:Flow", "--context-from", "a", "--keep-checkpoints", "3", "--input-timeout", "600"]
    )
    spec = runs.build_run(args)["spec"]
    assert spec["contextFrom"] == {"name": "a"} and spec["checkpoint"] == {"history": 3}
    assert spec["waitTimeoutSeconds"] == 600
    WorkflowRunSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send-event", "chat", "--data", "Ada"], "--data is not valid JSON"),
        (["send-event", "chat", "--data", "[1]"], "--data must be a JSON object"),
        (["fork", "chat", "--from-seq", "2", "--name", "Bad_Name"], '--name "Bad_Name" is not a valid object name'),
    ],
)
def test_bad_flags_exit_2_before_touching_the_cluster(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    assert main(argv) == api.USAGE
    assert message in capsys.readouterr().err


def test_fork_needs_a_positive_seq(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["fork", "chat", "--from-seq", "0"])
    assert caught.value.code == 2 and "checkpoints are numbered from 1" in capsys.readouterr().err


def test_help_lists_the_steering_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for command in ("send-event", "suspend", "resume", "cancel", "fork"):
        assert f"\n    {command}" in text


# --- the commands, against an API stand-in ------------------------------------------------------
class FakeApi:
    """read_run / patch_run / create_run over a dict of runs; JSON patches applied as the API server
    does (a failed `test` op is a 422), `before_patch` lets a test write in between."""

    def __init__(self, *runs: Any) -> None:
        self.runs = {r["metadata"]["name"]: copy.deepcopy(r) for r in runs}
        self.patches: list[Any] = []
        self.created: list[Any] = []
        self.before_patch: list[Any] = []

    def read_run(self, namespace: str, name: str) -> Any:
        if name not in self.runs:
            raise api.CliError(f'WorkflowRun "{name}" not found in namespace {namespace}')
        return copy.deepcopy(self.runs[name])

    def patch_run(self, namespace: str, name: str, patch: Any, content_type: str) -> Any:
        import jsonpatch
        from kubernetes.client.exceptions import ApiException

        if self.before_patch:
            self.before_patch.pop(0)(self.runs[name])
        self.patches.append(patch)
        run = self.runs[name]
        if content_type == api.JSON_PATCH:
            try:
                patched = jsonpatch.apply_patch(run, patch)
            except jsonpatch.JsonPatchTestFailed:
                raise ApiException(status=422, reason="Unprocessable Entity") from None
        else:
            patched = {**run, "spec": {**run["spec"], **patch["spec"]}}
        patched["metadata"]["generation"] += 1
        patched["metadata"]["resourceVersion"] = str(int(patched["metadata"]["resourceVersion"]) + 1)
        self.runs[name] = patched
        return copy.deepcopy(patched)

    def create_run(self, namespace: str, body: Any, **_: Any) -> Any:
        created = {**copy.deepcopy(body), "metadata": {**body["metadata"], "namespace": namespace}}
        self.created.append(created)
        return created


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    from kube_workflows.cli import steer

    stand_in = FakeApi(waiting_run(0), a_run("done", phase="Succeeded"))
    for name in ("read_run", "patch_run", "create_run"):
        monkeypatch.setattr(steer, name, getattr(stand_in, name))
    monkeypatch.setattr(steer, "namespace_of", lambda args: args.namespace or "ns")
    return stand_in


def test_send_event_appends_and_says_what_it_answers(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send-event", "chat", "--data", '{"response": "Ada"}']) == api.OK
    assert capsys.readouterr().out == 'sent as spec.events[0] to chat; it answers: "What is your name?"\n'
    assert fake.runs["chat"]["spec"]["events"] == [ANSWER]
    assert main(["send-event", "chat", "--data", "{}", "--type", "my_pkg.events:Later"]) == api.OK
    assert "sent as spec.events[1] to chat; queued" in capsys.readouterr().out
    assert fake.patches[-1] == [
        {"op": "add", "path": "/spec/events/-", "value": {"data": {}, "type": "my_pkg.events:Later"}}
    ]


def test_send_event_reads_again_when_another_sender_got_there_first(
    fake: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {"data": {"response": "Bob"}}
    fake.before_patch.append(
        lambda run: run["spec"].update(events=[other]) or run["metadata"].update(resourceVersion="43")
    )
    assert main(["send-event", "chat", "--data", '{"response": "Ada"}']) == api.OK
    assert fake.runs["chat"]["spec"]["events"] == [other, ANSWER]  # both kept
    assert "sent as spec.events[1] to chat" in capsys.readouterr().out


def test_steering_a_finished_run_is_refused(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["send-event", "done", "--data", "{}"], ["suspend", "done"], ["cancel", "done"]):
        assert main(argv) == api.FAILED
        assert "WorkflowRun done is Succeeded: " in capsys.readouterr().err
    assert fake.patches == []


def test_suspend_resume_cancel(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suspend", "chat"]) == api.OK
    assert fake.runs["chat"]["spec"]["suspend"] is True
    assert "suspend requested" in capsys.readouterr().out
    assert main(["suspend", "chat"]) == api.OK
    assert "unchanged: spec.suspend is already true" in capsys.readouterr().out
    assert main(["resume", "chat", "-o", "name"]) == api.OK
    assert capsys.readouterr().out == "workflowrun.kube-workflows.dev/chat\n"
    assert fake.runs["chat"]["spec"]["suspend"] is False
    assert main(["cancel", "chat"]) == api.OK
    assert fake.runs["chat"]["spec"]["cancel"] is True and len(fake.patches) == 3


def test_fork_checks_the_seq_then_creates(fake: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fork", "chat", "--from-seq", "1"]) == api.USAGE  # chat (waiting_run) keeps only 2
    assert "it keeps 2 (current)" in capsys.readouterr().err and fake.created == []
    assert main(["fork", "chat", "--from-seq", "2"]) == api.OK
    assert capsys.readouterr().out == (
        "workflowrun.kube-workflows.dev/chat-fork-2 created: continues chat from its checkpoint 2\n"
    )
    assert fake.created[0]["spec"]["contextFrom"] == {"name": "chat", "seq": 2}


def follow(*versions: Any) -> Any:
    """A wait_for_run stand-in that goes through `versions` of the run until `until` holds."""

    def wait_for_run(namespace: str, name: str, timeout: Any, until: Any, since: Any = None) -> Any:
        return next(v for v in versions if until(v))

    return wait_for_run


def test_send_event_wait_prints_the_next_question(
    fake: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kube_workflows.cli import steer

    still = waiting_run(0, events=[ANSWER], generation=2)
    asks_again = waiting_run(1, events=[ANSWER], generation=2, requests=[{"prefix": "Favourite colour?"}])
    monkeypatch.setattr(steer, "wait_for_run", follow(still, asks_again))
    assert main(["send-event", "chat", "--data", '{"response": "Ada"}', "--wait"]) == api.OK
    captured = capsys.readouterr()
    assert captured.out == 'chat waits for input (spec.events[1]): "Favourite colour?"\n'
    assert "waiting for the run to take it" in captured.err


def test_send_event_wait_fails_when_the_answer_is_rejected(
    fake: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kube_workflows.cli import steer

    rejected = waiting_run(0, events=[ANSWER], generation=2, error="spec.events[0].data: bad", rejectedGeneration=2)
    monkeypatch.setattr(steer, "wait_for_run", follow(rejected))
    assert main(["send-event", "chat", "--data", '{"response": "Ada"}', "--wait"]) == api.FAILED
    assert "spec.events[0] was not accepted: spec.events[0].data: bad; send another: kwf send-event chat" in (
        capsys.readouterr().err
    )
