"""What the machine was doing: load average, CPU count, and CPU seconds spent by this
process, the servers and the whole machine over a measured window (Linux /proc)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe() -> str:
    load = load_average()
    load_text = "n/a" if load is None else " ".join(f"{v:.2f}" for v in load)
    return (f"{cpu_count()} CPUs, load average {load_text} (1/5/15 min), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _system_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies summed over all CPUs."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree_ticks(root: int, kids: dict[int, list[int]]) -> int:
    """utime + stime of `root` and its live descendants, in jiffies."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
        todo += kids.get(pid, [])
    return total


@dataclass
class CpuSnapshot:
    wall: float
    system: tuple[int, int] | None
    trees: dict[str, int] = field(default_factory=dict)


class CpuMeter:
    """CPU seconds over a window for named process trees (e.g. "relay (this process)",
    "kafka broker", "postgresql") and for the whole machine."""

    def __init__(self, processes: dict[str, int | None]) -> None:
        self._processes = {name: pid for name, pid in processes.items() if pid}

    def snapshot(self) -> CpuSnapshot:
        kids = _children() if self._processes else {}
        trees = {name: _tree_ticks(pid, kids) for name, pid in self._processes.items()}
        return CpuSnapshot(time.perf_counter(), _system_ticks(), trees)

    @staticmethod
    def report(start: CpuSnapshot, end: CpuSnapshot) -> list[tuple[str, str]]:
        """Lines like ("CPU: kafka broker", "1.23 s = 0.61 cores")."""
        wall = max(end.wall - start.wall, 1e-9)
        lines = []
        for name, ticks in end.trees.items():
            used = (ticks - start.trees.get(name, 0)) / _TICK
            lines.append((f"CPU {name}", f"{used:.2f} s ({used / wall:.2f} cores)"))
        if start.system and end.system:
            busy = (end.system[0] - start.system[0]) / _TICK
            total = (end.system[1] - start.system[1]) / _TICK
            share = busy / total if total else 0.0
            lines.append(("CPU whole machine",
                          f"{busy:.2f} s busy of {total:.2f} s ({share:.0%} of "
                          f"{cpu_count()} CPUs over {wall:.2f} s)"))
        return lines
