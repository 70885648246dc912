"""Installs the debugger UI's files (`@llamaindex/workflow-debugger`, the version that
operator/kube_workflows/server/ui/debugger.json records) into that directory, for `kwf serve`.

    python3 hack/fetch-debugger.py

The npm tarball comes from the cache (~/.cache/kube-workflows/npm/, or $KWF_CACHE_DIR/npm/), else from
the registry ($NPM_CONFIG_REGISTRY, default https://registry.npmjs.org) into the cache; either way it
must match the recorded integrity, and the unpacked files their recorded hashes. For an air-gapped
build, put the tarball (`npm pack @llamaindex/workflow-debugger@VERSION`) in the cache first.
Standard library only: the Dockerfile runs it before anything is installed.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from kube_workflows.server import debugger  # noqa: E402  (the source tree, before any install)


def tarball(wanted: debugger.Debugger) -> bytes:
    cache = Path(os.environ.get("KWF_CACHE_DIR") or Path.home() / ".cache" / "kube-workflows") / "npm"
    cached = cache / wanted.tarball.rpartition("/")[2]
    if cached.is_file() and debugger.integrity(cached.read_bytes()) == wanted.integrity:
        return cached.read_bytes()
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org"
    url = f"{registry.rstrip('/')}/{wanted.tarball}"
    print(f"fetch-debugger: downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data: bytes = response.read()
    except OSError as exc:
        raise SystemExit(
            f"fetch-debugger: cannot download {url} ({exc}); without network, put the tarball "
            f"(npm pack {wanted.package}@{wanted.version}) at {cached}"
        ) from None
    if debugger.integrity(data) != wanted.integrity:
        raise SystemExit(f"fetch-debugger: {url} does not match the integrity in {debugger.MANIFEST}")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def main() -> int:
    ui_dir = debugger.UI_DIR
    if not debugger.problems(ui_dir):
        return 0
    wanted = debugger.manifest(ui_dir)
    with tarfile.open(fileobj=io.BytesIO(tarball(wanted)), mode="r:gz") as archive:
        for name in wanted.files:
            # npm tarballs hold the package under package/; only the recorded files are taken out.
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"fetch-debugger: the tarball has no package/{name}")
            target = ui_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    left = debugger.problems(ui_dir)
    if left:
        raise SystemExit("fetch-debugger: " + "; ".join(left))
    print(f"fetch-debugger: {wanted.package}@{wanted.version} installed in {ui_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
