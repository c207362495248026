"""``import-alembic --per-revision`` keeps a revision that transforms rows in Python as a
Python migration running the revision's own code (``from_alembic.runtime``), on every
target; a revision that cannot run that way stays SQL, with the warning."""

from __future__ import annotations

import pytest

from tests.support.alembic_blog import write_alembic_project
from tests.support.project import Project

# -- import-alembic --per-revision keeps a revision that transforms rows as Python --------

ALEMBIC_USERS = (
    "r1",
    None,
    "users",
    'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True),'
    ' sa.Column("email", sa.String(80), nullable=False))',
    'op.drop_table("users")',
)
ALEMBIC_LOWER = (
    "r2",
    "r1",
    "lower emails",
    """
    op.add_column("users", sa.Column("email_lower", sa.String(80)))
    conn = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("email"))
    for row in conn.execute(sa.select(users.c.id, users.c.email)):
        conn.execute(
            sa.text("UPDATE users SET email_lower = :e WHERE id = :i"),
            {"e": row.email.lower(), "i": row.id},
        )
    # a text() SELECT: its rows answer to their column names too
    ids = [row.id for row in conn.execute(sa.text("SELECT id FROM users WHERE email_lower > ''"))]
    assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one() == len(ids)
    """,
    'op.drop_column("users", "email_lower")',
)


def test_import_alembic_keeps_a_row_transforming_revision_as_python(tmp_path, db_url) -> None:
    """Before: the revision became SQL with only its ALTER TABLE, and a warning that what
    it does to existing rows was lost. Now it is a Python migration running the
    revision's own upgrade()/downgrade(), and existing rows are transformed."""
    ini = write_alembic_project(tmp_path / "alembic", [ALEMBIC_USERS, ALEMBIC_LOWER])
    project = Project(tmp_path / "app", db_url)
    run = project.invoke("migrate.import-alembic", "--config", str(ini), "--per-revision")
    assert run.code == 0, run.err
    files = sorted(p.name for p in project.migrations.iterdir())
    assert files == ["20240501100000_users.sql", "20240502100000_lower_emails.py"]
    assert "reads rows in Python: kept as the Python migration" in run.err
    assert "Check that migration by hand" not in run.err
    text = (project.migrations / files[1]).read_text()
    assert (tmp_path / "alembic" / "alembic" / "versions" / "r2_1.py").read_text() in text

    assert project.invoke("migrate.up", "--to", "20240501100000").code == 0
    project.query("INSERT INTO users (email) VALUES ('Ann@X.org'), ('BOB@y.COM')")
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.query("SELECT email, email_lower FROM users ORDER BY id") == [
        ("Ann@X.org", "ann@x.org"),
        ("BOB@y.COM", "bob@y.com"),
    ]
    assert project.invoke("migrate.down").code == 0
    assert project.query("SELECT * FROM users ORDER BY id") == [(1, "Ann@X.org"), (2, "BOB@y.COM")]
    assert project.invoke("migrate.verify").code == 0


@pytest.mark.target("file")
def test_import_alembic_keeps_sql_for_a_row_reader_that_reflects(tmp_path) -> None:
    """A revision that reads rows but also rebuilds a table by reflecting it cannot run
    as Python: it stays SQL, with the warning that its row changes are not in it."""
    reflecting = (
        "r2",
        "r1",
        "backfill then require",
        """
        op.add_column("users", sa.Column("name", sa.String(80)))
        conn = op.get_bind()
        for user_id, email in conn.execute(sa.text("SELECT id, email FROM users")).fetchall():
            conn.execute(sa.text("UPDATE users SET name = :n WHERE id = :i"), {"n": email, "i": user_id})
        with op.batch_alter_table("users") as batch:
            batch.alter_column("name", nullable=False)
        """,
        'with op.batch_alter_table("users") as batch:\n    batch.drop_column("name")',
    )
    ini = write_alembic_project(tmp_path / "alembic", [ALEMBIC_USERS, reflecting])
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    run = project.invoke("migrate.import-alembic", "--config", str(ini), "--per-revision")
    assert run.code == 0, run.err
    assert sorted(p.suffix for p in project.migrations.iterdir()) == [".sql", ".sql"]
    assert "Check that migration by hand" in run.err


@pytest.mark.target("file")
def test_import_alembic_falls_back_to_sql_when_the_revision_cannot_run_as_python(tmp_path):
    """A revision that reads rows through an ORM session on the bind cannot run on the
    stand-in connection: the import still succeeds, writing that revision as SQL with the
    warning that its row changes are not in it (as before)."""
    orm = (
        "r2",
        "r1",
        "orm backfill",
        """
        from sqlalchemy.orm import Session
        op.add_column("users", sa.Column("n", sa.Integer))
        session = Session(bind=op.get_bind())
        for user_id, email in session.execute(sa.text("SELECT id, email FROM users")):
            session.execute(sa.text("UPDATE users SET n = :n WHERE id = :i"), {"n": len(email), "i": user_id})
        """,
        'op.drop_column("users", "n")',
    )
    ini = write_alembic_project(tmp_path / "alembic", [ALEMBIC_USERS, orm])
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    run = project.invoke("migrate.import-alembic", "--config", str(ini), "--per-revision")
    assert run.code == 0, run.err
    assert sorted(p.name for p in project.migrations.iterdir()) == [
        "20240501100000_users.sql",
        "20240502100000_orm_backfill.sql",
    ]
    assert "does not run as a Python migration on a scratch database" in run.err
    assert "Check that migration by hand" in run.err
    assert "kept as the Python migration" not in run.err
