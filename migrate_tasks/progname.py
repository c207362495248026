"""How to spell a command in a message: ``invoke migrate.X`` or ``libsql-migrate X``.

A message that suggests a command must name the program the user ran. The entry point
(``cli.main``) says which one it is; everything else calls ``command``. Files we write
(``schema.sql``, generated migrations) keep a fixed spelling so their bytes never depend
on which program wrote them.
"""

from __future__ import annotations

INVOKE = "invoke migrate."
STANDALONE = "libsql-migrate "

_prefix = INVOKE


def use_standalone() -> None:
    """Called by ``libsql-migrate``: suggestions read ``libsql-migrate TASK``."""
    global _prefix
    _prefix = STANDALONE


def command(task_and_args: str) -> str:
    """``command("repair 3 --applied")`` -> ``invoke migrate.repair 3 --applied``."""
    return _prefix + task_and_args
