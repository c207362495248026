"""The Invoke tasks, one module per family, assembled into the ``migrate`` collection.

Tasks are thin: flags -> settings -> the engine or an operation -> ``report``. A user's
tasks.py gets them all with ``ns = Collection(migrate)``; ``libsql-migrate`` runs the same
collection (``cli.py``).
"""

from invoke import Collection

from migrate_tasks.config.settings import CONFIG_DEFAULTS
from migrate_tasks.tasks.alembic import baseline, import_alembic, retire_alembic
from migrate_tasks.tasks.ci import dump, verify
from migrate_tasks.tasks.dbmate import adopt_dbmate
from migrate_tasks.tasks.integrity import hash_, rebase
from migrate_tasks.tasks.lint import lint
from migrate_tasks.tasks.maintenance import repair, unlock
from migrate_tasks.tasks.migrations import create, down, status, up, validate
from migrate_tasks.tasks.models import generate
from migrate_tasks.tasks.review import review
from migrate_tasks.tasks.wait import wait

migrate = Collection(
    "migrate",
    create, status, validate, lint, review, up, down, repair, unlock, verify, dump, baseline,
    import_alembic, retire_alembic, adopt_dbmate, generate, hash_, rebase, wait,
)  # fmt: skip
migrate.configure({"migrate": CONFIG_DEFAULTS})

__all__ = ["migrate"]
