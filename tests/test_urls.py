"""parse_target / redact_url / is_loopback / scrub: pure, table-driven."""

from __future__ import annotations

import pytest

from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import (
    Target,
    connect_host,
    is_loopback,
    parse_target,
    redact_url,
    require_tls,
)
from migrate_tasks.errors import UsageError

SECRET = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.c2ln"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("dev.db", "dev.db"),
        ("./x/dev.db", "./x/dev.db"),
        ("/abs/x.db", "/abs/x.db"),
        ("file:rel.db", "rel.db"),
        ("file:/abs.db", "/abs.db"),
        ("file:///abs.db", "/abs.db"),
        ("file://localhost/abs.db", "/abs.db"),
        ("file:my%20db.db", "my db.db"),
        ("file::memory:", ":memory:"),
        ("sqlite:db/database.sqlite3", "db/database.sqlite3"),  # dbmate's DATABASE_URL
        ("sqlite:/abs.db", "/abs.db"),
        ("sqlite:///abs.db", "/abs.db"),
        ("SQLITE3:rel.db", "rel.db"),
        (":memory:", ":memory:"),
        ("  dev.db  ", "dev.db"),
        ("C:\\data\\dev.db", "C:\\data\\dev.db"),
    ],
)
def test_file_targets(url: str, path: str) -> None:
    target = parse_target(url)
    assert (target.kind, target.path, target.url, target.token) == ("file", path, None, None)


@pytest.mark.parametrize(
    ("url", "kind", "base"),
    [
        ("http://127.0.0.1:8080", "http", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http", "http://127.0.0.1:8080"),
        ("HTTP://127.0.0.1:8080", "http", "http://127.0.0.1:8080"),
        ("https://db.example.com", "http", "https://db.example.com"),
        ("https://db.example.com:8443/base/path/", "http", "https://db.example.com:8443/base/path"),
        ("http://[::1]:8080", "http", "http://[::1]:8080"),
        ("libsql://db.example.com", "http", "https://db.example.com"),
        ("libsql://db.example.com:444?tls=1", "http", "https://db.example.com:444"),
        ("libsql://127.0.0.1:8080?tls=0", "http", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080?tls=0", "http", "http://127.0.0.1:8080"),
        ("ws://127.0.0.1:8080", "ws", "ws://127.0.0.1:8080"),
        ("wss://db.example.com", "ws", "wss://db.example.com"),
        ("wss://db.example.com?tls=1", "ws", "wss://db.example.com"),
    ],
)
def test_network_targets(url: str, kind: str, base: str) -> None:
    target = parse_target(url)
    assert (target.kind, target.path, target.url, target.token) == (kind, None, base, None)
    assert target.display == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:8080?authToken={SECRET}",
        f"libsql://db.example.com?authToken={SECRET}",
        f"libsql://127.0.0.1:8080?tls=0&authToken={SECRET}",
        f"wss://db.example.com/?authToken={SECRET}",
    ],
)
def test_token_is_extracted_and_never_displayed(url: str) -> None:
    target = parse_target(url)
    assert target.token == SECRET
    assert target.url is not None and SECRET not in target.url
    assert SECRET not in target.display and "authToken=***" in target.display
    assert SECRET not in repr(target) and SECRET not in str(target)


def test_empty_token_means_none() -> None:
    assert parse_target("http://127.0.0.1:8080?authToken=").token is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (
            "postgresql://u@localhost/db",
            "is not a libSQL URL; use file:, http(s)://, libsql://, ws(s)://",
        ),
        ("mysql://localhost/db", "is not a libSQL URL"),
        ("http://127.0.0.1:8080?foo=1", "unknown query parameter 'foo'"),
        ("file:dev.db?mode=ro", "take no query parameters (got mode)"),
        ("file://otherhost/x.db", "names another host"),
        ("sqlite:dev.db?_fk=true", "sqlite: URLs take no query parameters (got _fk)"),
        ("file:", "has no path"),
        ("libsql://127.0.0.1?tls=0", "must give an explicit port"),
        ("http://127.0.0.1:8080?tls=1", "cannot ask for TLS"),
        ("ws://127.0.0.1:8080?tls=1", "cannot ask for TLS"),
        ("https://db.example.com?tls=0", "cannot turn TLS off"),
        ("wss://db.example.com?tls=0", "cannot turn TLS off"),
        ("http://127.0.0.1:8080?tls=yes", "must be 0 or 1"),
        ("http://", "no host"),
        ("http://127.0.0.1:99999", "invalid URL"),
        ("http://127.0.0.1:8080#frag", "fragment"),
        ("http://127.0.0.1:8080?tls=0&tls=0", "given twice"),
    ],
)
def test_refused(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_target(url)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:8080?authtoken={SECRET}",  # misspelt: name shown, value not
        f"postgresql://user:{SECRET}@localhost/db",
        f"https://user:{SECRET}@db.example.com",
        f"https://{SECRET}@db.example.com",
        f"mysql://h/db?password={SECRET}",
    ],
)
def test_error_messages_never_contain_secrets(url: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_target(url)
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"libsql://db.example.com?authToken={SECRET}", "libsql://db.example.com?authToken=***"),
        (
            f"http://h:1/?tls=0&authToken={SECRET}&x=1",
            "http://h:1/?tls=0&authToken=***&x=1",
        ),
        (f"postgresql://bob:{SECRET}@localhost/db", "postgresql://bob:***@localhost/db"),
        (f"https://{SECRET}@db.example.com/x", "https://***@db.example.com/x"),
        (f"https://h/?api_key={SECRET}#x", "https://h/?api_key=***#x"),
        ("file:dev.db", "file:dev.db"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_never_raises() -> None:
    for value in ["%%%", "http://[::1", "\x00", "a" * 10_000, None]:
        assert isinstance(redact_url(value), str)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("tenant1.localhost", True),  # RFC 6761: every *.localhost name is loopback
        ("a.b.Localhost", True),
        ("tenant1.localhost.", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("notlocalhost", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("tenant1.localhost", "localhost"),
        ("A.B.LOCALHOST", "localhost"),
        ("tenant1.localhost.", "localhost"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost.example.com", "localhost.example.com"),
        ("db.example.com", "db.example.com"),
    ],
)
def test_connect_host_sends_localhost_names_to_loopback(host: str, expected: str) -> None:
    assert connect_host(host) == expected


@pytest.mark.parametrize("url", ["http://tenant1.localhost:8080", "ws://tenant1.localhost:8080"])
def test_plain_transport_to_a_localhost_name_needs_no_insecure(url: str) -> None:
    require_tls(parse_target(url), insecure=False)
    with pytest.raises(UsageError, match="without TLS"):
        require_tls(
            parse_target(url.replace(".localhost", ".localhost.example.com")), insecure=False
        )


def test_target_is_frozen() -> None:
    target = parse_target("dev.db")
    assert isinstance(target, Target)
    with pytest.raises(AttributeError):
        target.path = "other.db"  # type: ignore[misc]


def test_scrub_hides_the_given_secrets_and_the_environment_token(monkeypatch):
    monkeypatch.setenv("LIBSQL_AUTH_TOKEN", "env-token-value")
    text = f"401 for {SECRET}; env-token-value; key admin-key; the word abc stays"
    assert scrub(text, SECRET, None, "", "admin-key", "abc") == (
        "401 for ***; ***; key ***; the word abc stays"
    )
    monkeypatch.delenv("LIBSQL_AUTH_TOKEN")
    assert scrub("env-token-value") == "env-token-value"
