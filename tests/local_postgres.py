"""A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `postgres` on 127.0.0.1.

PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres` system user that
Debian's package creates, in a directory it owns. Missing binaries fail the test run: `make test`
installs Debian's `postgresql` (hack/debian-packages.sh).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "postgres"


def bindir() -> Path:
    """The newest Debian PostgreSQL's binaries (or the first `postgres` on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    postgres = found[-1] if found else shutil.which("postgres")
    if not postgres:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): "
            "run `bash hack/debian-packages.sh postgresql` as root (make test does)"
        )
    return Path(postgres).parent


class LocalPostgres:
    """One server; `database()` makes a fresh database on it and returns its DSN. `durable`: fsync on, as
    a production server runs (the benchmarks' peers); off for tests, which do not test host crashes."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="kwf-postgres-"))
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", USER, "--", *argv] if os.geteuid() == 0 else list(argv)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, USER)
        data = self.dir / "data"
        subprocess.run(
            self._as_owner(str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"),
            check=True,
            capture_output=True,
        )
        log = open(self.dir / "postgres.log", "wb")  # noqa: SIM115 (the server's lifetime)
        self.proc = subprocess.Popen(
            self._as_owner(
                str(self.bin / "postgres"),
                "-D", str(data),
                "-h", "127.0.0.1",
                "-p", str(self.port),
                "-k", str(self.dir),
                "-c", f"fsync={'on' if self.durable else 'off'}",
                "-c", "max_connections=200",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        import psycopg  # here, not at the top: the unit lane (and make test-compat) runs without it

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {self.log()}") from None
                time.sleep(0.1)

    def database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def log(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown (disconnects clients)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
