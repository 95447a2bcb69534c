"""The benchmarks' CPU meter (benchmarks._machine): time the hypervisor stole is counted
as busy but reported on its own, never as "everything else"."""

from __future__ import annotations

from benchmarks import _machine
from benchmarks._machine import CpuMeter, CpuSnapshot

TICK = _machine._TICK


def test_stolen_time_is_its_own_line_and_not_everything_else() -> None:
    # 4 s of wall on 2 CPUs: 8 s of CPU time; 6 s busy, of which 1.5 s stolen and 4 s
    # spent by the one named process: 0.5 s is everything else.
    start = CpuSnapshot(0.0, (0, 0, 0), {"api": 0})
    end = CpuSnapshot(4.0, (6 * TICK, 8 * TICK, int(1.5 * TICK)), {"api": 4 * TICK})
    used = CpuMeter.seconds(start, end)
    assert used == {"api": 4.0, "other": 0.5, "stolen": 1.5, "machine": 6.0}
    lines = dict(CpuMeter.report(start, end))
    assert lines["CPU stolen (hypervisor)"].startswith("1.50 s (19% of the CPUs' time")
    assert lines["CPU everything else"].startswith("0.50 s")
    assert lines["CPU whole machine"].startswith("6.00 s busy of 8.00 s (75% of")


def test_stolen_share_over_a_window(monkeypatch) -> None:
    readings = iter([(100, 1_000, 10), (900, 2_000, 260), (900, 2_000, 260)])
    monkeypatch.setattr(_machine, "_system_ticks", lambda: next(readings))
    assert _machine.StolenShare().share() == 0.25  # 250 of 1,000 ticks
    monkeypatch.setattr(_machine, "_system_ticks", lambda: None)  # no /proc/stat
    assert _machine.StolenShare().share() is None


def test_proc_stat_gives_busy_total_and_stolen() -> None:
    busy, total, stolen = _machine._system_ticks()
    assert 0 <= stolen <= busy <= total
