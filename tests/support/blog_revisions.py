"""The example blog's models at successive revisions, for generate's round-trip tests.

Revision 0 is ``examples/blog/blog/models.py`` restated with Core tables (a test checks
both render the same DDL); each later revision makes one more change of a kind that
``generate`` must handle. ``metadata`` is the revision named by ``$BLOG_REVISION``, so a
subprocess can run ``invoke migrate.generate NAME --models blog_revisions:metadata``.
"""

from __future__ import annotations

import enum
import os

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

#: What each revision changes (revision -> migration name, what it shows).
REVISIONS: dict[int, tuple[str, str]] = {
    0: ("initial", "every table, index, unique, check and foreign key"),
    1: ("add_users_bio", "added column (ADD COLUMN)"),
    2: ("add_comments", "added table"),
    3: ("index_display_name", "added index"),
    4: ("longer_titles", "changed type length (rebuild of a referenced table)"),
    5: ("optional_display_name", "changed nullability (rebuild)"),
    6: ("body_default", "changed server default (rebuild)"),
    7: ("rename_bio", "renamed column (--rename users.bio:about)"),
    8: ("drop_about", "dropped column (DROP COLUMN; down rebuilds)"),
    9: ("comments_cascade", "changed foreign key ON DELETE (rebuild, not referenced)"),
    10: ("tag_name_check", "added check and unique constraints (rebuild)"),
    11: ("drop_display_name_index", "dropped index"),
    12: ("drop_comments", "dropped table"),
    13: ("post_editor", "added column with a foreign key (ADD COLUMN ... REFERENCES)"),
    14: ("guest_role", "enum gains a value: its CHECK changes (rebuild, composite key)"),
}
RENAMES: dict[int, list[str]] = {7: ["users.bio:about"]}
LAST = max(REVISIONS)


def _roles(revision: int) -> type[enum.Enum]:
    names = ["owner", "admin", "member"] + (["guest"] if revision >= 14 else [])
    return enum.Enum("Role", {n: n for n in names})  # type: ignore[return-value]


def models(revision: int) -> MetaData:
    """The blog's MetaData at ``revision``."""
    r = revision
    md = MetaData()
    json_document = JSON().with_variant(JSONB(), "postgresql")
    Table(
        "post_tags",
        md,
        Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
        Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
        Index("ix_post_tags_tag_id", "tag_id"),
    )
    users = [
        Column("id", Integer, primary_key=True),
        Column("email", String(255), nullable=False, unique=True),
        Column("display_name", String(100), nullable=r >= 5),
        Column("settings", json_document, nullable=False),
        Column("created_at", DateTime, nullable=False, server_default=func.now()),
    ]
    if 1 <= r < 7:
        users.append(Column("bio", Text))
    if r == 7:
        users.append(Column("about", Text))
    if 3 <= r < 11:
        users.append(Index("ix_users_display_name", "display_name"))
    Table("users", md, *users)
    Table(
        "organisations",
        md,
        Column("id", Integer, primary_key=True),
        Column("name", String(100), nullable=False),
        Column("slug", String(100), nullable=False, unique=True),
        Column("created_at", DateTime, nullable=False, server_default=func.now()),
        CheckConstraint("length(slug) >= 3", name="ck_organisations_slug_length"),
    )
    Table(
        "memberships",
        md,
        Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        Column(
            "organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
        ),
        Column(
            "role",
            Enum(_roles(r), name="membership_role", create_constraint=True),
            nullable=False,
        ),
        Column("joined_at", DateTime, nullable=False, server_default=func.now()),
        Index("ix_memberships_organisation_role", "organisation_id", "role"),
    )
    posts = [
        Column("id", Integer, primary_key=True),
        Column(
            "organisation_id",
            ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("author_id", ForeignKey("users.id", ondelete="SET NULL")),
        Column("title", String(300 if r >= 4 else 200), nullable=False),
        Column("body", Text, nullable=False, server_default=text("''") if r >= 6 else None),
        Column("published_at", DateTime),
        Column("created_at", DateTime, nullable=False, server_default=func.now()),
        UniqueConstraint("organisation_id", "title", name="uq_posts_organisation_title"),
        Index("ix_posts_organisation_published", "organisation_id", "published_at"),
    ]
    if r >= 13:
        posts.append(Column("editor_id", ForeignKey("users.id", ondelete="SET NULL")))
    Table("posts", md, *posts)
    tags = [
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False, unique=True),
    ]
    if r >= 10:
        tags.append(CheckConstraint("length(name) > 0", name="ck_tags_name_not_empty"))
    Table("tags", md, *tags)
    if 2 <= r < 12:
        comments = [
            Column("id", Integer, primary_key=True),
            Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
            Column(
                "author_id", ForeignKey("users.id", ondelete="CASCADE" if r >= 9 else "SET NULL")
            ),
            Column("body", Text, nullable=False),
            Column("created_at", DateTime, nullable=False, server_default=func.now()),
        ]
        if r >= 10:
            comments.append(UniqueConstraint("post_id", "author_id", "body"))
        Table("comments", md, *comments)
    return md


metadata = models(int(os.environ.get("BLOG_REVISION", "0")))
