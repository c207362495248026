"""A plain ASGI application that migrates its database in its lifespan start-up hook.

Run it under any ASGI server (``uvicorn app:app --workers 4``, hypercorn, granian...):
every worker runs the start-up hook, and the migration lock makes that safe, since one
worker applies the pending migrations while the others wait for the lock and then find
nothing left to do. A worker whose migration fails reports ``lifespan.startup.failed``,
so the server does not start serving with a half-migrated schema.

The database and the folder come from the usual places (``LIBSQL_URL``,
``LIBSQL_AUTH_TOKEN``, ``MIGRATIONS_DIR``, invoke.yaml; docs/configuration.md).
No web framework is needed; with FastAPI or Starlette, call ``migrate()`` the same way
from their ``lifespan`` context manager.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from migrate_tasks import MigrateError, Migrator

log = logging.getLogger("app")

#: What this worker's start-up applied (empty when another worker got there first).
applied_at_startup: list[str] = []


def migrate() -> list[str]:
    """Apply pending migrations (blocking: run it in a thread from async code)."""
    with Migrator() as migrator:
        run = migrator.up(wait=60)  # a database still starting gets a minute
    return run.versions


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                applied_at_startup[:] = await asyncio.to_thread(migrate)
            except MigrateError as exc:  # the message names file, line and statement
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            log.info("migrated at start-up: %s", applied_at_startup or "nothing to apply")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    body = json.dumps({"applied_at_startup": applied_at_startup}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
