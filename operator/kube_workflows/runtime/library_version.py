"""Which llama-index-workflows releases kube-workflows supports, checked at start-up.

Reads only package metadata, so it can run (and say what is wrong) even when a release has moved
the internals `kube_workflows.runtime.compat` imports. `make test-compat` runs the tests against
each supported minor release; pyproject.toml's pin is the same range (a unit test keeps them equal).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "llama-index-workflows"
# [MINIMUM, BELOW): widen only together with `make test-compat`'s list. 2.24 and 2.25 fail the
# checkpoint's core contract (tests/unit/test_library_contract.py): a step's output event travels as a
# mailbox tick, not in the Context, when its NOT_RUNNING is published, so a checkpoint taken there
# would resume with the successor's event lost.
MINIMUM = (2, 26)
BELOW = (2, 27)
SUPPORTED = f">={'.'.join(map(str, MINIMUM))},<{'.'.join(map(str, BELOW))}"


class UnsupportedLibrary(RuntimeError):
    """The installed llama-index-workflows is outside the supported range, or lacks what kube-workflows uses."""


def installed() -> str | None:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return None


def parse(text: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: "2.26.1" -> (2, 26, 1), "2.27.0rc1" -> (2, 27, 0)."""
    numbers = []
    for part in text.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(numbers)


def installed_tuple() -> tuple[int, ...]:
    found = installed()
    return parse(found) if found else ()


def problem(found: str | None = None, *, probe_internals: bool = True) -> str | None:
    """Why this process cannot run durable workflows with the installed library, or None."""
    found = installed() if found is None else found
    if found is None:
        return f"{DISTRIBUTION} is not installed (kube-workflows supports {SUPPORTED})"
    if not MINIMUM <= parse(found) < BELOW:
        return (
            f"{DISTRIBUTION} {found} is not supported: kube-workflows supports {SUPPORTED}; "
            f'install a supported release (pip install "{DISTRIBUTION}{SUPPORTED}")'
        )
    if probe_internals:
        try:
            importlib.import_module("kube_workflows.runtime.compat")
        except (ImportError, AttributeError) as exc:
            return f"{DISTRIBUTION} {found} lacks what kube-workflows relies on: {type(exc).__name__}: {exc}"
    return None


def require_supported() -> None:
    """Raise UnsupportedLibrary, naming the installed release and the supported range, unless it fits."""
    found = problem()
    if found is not None:
        raise UnsupportedLibrary(found)
