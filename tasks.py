"""This repository's own tasks: exactly what a user's tasks.py looks like."""

from invoke import Collection

from migrate_tasks import migrate

ns = Collection(migrate)
