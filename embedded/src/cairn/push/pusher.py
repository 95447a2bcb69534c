"""Push a results file to `POST /ledger/v1/results/batch` in batches.

Resumable: after each batch the progress is saved beside the file; a new run of the same
file skips the batches already answered. Re-sending is always safe, because the ledger
is idempotent on (institution, result id) (R-LG-2): a batch cut off mid-way and sent
again records each result once and answers "duplicate" for those already in.

With a correction reason (`--correct`), a row the ledger answers `conflict` for (another
result is recorded under its id, R-LG-2) is sent as a correction of that achievement
(R-LG-3): the way a registrar pushes a results file again after an exam board changed
marks. So is a row the ledger answers `duplicate` of an achievement since corrected to
another result (an appeal restored the first mark: the row is the result first recorded,
no longer the latest). A correction sent again answers "already the latest content" and
appends nothing, so a resumed push corrects nothing twice either.

`revoke_file` revokes the results a file names (R-LG-3), as many at a time, with the same
progress, resumption and rejects file: a revocation sent again with the same reason
answers as the first time and appends nothing.

`check_file` sends a results file as a push would, each batch as a dry run
(`?dry_run=true`): every row answers as it would be recorded now, nothing is recorded and
no progress is saved; the rows that would not be recorded go to `<file>.problems.csv`
(or `.jsonl`), to fix before results day."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cairn.push.files import Row, RowProblem, fingerprint, read_revocations, read_rows
from cairn.push.rejects import RejectsFile, describe

BATCH_PATH = "/ledger/v1/results/batch"
CORRECTIONS_PATH = "/ledger/v1/achievements/{aid}/corrections"
REVOCATION_PATH = "/ledger/v1/achievements/{aid}/revocation"
RETRIES = 4
# A ledger busy with other members' batches answers 503 (or 429) with Retry-After
# (shared.admission): waited as told, not counted as a failure, up to this long in all.
BUSY_PATIENCE = 900.0  # seconds
AMENDMENTS_AT_ONCE = 8  # corrections or revocations in flight (each one ledger transaction)
REVOCATION_BATCH = 100  # rows of a revocation file between two saves of its progress
RECORDED = ("created", "corrected", "duplicate", "revoked")  # the outcomes that are done


class PushAborted(Exception):
    """The ledger refused the whole request (wrong token, wrong institution, ...)."""


@dataclass
class Summary:
    created: int = 0
    corrected: int = 0  # conflicts sent as corrections (--correct)
    revoked: int = 0  # cairn revoke-results
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[tuple[int, str, str]] = field(default_factory=list)  # line, result, detail

    @property
    def rows(self) -> int:
        return (self.created + self.corrected + self.revoked + self.duplicate + self.conflict
                + self.rejected)

    def note(self, outcome: str, line: int, result_id: str, why: str | None = None,
             detail: str | None = None) -> None:
        """`why`: the reasons' codes, counted; `detail`: what the example shows."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        if why:
            self.reasons[why] += 1
            if len(self.examples) < 20:
                self.examples.append((line, result_id, detail or why))

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
    rejects_bytes: int = 0  # the rejects file's size when this was saved (cairn.push.rejects)
    correction_reason: str | None = None  # --correct: conflicts are sent as corrections
    revocation_reason: str | None = None  # revoke-results --reason: rows without their own

    def save(self, path: Path) -> None:
        data = {**asdict(self), "summary": self.summary.to_json()}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)  # never a half-written progress file

    @classmethod
    def load(cls, path: Path, file_sha256: str, batch_size: int, *,
             correction_reason: str | None = None, revocation_reason: str | None = None
             ) -> Progress:
        """The saved progress of this push; a new one if none was saved for this file,
        batch size and reason (a push run again with `--correct` after one without must
        send its first batches again, to correct their conflicts)."""
        reasons = {"correction_reason": correction_reason,
                   "revocation_reason": revocation_reason}
        if path.exists():
            data = json.loads(path.read_text())
            if (data["file_sha256"], data["batch_size"]) == (file_sha256, batch_size) and all(
                    data.get(key) == value for key, value in reasons.items()):
                return cls(file_sha256, batch_size, data["batches_done"],
                           Summary.from_json(data["summary"]), data.get("rejects_bytes", 0),
                           **reasons)
        return cls(file_sha256, batch_size, 0, Summary(), **reasons)

    def started_again(self, rejects_bytes: int) -> Progress:
        """This push from its first batch, nothing counted."""
        return replace(self, batches_done=0, summary=Summary(), rejects_bytes=rejects_bytes)


def progress_path(results_file: Path, kind: str = "progress") -> Path:
    """Beside the file: `.cairn-progress.json` for a push, `.cairn-revocations.json` for a
    revocation run of the same file."""
    return results_file.with_name(f"{results_file.name}.cairn-{kind}.json")


async def push_file(path: Path, client: httpx.AsyncClient, *, batch_size: int = 1000,
                    institution: str | None = None, restart: bool = False,
                    correct: str | None = None,
                    on_batch: Callable[[Progress, int], None] | None = None,
                    stop_after: int | None = None) -> Progress:
    """Send `path` in batches; returns the progress (done when every batch is answered).
    The rows not recorded go to the rejects file beside it (cairn.push.rejects).
    `institution`: the member pushing; a row for another is rejected here, unsent (the
    ledger would refuse its whole batch, 403). `correct`: the reason to send each conflicting
    row as a correction with (module docstring); None leaves them conflicts."""
    rows = [_sendable(row, institution) for row in read_rows(path)]
    progress = Progress.load(progress_path(path), fingerprint(path), batch_size,
                             correction_reason=correct)

    async def answer(batch: list[Row]) -> list[Answered]:
        answered = await _answered(client, batch)
        return answered if correct is None else await _corrected(client, answered, correct)

    return await _run(path, rows, answer, progress, progress_path(path), RejectsFile(path),
                      restart=restart, on_batch=on_batch, stop_after=stop_after)


async def check_file(path: Path, client: httpx.AsyncClient, *, batch_size: int = 1000,
                     institution: str | None = None,
                     on_batch: Callable[[Progress, int], None] | None = None) -> Progress:
    """`path` sent as `push_file` sends it, as dry runs: each row counted as the push
    would count it (`created`: it would be recorded), nothing recorded, no progress
    saved; the rows that would not be recorded written to `<file>.problems.csv`."""
    rows = [_sendable(row, institution) for row in read_rows(path)]
    progress = Progress(fingerprint(path), batch_size, 0, Summary())
    return await _run(path, rows, lambda batch: _answered(client, batch, dry_run=True),
                      progress, None, RejectsFile(path, "problems"), restart=True,
                      on_batch=on_batch, stop_after=None)


async def revoke_file(path: Path, client: httpx.AsyncClient, *, institution: str,
                      reason: str | None = None, restart: bool = False,
                      batch_size: int = REVOCATION_BATCH,
                      on_batch: Callable[[Progress, int], None] | None = None,
                      stop_after: int | None = None) -> Progress:
    """Revoke each result `path` names (cairn.push.files.read_revocations) as
    `institution`, with its row's reason or else `reason`: `revoked`; `duplicate` when
    revoked before with that reason; `rejected` with the ledger's reason (no such result,
    revoked before with another reason). The rows not revoked go to
    `<file>.not-revoked.csv` (or `.jsonl`); the progress to `<file>.cairn-revocations.json`."""
    rows = [_sendable(row, institution) for row in read_revocations(path, reason)]
    state_file = progress_path(path, "revocations")
    progress = Progress.load(state_file, fingerprint(path), batch_size,
                             revocation_reason=reason)
    return await _run(path, rows, lambda batch: _revoked(client, batch, institution), progress,
                      state_file, RejectsFile(path, "not-revoked"), restart=restart,
                      on_batch=on_batch, stop_after=stop_after)


async def check_revocations(path: Path, client: httpx.AsyncClient, *, institution: str,
                            reason: str | None = None, batch_size: int = REVOCATION_BATCH,
                            on_batch: Callable[[Progress, int], None] | None = None
                            ) -> Progress:
    """`path` sent as `revoke_file` sends it, as dry runs: each row counted as the
    revocation would count it (`revoked`: it would be revoked), nothing revoked, no
    progress saved; the rows that would not be revoked written to `<file>.problems.csv`."""
    rows = [_sendable(row, institution) for row in read_revocations(path, reason)]
    progress = Progress(fingerprint(path), batch_size, 0, Summary(), revocation_reason=reason)
    would: dict[str, Any] = {}  # what the rows checked so far would revoke, and why
    return await _run(path, rows, lambda batch: _revoked(client, batch, institution,
                                                         dry_runs=would),
                      progress, None, RejectsFile(path, "problems"), restart=True,
                      on_batch=on_batch, stop_after=None)


async def _revoked(client: httpx.AsyncClient, batch: list[Row], institution: str, *,
                   dry_runs: dict[str, Any] | None = None) -> list[Answered]:
    """Each row's revocation answered: `revoked` (a dry run's `would_revoke`), `duplicate`
    (revoked before with this reason), else `rejected` with the ledger's reason.
    `dry_runs`: sent as dry runs (`_amended`)."""
    return await _amended(client, [(row, "", []) for row in batch],
                          REVOCATION_PATH + ("" if dry_runs is None else "?dry_run=true"),
                          lambda row: {"reason": row.result["reason"]},
                          {201: "revoked", 200: "duplicate"}, what="revocation",
                          member=institution, dry_runs=dry_runs)


Answered = tuple[Row, str, list[dict[str, Any]]]  # a row, its outcome, why


async def _run(path: Path, rows: list[Row],
               answer: Callable[[list[Row]], Awaitable[list[Answered]]], progress: Progress,
               state_file: Path | None, rejects: RejectsFile, *, restart: bool,
               on_batch: Callable[[Progress, int], None] | None, stop_after: int | None
               ) -> Progress:
    """Send `rows` in batches of `progress.batch_size` from where the saved `progress`
    stopped, each answered by `answer`; count the outcomes, write the rows not recorded
    to `rejects`, and save the progress after each batch (to `state_file`; not at all
    without one)."""
    csv_file = path.suffix.lower() == ".csv"
    if restart or progress.batches_done == 0:
        progress = progress.started_again(rejects.start())
        unsent = [(row, "rejected", row.problem.errors()) for row in rows
                  if row.problem is not None]
        for row, outcome, errors in unsent:  # reported once, at the start
            _note(progress.summary, row, outcome, errors, csv_file)
        progress.rejects_bytes = rejects.write(unsent)
    else:
        rejects.resume(progress.rejects_bytes)
    readable = [row for row in rows if row.problem is None]
    size = progress.batch_size
    batches = [readable[i:i + size] for i in range(0, len(readable), size)]
    for sent_now, number in enumerate(range(progress.batches_done, len(batches))):
        if stop_after is not None and sent_now >= stop_after:
            break
        not_recorded = []
        for row, outcome, errors in await answer(batches[number]):
            _note(progress.summary, row, outcome, errors, csv_file)
            if outcome not in RECORDED:
                not_recorded.append((row, outcome, errors))
        progress.rejects_bytes = rejects.write(not_recorded)  # before the progress counts them
        progress.batches_done = number + 1
        if state_file is not None:
            progress.save(state_file)
        if on_batch is not None:
            on_batch(progress, len(batches))
    if progress.batches_done == len(batches):
        rejects.finish(progress.summary.conflict + progress.summary.rejected)
    return progress


def sendable_rows(path: Path, institution: str | None = None, *,
                  revocations: bool = False, reason: str | None = None) -> int:
    """How many rows of `path` a push (or a revocation run) sends, for its progress bar."""
    rows = read_revocations(path, reason) if revocations else read_rows(path)
    return sum(_sendable(row, institution).problem is None for row in rows)


def _sendable(row: Row, institution: str | None) -> Row:
    claimed = row.result.get("institution_id") if row.result is not None else None
    if institution is None or not isinstance(claimed, str) or claimed == institution:
        return row
    return replace(row, result=None, problem=RowProblem(
        "institution_id", f"the file is pushed as {institution}, this row is for {claimed}: "
                          "a member records only its own results", "wrong_tenant"))


def _note(summary: Summary, row: Row, outcome: str, errors: list[dict[str, Any]],
          csv_file: bool) -> None:
    """Count the row; for one not recorded, its reasons' codes and what they say."""
    if outcome in RECORDED:
        summary.note(outcome, row.line, str(row.result.get("result_id", "?")))
        return
    source = row.result if row.result is not None else row.source
    result_id = source.get("result_id") if isinstance(source, dict) else None
    summary.note(outcome, row.line, str(result_id or "?"),
                 describe(errors, csv_file=csv_file, codes=True) or outcome,
                 describe(errors, csv_file=csv_file) or outcome)


async def _answered(client: httpx.AsyncClient, batch: list[Row], *, dry_run: bool = False
                    ) -> list[Answered]:
    items = (await _send(client, batch, dry_run=dry_run))["results"]
    return [(row, *_outcome(item)) for row, item in zip(batch, items, strict=True)]


CORRECTED_SINCE = {"field": "result_id", "reason": "corrected_since",
                   "message": "recorded as this row first, since corrected to another result: "
                              "push with --correct REASON to make this row the latest again"}


REVOKED_SINCE = {"field": "result_id", "reason": "revoked_since",
                 "message": "recorded as this row, since revoked: the ledger no longer "
                            "counts it, and a revocation is final (R-LG-3); take the row out "
                            "of the file if the revocation stands"}


def _outcome(item: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A batch item's outcome for the summary, and why: whether the ledger holds what the
    row says now. A conflict with the achievement's latest content (it was corrected to
    this row before) is a `duplicate`, nothing to do; a duplicate of an achievement since
    corrected to another result is a `conflict` (the row is its original content: the
    ledger no longer holds it), which `--correct` sends as a correction; so is a duplicate
    of an achievement since revoked (the file counts a result the ledger no longer does:
    a registrar reconciling must see it; `--correct` then gets the ledger's refusal); a
    dry run's `would_create` is counted `created`."""
    outcome, errors = item["outcome"], item.get("errors") or []
    if outcome == "conflict" and item.get("matches_latest"):
        return "duplicate", []
    if outcome == "duplicate" and item.get("achievement_status") == "revoked":
        return "conflict", [REVOKED_SINCE]
    if (outcome == "duplicate" and item.get("achievement_status") == "corrected"
            and not item.get("matches_latest")):
        return "conflict", [CORRECTED_SINCE]
    if outcome == "would_create":
        return "created", errors
    return (outcome if outcome in ("created", "duplicate", "conflict") else "rejected"), errors


async def _send(client: httpx.AsyncClient, batch: list[Row], *, dry_run: bool = False
                ) -> dict[str, Any]:
    response = await _post(client, BATCH_PATH + ("?dry_run=true" if dry_run else ""),
                           {"results": [row.result for row in batch]})
    if response.status_code != 200:
        raise PushAborted(f"the ledger refused the batch: {_problem(response)}")
    return response.json()


async def _corrected(client: httpx.AsyncClient, answered: list[Answered],
                     reason: str) -> list[Answered]:
    """`answered` with each conflict sent as a correction (R-LG-3) and answered by it:
    `corrected`; `duplicate` when the achievement already holds this content (a
    correction sent before); `rejected` with the ledger's reason (revoked, or a row that
    changes the learner)."""
    return await _amended(client, answered, CORRECTIONS_PATH,
                          lambda row: {"result": row.result, "reason": reason},
                          {201: "corrected", 200: "duplicate"}, what="correction",
                          only="conflict")


async def _amended(client: httpx.AsyncClient, answered: list[Answered], path: str,
                   body: Callable[[Row], Any], outcomes: dict[int, str], *, what: str,
                   only: str | None = None, member: str | None = None,
                   dry_runs: dict[str, Any] | None = None) -> list[Answered]:
    """`answered` with each row (or each answered `only`) sent to its achievement's `path`
    (a correction or a revocation, R-LG-3: `what`) and answered by it: `outcomes` by
    status (for a dry run, by the answer's `outcome`: DRY_RUN_OUTCOMES), else `rejected`
    with the ledger's reason. The achievement is `member`'s, or its row's institution's.
    AMENDMENTS_AT_ONCE at a time; the rows of one achievement in the file's order.

    `dry_runs`: the requests are dry runs (of revocations only: `_after_dry_run`), and this
    holds, by achievement id, the body each earlier row of the file would have amended it
    with (nothing was written): a later row of it is answered as the ledger will answer
    it then, across batches too."""
    by_achievement: dict[str, list[int]] = {}
    for i, (row, outcome, _) in enumerate(answered):
        if only is None or outcome == only:
            aid = f"{member or row.result['institution_id']}:{row.result['result_id']}"
            by_achievement.setdefault(aid, []).append(i)
    out, slots = list(answered), asyncio.Semaphore(AMENDMENTS_AT_ONCE)

    async def amend(aid: str, indexes: list[int]) -> None:
        async with slots:
            for i in indexes:
                row = answered[i][0]
                if dry_runs is not None and aid in dry_runs:
                    out[i] = (row, *_after_dry_run(body(row), dry_runs[aid], what))
                    continue
                response = await _post(client, path.format(aid=quote(aid, safe=":")),
                                       body(row))
                out[i] = (row, *_amendment_outcome(response, outcomes, what,
                                                   dry_runs is not None))
                if dry_runs is not None and out[i][1] not in ("duplicate", "rejected"):
                    dry_runs[aid] = body(row)

    await asyncio.gather(*(amend(aid, ix) for aid, ix in by_achievement.items()))
    return out


DRY_RUN_OUTCOMES = {"would_revoke": "revoked", "duplicate": "duplicate"}


def _after_dry_run(sent: Any, would: Any, what: str) -> tuple[str, list[dict[str, Any]]]:
    """A later row of the same achievement, after a dry run's row that would amend it: the
    ledger will answer it against that amendment (R-LG-3), not against what it holds now.
    The same body again is a retry; another, for a revocation, is refused: it is final."""
    if sent == would:
        return "duplicate", []
    return "rejected", [{"field": "result_id", "reason": "already_revoked",
                         "message": f"{what} refused: an earlier row of the file revokes it, "
                                    "with another reason"}]


def _amendment_outcome(response: httpx.Response, outcomes: dict[int, str], what: str,
                       dry_run: bool = False) -> tuple[str, list[dict[str, Any]]]:
    if dry_run and response.status_code == 200:  # every dry run that would go through
        outcome = DRY_RUN_OUTCOMES.get(_json(response).get("outcome"))
        if outcome is None:
            raise PushAborted(f"the ledger answered a {what}'s dry run without its outcome")
        return outcome, []
    if response.status_code in outcomes:
        return outcomes[response.status_code], []
    if response.status_code in (401, 403):
        raise PushAborted(f"the ledger refused a {what}: {_problem(response)}")
    problem = _json(response)  # 404 not found, 409 already_revoked, 422 changes identity
    errors = problem.get("errors")
    if isinstance(errors, list) and errors:
        return "rejected", errors
    return "rejected", [{"field": problem.get("field") or "result_id",
                         "reason": problem.get("code") or str(response.status_code),
                         "message": f"{what} refused: "
                                    f"{problem.get('title') or response.text[:200]}"}]


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    """The ledger's answer, once it is not a failure worth retrying (a transport error,
    429, 5xx: every request here is idempotent, so it is safe to send again). A busy
    ledger's Retry-After is followed (BUSY_PATIENCE); other failures back off, RETRIES
    times in all."""
    failures, waited = 0, 0.0
    while True:
        try:
            response = await client.post(path, json=body)
        except httpx.TransportError:
            failures += 1
            if failures == RETRIES:
                raise
            delay = 0.5 * 2 ** (failures - 1)
        else:
            if response.status_code < 500 and response.status_code != 429:
                return response
            told = retry_after(response)
            if told is not None and waited + told <= BUSY_PATIENCE:
                delay, waited = told, waited + told
            else:
                failures += 1
                if failures == RETRIES:
                    raise PushAborted(f"the ledger keeps failing ({_problem(response)})")
                delay = 0.5 * 2 ** (failures - 1)
        await asyncio.sleep(delay)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a 503 or 429 answer's Retry-After asks for (at most 60); None without
    one, or with an HTTP date instead."""
    value = response.headers.get("retry-after", "")
    if response.status_code not in (429, 503) or not value.strip().isdigit():
        return None
    return float(min(int(value), 60))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem(response: httpx.Response) -> str:
    """"401 invalid_token: the signature does not verify": a problem+json answer in a line."""
    problem = _json(response)
    if not problem:
        return f"{response.status_code} {response.text[:500]}"
    return (f"{response.status_code} {problem.get('code', '')}: "
            f"{problem.get('detail') or problem.get('title', '')}")
