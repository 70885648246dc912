"""The debugger UI, `@llamaindex/workflow-debugger`, served from this package instead of a CDN.

llama-agents-server's page loads the package's `dist/app.js` and `dist/app.css` from cdn.jsdelivr.net;
`kwf serve` serves them itself, so a cluster without internet access has its UI. They are not in git
(6 MB): hack/fetch-debugger.py puts the npm tarball's `dist/` beside `ui/index.html` at build time (the
Makefile, the Dockerfile). `ui/debugger.json` records the version, the tarball's npm integrity and each
file's hash; `problems()` says whether what is on disk is that.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

UI_DIR = Path(__file__).parent / "ui"
MANIFEST = "debugger.json"


@dataclass(frozen=True, kw_only=True)
class Debugger:
    package: str
    version: str
    tarball: str  # the tarball's path on an npm registry
    integrity: str  # the registry's `dist.integrity` of the tarball (Subresource Integrity, sha512)
    files: dict[str, str]  # path under ui/ -> its sha512 integrity


def manifest(ui_dir: Path = UI_DIR) -> Debugger:
    raw = json.loads((ui_dir / MANIFEST).read_text())
    return Debugger(
        package=raw["package"],
        version=raw["version"],
        tarball=raw["tarball"],
        integrity=raw["integrity"],
        files=dict(raw["files"]),
    )


def integrity(data: bytes) -> str:
    """npm's `integrity` of some bytes: "sha512-" and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def problems(ui_dir: Path = UI_DIR) -> list[str]:
    """What keeps `ui_dir` from being the recorded release: missing or changed files (empty: it is)."""
    wanted = manifest(ui_dir)
    found = []
    for name, expected in sorted(wanted.files.items()):
        path = ui_dir / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif integrity(path.read_bytes()) != expected:
            found.append(f"{name} is not the one of {wanted.package}@{wanted.version}")
    return found
