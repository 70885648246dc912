"""`kwf runner` refuses an unsupported llama-index-workflows with a reason the operator reports."""

from __future__ import annotations

import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from kube_workflows.models import exit_codes
from kube_workflows.runner import startup
from kube_workflows.runner.identity import RunnerIdentity
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runtime import library_version

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inmemory_api import InMemoryApi


def claiming(identity: RunnerIdentity, runs: InMemoryApi) -> Future[startup.Claimed]:
    return startup.claim_in_background(identity, Reporter(identity.namespace, identity.name, api=runs))


def new_run(name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"workflow": "kwf_testflows.steps:StepChain"},
        **({"status": status} if status else {}),
    }


def test_an_unsupported_release_fails_the_run_with_a_reason_naming_it() -> None:
    runs = InMemoryApi(r=new_run("r"))
    problem = library_version.problem("2.25.0")
    assert problem is not None
    code = startup.refuse(identity := RunnerIdentity("ns", "r", "pod-1"), problem, claiming(identity, runs))
    assert code == exit_codes.INVALID_RUN and code in exit_codes.PERMANENT
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "UnsupportedLibrary"
    assert "llama-index-workflows 2.25.0 is not supported" in error["message"]
    assert library_version.SUPPORTED in error["message"]
    assert runs["r"]["status"]["attempt"] == 1


def test_a_finished_run_is_left_alone() -> None:
    runs = InMemoryApi(r=new_run("r", attempt=1, checkpoint={"seq": 3, "final": True}, phase="Succeeded"))
    code = startup.refuse(identity := RunnerIdentity("ns", "r", "pod-1"), "unsupported", claiming(identity, runs))
    assert code == exit_codes.SUCCEEDED
    assert "error" not in runs["r"]["status"]


def test_main_checks_the_library_before_importing_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    refused: list[str] = []
    monkeypatch.setattr(library_version, "installed", lambda: "2.25.0")
    monkeypatch.setattr(startup, "refuse", lambda identity, problem, claiming: refused.append(problem) or 4)
    monkeypatch.setattr(startup, "claim_in_background", lambda identity: None)
    monkeypatch.setenv("KWF_RUN_NAMESPACE", "ns")
    monkeypatch.setenv("KWF_RUN_NAME", "r")
    assert startup.main() == exit_codes.INVALID_RUN
    assert refused and "2.25.0" in refused[0]
