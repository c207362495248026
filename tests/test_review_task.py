"""``migrate.review`` through the real ``invoke`` program in real git repositories: the
report of a branch (golden file), edited and removed migrations, what the base gained
since the branch point, parts that cannot be computed, big branches cut to size, JSON,
``--output``; and GitLab's code quality report from ``lint --format codequality``,
checked against the fields GitLab documents as required.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from migrate_tasks.report.review import MARKER, QUIET, Limits
from migrate_tasks.report.review_output import review_report
from migrate_tasks.review.build import review_branch
from tests.support.npm_tools import NpmUnavailable, mermaid_errors
from tests.support.project import Project
from tests.test_review import BASE, BRANCH, golden


def git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """BASE committed on main, and a branch ``feature`` checked out."""
    app = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    (app.root / ".gitignore").write_text("*.db\n__pycache__/\n")
    for name, text in BASE.items():
        app.write(name, text)
    git(app.root, "init", "-q", "-b", "main")
    commit(app.root, "base")
    git(app.root, "checkout", "-q", "-b", "feature")
    return app


def add_branch(project: Project) -> None:
    for name, text in BRANCH.items():
        project.write(name, text)
    commit(project.root, "branch")


def test_the_report_of_a_branch(project, parse_mermaid):
    add_branch(project)
    run = project.invoke("migrate.review", "--base", "main")
    assert run.code == 0, run.err
    golden("task_branch.md", run.out)
    assert run.out.startswith(MARKER + "\n\n") and QUIET not in run.out
    assert run.err == ""
    [diagram] = re.findall(r"```mermaid\n(.*?)```", run.out, re.DOTALL)
    assert parse_mermaid([diagram]) == [None]


def test_what_the_base_gained_since_the_branch_point_is_not_the_branchs(project):
    """main gets a migration after the branch left it: the report does not call it
    removed nor its table dropped, and lint says the branch now merges out of order."""
    add_branch(project)
    git(project.root, "checkout", "-q", "main")
    project.write("20250301090000_audit.sql", "-- migrate:up\nCREATE TABLE audit (id INTEGER);\n")
    commit(project.root, "audit")
    git(project.root, "checkout", "-q", "feature")
    run = project.invoke("migrate.review", "--base", "main", "--json")
    assert run.code == 0, run.err
    doc = run.json
    assert doc["migrations"] == {
        "added": [f"migrations/{n}" for n in BRANCH],
        "edited": [],
        "removed": [],
    }
    assert "audit" not in {t["name"] for t in doc["tables"]}
    late = [f for f in doc["lint"]["findings"] if f["rule"] == "LS701"]
    assert len(late) == 2 and "20250301090000, the newest migration on main" in late[0]["message"]
    assert doc["branch_point"] == git(project.root, "rev-parse", "feature~1").strip()


def test_an_edited_or_removed_migration_of_the_base_is_said_loudly(project):
    """Uncommitted changes count: the folder is what up would run."""
    users, posts = sorted(BASE)
    (project.migrations / users).write_text(BASE[users].replace("nickname TEXT", "nick TEXT"))
    (project.migrations / posts).unlink()
    run = project.invoke("migrate.review", "--base", "main")
    assert run.code == 0, run.err
    assert "> **This branch edits 1 migration that `main` already has.**" in run.out
    assert f"> - `migrations/{users}`" in run.out
    assert "> **This branch removes 1 migration that `main` has.**" in run.out
    assert f"> - `migrations/{posts}`" in run.out
    assert "No new migrations compared with `main`." in run.out
    assert "- `posts` removed: 3 columns, 1 primary key, 1 foreign key, 1 index" in run.out
    assert "- `users` changed: 1 column renamed" in run.out
    # a CRLF checkout of an unchanged file is not an edit
    (project.migrations / users).write_bytes(BASE[users].replace("\n", "\r\n").encode())
    (project.migrations / posts).write_text(BASE[posts])
    run = project.invoke("migrate.review", "--base", "main", "--json")
    assert run.json["migrations"] == {"added": [], "edited": [], "removed": []}


def test_a_branch_that_changes_nothing_gets_the_quiet_marker(project):
    (project.migrations / "README.md").write_text("notes\n")
    run = project.invoke("migrate.review", "--base", "main")
    assert run.code == 0, run.err
    assert run.out.startswith(f"{MARKER}\n{QUIET}\n\n")
    assert "No new migrations compared with `main`." in run.out
    assert "### Lint\n\nNothing to lint: no new migrations.\n" in run.out


def test_a_part_that_cannot_be_computed_is_named_and_the_rest_is_shown(project):
    """A branch migration that fails on the scratch database: the report still lists the
    migrations and lint's findings, says why the schema is missing, and exits 0 (the
    verify and lint jobs fail the pull request); stderr says it too."""
    project.write("20250201090000_bad.sql", "-- migrate:up\nALTER TABLE nope ADD COLUMN x;\n")
    run = project.invoke("migrate.review", "--base", "main")
    assert run.code == 0, run.err
    assert "> [!WARNING]\n> **Part of this report could not be computed:**" in run.out
    assert (
        "> the schema on this branch could not be computed: migration 20250201090000 (up)"
        " failed at migrations/20250201090000_bad.sql:2: no such table: nope"
    ) in run.out
    assert "| error | `LS001` statement-fails | `migrations/20250201090000_bad.sql:2` |" in run.out
    assert "### Schema changes\n\nNot computed: see above.\n" in run.out
    assert MARKER + "\n\n" in run.out  # not quiet
    assert run.err.startswith("warning: the schema on this branch could not be computed:")


def test_a_base_migration_that_fails_is_named_as_git_names_it(project):
    """The base's files are built in a temporary folder: a message names them REF:path."""
    users = sorted(BASE)[0]
    broken = "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\nSELECT * FROM nope;\n"
    git(project.root, "checkout", "-q", "main")
    (project.migrations / users).write_text(broken)
    commit(project.root, "broken")
    git(project.root, "checkout", "-q", "feature")
    git(project.root, "reset", "-q", "--hard", "main")
    run = project.invoke("migrate.review", "--base", "main", "--json")
    assert run.code == 0, run.err
    problems = run.json["problems"]
    assert problems[0].startswith(
        f"the schema on main could not be computed: migration 20250101090000 (up) failed at"
        f" main:migrations/{users}:3: no such table: nope"
    )
    assert "migrate-review-" not in " ".join(problems)


def test_building_the_base_logs_nothing(project):
    """A base migration whose up section has only comments: ``up`` warns about it, but
    the review's build of the base does not (it named a temporary folder), and the
    branch's build warns once, with the real path. Found on a real dbmate project."""
    git(project.root, "checkout", "-q", "main")
    project.write("20250101090200_noop.sql", "-- migrate:up\n-- nothing yet\n")
    commit(project.root, "noop")
    git(project.root, "checkout", "-q", "feature")
    git(project.root, "reset", "-q", "--hard", "main")
    add_branch(project)
    run = project.invoke("migrate.review", "--base", "main")
    assert run.code == 0, run.err
    assert "migrate-review-" not in run.err
    assert run.err.count("has only comments") == 1
    assert "migrations/20250101090200_noop.sql: the up section" in run.err


def test_bad_usage_exits_2_with_one_message(project, tmp_path):
    run = project.invoke("migrate.review")
    assert run.code == 2 and "--base origin/main" in run.err
    run = project.invoke("migrate.review", "--base", "nope")
    assert run.code == 2
    assert run.err.startswith("error: --base: 'nope' is not a branch or commit here; fetch it")
    shallow = Project(tmp_path / "elsewhere", f"file:{tmp_path / 'x.db'}")
    shallow.write("1_a.sql", "-- migrate:up\nSELECT 1;\n")
    run = shallow.invoke("migrate.review", "--base", "main", GIT_CEILING_DIRECTORIES=str(tmp_path))
    assert run.code == 2 and "is not in a git work tree" in run.err
    assert "Traceback" not in run.err
    run = project.invoke("migrate.review", "--base", "main", "--dir", "nowhere")
    assert run.code == 2 and run.err == "error: the migrations folder nowhere does not exist\n"


def test_output_writes_the_file_and_prints_a_summary(project):
    add_branch(project)
    run = project.invoke("migrate.review", "--base", "main", "--output", "review.md")
    assert run.code == 0, run.err
    assert run.out == (
        "wrote review.md: 2 new migrations; lint: 0 error(s), 2 warning(s); 5 table(s) changed\n"
    )
    shown = project.invoke("migrate.review", "--base", "main").out
    assert (project.root / "review.md").read_bytes() == shown.encode()


def test_json_has_everything_uncut(project):
    add_branch(project)
    doc = project.invoke("migrate.review", "--base", "main", "--json").json
    assert doc["base"] == "main" and doc["schema_known"] is True and doc["problems"] == []
    assert doc["lint"]["selection"] == "since main"
    assert [f["rule"] for f in doc["lint"]["findings"]] == ["LS102", "LS101"]
    posts = next(t for t in doc["tables"] if t["name"] == "posts")
    assert posts["change"] == "changed"
    assert {"mark": "+", "part": "column", "text": "slug TEXT"} in posts["lines"]
    assert doc["diagram"].startswith("erDiagram\n")


# -- big branches --------------------------------------------------------------------------


def wide_branch(tables: int, columns: int) -> str:
    """One migration adding ``tables`` tables, each with ``columns`` columns and a
    reference to the previous table."""
    statements = []
    for t in range(tables):
        cols = ", ".join(f"c{c} TEXT" for c in range(columns))
        ref = f", prev INTEGER REFERENCES t{t - 1:03d} (id)" if t else ""
        statements.append(f"CREATE TABLE t{t:03d} (id INTEGER PRIMARY KEY, {cols}{ref});")
    return "-- migrate:up\n" + "\n".join(statements) + "\n"


@pytest.fixture(scope="module")
def parse_mermaid():
    try:
        mermaid_errors(["erDiagram\n"])
    except NpmUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    return mermaid_errors


def test_a_big_branch_is_cut_to_size_and_says_what_it_left_out(project, parse_mermaid):
    project.write("20250201090000_wide.sql", wide_branch(tables=30, columns=20))
    commit(project.root, "wide")
    review = review_branch(project.migrations, "main")
    limits = Limits(tables=10, diff_lines=60, diagram_tables=4, diagram_linked=1)
    text = review_report(review, {}, limits)
    summary = [line for line in text.splitlines() if line.startswith("- `t")]
    assert len(summary) == 10 and "- ... and 20 more tables" in text
    [diff] = re.findall(r"```diff\n(.*?)\n```", text, re.DOTALL)
    assert len(diff.splitlines()) <= 60
    assert "The diff leaves out 28 tables to stay short: `t002`, `t003`," in text
    assert "`t011` and 18 more." in text
    [diagram] = re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)
    drawn = re.findall(r"^    (t\d+)(?: \{)?$", diagram, re.MULTILINE)
    assert drawn == ["t000", "t001", "t002", "t003"]
    assert (
        "To keep the diagram readable, 26 more touched tables not drawn: `t004`, `t005`,"
    ) in text
    assert parse_mermaid([diagram]) == [None]
    # the whole comment stays under its character limit, halving the other limits
    small = review_report(review, {}, Limits(characters=6_000))
    assert len(small) <= 6_000 and "The diff leaves out" in small


def test_unchanged_columns_of_a_wide_changed_table_are_folded(project):
    project.write("20250201090000_wide.sql", wide_branch(tables=1, columns=30))
    commit(project.root, "wide")
    git(project.root, "checkout", "-q", "-b", "more")
    project.write(
        "20250202090000_more.sql", "-- migrate:up\nALTER TABLE t000 ADD COLUMN extra TEXT;\n"
    )
    run = project.invoke("migrate.review", "--base", "feature")
    assert run.code == 0, run.err
    [diff] = re.findall(r"```diff\n(.*?)\n```", run.out, re.DOTALL)
    assert diff.splitlines() == [
        " TABLE t000",
        "   ... (28 unchanged)",
        "   c27 TEXT",
        "   c28 TEXT",
        "   c29 TEXT",
        "+  extra TEXT",
        "   PRIMARY KEY (id)",
    ]


def test_finding_messages_cannot_turn_into_markup(project):
    """A name from a migration is text in the comment: no HTML comment that hides the
    rest of it, no emphasis, no link, no broken table."""
    sneaky = '"<!-- x | *y* [z](http://e)"'
    project.write(
        "20250201090000_sneaky.sql",
        f"-- migrate:up\nALTER TABLE users RENAME COLUMN nickname TO {sneaky};\n",
    )
    run = project.invoke("migrate.review", "--base", "main")
    [row] = [line for line in run.out.splitlines() if "LS402" in line]
    assert "\\<!-- x \\| \\*y\\* \\[z\\](http://e)" in row
    assert not re.search(r"(?<!\\)[<*\[]", row)  # every one of them escaped
    assert row.count(" | ") == 3


# -- GitLab's code quality report ------------------------------------------------------------

#: The fields GitLab documents as required for each issue of a code quality report
#: (docs.gitlab.com, ci/testing/code_quality, "Code Quality report format").
CODEQUALITY_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "not": {"pattern": "^(\\./|/)"}},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}


def test_lint_writes_gitlabs_code_quality_report(project):
    add_branch(project)
    project.write(
        "20250201090200_no_down.sql",
        "-- migrate:up\nCREATE TABLE a (id INTEGER, b_id INTEGER REFERENCES nowhere (id));\n",
    )
    run = project.invoke("migrate.lint", "--since", "main", "--format", "codequality")
    assert run.code == 3  # an error, as in every format
    issues = json.loads(run.out)
    jsonschema.validate(issues, CODEQUALITY_SCHEMA)
    validator = jsonschema.Draft202012Validator(CODEQUALITY_SCHEMA)
    assert list(validator.iter_errors([{"description": "x", "severity": "bad"}]))  # can fail
    assert len({i["fingerprint"] for i in issues}) == len(issues)  # none hides another
    by_rule = {
        (i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues
    }
    assert ("LS101", "migrations/20250201090100_tags.sql", 10) in by_rule
    assert ("LS504", "migrations/20250201090200_no_down.sql", 1) in by_rule  # no line: 1
    drop = next(i for i in issues if i["check_name"] == "LS101")
    assert drop["severity"] == "major" and drop["description"].startswith("LS101 drop-table: ")
    error = next(i for i in issues if i["check_name"] == "LS203")
    assert error["severity"] == "critical"
    # the fingerprint ignores the line: a line added above keeps every issue's identity
    path = project.migrations / "20250201090100_tags.sql"
    path.write_text(path.read_text().replace("-- migrate:up\n", "-- migrate:up\n-- note\n"))
    moved = json.loads(
        project.invoke("migrate.lint", "--since", "main", "--format", "codequality").out
    )
    assert {i["fingerprint"] for i in moved} == {i["fingerprint"] for i in issues}
