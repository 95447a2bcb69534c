"""Cairn's benchmarks: `make bench`, or `uv run python -m benchmarks [name ...]`.

One module per benchmark in this package (modules whose name starts with `_` are
helpers). A benchmark module registers itself with the :func:`benchmark` decorator:

    @benchmark("relay_throughput", "outbox relay -> Kafka", needs=("postgres", "kafka"))
    async def run(ctx: Context) -> Result: ...

`needs` names the real servers it uses; the runner provides them (DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS when set, otherwise it starts its own, see `_servers`) and hands
them over in the :class:`Context`. The function returns one :class:`Result`: the headline
figure, its unit, the target, and details printed under the table.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks._context import Context

__all__ = ["Benchmark", "Result", "benchmark", "discover", "registry"]

SERVERS = ("postgres", "kafka")


@dataclass(frozen=True)
class Result:
    """What a benchmark measured. `details` are (label, text) lines printed under the
    table; `checks` are correctness checks that must all hold for the figure to count."""

    figure: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    details: list[tuple[str, str]] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return all(ok for _, ok in self.checks)

    @property
    def met(self) -> bool | None:
        """True/False against the target (a failed check is a miss); None without one."""
        if not self.correct:
            return False
        if self.target is None:
            return None
        return self.figure >= self.target if self.higher_is_better else self.figure <= self.target


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    run: Callable[[Context], Awaitable[Result]]
    needs: tuple[str, ...] = ()
    module: str = ""


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, title: str, *, needs: tuple[str, ...] = ()
              ) -> Callable[[Callable[[Context], Awaitable[Result]]],
                            Callable[[Context], Awaitable[Result]]]:
    """Register an async benchmark function under `name`."""
    unknown = set(needs) - set(SERVERS)
    if unknown:
        raise ValueError(f"benchmark {name!r} needs unknown servers {sorted(unknown)}")

    def register(fn: Callable[[Context], Awaitable[Result]]
                 ) -> Callable[[Context], Awaitable[Result]]:
        if name in _REGISTRY and _REGISTRY[name].module != fn.__module__:
            raise ValueError(f"benchmark {name!r} registered twice "
                             f"({_REGISTRY[name].module}, {fn.__module__})")
        _REGISTRY[name] = Benchmark(name, title, fn, tuple(needs), fn.__module__)
        return fn

    return register


def discover() -> dict[str, Benchmark]:
    """Import every benchmark module of this package; return the registry (in the order
    the modules sort)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(_REGISTRY)


def registry() -> dict[str, Benchmark]:
    return dict(_REGISTRY)
