"""A runner pod's start stays lean: what `kwf runner` imports before its first step leaves out the
operator, the CLI, the server and the official Kubernetes client (~0.15 s of imports at every start
and resume; README "Benchmarks"). Checked in a fresh interpreter, as a pod starts."""

from __future__ import annotations

import json
import subprocess
import sys

# What the runner's start path imports at module level: `kwf` with argv ["runner"] goes from cli.main
# straight to runner.startup, which imports runtime.compat (the library check) and runner.main.
START_PATH = ["kube_workflows.cli.main", "kube_workflows.runner.startup", "kube_workflows.runner.main"]
FORBIDDEN_PACKAGES = {
    "kubernetes",  # restclient speaks the runner's few requests
    "urllib3",
    "yaml",  # only to read a kube-config outside a pod's service account
    "kopf",
    "prometheus_client",
    "croniter",
    "psycopg",  # only for spec.checkpoint.store postgres
    "starlette",
    "argparse",  # the CLI's parser: `kwf runner` goes around it
    "uvicorn",
}
FORBIDDEN_UNITS = {"controller", "server", "kube"}


def started_modules() -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {START_PATH!r}: importlib.import_module(name)\n"
        "importlib.import_module('kube_workflows.runtime.compat')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    modules: list[str] = json.loads(out)
    return modules


def test_the_runner_start_path_imports_no_operator_cli_or_kubernetes_client() -> None:
    modules = started_modules()
    packages = {m.split(".")[0] for m in modules}
    assert packages & FORBIDDEN_PACKAGES == set()
    ours = [m.split(".") for m in modules if m.startswith("kube_workflows.")]
    assert sorted({parts[1] for parts in ours} & FORBIDDEN_UNITS) == []
    assert [".".join(p) for p in ours if p[1] == "cli" and len(p) > 2] == ["kube_workflows.cli.main"]


def test_the_claim_starts_before_pydantic_and_the_library_import() -> None:
    # runner.startup starts the claim thread before the ~0.2 s of library and model imports, which
    # then overlap the claim's round trips; an import of either from its module level undoes that.
    code = "import json, sys, kube_workflows.runner.startup; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    modules = set(json.loads(out))
    assert {m.split(".")[0] for m in modules} & {"pydantic", "pydantic_core", "workflows"} == set()
    assert "kube_workflows.models.workflowrun" not in modules
