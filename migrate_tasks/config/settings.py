"""One frozen Settings object and the one function that resolves where each value comes from.

Precedence, highest first:
  1. task flags (``--url``, ``--auth-token``, ``--dir``, ``--env``)
  2. real environment variables (``LIBSQL_URL`` then ``DATABASE_URL``, ``LIBSQL_AUTH_TOKEN``,
     ``MIGRATIONS_DIR``, ``MIGRATE_ENV``)
  3. a ``.env`` file in the working directory (never overriding the real environment)
  4. Invoke configuration (``invoke.yaml`` ... ``migrate: {url, auth_token, dir, table,
     environments: {NAME: {...}}}``), with the selected environment's keys over the base keys
  5. defaults (``config.defaults``: ``file:dev.db``, ``migrations``, ``schema_migrations``)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_tasks.config import defaults
from migrate_tasks.errors import UsageError

#: Invoke config defaults, declared once for ``Collection.configure``.
CONFIG_DEFAULTS: dict[str, Any] = {
    "url": None,
    "auth_token": None,
    "dir": None,
    "table": defaults.TABLE,
    "env": None,
    "protected": False,
    "lock_timeout": defaults.LOCK_TIMEOUT_S,
    "lock_ttl": defaults.LOCK_TTL_S,
    "timeout": defaults.REQUEST_TIMEOUT_S,
    "batch_steps": defaults.BATCH_STEPS,
    "batch_bytes": defaults.BATCH_BYTES,
    "environments": {},
    #: ``generate``: the models, package.module:Base (or :metadata).
    "models": None,
}

# Environment variable names per setting, in the order they are consulted.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "url": ("LIBSQL_URL", "DATABASE_URL"),
    "auth_token": ("LIBSQL_AUTH_TOKEN",),
    "dir": ("MIGRATIONS_DIR",),
    "env": ("MIGRATE_ENV",),
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ENV_KEYS = {
    "url", "auth_token", "dir", "table", "protected", "lock_timeout", "lock_ttl", "timeout",
    "batch_steps", "batch_bytes",
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Everything a task needs to reach the database and find the migrations."""

    url: str
    directory: Path
    table: str
    env: str | None = None
    #: Destructive tasks ask for confirmation (or --yes when there is no terminal).
    protected: bool = False
    #: Allow plain http:// and ws:// to hosts other than loopback.
    insecure: bool = False
    lock_timeout: float = float(defaults.LOCK_TIMEOUT_S)
    lock_ttl: int = defaults.LOCK_TTL_S
    #: Seconds to wait for a server's answer to one request.
    timeout: float = float(defaults.REQUEST_TIMEOUT_S)
    #: sqld over HTTP: what one request may carry when migrations share it.
    batch_steps: int = defaults.BATCH_STEPS
    batch_bytes: int = defaults.BATCH_BYTES
    auth_token: str | None = field(default=None, repr=False)
    #: For each setting, a human description of where its value came from.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


def validate_identifier(name: str, what: str = "table") -> str:
    """Refuse anything we would have to quote creatively: identifiers go into SQL text."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise UsageError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 63 characters)"
        )
    if name.lower().startswith("sqlite_"):
        raise UsageError(f"invalid {what} name {name!r}: names starting with sqlite_ are reserved")
    return name


def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    dotenv: Mapping[str, str | None],
    config: Mapping[str, Any],
    *,
    cwd: Path | None = None,
) -> Settings:
    """Merge the five layers into one Settings; pure, so precedence is unit-testable."""
    sources: dict[str, str] = {}

    def pick(key: str, config_layer: Mapping[str, Any], default: Any) -> Any:
        if flags.get(key) not in (None, ""):
            sources[key] = f"--{key.replace('_', '-')}"
            return flags[key]
        for layer_name, layer in (("environment", environ), (".env", dotenv)):
            for var in ENV_VARS.get(key, ()):
                value = layer.get(var)
                if key == "url" and value == "" and layer_name == "environment":
                    # In CI a missing secret arrives as an empty variable: falling back to
                    # the default file would "deploy" to a throw-away database and succeed.
                    raise UsageError(
                        f"{var} is set but empty (a missing CI secret?); set it to the"
                        " database URL, or unset it to use the configured or default one"
                    )
                if value not in (None, ""):
                    sources[key] = f"{var} ({layer_name})" if layer_name == ".env" else var
                    return value
        if config_layer.get(key) not in (None, ""):
            sources[key] = config_layer.get("__source__", {}).get(key, "invoke config")
            return config_layer[key]
        sources[key] = "default"
        return default

    env_name = pick("env", config, None)
    layer = _config_layer(config, env_name)
    url = str(pick("url", layer, defaults.URL))
    token = pick("auth_token", layer, None)
    directory = Path(str(pick("dir", layer, defaults.DIR))).expanduser()
    if not directory.is_absolute() and cwd is not None:
        directory = cwd / directory
    table = validate_identifier(str(pick("table", layer, defaults.TABLE)))
    lock_timeout = _number(
        pick("lock_timeout", layer, defaults.LOCK_TIMEOUT_S), "lock_timeout", minimum=0
    )
    lock_ttl = int(_number(pick("lock_ttl", layer, defaults.LOCK_TTL_S), "lock_ttl", minimum=5))
    timeout = _number(pick("timeout", layer, defaults.REQUEST_TIMEOUT_S), "timeout", minimum=0.1)
    batch_steps = int(
        _number(pick("batch_steps", layer, defaults.BATCH_STEPS), "batch_steps", minimum=1)
    )
    batch_bytes = int(
        _number(pick("batch_bytes", layer, defaults.BATCH_BYTES), "batch_bytes", minimum=1)
    )
    return Settings(
        url=url,
        auth_token=str(token) if token else None,
        directory=directory,
        table=table,
        env=env_name,
        protected=_as_bool(layer.get("protected", False), "protected"),
        insecure=bool(flags.get("insecure")),
        lock_timeout=lock_timeout,
        lock_ttl=lock_ttl,
        timeout=timeout,
        batch_steps=batch_steps,
        batch_bytes=batch_bytes,
        sources=sources,
    )


def settings_for(
    flags: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings as every entry point resolves them (tasks, ``libsql-migrate``, the Python
    API): ``flags``, the real environment, ``.env`` in ``cwd``, the ``migrate`` section of
    the Invoke configuration, defaults; then refuses clear-text transport to a host that is
    not loopback unless ``insecure``. One function, so the precedence cannot drift."""
    from migrate_tasks.config.urls import parse_target, require_tls

    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    settings = resolve_settings(flags, environ, load_dotenv_file(cwd), config, cwd=cwd)
    require_tls(parse_target(settings.url), insecure=settings.insecure)
    return settings


def _config_layer(config: Mapping[str, Any], env_name: str | None) -> dict[str, Any]:
    """The base ``migrate`` config with the selected environment's keys laid over it."""
    layer = {k: v for k, v in config.items() if k != "environments"}
    if env_name is None:
        return layer
    environments = config.get("environments") or {}
    if env_name not in environments:
        known = ", ".join(sorted(environments)) or "none are configured"
        raise UsageError(
            f"unknown environment {env_name!r} (known: {known}); "
            "define it under migrate.environments in invoke.yaml"
        )
    chosen = environments[env_name] or {}
    unknown = set(chosen) - _ENV_KEYS
    if unknown:
        raise UsageError(
            f"environment {env_name!r} has unknown keys: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_ENV_KEYS))})"
        )
    source = {key: f"invoke config (environments.{env_name})" for key in chosen}
    return {**layer, **chosen, "__source__": source}


def _as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off", ""}:
        return False
    raise UsageError(f"config key {key!r} must be true or false, not {value!r}")


def _number(value: Any, key: str, *, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be a number of seconds, not {value!r}") from None
    if number < minimum:
        raise UsageError(f"{key} must be at least {minimum:g} seconds, not {value!r}")
    return number


def load_dotenv_file(cwd: Path) -> dict[str, str | None]:
    """Read ``.env`` without touching ``os.environ`` (the real environment always wins)."""
    path = cwd / ".env"
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # imported only when a .env exists

    return dict(dotenv_values(path))
