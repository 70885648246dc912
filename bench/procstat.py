"""A process's resident memory and CPU time from /proc (no psutil in the venv)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def parse_vm_rss(status_text: str) -> int:
    """Bytes of `VmRSS` in the text of /proc/<pid>/status."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"VmRSS in unexpected unit {unit!r}")
            return int(value) * 1024
    raise ValueError("no VmRSS line (a zombie or a kernel thread?)")


def parse_threads(status_text: str) -> int:
    """`Threads` in the text of /proc/<pid>/status."""
    for line in status_text.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise ValueError("no Threads line")


def parse_cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks, all threads) from the text of /proc/<pid>/stat."""
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
    fields = stat_text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


@dataclass(frozen=True)
class Usage:
    rss_bytes: int
    cpu_seconds: float
    threads: int

    @property
    def rss_mb(self) -> float:
        return self.rss_bytes / 1e6


def usage(pid: int) -> Usage:
    proc = Path(f"/proc/{pid}")
    status, ticks = (proc / "status").read_text(), parse_cpu_ticks((proc / "stat").read_text())
    return Usage(parse_vm_rss(status), ticks / os.sysconf("SC_CLK_TCK"), parse_threads(status))


def parse_machine_ticks(stat_text: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from the text of /proc/stat."""
    fields = [int(v) for v in stat_text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of each named process so far; "machine" is the busy time of all CPUs. Gone ones are left out."""
    seconds = {"machine": parse_machine_ticks(Path("/proc/stat").read_text())[0] / os.sysconf("SC_CLK_TCK")}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            seconds[name] = parse_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")
    return seconds


def cpu_shares(before: Mapping[str, float], after: Mapping[str, float], elapsed: float) -> dict[str, float]:
    """Share of one core each process used between two `cpu_seconds` readings `elapsed` seconds apart."""
    return {name: (after[name] - before[name]) / elapsed for name in after if name in before}
