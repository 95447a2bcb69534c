"""`python -m benchmarks [name ...]`: run the named benchmarks (all by default) and print
one table: figure, target, pass/miss, the share of CPU time the hypervisor stole while
each ran (a shared host slows every figure), plus the machine's CPU count and load average.

Exit status: 0 when every benchmark ran and its correctness checks held (a missed
target is reported, not fatal, unless --strict), 1 otherwise, 2 on bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import traceback

import structlog

from benchmarks import Benchmark, Result, discover
from benchmarks._context import Context
from benchmarks._machine import StolenShare, describe
from benchmarks._servers import Servers


def _parse(argv: list[str], known: dict[str, Benchmark]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Cairn benchmarks against real servers (DATABASE_URL / "
                    "KAFKA_BOOTSTRAP_SERVERS if set, otherwise started here).")
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all): {', '.join(known)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a benchmark knob, e.g. -o events=20000 or, for one benchmark "
                             "only, -o relay_throughput.events=20000 (see each module)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target is missed, not only on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for item in args.option:
        if "=" not in item:
            parser.error(f"-o wants KEY=VALUE, not {item!r}")
    return args


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


_Row = tuple[Benchmark, Result | None, str | None, float, float | None]  # wall s, stolen share


def _print_table(rows: list[_Row], load_before: str, servers: Servers) -> None:
    header = ("benchmark", "result", "unit", "target", "status", "wall", "stolen")
    lines = []
    for bench, result, _error, wall, stolen in rows:
        stolen_text = "-" if stolen is None else f"{stolen:.0%}"
        if result is None:
            lines.append((bench.name, "error", "", "", "ERROR", f"{wall:.0f}s", stolen_text))
            continue
        met = result.met
        status = ("FAILED CHECK" if not result.correct
                  else "n/a" if met is None else "pass" if met else "MISS")
        target = "-" if result.target is None else (
            ("≥ " if result.higher_is_better else "≤ ") + _fmt(result.target))
        lines.append((bench.name, _fmt(result.figure), result.unit, target, status,
                      f"{wall:.0f}s", stolen_text))
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    right = {1, 3, 6}

    def row(cells: tuple[str, ...]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "-" * len(row(header))
    out = ["", "Cairn benchmarks", rule, row(header), rule, *[row(r) for r in lines], rule]
    out.append(f"machine before: {load_before}")
    out.append(f"machine after:  {describe()}")
    if servers.postgres_origin:
        out.append(f"postgresql: {servers.postgres_origin}")
    if servers.kafka_origin:
        out.append(f"kafka: {servers.kafka_origin}")
    for bench, result, error, _, _ in rows:
        out.append("")
        out.append(f"{bench.name}: {bench.title}")
        if error:
            out.extend("  " + line for line in error.rstrip().splitlines())
            continue
        assert result is not None
        width = max((len(k) for k, _ in result.details), default=0)
        out.extend(f"  {k.ljust(width)}  {v}" for k, v in result.details)
        for label, ok in result.checks:
            out.append(f"  [{'ok' if ok else 'FAILED'}] {label}")
    print("\n".join(out), flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    known = discover()
    args = _parse(sys.argv[1:] if argv is None else argv, known)
    if args.list:
        for bench in known.values():
            needs = f"  (needs {', '.join(bench.needs)})" if bench.needs else ""
            print(f"{bench.name:24} {bench.title}{needs}")
        return 0
    chosen = [known[n] for n in (args.names or known)]
    params = dict(item.split("=", 1) for item in args.option)
    load_before = describe()
    rows: list[_Row] = []
    with Servers() as servers:
        needs = {need for bench in chosen for need in bench.needs}
        if needs and not args.quiet:
            print(f"starting/connecting servers: {', '.join(sorted(needs))}", file=sys.stderr,
                  flush=True)
        servers.start(needs)
        for bench in chosen:
            ctx = Context(bench.name, servers, params, quiet=args.quiet)
            started, steal = time.perf_counter(), StolenShare()
            try:
                result: Result | None = asyncio.run(bench.run(ctx))
                error = None
            except Exception:
                result, error = None, traceback.format_exc()
            rows.append((bench, result, error, time.perf_counter() - started, steal.share()))
    _print_table(rows, load_before, servers)
    failed = any(r is None or not r.correct for _, r, *_ in rows)
    missed = any(r is not None and r.met is False for _, r, *_ in rows)
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
