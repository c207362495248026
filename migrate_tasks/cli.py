"""``libsql-migrate``: the same tasks without a tasks.py (``libsql-migrate up --step 2``)."""

from __future__ import annotations

from invoke import Program

from . import __version__
from .progname import use_standalone
from .tasks import migrate

program = Program(
    namespace=migrate, version=__version__, name="libsql-migrate", binary="libsql-migrate"
)


def main() -> None:
    use_standalone()
    program.run()
