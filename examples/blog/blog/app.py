"""The queries the blog's pages run, written once for PostgreSQL and unchanged on libSQL.

``make_engine`` is the only place that knows about the database: everything else is plain
SQLAlchemy. URLs (sqlalchemy-libsql dialect):

- a local file: ``sqlite+libsql:///path/to/blog.db`` (four slashes for an absolute path);
- sqld or Turso: ``sqlite+libsql://HOST:PORT`` (plain HTTP), ``sqlite+libsql://HOST?secure=true``
  (HTTPS), with the token in ``connect_args={"auth_token": ...}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session

from .models import Membership, Organisation, Post, Role, Tag, User, post_tags


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; foreign keys on for every connection, as on sqld.

    libSQL turns foreign key enforcement on by itself, stock SQLite does not: the
    ``ON DELETE CASCADE`` the schema relies on only works with it on.
    """
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def join_organisation(session: Session, user: User, organisation: Organisation, role: Role) -> None:
    session.add(Membership(user=user, organisation=organisation, role=role))


def publish(session: Session, post: Post, when: datetime) -> None:
    post.published_at = when


def organisation_overview(session: Session) -> list[tuple[str, int, int]]:
    """Every organisation with its number of members and of published posts (the admin
    dashboard): two outer joins, counted without double counting."""
    members = (
        select(Membership.organisation_id, func.count().label("n"))
        .group_by(Membership.organisation_id)
        .subquery()
    )
    published = (
        select(Post.organisation_id, func.count().label("n"))
        .where(Post.published_at.is_not(None))
        .group_by(Post.organisation_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Organisation.slug,
            func.coalesce(members.c.n, 0),
            func.coalesce(published.c.n, 0),
        )
        .outerjoin(members, members.c.organisation_id == Organisation.id)
        .outerjoin(published, published.c.organisation_id == Organisation.id)
        .order_by(Organisation.slug)
    )
    return [(slug, int(m), int(p)) for slug, m, p in rows]


def admins(session: Session, organisation: Organisation) -> list[str]:
    """Owners and admins of an organisation (served by ix_memberships_organisation_role)."""
    rows = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organisation_id == organisation.id,
            Membership.role.in_([Role.owner, Role.admin]),
        )
        .order_by(User.email)
    )
    return list(rows)


def latest_posts(
    session: Session, organisation: Organisation, limit: int = 10
) -> list[tuple[str, str | None]]:
    """Published posts, newest first, with the author's name (an author may be gone)."""
    rows = session.execute(
        select(Post.title, User.display_name)
        .outerjoin(User, User.id == Post.author_id)
        .where(Post.organisation_id == organisation.id, Post.published_at.is_not(None))
        .order_by(Post.published_at.desc())
        .limit(limit)
    )
    return [(title, author) for title, author in rows]


def tag_cloud(session: Session) -> list[tuple[str, int]]:
    """Tags by number of posts (many-to-many through post_tags), most used first."""
    rows = session.execute(
        select(Tag.name, func.count(post_tags.c.post_id).label("posts"))
        .join(post_tags, post_tags.c.tag_id == Tag.id)
        .group_by(Tag.name)
        .order_by(func.count(post_tags.c.post_id).desc(), Tag.name)
    )
    return [(name, int(count)) for name, count in rows]


def authors_by_activity(session: Session) -> list[tuple[str, int, int]]:
    """Per author: posts written and organisations they belong to (HAVING: active ones)."""
    rows = session.execute(
        select(
            User.display_name,
            func.count(func.distinct(Post.id)),
            func.count(func.distinct(Membership.organisation_id)),
        )
        .join(Post, Post.author_id == User.id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .group_by(User.id)
        .having(func.count(func.distinct(Post.id)) > 0)
        .order_by(func.count(func.distinct(Post.id)).desc(), User.display_name)
    )
    return [(name, int(posts), int(orgs)) for name, posts, orgs in rows]
