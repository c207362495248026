"""The example blog (examples/blog) works on the schema our migrations build.

The schema: the example's Alembic history, imported with ``import-alembic`` and applied
with ``invoke migrate.up``. The application: its SQLAlchemy models and queries, unchanged
from PostgreSQL, through the ``sqlalchemy-libsql`` dialect, on a local file and on a real
sqld. Every model is created, read, updated and deleted; cascades, constraints, joins
and aggregates are checked against the database, not the ORM.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.support.alembic_blog import BLOG, BLOG_INI
from tests.support.project import Project
from tests.support.sqld import SqldServer

if str(BLOG) not in sys.path:
    sys.path.insert(0, str(BLOG))

from blog import app
from blog.models import Membership, Organisation, Post, Role, Tag, User, post_tags

TABLES_CHILD_FIRST = ("post_tags", "memberships", "posts", "tags", "users", "organisations")


@pytest.fixture(scope="module")
def migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("blog")
    run = Project(root, "file:unused.db").invoke(
        "migrate.import-alembic", "--config", str(BLOG_INI)
    )
    assert run.code == 0, run.err
    return root / "migrations"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("file", marks=pytest.mark.target("file")),
        pytest.param("http", marks=pytest.mark.target("http")),
    ],
)
def engine(
    request: pytest.FixtureRequest, migrations: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The blog's engine on a database migrated by `invoke migrate.up`."""
    root = tmp_path_factory.mktemp(f"app-{request.param}")
    server = None
    if request.param == "file":
        db = root / "blog.db"
        migrate_url, app_url = f"file:{db}", f"sqlite+libsql:///{db}"
    else:
        server = SqldServer(request.getfixturevalue("sqld_bin"), root / "sqld")
        server.workdir.mkdir()
        server.start()
        port = server.http_url.rsplit(":", 1)[1]
        migrate_url, app_url = server.http_url, f"sqlite+libsql://127.0.0.1:{port}"
    try:
        project = Project(root / "project", migrate_url)
        up = project.invoke("migrate.up", "--dir", str(migrations))
        assert up.code == 0, up.err
        blog = app.make_engine(app_url)
        yield blog
        blog.dispose()
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with engine.begin() as conn:  # each test starts from empty tables
        for table in TABLES_CHILD_FIRST:
            conn.execute(text(f"DELETE FROM {table}"))
    with Session(engine) as session:
        yield session


def count(session: Session, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def seed(session: Session) -> dict[str, object]:
    """Two organisations, three users, posts with tags: the data the queries run on."""
    acme = Organisation(name="Acme", slug="acme")
    umbrella = Organisation(name="Umbrella", slug="umbrella")
    ada = User(email="ada@example.org", display_name="Ada", settings={"theme": "dark"})
    bob = User(email="bob@example.org", display_name="Bob")
    cy = User(email="cy@example.org", display_name="Cy")
    python, sql, news = Tag(name="python"), Tag(name="sql"), Tag(name="news")
    session.add_all([acme, umbrella, ada, bob, cy, python, sql, news])
    app.join_organisation(session, ada, acme, Role.owner)
    app.join_organisation(session, bob, acme, Role.admin)
    app.join_organisation(session, cy, acme, Role.member)
    app.join_organisation(session, ada, umbrella, Role.member)
    start = datetime(2024, 5, 1, 9, 0)
    posts = [
        Post(organisation=acme, author=ada, title="Hello", tags=[news]),
        Post(organisation=acme, author=ada, title="Typed SQL", tags=[python, sql]),
        Post(organisation=acme, author=bob, title="Indexes", tags=[sql]),
        Post(organisation=umbrella, author=ada, title="Draft", tags=[python]),
    ]
    session.add_all(posts)
    for offset, post in enumerate(posts[:3]):
        app.publish(session, post, start + timedelta(days=offset))
    session.commit()
    return {"acme": acme, "umbrella": umbrella, "ada": ada, "bob": bob, "cy": cy}


def test_create_read_update_delete_every_model(session):
    acme = Organisation(name="Acme", slug="acme")
    ada = User(email="ada@example.org", display_name="Ada", settings={"theme": "dark", "n": [1, 2]})
    tag = Tag(name="sql")
    post = Post(organisation=acme, author=ada, title="Hello", body="first", tags=[tag])
    session.add_all(
        [acme, ada, tag, post, Membership(user=ada, organisation=acme, role=Role.admin)]
    )
    session.commit()
    session.expunge_all()

    # read back, server defaults included
    user = session.scalars(select(User).where(User.email == "ada@example.org")).one()
    assert user.settings == {"theme": "dark", "n": [1, 2]}
    assert isinstance(user.created_at, datetime)
    org = session.scalars(select(Organisation)).one()
    assert isinstance(org.created_at, datetime)
    [membership] = user.memberships
    assert membership.role is Role.admin and isinstance(membership.joined_at, datetime)
    [read_post] = org.posts
    assert (read_post.title, read_post.body, read_post.author.email) == (
        "Hello",
        "first",
        "ada@example.org",
    )
    assert [t.name for t in read_post.tags] == ["sql"]
    assert read_post.published_at is None and isinstance(read_post.created_at, datetime)

    # update each
    user.display_name, user.settings = "Ada L.", {"theme": "light"}
    org.name = "Acme Corp"
    membership.role = Role.owner
    read_post.title, read_post.published_at = "Hello, world", datetime(2024, 6, 1, 12, 30)
    read_post.tags[0].name = "databases"
    session.commit()
    session.expunge_all()
    assert session.execute(
        select(User.display_name, User.settings, Organisation.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .join(Organisation, Organisation.id == Membership.organisation_id)
    ).one() == ("Ada L.", {"theme": "light"}, "Acme Corp", Role.owner)
    assert session.execute(select(Post.title, Post.published_at)).one() == (
        "Hello, world",
        datetime(2024, 6, 1, 12, 30),
    )
    assert session.scalars(select(Tag.name)).all() == ["databases"]

    # delete each
    session.execute(delete(Membership))
    session.execute(post_tags.delete())
    session.execute(delete(Tag))
    session.execute(delete(Post))
    session.execute(delete(User))
    session.execute(delete(Organisation))
    session.commit()
    assert [count(session, t) for t in TABLES_CHILD_FIRST] == [0] * 6


def test_the_database_cascades_and_nulls_references(session):
    ada = seed(session)["ada"].id
    session.expunge_all()
    assert count(session, "post_tags") == 5
    # deleting an organisation: its memberships, posts and their tags go (ON DELETE CASCADE)
    session.execute(delete(Organisation).where(Organisation.slug == "acme"))
    session.commit()
    assert count(session, "memberships") == 1 and count(session, "posts") == 1
    assert count(session, "post_tags") == 1
    # deleting a user: memberships go, posts stay without an author (ON DELETE SET NULL)
    session.execute(delete(User).where(User.id == ada))
    session.commit()
    assert count(session, "memberships") == 0
    assert session.execute(select(Post.title, Post.author_id)).all() == [("Draft", None)]
    # deleting a tag unlinks it from posts
    session.execute(delete(Tag).where(Tag.name == "python"))
    session.commit()
    assert count(session, "post_tags") == 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (email, display_name, settings) VALUES ('a@x', 'A', '{}'),"
        " ('a@x', 'B', '{}')",  # unique email
        "INSERT INTO organisations (name, slug) VALUES ('X', 'x')",  # slug length check
        "INSERT INTO organisations (name, slug) VALUES ('X', 'xyz'), ('Y', 'xyz')",  # unique slug
        "INSERT INTO memberships (user_id, organisation_id, role) VALUES (1, 1, 'member')",  # FK
        "INSERT INTO users (id, email, display_name, settings) VALUES (1, 'a@x', 'A', '{}');"
        "INSERT INTO organisations (id, name, slug) VALUES (1, 'X', 'xyz');"
        "INSERT INTO memberships (user_id, organisation_id, role) VALUES (1, 1, 'root')",  # enum
        "INSERT INTO users (email, display_name) VALUES ('a@x', 'A')",  # settings NOT NULL
    ],
    ids=["unique-email", "slug-check", "unique-slug", "foreign-key", "enum-check", "not-null"],
)
def test_constraints_are_enforced_by_the_database(session, statement):
    # sqlalchemy-libsql's driver raises ValueError where sqlite3 raises IntegrityError
    # (docs/alembic.md): catch both, as the application has to
    with pytest.raises((IntegrityError, ValueError), match="constraint failed"):
        for sql in statement.split(";"):
            session.execute(text(sql))
        session.commit()
    session.rollback()
    assert count(session, "users") == 0 and count(session, "organisations") == 0


def test_joins_and_aggregates(session):
    people = seed(session)
    assert app.organisation_overview(session) == [("acme", 3, 3), ("umbrella", 1, 0)]
    assert app.admins(session, people["acme"]) == ["ada@example.org", "bob@example.org"]
    assert app.latest_posts(session, people["acme"], limit=2) == [
        ("Indexes", "Bob"),
        ("Typed SQL", "Ada"),
    ]
    assert app.tag_cloud(session) == [("python", 2), ("sql", 2), ("news", 1)]
    assert app.authors_by_activity(session) == [("Ada", 3, 2), ("Bob", 1, 1)]
    busiest = session.execute(
        select(Organisation.slug, func.max(Post.published_at))
        .join(Post, Post.organisation_id == Organisation.id)
        .group_by(Organisation.slug)
        .order_by(Organisation.slug)
    ).all()
    assert busiest == [("acme", datetime(2024, 5, 3, 9, 0)), ("umbrella", None)]
