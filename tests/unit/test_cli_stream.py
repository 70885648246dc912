"""`kwf logs --events` and `kwf watch`: the lines for a run's streamed events (cli/stream.py)."""

from __future__ import annotations

from typing import Any

from kube_workflows.cli import describe, stream
from kube_workflows.cli.main import build_parser


def event(seq: int, msg: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "sequence": seq,
        "type": "kwf_examples.streaming.ProgressEvent",
        "value": {"msg": msg},
        "timestamp": "2026-12-02T03:50:36.078Z",
        "step": "step_two",
        **extra,
    }


def window(first: int, last: int) -> dict[str, Any]:
    return {"firstSequence": first, "lastSequence": last, "events": [event(s, f"m{s}") for s in range(first, last + 1)]}


def test_an_event_is_one_line_with_its_number_time_step_class_and_fields() -> None:
    assert stream.event_line(event(3, 'say "hi"')) == '[3] 03:50:36.078 step_two ProgressEvent msg="say \\"hi\\""'


def test_truncated_and_withheld_events_say_so() -> None:
    assert stream.event_line(event(1, truncated=True, sizeBytes=10_240, value={})).endswith(
        "ProgressEvent (value not kept: 10.0 KiB of JSON, over 4 KiB)"
    )
    assert stream.event_line(event(2, withheld=True, value={})).endswith("(value withheld: sensitive run)")


def test_only_the_events_after_the_last_printed_are_printed() -> None:
    missed, lines, last = stream.event_lines(window(1, 4), after=2)
    assert missed is None and [line.split()[0] for line in lines] == ["[3]", "[4]"] and last == 4
    assert stream.event_lines(window(1, 4), after=4) == (None, [], 4)
    assert stream.event_lines(None, after=0) == (None, [], 0)


def test_events_the_window_dropped_before_they_were_read_are_reported_once() -> None:
    missed, lines, last = stream.event_lines(window(51, 150), after=10)
    assert missed == "(events 11-50 no longer kept: status.stream holds the newest 100, 32 KiB)"
    assert lines[0].startswith("[51] ") and last == 150 and len(lines) == 100
    assert stream.event_lines(window(51, 150), after=50)[0] is None
    assert (
        stream.event_lines(window(51, 150), after=49)[0]
        == "(event 50 no longer kept: status.stream holds the newest 100, 32 KiB)"
    )


def test_logs_takes_events_and_watch_is_a_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["logs", "r", "--events", "-f"])
    assert args.events and args.follow
    assert parser.parse_args(["watch", "r", "-n", "team"]).namespace == "team"


def test_describe_shows_how_many_events_and_the_newest_five() -> None:
    run = {"metadata": {"name": "r"}, "status": {"stream": window(3, 12)}}
    lines = describe.stream_lines(run)
    assert lines[0] == "Streamed events (12, 3-12 kept; kwf logs r --events):"
    assert [line.split()[0] for line in lines[1:]] == ["[8]", "[9]", "[10]", "[11]", "[12]"]
    assert describe.stream_lines({"status": {}}) == []
