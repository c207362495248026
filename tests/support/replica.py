"""A sqld primary with one read replica, both on free loopback ports (docs/libsql-notes.md §9)."""

from __future__ import annotations

from pathlib import Path

from tests.support.sqld import SqldServer, SqldUnavailable, free_port


class ReplicaPair:
    """Writes sent to the replica are forwarded to the primary over gRPC."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.workdir = workdir
        self._configure(free_port())

    def _configure(self, grpc_port: int) -> None:
        self.grpc_port = grpc_port
        self.primary = SqldServer(
            self.binary,
            self.workdir / "primary",
            ["--grpc-listen-addr", f"127.0.0.1:{grpc_port}"],
        )
        self.replica = SqldServer(
            self.binary,
            self.workdir / "replica",
            ["--primary-grpc-url", f"http://127.0.0.1:{grpc_port}"],
        )
        for server in (self.primary, self.replica):
            server.workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> ReplicaPair:
        for attempt in range(3):  # the gRPC port is chosen before sqld binds it
            try:
                self.primary.start()
                break
            except SqldUnavailable:
                if attempt == 2:
                    raise
                self._configure(free_port())  # someone took it: try another
        try:
            self.replica.start()
        except BaseException:
            self.primary.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.replica.stop()
        self.primary.stop()
