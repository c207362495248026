"""A container entrypoint: apply pending migrations, then become the application.

    ENTRYPOINT ["python", "/app/entrypoint.py"]
    CMD ["gunicorn", "app:wsgi", "--workers", "4"]

Every replica that starts runs it; the migration lock makes concurrent starts safe (one
applies, the others wait and find nothing to do). A migration that fails stops the
container with the tool's exit code (docs/python-api.md#errors) and the message on
stderr, before the application starts. The database and the folder come from the usual
places (``LIBSQL_URL``, ``LIBSQL_AUTH_TOKEN``, ``MIGRATIONS_DIR``, invoke.yaml).
"""

from __future__ import annotations

import logging
import os
import sys

from migrate_tasks import MigrateError, Migrator


def main(command: list[str]) -> int:
    if not command:
        print("usage: entrypoint.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="migrate: %(message)s", stream=sys.stderr)
    try:
        with Migrator() as migrator:
            migrator.up(wait=60)  # a database container still starting gets a minute
    except MigrateError as exc:
        print(f"migrate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stderr.flush()
    os.execvp(command[0], command)  # the application replaces this process (PID 1 stays it)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
