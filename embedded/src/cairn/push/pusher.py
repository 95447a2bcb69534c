"""Push a results file to `POST /ledger/v1/results/batch` in batches.

Resumable: after each batch the progress is saved beside the file; a new run of the same
file skips the batches already answered. Re-sending is always safe, because the ledger
is idempotent on (institution, result id) (R-LG-2): a batch cut off mid-way and sent
again records each result once and answers "duplicate" for those already in."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cairn.push.files import Row, fingerprint, read_rows

BATCH_PATH = "/ledger/v1/results/batch"
RETRIES = 4


class PushAborted(Exception):
    """The ledger refused the whole request (wrong token, wrong institution, ...)."""


@dataclass
class Summary:
    created: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[tuple[int, str, str]] = field(default_factory=list)  # line, result, why

    @property
    def rows(self) -> int:
        return self.created + self.duplicate + self.conflict + self.rejected

    def note(self, outcome: str, line: int, result_id: str, why: str | None = None) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if why:
            self.reasons[why] += 1
            if len(self.examples) < 20:
                self.examples.append((line, result_id, why))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": dict(self.reasons)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(**{**data, "reasons": Counter(data["reasons"]),
                      "examples": [tuple(e) for e in data["examples"]]})


@dataclass
class Progress:
    """What is saved beside the file after every batch."""

    file_sha256: str
    batch_size: int
    batches_done: int
    summary: Summary

    def save(self, path: Path) -> None:
        data = {**asdict(self), "summary": self.summary.to_json()}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)  # never a half-written progress file

    @classmethod
    def load(cls, path: Path, file_sha256: str, batch_size: int) -> Progress:
        if path.exists():
            data = json.loads(path.read_text())
            if data["file_sha256"] == file_sha256 and data["batch_size"] == batch_size:
                return cls(file_sha256, batch_size, data["batches_done"],
                           Summary.from_json(data["summary"]))
        return cls(file_sha256, batch_size, 0, Summary())


def progress_path(results_file: Path) -> Path:
    return results_file.with_name(results_file.name + ".cairn-progress.json")


async def push_file(path: Path, client: httpx.AsyncClient, *, batch_size: int = 1000,
                    restart: bool = False, on_batch: Callable[[Progress, int], None] | None = None,
                    stop_after: int | None = None) -> Progress:
    """Send `path` in batches; returns the progress (done when every batch is answered)."""
    rows = list(read_rows(path))
    state_file = progress_path(path)
    progress = Progress.load(state_file, fingerprint(path), batch_size)
    if restart:
        progress = Progress(progress.file_sha256, batch_size, 0, Summary())
    if progress.batches_done == 0:
        for row in rows:  # rows the file itself makes unreadable, reported once
            if row.result is None:
                progress.summary.note("rejected", row.line, "?", row.problem)
    readable = [row for row in rows if row.result is not None]
    batches = [readable[i:i + batch_size] for i in range(0, len(readable), batch_size)]
    for sent_now, number in enumerate(range(progress.batches_done, len(batches))):
        if stop_after is not None and sent_now >= stop_after:
            break
        answer = await _send(client, batches[number])
        for row, item in zip(batches[number], answer["results"], strict=True):
            progress.summary.note(_outcome(item["outcome"]), row.line,
                                  str(row.result.get("result_id", "?")), _why(item))
        progress.batches_done = number + 1
        progress.save(state_file)
        if on_batch is not None:
            on_batch(progress, len(batches))
    return progress


def _outcome(outcome: str) -> str:
    return {"created": "created", "duplicate": "duplicate", "conflict": "conflict"}.get(
        outcome, "rejected")


def _why(item: dict[str, Any]) -> str | None:
    if item["outcome"] == "conflict":
        return "result_id_conflict: a different result was already recorded under this id"
    errors = item.get("errors") or []
    if not errors:
        return None
    return "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in errors)


async def _send(client: httpx.AsyncClient, batch: list[Row]) -> dict[str, Any]:
    body = {"results": [row.result for row in batch]}
    for attempt in range(RETRIES):
        try:
            response = await client.post(BATCH_PATH, json=body)
        except httpx.TransportError:
            if attempt == RETRIES - 1:
                raise
        else:
            if response.status_code == 200:
                return response.json()
            if response.status_code < 500 and response.status_code != 429:
                raise PushAborted(f"the ledger refused the batch ({response.status_code}): "
                                  f"{response.text[:500]}")
            if attempt == RETRIES - 1:
                raise PushAborted(f"the ledger keeps failing ({response.status_code})")
        await asyncio.sleep(0.5 * 2 ** attempt)  # idempotent: safe to send again
    raise AssertionError("unreachable")
