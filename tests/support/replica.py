"""A sqld primary with one read replica, both on free loopback ports (LIBSQL_NOTES §9)."""

from __future__ import annotations

from pathlib import Path

from tests.support.sqld import SqldServer, free_port


class ReplicaPair:
    """Writes sent to the replica are forwarded to the primary over gRPC."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.grpc_port = free_port()
        self.primary = SqldServer(
            binary, workdir / "primary", ["--grpc-listen-addr", f"127.0.0.1:{self.grpc_port}"]
        )
        self.replica = SqldServer(
            binary,
            workdir / "replica",
            ["--primary-grpc-url", f"http://127.0.0.1:{self.grpc_port}"],
        )

    def __enter__(self) -> ReplicaPair:
        for server in (self.primary, self.replica):
            server.workdir.mkdir(parents=True, exist_ok=True)
        self.primary.start()
        try:
            self.replica.start()
        except BaseException:
            self.primary.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.replica.stop()
        self.primary.stop()
