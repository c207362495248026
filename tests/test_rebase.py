"""``rebase``: two branches that each add a migration conflict on ``migrate.sum`` in a real
``git merge``, and ``rebase --onto main`` moves the branch's migration after main's.

The versions it picks and the moves it plans are pure functions, tested first; then the
whole story runs with the real ``git`` and the real ``invoke`` in a repository in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from migrate_tasks.files.rebase import applied_refusal, new_versions, plan_moves
from migrate_tasks.files.source import MigrationFile, checksum
from tests.support.project import Project

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def migration(table: str) -> str:
    return (
        f"-- migrate:up\nCREATE TABLE {table} (id INTEGER);\n-- migrate:down\nDROP TABLE {table};\n"
    )


# --- versions and moves (pure) ------------------------------------------------------------


def test_timestamps_become_the_current_utc_time_or_just_after_the_newest() -> None:
    versions = ["20250101000000", "20250401000000"]
    assert new_versions(versions, "20250401000000", 2, NOW) == ["20250601120000", "20250601120001"]
    # a clock behind the newest version (or a version from the future): one second after it
    assert new_versions(
        versions, "20250401000000", 1, datetime(2024, 1, 1, tzinfo=timezone.utc)
    ) == ["20250401000001"]
    # a version already taken (in the folder or on the target) is skipped
    taken = [*versions, "20250601120000"]
    assert new_versions(taken, "20250401000000", 1, NOW) == ["20250601120001"]


def test_sequence_numbers_count_on_in_the_folders_width() -> None:
    assert new_versions(["001", "002", "003"], "003", 2, NOW) == ["004", "005"]
    assert new_versions(["1", "2", "10"], "10", 1, NOW) == ["11"]
    assert new_versions(["0001", "0002", "0009"], "0002", 1, NOW) == ["0003"]


def files(*names: str) -> list[MigrationFile]:
    return [MigrationFile(n.split("_")[0], n.split("_", 1)[1][:-4], Path(n)) for n in names]


def test_the_branch_migrations_move_from_the_first_out_of_place_one_keeping_their_order() -> None:
    local = files("20250101000000_a.sql", "20250301000000_c1.sql", "20250901000000_c2.sql")
    target = ["20250101000000_a.sql", "20250401000000_d.sql"]
    plan = plan_moves(local, target, NOW)
    assert plan.newest == "20250401000000_d.sql"
    assert [f.path.name for f in plan.branch] == [
        "20250301000000_c1.sql",
        "20250901000000_c2.sql",
    ]
    assert [(m.file.path.name, m.new_path.name) for m in plan.moves] == [
        ("20250301000000_c1.sql", "20250601120000_c1.sql"),
        ("20250901000000_c2.sql", "20250601120001_c2.sql"),
    ]  # c2 was after d already, but must stay after c1


def test_nothing_moves_when_the_branch_already_comes_last_or_adds_nothing() -> None:
    target = ["20250101000000_a.sql", "20250401000000_d.sql"]
    later = plan_moves(files("20250101000000_a.sql", "20250501000000_c.sql"), target, NOW)
    assert later.moves == [] and len(later.branch) == 1
    assert plan_moves(files("20250101000000_a.sql"), target, NOW).branch == []
    first = plan_moves(files("20250101000000_a.sql"), [], NOW)  # the target has no migrations
    assert first.moves == [] and first.newest is None


def test_a_version_both_branches_took_is_moved_too() -> None:
    local = files("20250401000000_c.sql", "20250401000000_d.sql")  # created in the same second
    plan = plan_moves(local, ["20250401000000_d.sql"], NOW)
    assert [m.new_path.name for m in plan.moves] == ["20250601120000_c.sql"]


def test_a_version_two_branch_migrations_share_moves_them_after_the_rest() -> None:
    """``git rebase`` stops at each commit: 003_c was moved at the first stop, and the
    next commit brings 003_e, which the branch created as 003 too."""
    local = files("001_a.sql", "002_d.sql", "003_c.sql", "003_e.sql")
    plan = plan_moves(local, ["001_a.sql", "002_d.sql"], NOW)
    assert [m.new_path.name for m in plan.moves] == ["004_c.sql", "005_e.sql"]
    later = files("001_a.sql", "002_d.sql", "005_x.sql", "006_y.sql", "006_z.sql")
    plan = plan_moves(later, ["001_a.sql", "002_d.sql"], NOW)
    assert [m.new_path.name for m in plan.moves] == ["007_y.sql", "008_z.sql"]  # after x


def test_an_applied_migration_is_not_moved_and_the_message_says_how_to_roll_back() -> None:
    local = files("20250101000000_a.sql", "20250301000000_c.sql")
    plan = plan_moves(local, ["20250101000000_a.sql", "20250401000000_d.sql"], NOW)
    assert applied_refusal(plan, {"20250101000000"}, "file:dev.db") is None
    refusal = applied_refusal(plan, {"20250101000000", "20250301000000"}, "file:dev.db")
    assert refusal == (
        "refusing to rebase: 20250301000000_c.sql is applied on file:dev.db; moved, it would"
        " run again under a new version. Roll back first (`invoke migrate.down --to"
        " 20250101000000`), rebase, then `invoke migrate.up`"
    )
    assert "`invoke migrate.down --all`" in applied_refusal(plan, {"20250301000000"}, "x")


# --- with git -----------------------------------------------------------------------------

A = ("20250101000000_a.sql", migration("a"))
C = ("20250301000000_c.sql", migration("c"))
D = ("20250401000000_d.sql", migration("d"))


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def commit_migration(project: Project, name: str, text: str) -> None:
    project.write(name, text)
    assert project.invoke("migrate.hash").code == 0
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", f"add {name}")


@pytest.fixture
def branches(tmp_path: Path) -> Project:
    """main: a, then d; feature (from a): c, older than d. Checked out: feature."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    (project.root / ".gitignore").write_text("*.db\n__pycache__/\n")
    git(project.root, "init", "-q", "-b", "main")
    commit_migration(project, *A)
    git(project.root, "checkout", "-q", "-b", "feature")
    commit_migration(project, *C)
    git(project.root, "checkout", "-q", "main")
    commit_migration(project, *D)
    git(project.root, "checkout", "-q", "feature")
    return project


def names(project: Project) -> list[str]:
    return sorted(p.name for p in project.migrations.iterdir())


def test_a_merge_conflicts_on_the_sum_file_and_rebase_resolves_it(branches: Project) -> None:
    project = branches
    merge = git(project.root, "merge", "main", check=False)
    assert merge.returncode == 1
    assert "CONFLICT (content): Merge conflict in migrations/migrate.sum" in merge.stdout
    unmerged = git(project.root, "diff", "--name-only", "--diff-filter=U").stdout.split()
    assert unmerged == ["migrations/migrate.sum"]  # the migrations themselves merged cleanly
    assert (project.migrations / "migrate.sum").read_text().startswith("<<<<<<< HEAD\nsha256:")

    validate = project.invoke("migrate.validate")
    assert validate.code == 3
    assert "integrity: migrations/migrate.sum:1: merge conflict" in validate.out
    assert "`invoke migrate.rebase --onto BRANCH`" in validate.out
    assert project.invoke("migrate.up").code == 3

    before = {p.name: p.read_bytes() for p in project.migrations.iterdir()}
    dry = project.invoke("migrate.rebase", "--onto", "main", "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.startswith(f"would move {C[0]} -> ")
    assert f"1 migration(s) would come after main's newest, {D[0]}" in dry.out
    assert dry.out.endswith("would rewrite migrations/migrate.sum\n")
    assert {p.name: p.read_bytes() for p in project.migrations.iterdir()} == before

    run = project.invoke("migrate.rebase", "--onto", "main")
    assert run.code == 0, run.err
    moved = run.out.splitlines()[0].removeprefix(f"moved {C[0]} -> ")
    version = moved.split("_")[0]
    assert moved == f"{version}_c.sql" and len(version) == 14
    assert int(version) > int(D[0].split("_")[0])
    datetime.strptime(version, "%Y%m%d%H%M%S")  # still a UTC timestamp
    assert names(project) == [A[0], D[0], moved, "migrate.sum"]
    assert (project.migrations / moved).read_text() == C[1]  # same content
    lines = (project.migrations / "migrate.sum").read_text().splitlines()
    assert lines[1:] == [f"{n} {checksum(t.encode())}" for n, t in (A, D, (moved, C[1]))]
    assert "wrote migrations/migrate.sum" in run.out
    assert "next: `git add -A migrations` and commit" in run.out

    assert project.invoke("migrate.validate").code == 0
    up = project.invoke("migrate.up")
    assert up.code == 0, up.err
    assert list(project.tracking()) == ["20250101000000", "20250401000000", version]
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "--no-edit")  # the merge completes
    assert git(project.root, "status", "--porcelain").stdout == ""


def test_rebase_before_merging_then_again_after_the_merge(branches: Project) -> None:
    """Rebased before the merge, the branch's migration already comes last; the merge
    still conflicts on the sum file, and rebase then only rewrites it."""
    project = branches
    early = project.invoke("migrate.rebase", "--onto", "main")
    assert early.code == 0, early.err
    [moved] = [n for n in names(project) if n.endswith("_c.sql")]
    assert int(moved.split("_")[0]) > int(D[0].split("_")[0])
    assert project.invoke("migrate.validate").code == 0
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "rebase migrations")

    assert git(project.root, "merge", "main", check=False).returncode == 1
    run = project.invoke("migrate.rebase", "--onto", "main")
    assert run.code == 0, run.err
    assert run.out.startswith(
        f"nothing to move: this branch's 1 new migration(s) already come after main's newest,"
        f" {D[0]}\nwrote migrations/migrate.sum\n"
    )
    assert names(project) == [A[0], D[0], moved, "migrate.sum"]
    assert project.invoke("migrate.validate").code == 0


def test_an_applied_migration_is_not_moved(branches: Project) -> None:
    project = branches
    assert project.invoke("migrate.up").code == 0  # the developer tried c on dev.db
    assert git(project.root, "merge", "main", check=False).returncode == 1
    before = {p.name: p.read_bytes() for p in project.migrations.iterdir()}
    for args in (("--dry-run",), ()):
        run = project.invoke("migrate.rebase", "--onto", "main", *args)
        assert run.code == 2
        assert run.err == (
            f"error: refusing to rebase: {C[0]} is applied on file:{project.root / 'dev.db'};"
            " moved, it would run again under a new version. Roll back first (`invoke"
            " migrate.down --to 20250101000000`), rebase, then `invoke migrate.up`\n"
        )
    assert {p.name: p.read_bytes() for p in project.migrations.iterdir()} == before

    # following the advice works
    assert project.invoke("migrate.down", "--to", "20250101000000").code == 0
    assert project.invoke("migrate.rebase", "--onto", "main").code == 0
    assert project.invoke("migrate.up").code == 0
    assert list(project.tracking().values()) == ["applied", "rolled_back", "applied", "applied"]


def test_without_git_or_a_known_ref_rebase_says_why(tmp_path: Path, branches: Project) -> None:
    unknown = branches.invoke("migrate.rebase", "--onto", "nosuchbranch")
    assert unknown.code == 2
    assert unknown.err == (
        "error: rebase: 'nosuchbranch' is not a branch or commit here; fetch it first (git"
        " fetch origin BRANCH; in CI, clone the whole history: GitHub's actions/checkout with"
        " fetch-depth: 0, GitLab's GIT_DEPTH: 0)\n"
    )
    missing = branches.invoke("migrate.rebase")
    assert missing.code == 2 and "--onto main" in missing.err

    plain = Project(tmp_path / "plain", f"file:{tmp_path / 'plain' / 'dev.db'}")
    plain.write(*A)
    run = plain.invoke("migrate.rebase", "--onto", "main", GIT_CEILING_DIRECTORIES=str(tmp_path))
    assert run.code == 2
    assert run.err.startswith("error: rebase: migrations is not in a git work tree (")
    assert "Traceback" not in run.err


def test_the_applied_check_reads_the_configured_database(branches: Project, db_url: str) -> None:
    """On every target: a server's history counts as much as a local file's."""
    project = branches
    assert project.invoke("migrate.up", LIBSQL_URL=db_url).code == 0
    assert git(project.root, "merge", "main", check=False).returncode == 1
    local = project.invoke("migrate.rebase", "--onto", "main", "--dry-run")
    assert local.code == 0, local.err  # nothing is applied on dev.db
    run = project.invoke("migrate.rebase", "--onto", "main", LIBSQL_URL=db_url)
    assert run.code == 2
    assert f"error: refusing to rebase: {C[0]} is applied on " in run.err
    assert (project.migrations / C[0]).exists()
