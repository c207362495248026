"""The documentation's examples run, and the task reference is generated, not written.

Runnable examples are fenced blocks in README.md and docs/*.md preceded by an HTML
comment on the line before (invisible when GitHub renders the page):

    <!-- runnable -->            the next ```sh block runs with bash -e and must exit 0
    <!-- runnable exit=N -->     ... and must exit with code N (an example of a failure)
    <!-- runnable file=PATH -->  the next block's text is written to PATH (any language)

The blocks of one page run in order in one temporary project: a copy of this
repository's migrations/ and tasks.py, default database file:dev.db, none of our
environment variables. After the last block the project must still pass
``invoke migrate.validate``, so files written by the examples are checked too.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate_tasks import migrate
from tests.support.project import TASKS_PY

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

MARKER = re.compile(r"^\s*<!--\s*runnable\b(?P<options>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
SHELLS = {"sh", "bash", "shell", "console"}


@dataclass(frozen=True)
class Example:
    page: str
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    exit: int = 0
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_examples(text: str, page: str = "<page>") -> list[Example]:
    """The runnable blocks of one Markdown page, in order. A marker that is not directly
    followed by a fenced block, or has options we do not know, is an error: a typo must
    not silently turn an example off."""
    lines = text.splitlines()
    examples: list[Example] = []
    pending: tuple[int, dict[str, str]] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if marker:
            if pending is not None:
                raise ValueError(f"{page}:{pending[0] + 1}: runnable marker without a block")
            pending = (i, _options(marker["options"], f"{page}:{i + 1}"))
            i += 1
            continue
        if fence:
            close = _closing_fence(lines, i, fence)
            info = fence["info"].strip().split()[0] if fence["info"].strip() else ""
            if pending is not None:
                if pending[0] != i - 1:
                    raise ValueError(f"{page}:{pending[0] + 1}: the block must follow at once")
                options = pending[1]
                body = "\n".join(lines[i + 1 : close]) + "\n"
                if "file" not in options and info not in SHELLS:
                    raise ValueError(f"{page}:{i + 1}: runnable block must be sh, not {info!r}")
                examples.append(
                    Example(
                        page, i + 1, info, body, int(options.get("exit", 0)), options.get("file")
                    )
                )
                pending = None
            i = close + 1
            continue
        if pending is not None and line.strip():
            raise ValueError(f"{page}:{pending[0] + 1}: runnable marker without a block")
        i += 1
    if pending is not None:
        raise ValueError(f"{page}:{pending[0] + 1}: runnable marker without a block")
    return examples


def _options(raw: str, where: str) -> dict[str, str]:
    options = {}
    for word in raw.split():
        key, eq, value = word.partition("=")
        if not eq or key not in ("exit", "file") or not value:
            raise ValueError(f"{where}: unknown runnable option {word!r} (use exit=N, file=PATH)")
        options[key] = value
    if "exit" in options and not options["exit"].isdigit():
        raise ValueError(f"{where}: exit= takes a number")
    if "exit" in options and "file" in options:
        raise ValueError(f"{where}: a block is either run or written, not both")
    return options


def _closing_fence(lines: list[str], start: int, opening: re.Match[str]) -> int:
    char, size = opening["fence"][0], len(opening["fence"])
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return j
    raise ValueError(f"unclosed code fence at line {start + 1}")


def examples_by_page() -> dict[str, list[Example]]:
    found = {}
    for path in PAGES:
        name = str(path.relative_to(ROOT))
        examples = parse_examples(path.read_text(encoding="utf-8"), name)
        if examples:
            found[name] = examples
    return found


EXAMPLES = examples_by_page()


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIBSQL_", "MIGRAT", "INVOKE_")) and k != "DATABASE_URL"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _write(project: Path, example: Example) -> None:
    target = (project / example.file).resolve()
    assert target.is_relative_to(project.resolve()), f"{example.where}: writes outside"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(example.text, encoding="utf-8")


def _run(project: Path, script: str, where: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(ROOT / "migrations", root / "migrations")
    (root / "tasks.py").write_text(TASKS_PY)
    return root


@pytest.mark.parametrize("page", sorted(EXAMPLES))
def test_runnable_examples_work_as_written(page, project):
    for example in EXAMPLES[page]:
        if example.file is not None:
            _write(project, example)
            continue
        proc = _run(project, example.text, example.where)
        assert proc.returncode == example.exit, (
            f"{example.where}: exit {proc.returncode}, expected {example.exit}\n"
            f"{example.text}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    final = _run(project, "invoke migrate.validate", f"{page} (after its examples)")
    assert final.returncode == 0, final.stdout + final.stderr


def test_the_guides_have_runnable_examples():
    counts = {page: len(examples) for page, examples in EXAMPLES.items()}
    guides = ("getting-started", "file-format", "configuration", "ci", "troubleshooting")
    for page in (*guides, "lint", "review"):  # lint, hash, rebase and review run as shown
        assert counts.get(f"docs/{page}.md", 0) >= 1, f"docs/{page}.md has no runnable example"
    assert "README.md" in counts
    assert sum(counts.values()) >= 25, counts


def test_example_parser():
    page = "\n".join(
        [
            "<!-- runnable -->",
            "```sh",
            "echo one",
            "```",
            "```sh",
            "not marked",
            "```",
            "<!--runnable exit=3-->",
            "````sh",
            "```",
            "inner fence is text",
            "````",
            "<!-- runnable file=a/b.yaml -->",
            "```yaml",
            "k: v",
            "```",
        ]
    )
    one, two, three = parse_examples(page)
    assert (one.text, one.exit, one.file, one.line) == ("echo one\n", 0, None, 2)
    assert (two.exit, two.text) == (3, "```\ninner fence is text\n")
    assert (three.file, three.text, three.info) == ("a/b.yaml", "k: v\n", "yaml")


@pytest.mark.parametrize(
    "page, message",
    [
        ("<!-- runnable -->\n\n```sh\nx\n```\n", "must follow at once"),
        ("<!-- runnable -->\ntext\n```sh\nx\n```\n", "without a block"),
        ("<!-- runnable -->\n", "without a block"),
        ("<!-- runnable exit=x -->\n```sh\nx\n```\n", "takes a number"),
        ("<!-- runnable ext=1 -->\n```sh\nx\n```\n", "unknown runnable option"),
        ("<!-- runnable -->\n```python\nx\n```\n", "must be sh"),
        ("```sh\nx\n", "unclosed code fence"),
    ],
)
def test_example_parser_refuses_markers_that_would_not_run(page, message):
    with pytest.raises(ValueError, match=message):
        parse_examples(page)


# -- docs/tasks.md is generated from the tasks -------------------------------------------


def _generator(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the generator in its own process: Invoke's get_arguments() spends a task's help
    texts, so an in-process render would depend on which tests ran before."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_task_docs.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_task_reference_is_the_generated_one():
    proc = _generator("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_task_reference_names_every_task_and_option_with_its_help():
    proc = _generator("--stdout")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for name, task in migrate.tasks.items():
        assert f"## migrate.{name}\n" in text
        assert " ".join(task.__doc__.split()) in " ".join(text.split())
        clone = copy.copy(task)  # get_arguments() pops help texts off the task it is
        clone.help = dict(task.help)  # called on, which would break tests run after this
        for arg in clone.get_arguments():
            flag = arg.names[0].upper() if arg.positional else f"--{arg.names[0]}"
            assert f"`{flag}`" in text, f"migrate.{name} {flag}"
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows and all(line.rstrip(" |").split(" | ")[-1].strip() for line in rows)


# -- links between pages ------------------------------------------------------------------

LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(path):
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
