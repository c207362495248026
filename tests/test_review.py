"""The review report's parts that need no lint: the schema before and after a branch on
scratch databases (real libSQL), the base branch's files read from a real git repository,
the Mermaid ER diagram (checked by Mermaid's own parser under Node), and the Markdown
layout (golden files in tests/testdata/review/; ``UPDATE_GOLDEN=1`` rewrites them).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from migrate_tasks.autogenerate.reflect import Schema
from migrate_tasks.files.gitref import branch_point, folder_at
from migrate_tasks.report.mermaid import draw, er_diagram
from migrate_tasks.report.review import MARKER, ReviewFinding, ReviewInput, review_markdown
from migrate_tasks.review.schema_change import Line, before_and_after, table_changes
from tests.support.npm_tools import NpmUnavailable, mermaid_errors

GOLDEN = Path(__file__).parent / "testdata" / "review"

BASE = {
    "20250101090000_create_users.sql": (
        "-- migrate:up\nCREATE TABLE users (\n  id INTEGER PRIMARY KEY,\n"
        "  email TEXT NOT NULL UNIQUE,\n  nickname TEXT\n);\n"
        "-- migrate:down\nDROP TABLE users;\n"
    ),
    "20250101090100_create_posts.sql": (
        "-- migrate:up\nCREATE TABLE posts (\n  id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n"
        "  title TEXT NOT NULL\n);\nCREATE INDEX posts_user ON posts (user_id);\n"
        "CREATE TABLE legacy (id INTEGER);\n"
        "-- migrate:down\nDROP TABLE legacy;\nDROP TABLE posts;\n"
    ),
}
BRANCH = {
    "20250201090000_add_post_slug.sql": (
        "-- migrate:up\nALTER TABLE posts ADD COLUMN slug TEXT;\n"
        "CREATE UNIQUE INDEX posts_slug ON posts (slug);\n"
        "-- migrate:down\nDROP INDEX posts_slug;\nALTER TABLE posts DROP COLUMN slug;\n"
    ),
    "20250201090100_tags.sql": (
        "-- migrate:up\nCREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n"
        "CREATE TABLE post_tags (\n  post_id INTEGER NOT NULL REFERENCES posts (id),\n"
        "  tag_id INTEGER NOT NULL REFERENCES tags (id),\n  PRIMARY KEY (post_id, tag_id)\n);\n"
        "ALTER TABLE users DROP COLUMN nickname;\nALTER TABLE users ADD COLUMN bio TEXT DEFAULT '';\n"
        "DROP TABLE legacy;\n"
        "-- migrate:down\nCREATE TABLE legacy (id INTEGER);\n"
        "ALTER TABLE users DROP COLUMN bio;\nALTER TABLE users ADD COLUMN nickname TEXT;\n"
        "DROP TABLE post_tags;\nDROP TABLE tags;\n"
    ),
}


def folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Schema, Schema]:
    after = folder(tmp_path_factory.mktemp("after") / "migrations", {**BASE, **BRANCH})
    return before_and_after({n: t.encode() for n, t in BASE.items()}, after)


def test_only_the_tables_the_branch_touches_are_listed_line_by_line(schemas) -> None:
    changes = {c.name: c for c in table_changes(*schemas)}
    assert {n: c.kind for n, c in changes.items()} == {
        "legacy": "removed",
        "post_tags": "added",
        "posts": "changed",
        "tags": "added",
        "users": "changed",
    }
    assert changes["posts"].lines == (
        Line(" ", "column", "id INTEGER"),
        Line(" ", "column", "user_id INTEGER NOT NULL"),
        Line(" ", "column", "title TEXT NOT NULL"),
        Line("+", "column", "slug TEXT"),
        Line(" ", "primary key", "PRIMARY KEY (id)"),
        Line(" ", "foreign key", "FOREIGN KEY (user_id) -> users (id) ON DELETE CASCADE"),
        Line("+", "index", "UNIQUE INDEX posts_slug ON posts(slug)"),
        Line(" ", "index", "INDEX posts_user ON posts(user_id)"),
    )
    assert [(x.mark, x.text) for x in changes["users"].lines if x.mark != " "] == [
        ("-", "nickname TEXT"),
        ("+", "bio TEXT DEFAULT ''"),
    ]
    assert [x.text for x in changes["post_tags"].lines if x.part != "column"] == [
        "PRIMARY KEY (post_id, tag_id)",
        "FOREIGN KEY (post_id) -> posts (id)",
        "FOREIGN KEY (tag_id) -> tags (id)",
    ]
    assert {x.mark for x in changes["legacy"].lines} == {"-"}


def test_no_change_no_table(schemas) -> None:
    before, after = schemas
    assert table_changes(before, before) == [] and table_changes(after, after) == []


def test_the_same_column_spelled_in_another_case_is_no_change(tmp_path: Path) -> None:
    """A squash or a rebuild that writes ``TEXT ... STORED`` for ``text ... stored`` (the
    generated column's text is kept as written) or ``CURRENT_TIMESTAMP`` for
    ``current_timestamp`` changes nothing; a literal in another case does. Found on a
    real project's squashed migrations."""
    lower = (
        "-- migrate:up\nCREATE TABLE t (d JSON, k text GENERATED ALWAYS AS"
        " (json_extract(d, '$.k')) stored, u TIMESTAMP DEFAULT current_timestamp);\n"
    )
    upper = lower.replace("text GEN", "TEXT GEN").replace("stored", "STORED")
    upper = upper.replace("current_timestamp", "CURRENT_TIMESTAMP")
    base = {"1_t.sql": lower.encode()}
    same = folder(tmp_path / "same", {"1_t.sql": upper})
    assert table_changes(*before_and_after(base, same)) == []
    literal = folder(tmp_path / "literal", {"1_t.sql": upper.replace("'$.k'", "'$.K'")})
    [change] = table_changes(*before_and_after(base, literal))
    assert [(x.mark, x.text) for x in change.lines if x.mark != " "] == [
        ("-", "k text GENERATED ALWAYS AS (json_extract(d, '$.k')) stored"),
        ("+", "k TEXT GENERATED ALWAYS AS (json_extract(d, '$.K')) STORED"),
    ]


def git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def test_the_base_branch_files_come_from_git_byte_for_byte(tmp_path: Path) -> None:
    """The schema before is built from the base branch's own files, as committed (a
    CRLF file keeps its CR), even where the branch edited one."""
    migrations = folder(tmp_path / "migrations", BASE)
    crlf = migrations / "20250101090000_create_users.sql"
    crlf.write_bytes(BASE[crlf.name].replace("\n", "\r\n").encode())
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    crlf.write_text(BASE[crlf.name].replace("nickname TEXT", "nickname TEXT NOT NULL"))
    folder(migrations, BRANCH)

    base = folder_at(migrations, "main")
    assert base.names() == sorted(BASE)
    files = {name: base.read(name) for name in base.names()}
    assert files[crlf.name] == BASE[crlf.name].replace("\n", "\r\n").encode()
    before, after = before_and_after(files, migrations)
    users = before.tables["users"].column("nickname")
    assert users is not None and not users.notnull  # the base's file, not the edited one
    assert {c.name for c in table_changes(before, after)} == {
        "legacy", "post_tags", "posts", "tags", "users"
    }  # fmt: skip
    with pytest.raises(Exception, match="'nope' is not a branch or commit here"):
        folder_at(migrations, "nope")


def test_files_at_the_branch_point_in_one_git_process(tmp_path: Path) -> None:
    """``branch_point`` is where the branch left the base: what the base gained since is
    not there. ``read_all`` reads what ``read`` reads; a sub-folder is not a file."""
    migrations = folder(tmp_path / "migrations", BASE)
    (migrations / "archive").mkdir()
    (migrations / "archive" / "1_old.sql").write_text("-- migrate:up\nSELECT 1;\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    folder(migrations, BRANCH)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "branch")
    git(tmp_path, "checkout", "-q", "main")
    folder(migrations, {"20250301090000_later.sql": "-- migrate:up\nSELECT 1;\n"})
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "later")
    git(tmp_path, "checkout", "-q", "feature")

    tip, point = folder_at(migrations, "main"), branch_point(migrations, "main")
    assert tip.names() == [*sorted(BASE), "20250301090000_later.sql"]
    assert point.names() == sorted(BASE)
    assert point.commit == git(tmp_path, "rev-parse", "feature~1").strip()
    assert point.read_all(sorted(BASE)) == {name: point.read(name) for name in sorted(BASE)}
    assert point.read_all([]) == {}
    with pytest.raises(Exception, match=r"git has no file migrations/nope\.sql"):
        point.read_all(["nope.sql"])
    git(tmp_path, "checkout", "-q", "--orphan", "alone")
    git(tmp_path, "commit", "-q", "-m", "alone")
    with pytest.raises(Exception, match="'main' and HEAD have no commit in common here"):
        branch_point(migrations, "main")


# --- Mermaid -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parse_mermaid():
    """Mermaid's own parser (npm's ``mermaid`` under Node), installed on first use."""
    try:
        mermaid_errors(["erDiagram\n"])
    except NpmUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    return mermaid_errors


#: Names SQLite accepts and Mermaid's grammar does not take as they are.
AWKWARD = """
-- migrate:up
CREATE TABLE "order items" (
  "my col" INTEGER PRIMARY KEY,
  pk TEXT,
  fk TEXT,
  "1st" NUMERIC(10, 2),
  untyped,
  "we""ird%\\name" DOUBLE PRECISION,
  "Ünïcode" TEXT
);
CREATE TABLE style (id INTEGER PRIMARY KEY, item INTEGER UNIQUE REFERENCES "order items" ("my col"));
CREATE TABLE "end" (
  id INTEGER PRIMARY KEY,
  parent INTEGER REFERENCES "end" (id),
  a INTEGER NOT NULL,
  b INTEGER NOT NULL,
  FOREIGN KEY (a, b) REFERENCES pairs (x, y)
);
CREATE TABLE pairs (x INTEGER, y INTEGER, PRIMARY KEY (x, y));
CREATE TABLE pk (id INTEGER PRIMARY KEY, pairs_x INTEGER, pairs_y INTEGER,
  FOREIGN KEY (pairs_x, pairs_y) REFERENCES pairs (x, y));
CREATE TABLE "1 two" (id INTEGER PRIMARY KEY REFERENCES pk (id));
CREATE TABLE far (id INTEGER PRIMARY KEY);
"""


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    migrations = folder(tmp_path_factory.mktemp("awkward") / "migrations", {"1_x.sql": AWKWARD})
    return before_and_after({}, migrations)[1]


def test_every_diagram_parses_with_mermaid_and_an_error_would_show(
    awkward: Schema, schemas, parse_mermaid
) -> None:
    touched = [c.name for c in table_changes(*schemas)]
    diagrams = [
        er_diagram(awkward, awkward.tables),
        er_diagram(awkward, ["order items"]),
        er_diagram(awkward, ["end", "pk"]),
        er_diagram(schemas[1], touched),
    ]
    assert parse_mermaid(diagrams) == [None] * len(diagrams)
    # the check can fail: a column named pk, written as it is, is a key marker to Mermaid
    [error] = parse_mermaid([diagrams[0].replace('TEXT pk_ "pk"', "TEXT pk")])
    assert error and "Parse error" in error and "ATTRIBUTE_KEY" in error


def test_awkward_names_are_made_safe_and_kept_as_labels(awkward: Schema) -> None:
    assert er_diagram(awkward, ["order items"]) == (
        "erDiagram\n"
        '    t_order_items["order items"] {\n'
        '        INTEGER my_col PK "my col"\n'
        '        TEXT pk_ "pk"\n'
        '        TEXT fk_ "fk"\n'
        '        NUMERIC(10,2) _1st "1st"\n'
        "        ANY untyped\n"
        """        DOUBLE_PRECISION we_ird__name "we'ird__name"\n"""
        "        TEXT Ünïcode\n"
        "    }\n"
        '    t_style["style"]\n'  # the table that references it: by name only
        '    t_order_items |o..o| t_style : "item"\n'  # one-to-one: item is UNIQUE
    )


def test_relationships_carry_cardinality_and_identity(awkward: Schema) -> None:
    text = er_diagram(awkward, ["end", "pk", "1 two"])
    assert '    t_end |o..o{ t_end : "parent"\n' in text  # self-reference, nullable
    assert '    pairs ||..o{ t_end : "a, b"\n' in text  # composite, NOT NULL
    assert '    t_pk ||--o| t_1_two : "id"\n' in text  # the key is the primary key
    assert "far" not in text  # not linked to a touched table
    assert er_diagram(awkward, ["dropped_meanwhile"]) == ""


def test_a_capped_diagram_says_what_it_leaves_out(awkward: Schema, parse_mermaid) -> None:
    linked = draw(awkward, ["pairs"], max_linked=1)
    assert linked.left_out == () and linked.linked_left_out == ("pk",)
    assert '    t_end["end"]\n' in linked.text and "t_pk" not in linked.text
    touched = draw(awkward, ["end", "pk", "1 two"], max_tables=1)
    assert touched.left_out == ("end", "pk")  # in name order: "1 two" is drawn
    assert touched.text.startswith('erDiagram\n    t_1_two["1 two"] {\n')
    assert "t_pk" not in touched.text  # a table left out is not drawn as a link either
    assert draw(awkward, ["pairs"]).text == er_diagram(awkward, ["pairs"])
    assert parse_mermaid([linked.text, touched.text]) == [None, None]


# --- Markdown ------------------------------------------------------------------------------


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs (UPDATE_GOLDEN=1 rewrites it)"


def test_the_report_layout(schemas, parse_mermaid) -> None:
    changes = table_changes(*schemas)
    findings = [
        ReviewFinding("error", "drop-table", "migrations/20250201090100_tags.sql", 10,
                      "DROP TABLE legacy: its rows are lost"),
        ReviewFinding("warning", "unique-on-existing", "migrations/20250201090000_add_post_slug.sql",
                      3, "UNIQUE index posts_slug: existing rows with equal `slug` | NULL fail"),
    ]  # fmt: skip
    review = ReviewInput(
        base="main",
        migrations=[f"migrations/{n}" for n in BRANCH],
        findings=findings,
        changes=changes,
        diagram=er_diagram(schemas[1], [c.name for c in changes]),
    )
    text = review_markdown(review)
    golden("branch.md", text)
    assert text.startswith(MARKER + "\n")
    [diagram] = re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)
    assert parse_mermaid([diagram]) == [None]


def test_the_report_when_there_is_nothing_to_show() -> None:
    review = ReviewInput(base="origin/main", migrations=[], findings=None, changes=[], diagram="")
    golden("nothing.md", review_markdown(review))
    clean = ReviewInput(base="main", migrations=["migrations/1_x.sql"], findings=[], changes=[],
                        diagram="")  # fmt: skip
    assert "### Lint\n\nNo findings.\n" in review_markdown(clean)


def test_a_column_whose_definition_changed_is_one_change() -> None:
    from migrate_tasks.review.schema_change import TableChange

    change = TableChange(
        "users",
        "changed",
        (
            Line(" ", "column", "id INTEGER"),
            Line("-", "column", "email TEXT"),
            Line("+", "column", "email TEXT NOT NULL"),
            Line("-", "check", "CHECK (length(email) > 3)"),
            Line("-", "index", "INDEX a ON users(email)"),
            Line("-", "index", "INDEX b ON users(id)"),
        ),
    )
    review = ReviewInput(base="main", migrations=[], findings=[], changes=[change], diagram="")
    text = review_markdown(review)
    assert (
        "- `users` changed: 1 column changed, 1 check constraint removed, 2 indexes removed\n"
        in text
    )
    assert "```diff\n TABLE users\n   id INTEGER\n-  email TEXT\n+  email TEXT NOT NULL\n" in text
    assert "### Tables touched\n\nNone left: the branch only drops tables.\n" in text


def test_edited_and_removed_migrations_are_counted_in_words() -> None:
    review = ReviewInput(
        base="main", migrations=[], findings=[], changes=[], diagram="",
        edited=["migrations/1_a.sql"], removed=["migrations/2_b.sql", "migrations/3_c.sql"],
    )  # fmt: skip
    text = review_markdown(review)
    assert "edits 1 migration that `main` already has.** A database that applied it will" in text
    assert (
        "removes 2 migrations that `main` has.** A database that applied them reports them" in text
    )
    assert "> - `migrations/3_c.sql`" in text
