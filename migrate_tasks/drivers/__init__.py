"""Pick the driver for a database URL (the scheme decides, as in geni).

Implementations are imported inside ``open_driver``: libsql-client pulls in
aiohttp (~0.2 s of start-up), so only ``ws://``/``wss://`` URLs pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_tasks.config import defaults
from migrate_tasks.config.urls import parse_target
from migrate_tasks.drivers.base import Driver, Row, Step
from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from migrate_tasks.config.settings import Settings

__all__ = ["Driver", "Row", "Step", "driver_class", "open_configured", "open_driver"]


def open_configured(settings: Settings, *, must_exist: bool = False) -> Driver:
    """The driver for the configured database, with every setting that shapes it (token,
    timeout, batch budgets): the one way the tasks and the API connect."""
    return open_driver(
        settings.url,
        settings.auth_token,
        timeout=settings.timeout,
        must_exist=must_exist,
        batch=(settings.batch_steps, settings.batch_bytes),
    )


def open_driver(
    url: str,
    auth_token: str | None = None,
    *,
    timeout: float = defaults.REQUEST_TIMEOUT_S,
    must_exist: bool = False,
    host_header: str | None = None,
    display_url: str | None = None,
    batch: tuple[int, int] | None = None,
) -> Driver:
    """Open the driver for ``url``; an explicit ``auth_token`` wins over ``?authToken=``.

    ``timeout`` bounds each network request (connect and read) of the HTTP driver.
    Local files use SQLite's 5 s busy timeout instead. A local file that does not exist
    reads as an empty database (and is created at the first write) unless
    ``must_exist``. ``host_header``: the ``Host`` header to send (http(s):// only): sqld
    picks a namespace by its first label (fleets). ``display_url``: how to name the
    database in messages, instead of the redacted URL. ``batch``: (steps, bytes) one
    request (or ws message) may carry when many migrations share it (remote URLs only).
    Close the driver when done (the ws one keeps a non-daemon thread alive until then).
    """
    target = parse_target(url)
    token = auth_token or target.token
    display = display_url or target.display
    if host_header is not None and target.kind != "http":
        raise UsageError(f"{display}: a Host header can only be sent over http(s)://")
    cls = driver_class(target.kind)
    if target.kind == "file":
        assert target.path is not None
        return cls(target.path, display_url=display, must_exist=must_exist)
    assert target.url is not None
    if target.kind == "http":
        driver = cls(
            target.url, token, timeout=timeout, display_url=display, host_header=host_header
        )
    else:
        driver = cls(target.url, token, timeout=timeout, display_url=display)
    if batch is not None:
        driver.group_max_steps, driver.group_max_bytes = batch
    return driver


def driver_class(kind: str) -> type:
    """The driver class for a target kind (``file``, ``http``, ``ws``), imported on demand:
    its class attributes state its capabilities (``Driver.is_server`` ...) without a
    connection, e.g. for ``lint``."""
    if kind == "file":
        from migrate_tasks.drivers.local import LocalDriver

        return LocalDriver
    if kind == "http":
        from migrate_tasks.drivers.http import HranaHttpDriver

        return HranaHttpDriver
    from migrate_tasks.drivers.ws import WsDriver

    return WsDriver
