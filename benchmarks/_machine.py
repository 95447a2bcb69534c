"""What the machine was doing: load average, CPU count, and CPU seconds spent by this
process, the servers and the whole machine over a measured window (Linux /proc)."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
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
            f"{platform.system()} {platform.release()}, {interpreter()}, "
            f"sum(range(1000)) in {reference_loop_us():.1f} µs")


def reference_loop_us() -> float:
    """One core's speed as Python sees it: the best of 5 rounds of `sum(range(1000))`.
    The host's speed changes from run to run without any stolen time (2026-12-03: 8.7 to
    15.1 µs on the same VM, and ledger_ingest at 20,588 then 14,882 results/s with the
    same code, every process ~30% slower in the second run): this figure, printed before
    and after, tells which kind of run a result came from."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(2_000):
            sum(range(1000))
        best = min(best, (time.perf_counter() - start) / 2_000)
    return best * 1e6


def interpreter() -> str:
    """This Python, where it comes from and how libpython is linked: a shared libpython
    (pyenv's default build) cost the ledger's API 20-30% more CPU than a static one
    (Debian's /usr/bin/python3.11) on the same machine (ledger_ingest, 2026-12-02)."""
    linked = "shared" if _maps_libpython() else "static"
    return f"Python {platform.python_version()} ({sys.base_prefix}, {linked} libpython)"


def _maps_libpython() -> bool:
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
            return any("libpython" in line for line in fh)
    except OSError:
        return bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))


def _system_ticks() -> tuple[int, int, int] | None:
    """(busy, total, stolen) jiffies summed over all CPUs. Stolen time is time the
    hypervisor ran something else while this VM had work: it counts as busy (the
    CPU was not ours to use) and is reported on its own, because on a shared host
    it changes every figure (2026-12-02: 209 s stolen over 28 minutes of benchmark
    runs, 6% of the two CPUs' time, unevenly: one statement run had ~15 s of "everything
    else" in a 52 s window, and the figure halved)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    stolen = fields[7] if len(fields) > 7 else 0
    return total - idle, total, stolen


class StolenShare:
    """The share of the CPUs' time the hypervisor gave to other guests, from now until
    `share()` (None where /proc/stat does not tell)."""

    def __init__(self) -> None:
        self._start = _system_ticks()

    def share(self) -> float | None:
        end = _system_ticks()
        if not (self._start and end) or end[1] == self._start[1]:
            return None
        return (end[2] - self._start[2]) / (end[1] - self._start[1])


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


def _tree_ticks(root: int, kids: dict[int, list[int]] | None) -> int:
    """utime + stime of `root` (all its threads) and, unless `kids` is None, of its live
    descendants, in jiffies."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
        if kids is not None:
            todo += kids.get(pid, [])
    return total


@dataclass
class CpuSnapshot:
    wall: float
    system: tuple[int, int, int] | None
    trees: dict[str, int] = field(default_factory=dict)


class CpuMeter:
    """CPU seconds over a window for named processes and for the whole machine.
    `trees` count a process with its descendants (PostgreSQL: the postmaster and its
    backends), `processes` only the process itself (this one: the servers it started
    are its children)."""

    def __init__(self, processes: dict[str, int | None],
                 trees: dict[str, int | None] | None = None) -> None:
        self._processes = {name: pid for name, pid in processes.items() if pid}
        self._trees = {name: pid for name, pid in (trees or {}).items() if pid}

    def snapshot(self) -> CpuSnapshot:
        kids = _children() if self._trees else {}
        ticks = {name: _tree_ticks(pid, None) for name, pid in self._processes.items()}
        ticks.update({name: _tree_ticks(pid, kids) for name, pid in self._trees.items()})
        return CpuSnapshot(time.perf_counter(), _system_ticks(), ticks)

    @staticmethod
    def seconds(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per named process, plus "machine" (all CPUs busy, stolen time
        included), "stolen" (by the hypervisor) and "other" (neither)."""
        used = {name: (ticks - start.trees.get(name, 0)) / _TICK
                for name, ticks in end.trees.items()}
        if start.system and end.system:
            busy = (end.system[0] - start.system[0]) / _TICK
            stolen = (end.system[2] - start.system[2]) / _TICK
            used["other"] = max(busy - stolen - sum(used.values()), 0.0)
            used["stolen"] = stolen
            used["machine"] = busy
        return used

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
            used = CpuMeter.seconds(start, end)  # stolen and everything else, derived once
            stolen = used["stolen"]
            lines.append(("CPU whole machine",
                          f"{busy:.2f} s busy of {total:.2f} s ({share:.0%} of "
                          f"{cpu_count()} CPUs over {wall:.2f} s)"))
            lines.append(("CPU stolen (hypervisor)",
                          f"{stolen:.2f} s ({stolen / total if total else 0.0:.0%} of the "
                          "CPUs' time: ran other guests while this machine had work)"))
            if end.trees:
                lines.append(("CPU everything else",
                              f"{used['other']:.2f} s "
                              "(other processes on this machine, kernel threads)"))
        return lines


def command_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def listening_pid(port: int) -> int | None:
    """The local process listening on TCP `port` (to account for a server this process
    did not start), or None if it is not on this machine or not visible."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    if not inodes:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(entry)
        except OSError:
            continue
    return None


def peak_rss(pid: int) -> int:
    """Bytes: the most resident memory `pid` has held (VmHWM) and, if larger, any of its
    child processes' (an API with several workers)."""
    peaks = []
    for each in [pid, *_children().get(pid, [])]:
        try:
            with open(f"/proc/{each}/status") as status:
                peaks += [int(line.split()[1]) * 1024 for line in status
                          if line.startswith("VmHWM:")]
        except OSError:
            continue
    return max(peaks, default=0)
