"""A statement's plan as PostgreSQL keeps it for a prepared statement run many times:
made for any parameters (a generic plan), as asyncpg's prepared statements end up."""

from __future__ import annotations

from typing import Any


async def generic_plan(db: Any, sql: str, args: tuple[str, ...], *settings: str) -> str:
    """EXPLAIN of `sql` planned for any parameters; `args`: one SQL literal per
    parameter; `settings`: SET LOCAL statements run first (as the caller runs it).
    `db`: an asyncpg connection."""
    async with db.transaction():
        await db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for setting in settings:
            await db.execute(setting)
        await db.execute(f"PREPARE probe AS {sql}")
        try:
            rows = await db.fetch(f"EXPLAIN EXECUTE probe({', '.join(args)})")
        finally:
            await db.execute("DEALLOCATE probe")
    return "\n".join(row[0] for row in rows)
