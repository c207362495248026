"""The task ``wait`` (and ``up --wait``): hold on until the database answers.

For a migration container that starts beside its sqld (docs/docker.md) or a CI job
whose database service is still starting: ``wait`` then ``up``, or ``up --wait``.
"""

from __future__ import annotations

from invoke import Context, task

from migrate_tasks.api.checks import wait_for_database
from migrate_tasks.config import defaults
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    MigrateTask,
    handles_errors,
    task_settings,
)

__all__ = ["WAIT_HELP", "wait", "wait_for_database"]

WAIT_HELP = {
    "wait-timeout": "seconds to keep trying before giving up with exit 5"
    f" (default {defaults.WAIT_TIMEOUT_S})",
}


_CONNECTION = ("url", "auth-token", "env", "insecure", "verbose", "log-format")


@task(klass=MigrateTask, help={**{k: COMMON_HELP[k] for k in _CONNECTION}, **WAIT_HELP})
@handles_errors
def wait(
    c: Context,
    wait_timeout: float = float(defaults.WAIT_TIMEOUT_S),
    url: str = "",
    auth_token: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Wait until the database answers a query (a server still starting, a volume not yet
    mounted); exit 5 if it does not within --wait-timeout, or at once if the token is
    refused."""
    settings = task_settings(c, url=url, auth_token=auth_token, env=env, insecure=insecure)
    print(wait_for_database(settings, wait_timeout))
