"""Pick the driver for a database URL (the scheme decides, as in geni).

Implementations are imported inside ``open_driver``: libsql-client pulls in
aiohttp (~0.2 s of start-up), so only ``ws://``/``wss://`` URLs pay for it.
"""

from __future__ import annotations

from migrate_tasks.config import defaults
from migrate_tasks.config.urls import parse_target
from migrate_tasks.drivers.base import Driver, Row, Step

__all__ = ["Driver", "Row", "Step", "open_driver"]


def open_driver(
    url: str,
    auth_token: str | None = None,
    *,
    timeout: float = defaults.REQUEST_TIMEOUT_S,
    must_exist: bool = False,
) -> Driver:
    """Open the driver for ``url``; an explicit ``auth_token`` wins over ``?authToken=``.

    ``timeout`` bounds each network request (connect and read) of the HTTP driver.
    Local files use SQLite's 5 s busy timeout instead. A local file that does not exist
    reads as an empty database (and is created at the first write) unless
    ``must_exist``. Close the driver when done (the ws one keeps a non-daemon thread
    alive until then).
    """
    target = parse_target(url)
    token = auth_token or target.token
    if target.kind == "file":
        from migrate_tasks.drivers.local import LocalDriver

        assert target.path is not None
        return LocalDriver(target.path, display_url=target.display, must_exist=must_exist)
    assert target.url is not None
    if target.kind == "http":
        from migrate_tasks.drivers.http import HranaHttpDriver

        return HranaHttpDriver(target.url, token, timeout=timeout, display_url=target.display)
    from migrate_tasks.drivers.ws import WsDriver

    return WsDriver(target.url, token, timeout=timeout, display_url=target.display)
