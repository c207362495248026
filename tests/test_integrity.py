"""The integrity file ``migrations/migrate.sum``: its format, what ``validate`` and ``up``
find with it, and the tasks that write it (``hash``) or keep it current (``create``,
``generate``, ``import-alembic``), through the real programs. Rebasing a branch's
migrations with git is in test_rebase.py; dbmate's view of the file in test_dbmate.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from migrate_tasks.errors import LocatedError
from migrate_tasks.files.integrity import (
    findings,
    folder_hash,
    read_sum,
    render,
    sum_path,
    write_sum,
)
from migrate_tasks.files.source import checksum
from tests.support.alembic_blog import BLOG_INI
from tests.support.project import Project

A = "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n"
B = "-- migrate:up\nCREATE TABLE b (id INTEGER);\n-- migrate:down\nDROP TABLE b;\n"
C = "-- migrate:up\nCREATE TABLE c (id INTEGER);\n-- migrate:down\nDROP TABLE c;\n"
A_NAME, B_NAME, C_NAME = (
    "20250101090000_a.sql",
    "20250101090100_b.sql",
    "20250101090200_c.sql",
)


def folder(tmp_path: Path, **files: str) -> Path:
    path = tmp_path / "migrations"
    path.mkdir(exist_ok=True)
    for name, text in files.items():
        (path / name).write_bytes(text.encode())
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    project.write(A_NAME, A)
    project.write(B_NAME, B)
    return project


# --- the format ---------------------------------------------------------------------------


def test_the_first_line_is_the_sha256_of_the_lines_below_it(tmp_path: Path) -> None:
    migrations = folder(tmp_path, **{B_NAME: B, A_NAME: A, "README.md": "not a migration"})
    path = write_sum(migrations)
    assert path == migrations / "migrate.sum"
    text = path.read_text()
    first, _, rest = text.partition("\n")
    assert rest == f"{A_NAME} {checksum(A.encode())}\n{B_NAME} {checksum(B.encode())}\n"
    assert first == "sha256:" + hashlib.sha256(rest.encode()).hexdigest()  # as documented
    recorded = read_sum(path)
    assert recorded.entries == {A_NAME: checksum(A.encode()), B_NAME: checksum(B.encode())}
    assert recorded.folder_hash == first == folder_hash(recorded.entries)
    assert render(recorded.entries) == text
    assert findings(migrations) == []
    assert not list(migrations.glob(".migrate.sum*"))  # no temporary file left behind


def test_line_endings_do_not_matter_in_migrations_or_in_the_sum_file(tmp_path: Path) -> None:
    """The per-file hash is the tracking table's checksum (CRLF read as LF), and a CRLF
    checkout of the sum file itself (git's autocrlf) reads the same."""
    migrations = folder(tmp_path, **{A_NAME: A})
    write_sum(migrations)
    (migrations / A_NAME).write_bytes(A.replace("\n", "\r\n").encode())
    path = sum_path(migrations)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert findings(migrations) == []
    (migrations / A_NAME).write_bytes(A.replace("a (id", "a (pk").encode())
    assert [f.version for f in findings(migrations)] == ["20250101090000"]


def test_without_a_sum_file_nothing_is_checked(tmp_path: Path) -> None:
    migrations = folder(tmp_path, **{A_NAME: A, B_NAME: B})
    assert findings(migrations) == []


@pytest.mark.parametrize(
    ("change", "version", "message"),
    [
        (
            lambda m: (m / A_NAME).write_text(A + "-- edited\n"),
            "20250101090000",
            f"migrations/{A_NAME} changed since migrations/migrate.sum was written;"
            " if you changed it on purpose, run `invoke migrate.hash`, otherwise restore it",
        ),
        (
            lambda m: (m / C_NAME).write_text(C),
            "20250101090200",
            f"migrations/{C_NAME} is not in migrations/migrate.sum; run `invoke migrate.hash`"
            " to add it",
        ),
        (
            lambda m: (m / B_NAME).unlink(),
            "20250101090100",
            f"migrations/{B_NAME} is listed in migrations/migrate.sum but the file is gone;"
            " restore it, or run `invoke migrate.hash` if removing it was deliberate",
        ),
        (
            lambda m: (m / B_NAME).rename(m / "20250101090300_b.sql"),
            "20250101090300",
            f"migrations/20250101090300_b.sql is {B_NAME} renamed, and migrations/migrate.sum"
            " still lists the old name",
        ),
    ],
    ids=["edited", "added", "removed", "renamed"],
)
def test_each_difference_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, version: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    migrations = folder(tmp_path, **{A_NAME: A, B_NAME: B})
    write_sum(migrations)
    change(migrations)
    [found] = findings(migrations)
    assert found.version == version
    assert message in found.message


def test_a_hand_edited_first_line_is_found(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    migrations = folder(tmp_path, **{A_NAME: A})
    path = write_sum(migrations)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("sha256:" + "0" * 64 + "\n" + "".join(lines[1:]))
    [found] = findings(migrations)
    assert found.version is None
    assert found.message.startswith(
        "migrations/migrate.sum:1: the folder hash does not match the lines below it"
    )
    assert "`invoke migrate.hash`" in found.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "<<<<<<< HEAD\nsha256:{h}\n=======\nsha256:{h}\n>>>>>>> main\n",
            1,
            "merge conflict: both branches added (or changed) migrations. Run `invoke"
            " migrate.rebase --onto BRANCH`",
        ),
        ("sha256:{h}\n20250101090000_a.sql md5:abc\n", 2, "expected FILE sha256:HEX"),
        ("{h}\n", 1, "expected the folder's hash, sha256:HEX"),
        ("sha256:{h}\n{a} sha256:{h}\n{a} sha256:{h}\n", 3, f"{A_NAME} is listed twice"),
        ("sha256:{h}\nnotes.txt sha256:{h}\n", 2, "expected FILE sha256:HEX"),
    ],
    ids=["conflict", "bad-hash", "bad-first-line", "twice", "not-a-migration"],
)
def test_a_sum_file_that_cannot_be_read_names_its_line(
    tmp_path: Path, monkeypatch, text: str, line: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    migrations = folder(tmp_path, **{A_NAME: A})
    path = sum_path(migrations)
    path.write_text(text.format(h="0" * 64, a=A_NAME))
    with pytest.raises(LocatedError) as caught:
        read_sum(path)
    assert caught.value.line == line and message in caught.value.reason
    [found] = findings(migrations)
    assert found.message.startswith(f"migrations/migrate.sum:{line}: ")


# --- the tasks ----------------------------------------------------------------------------


def sum_lines(project: Project) -> list[str]:
    return (project.migrations / "migrate.sum").read_text().splitlines()


def test_hash_writes_it_and_create_adds_each_new_file(project: Project) -> None:
    run = project.invoke("migrate.hash")
    assert run.code == 0, run.err
    assert run.out == "wrote migrations/migrate.sum (2 migrations)\n"
    again = project.invoke("migrate.hash")
    assert again.out == "migrations/migrate.sum is up to date (2 migrations)\n"

    created = project.invoke("migrate.create", "add_c")
    assert created.code == 0, created.err
    new = Path(project.root / created.out.strip())
    assert created.out.strip().startswith("migrations/")  # stdout is still only the path
    assert sum_lines(project)[1:] == [
        f"{A_NAME} {checksum(A.encode())}",
        f"{B_NAME} {checksum(B.encode())}",
        f"{new.name} {checksum(new.read_bytes())}",
    ]
    fresh = project.invoke("migrate.validate", "--json")  # the empty template, not the sum
    assert [p["kind"] for p in fresh.json["problems"]] == ["invalid"]

    new.write_text(C)  # writing the migration is an edit: hash records it
    validate = project.cli("validate")
    assert validate.code == 3
    assert validate.out == (
        f"integrity: migrations/{new.name} was written since `create` added it to"
        " migrations/migrate.sum; run `libsql-migrate hash` to record it\n"
    )  # in the words of the program the user ran
    assert project.cli("hash").code == 0
    assert project.invoke("migrate.validate").code == 0
    assert project.invoke("migrate.up").code == 0
    assert list(project.tracking().values()) == ["applied"] * 3


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_validate_and_up_refuse_a_folder_changed_without_hash(project: Project, change) -> None:
    assert project.invoke("migrate.up", "--step", "1").code == 0
    plain = project.invoke("migrate.validate")
    assert plain.code == 0, plain.out  # no sum file: nothing of this is checked
    assert project.invoke("migrate.hash").code == 0
    target = {"edit": B_NAME, "add": C_NAME, "remove": B_NAME}[change]
    if change == "edit":
        project.write(B_NAME, B.replace("b (id", "b (pk"))
    elif change == "add":
        project.write(C_NAME, C)
    else:
        (project.migrations / B_NAME).unlink()
    before = project.tracking()

    validate = project.invoke("migrate.validate", "--json")
    assert validate.code == 3
    [problem] = validate.json["problems"]
    assert problem["kind"] == "integrity"
    assert problem["version"] == target.split("_")[0]
    assert f"migrations/{target} " in problem["message"]
    assert "`invoke migrate.hash`" in problem["message"]

    for args in (("--dry-run",), ()):
        up = project.invoke("migrate.up", *args)
        assert up.code == 3, up.err
        assert up.err.startswith(f"error: refusing to migrate up: migrations/{target} ")
        assert "Traceback" not in up.err
    assert project.tracking() == before

    assert project.invoke("migrate.hash").code == 0
    assert project.invoke("migrate.validate").code == 0
    assert project.invoke("migrate.up").code == 0


def test_hash_refuses_a_folder_up_would_refuse_and_accepts_a_crlf_checkout(
    project: Project,
) -> None:
    project.write("Create_Users.SQL", A)
    run = project.invoke("migrate.hash")
    assert run.code == 2 and "migrations/Create_Users.SQL: bad migration file name" in run.err
    assert not (project.migrations / "migrate.sum").exists()
    (project.migrations / "Create_Users.SQL").unlink()
    assert project.invoke("migrate.hash").code == 0
    path = project.migrations / "migrate.sum"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # git's autocrlf
    crlf = path.read_bytes()
    assert project.invoke("migrate.hash").out.endswith(" is up to date (2 migrations)\n")
    assert path.read_bytes() == crlf  # not rewritten: git would show nothing either way


def test_a_conflicted_sum_file_stops_create_and_up_with_the_way_out(project: Project) -> None:
    assert project.invoke("migrate.hash").code == 0
    path = project.migrations / "migrate.sum"
    ours = path.read_text()
    path.write_text(f"<<<<<<< HEAD\n{ours}=======\n{ours}>>>>>>> main\n")
    listing = sorted(p.name for p in project.migrations.iterdir())

    create = project.invoke("migrate.create", "add_c")
    assert create.code == 2
    assert create.err.startswith("error: migrations/migrate.sum:1: merge conflict:")
    assert "`invoke migrate.rebase --onto BRANCH`" in create.err
    assert create.err.rstrip().endswith("nothing was written")
    assert sorted(p.name for p in project.migrations.iterdir()) == listing

    up = project.invoke("migrate.up")
    assert up.code == 3 and "merge conflict" in up.err
    assert not (project.root / "dev.db").exists()  # refused before the database was opened

    hashed = project.invoke("migrate.hash")
    assert hashed.code == 0
    assert "note: migrations/migrate.sum had a merge conflict" in hashed.err
    assert "`invoke migrate.rebase --onto BRANCH`" in hashed.err
    assert path.read_text() == ours


def test_fleet_validate_and_up_refuse_before_any_database(project: Project) -> None:
    assert project.invoke("migrate.hash").code == 0
    project.write(C_NAME, C)
    tenants = project.root / "tenants"
    tenants.mkdir()
    for name in ("one", "two"):
        sqlite3.connect(tenants / f"{name}.db").close()
    for task, what in (("migrate.validate", "validate the fleet"), ("migrate.up", "migrate up")):
        run = project.invoke(task, "--fleet", "tenants/*.db")
        assert run.code == 3, run.err
        assert f"error: refusing to {what}: migrations/{C_NAME} is not in" in run.err
    for name in ("one", "two"):
        with sqlite3.connect(tenants / f"{name}.db") as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


MODELS = """\
import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))
"""


def test_generate_adds_the_file_it_writes(project: Project) -> None:
    (project.root / "notes_models.py").write_text(MODELS)
    assert project.invoke("migrate.hash").code == 0
    project.write(B_NAME, B + "-- an edit nobody hashed\n")
    run = project.invoke("migrate.generate", "add_notes", "--models", "notes_models:metadata")
    assert run.code == 0, run.err
    [new] = [p for p in project.migrations.glob("*_add_notes.sql")]
    assert f"{new.name} {checksum(new.read_bytes())}" in sum_lines(project)
    validate = project.invoke("migrate.validate", "--json")
    # only the new line was added: the unhashed edit elsewhere is still reported
    assert [p["version"] for p in validate.json["problems"]] == ["20250101090100"]


def test_import_alembic_adds_the_files_it_writes(tmp_path: Path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    project.migrations.mkdir()
    assert project.invoke("migrate.hash").out == "wrote migrations/migrate.sum (0 migrations)\n"
    run = project.invoke("migrate.import-alembic", "--config", str(BLOG_INI), "--per-revision")
    assert run.code == 0, run.err
    written = sorted(project.migrations.glob("*.sql"))
    assert len(written) > 2
    assert sum_lines(project)[1:] == [f"{p.name} {checksum(p.read_bytes())}" for p in written]
    assert project.invoke("migrate.validate").code == 0
