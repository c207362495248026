"""The CI templates in docs/ci/ are run, not just read.

Each template is parsed (YAML with PyYAML; the Jenkinsfile with the small parser below),
the shell commands of each job or stage are taken in order and run with bash in a
temporary copy of a sample project (this repo's migrations/, a tasks.py, the installed
package) against local libSQL files and real sqld servers, with the secrets supplied as
the environment variables the template names. A command that fails fails the test.

What a CI service does that a test cannot is replaced explicitly, and checked:

- ``pip install`` lines become no-ops (the package is already installed here); the test
  asserts that exactly the expected install lines were replaced. Jenkins'
  ``python3 -m venv .venv`` becomes a link to the environment this test runs in.
- GitHub ``${{ ... }}`` expressions anywhere in a workflow are substituted from a dict;
  an expression the test does not know fails it.
- GitLab ``$VAR`` references in ``variables:`` are expanded from the predefined CI
  variables the test sets; an unknown one fails it.
- A sqld service container is a real sqld started by the test: the service's address in
  the template is rewritten to the fixture's, and the test checks it was used.
- ``uses:`` steps: checkout and setup-python are what the test has already done;
  upload-artifact's path must exist, and upload-sarif's file must be SARIF 2.1.0. Any
  other action fails the test.
- The sample project is a git repository on a branch ``feature`` whose base,
  ``origin/main``, is a remote-tracking ref made by the test (``lint --since``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate_tasks.drivers import open_driver
from tests.support.project import TASKS_PY
from tests.support.sqld import closed_port

ROOT = Path(__file__).resolve().parent.parent
CI_DIR = ROOT / "docs" / "ci"
GITHUB_VERIFY = CI_DIR / "github" / "verify-migrations.yml"
GITHUB_DEPLOY = CI_DIR / "github" / "deploy-migrations.yml"
GITLAB = CI_DIR / "gitlab" / ".gitlab-ci.yml"
JENKINSFILE = CI_DIR / "jenkins" / "Jenkinsfile"
BIN = Path(sys.executable).parent
VERSIONS = sorted(p.name.split("_", 1)[0] for p in (ROOT / "migrations").glob("*.sql"))

INSTALL_LINE = re.compile(r"^(\S*python3? -m )?pip install ")
VENV_LINE = "python3 -m venv .venv"
YAML_COMMANDS = ("invoke migrate.", "nox -s ")
JENKINS_COMMANDS = (".venv/bin/invoke migrate.", ".venv/bin/nox -s ")
PIP_REQUIREMENTS = "python -m pip install -r requirements.txt"


class TemplateFailed(AssertionError):
    """A template's command failed, or the template uses something the test cannot run."""


# -- running shell commands the way a CI runner does -----------------------------------


@dataclass
class Shell:
    """Runs a template's scripts with bash in the sample project and keeps a record."""

    cwd: Path
    secrets: tuple[str, ...] = ()
    allowed: tuple[str, ...] = YAML_COMMANDS
    install_lines: list[str] = field(default_factory=list)
    venv_lines: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def run(self, where: str, script: str, env: Mapping[str, str]) -> None:
        lines = [self._line(where, raw) for raw in script.splitlines()]
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)],
            cwd=self.cwd,
            env=_clean_env(env),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        self.outputs += [proc.stdout, proc.stderr]
        for secret in filter(None, self.secrets):
            assert secret not in proc.stdout + proc.stderr, f"{where} printed a secret"
        if proc.returncode != 0:
            raise TemplateFailed(
                f"{where} failed with exit {proc.returncode}:\n{script}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )

    def _line(self, where: str, raw: str) -> str:
        line = raw.strip()
        if not line or line.startswith("#"):
            return raw
        if INSTALL_LINE.match(line):
            self.install_lines.append(line)
            return ": install skipped by the test: " + shlex.quote(line)
        if line == VENV_LINE:
            self.venv_lines.append(line)
            return f"ln -s {shlex.quote(str(BIN.parent))} .venv"
        if not line.startswith(self.allowed):
            raise TemplateFailed(f"{where}: templates may only run {self.allowed}, not {line!r}")
        self.commands.append(line)
        return raw


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This machine's environment without our settings, plus the template's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIBSQL_", "MIGRAT", "INVOKE_")) and k != "DATABASE_URL"
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _rewrite(text: str, rewrites: Mapping[str, str], used: set[str]) -> str:
    for old, new in rewrites.items():
        if old in text:
            used.add(old)
            text = text.replace(old, new)
    return text


# -- GitHub Actions ---------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
KNOWN_IFS = {"always()", "success()"}


def load_yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path} is not a YAML mapping"
    return doc


def github_on(doc: Mapping[Any, Any]) -> dict[str, Any]:
    """PyYAML reads the key ``on`` as the boolean True (YAML 1.1)."""
    return doc.get("on", doc.get(True)) or {}


def substitute(node: Any, values: Mapping[str, str], used: set[str]) -> Any:
    """Replace every ``${{ expr }}`` from ``values``; an unknown expression fails."""
    if isinstance(node, str):

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr not in values:
                raise TemplateFailed(
                    f"unknown GitHub expression ${{{{ {expr} }}}}; the test knows {sorted(values)}"
                )
            used.add(expr)
            return values[expr]

        return EXPRESSION.sub(one, node)
    if isinstance(node, dict):
        return {k: substitute(v, values, used) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values, used) for v in node]
    return node


def service_rewrites(
    services: Mapping[str, Any], servers: Mapping[str, Any], host_of: Any
) -> dict[str, str]:
    """Map each sqld service's address in the template to a real server's."""
    assert set(services) == set(servers), f"services {sorted(services)}, test has {sorted(servers)}"
    rewrites = {}
    for name, service in services.items():
        image = service if isinstance(service, str) else service.get("image", service.get("name"))
        assert "libsql-server" in image, f"service {name} is not sqld: {image}"
        rewrites[host_of(name, service)] = f"127.0.0.1:{servers[name].port}"
    return rewrites


def _github_service_host(name: str, service: Mapping[str, Any]) -> str:
    (ports,) = service["ports"]
    host_port, container_port = str(ports).split(":")
    assert container_port == "8080", "sqld listens on 8080 in its image"
    return f"127.0.0.1:{host_port}"


@dataclass
class JobRun:
    shell: Shell
    artifacts: list[Path]


def run_github_job(
    path: Path,
    job_name: str,
    project: Path,
    *,
    expressions: Mapping[str, str],
    servers: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> JobRun:
    used: set[str] = set()
    doc = substitute(load_yaml(path), expressions, used)
    assert used == set(expressions), f"expressions never used: {set(expressions) - used}"
    job = doc["jobs"][job_name]
    rewrites = service_rewrites(job.get("services", {}), servers or {}, _github_service_host)
    rewritten: set[str] = set()
    shell = Shell(project, secrets)
    artifacts: list[Path] = []
    env = {**doc.get("env", {}), **job.get("env", {})}
    for number, step in enumerate(job["steps"], 1):
        where = f"{path.name} job {job_name} step {number} ({step.get('name', '')})"
        condition = step.get("if")
        if condition is not None and condition not in KNOWN_IFS:
            raise TemplateFailed(f"{where}: the test cannot evaluate if: {condition}")
        if "uses" in step:
            artifacts += _github_action(where, step, project)
            continue
        step_env = {
            k: _rewrite(str(v), rewrites, rewritten)
            for k, v in {**env, **step.get("env", {})}.items()
        }
        shell.run(where, _rewrite(step["run"], rewrites, rewritten), step_env)
    assert rewritten == set(rewrites), f"services never used: {set(rewrites) - rewritten}"
    return JobRun(shell, artifacts)


def _github_action(where: str, step: Mapping[str, Any], project: Path) -> list[Path]:
    action = step["uses"].split("@")[0]
    settings = step.get("with", {})
    if action == "actions/checkout":
        return []  # the sample project is the checkout
    if action == "actions/setup-python":
        assert settings.get("cache") == "pip", f"{where}: setup-python without the pip cache"
        return []  # this interpreter
    if action == "actions/upload-artifact":
        artifact = project / settings["path"]
        assert artifact.is_file(), f"{where}: {settings['path']} was not written"
        return [artifact]
    if action == "github/codeql-action/upload-sarif":
        sarif = project / settings["sarif_file"]
        assert sarif.is_file(), f"{where}: {settings['sarif_file']} was not written"
        assert json.loads(sarif.read_text())["version"] == "2.1.0", f"{where}: not SARIF 2.1.0"
        return [sarif]
    raise TemplateFailed(f"{where}: the test does not know the action {action}")


# -- GitLab CI --------------------------------------------------------------------------

GITLAB_RULE = re.compile(r'^\$(\w+) == (?:"([^"]*)"|\$(\w+))$')
GITLAB_KEYWORDS = {"stages", "default", "variables", "cache", "include", "workflow"}
GITLAB_VAR = re.compile(r"\$\{?(\w+)\}?")


def gitlab_job(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The job with its ``extends:`` resolved (hashes merged, other values replaced)."""
    job = dict(doc[name])
    parents = job.pop("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _deep_merge(merged, gitlab_job(doc, parent))
    return _deep_merge(merged, job)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def gitlab_pipeline(doc: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
    """Which jobs a pipeline with these predefined variables contains, and their ``when``."""
    jobs = {}
    for name in doc:
        if name.startswith(".") or name in GITLAB_KEYWORDS:
            continue
        job = gitlab_job(doc, name)
        assert "script" in job, f"{name} has no script"
        when = _gitlab_when(name, job, variables)
        if when is not None and when != "never":
            jobs[name] = when
    return jobs


def _gitlab_when(name: str, job: Mapping[str, Any], variables: Mapping[str, str]) -> str | None:
    rules = job.get("rules")
    if rules is None:
        return job.get("when", "on_success")
    for rule in rules:
        match = GITLAB_RULE.match(rule["if"].strip())
        if match is None:
            raise TemplateFailed(f"{name}: the test cannot evaluate the rule {rule['if']!r}")
        left = variables.get(match[1])  # None when undefined, as in GitLab
        right = match[2] if match[2] is not None else variables.get(match[3])
        if left == right:
            return rule.get("when", job.get("when", "on_success"))
    return None


def _gitlab_expand(value: str, known: Mapping[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match[1] not in known:
            raise TemplateFailed(f"{where}: unknown variable ${match[1]} in {value!r}")
        return known[match[1]]

    return GITLAB_VAR.sub(one, value)


def run_gitlab_job(
    doc: Mapping[str, Any],
    name: str,
    project: Path,
    *,
    settings_variables: Mapping[str, str],
    servers: Mapping[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
) -> JobRun:
    job = gitlab_job(doc, name)
    default = doc.get("default", {})
    environment = job.get("environment", {})
    env_name = environment.get("name", "") if isinstance(environment, dict) else environment
    env: dict[str, str] = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(project),
        "CI_JOB_NAME": name,
        "CI_ENVIRONMENT_NAME": env_name,
    }
    for key, value in {**doc.get("variables", {}), **job.get("variables", {})}.items():
        env[key] = _gitlab_expand(str(value), env, f"{name} variables")
    env.update(settings_variables)  # CI/CD settings win over variables in the file
    services = {}
    for service in job.get("services", []):
        assert isinstance(service, dict) and "alias" in service, f"{name}: give services an alias"
        services[service["alias"]] = service
    rewrites = service_rewrites(services, servers or {}, lambda alias, _: f"{alias}:8080")
    rewritten: set[str] = set()
    env = {k: _rewrite(v, rewrites, rewritten) for k, v in env.items()}
    shell = Shell(project, secrets)
    before = job.get("before_script", default.get("before_script", []))
    # before_script and script run in one shell session, each line failing the job
    shell.run(f"{name} script", "\n".join([*before, *job["script"]]), env)
    after = job.get("after_script", default.get("after_script", []))
    if after:
        shell.run(f"{name} after_script", "\n".join(after), env)
    assert rewritten == set(rewrites), f"services never used: {set(rewrites) - rewritten}"
    artifacts = [project / p for p in job.get("artifacts", {}).get("paths", [])]
    for artifact in artifacts:
        assert artifact.is_file(), f"{name}: artifact {artifact.name} was not written"
    return JobRun(shell, artifacts)


# -- Jenkins: a small parser for declarative pipelines ---------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "ident", "punct" or "other"
    value: str
    quote: str = ""


@dataclass(frozen=True)
class ShStep:
    quote: str  # the Groovy quote used: ', ", ''' or """
    script: str


@dataclass
class Stage:
    name: str
    steps: list[ShStep] = field(default_factory=list)
    branch: str | None = None
    has_input: bool = False
    #: environment variable -> Jenkins credentials id
    credentials: dict[str, str] = field(default_factory=dict)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def groovy_tokens(text: str) -> Iterator[Token]:
    """Strings (unescaped), identifiers and punctuation; comments and blanks dropped."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            i = end + 2
        elif c in "'\"":
            quote = text[i : i + 3] if text.startswith(c * 3, i) else c
            end = _closing(text, i + len(quote), quote)
            raw = text[i + len(quote) : end]
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), raw, flags=re.S)
            yield Token("str", value, quote)
            i = end + len(quote)
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            yield Token("ident", text[i:j])
            i = j
        else:
            yield Token("punct" if c in "{}()[],=:" else "other", c)
            i += 1


def _closing(text: str, start: int, quote: str) -> int:
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text.startswith(quote, j):
            return j
        elif text[j] == "\n" and len(quote) == 1:
            break
        else:
            j += 1
    raise ValueError(f"unterminated string {text[start - len(quote) : start + 20]!r}")


def parse_jenkinsfile(text: str) -> list[Stage]:
    """The stages of a declarative pipeline, in order, with what the test needs of each."""
    toks = list(groovy_tokens(text))
    stages: list[Stage] = []
    inside = [False] * len(toks)
    i = 0
    while i < len(toks):
        if _is(toks, i, "ident", "stage") and _is(toks, i + 1, "punct", "("):
            if not (toks[i + 2].kind == "str" and _is(toks, i + 3, "punct", ")")):
                raise ValueError("stage(...) must be named with a string literal")
            if not _is(toks, i + 4, "punct", "{"):
                raise ValueError(f"stage {toks[i + 2].value!r} has no block")
            end = _matching(toks, i + 4)
            stages.append(_stage(toks[i + 2].value, toks[i + 5 : end]))
            inside[i : end + 1] = [True] * (end + 1 - i)
            i = end + 1
        else:
            i += 1
    for j, tok in enumerate(toks):
        if tok.kind == "ident" and tok.value in ("sh", "credentials") and not inside[j]:
            raise ValueError(f"{tok.value} outside a stage is not supported by this parser")
    return stages


def _is(toks: list[Token], i: int, kind: str, value: str | None = None) -> bool:
    return i < len(toks) and toks[i].kind == kind and (value is None or toks[i].value == value)


def _matching(toks: list[Token], open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(toks)):
        if toks[j].kind == "punct" and toks[j].value in "{}":
            depth += 1 if toks[j].value == "{" else -1
            if depth == 0:
                return j
    raise ValueError("unbalanced braces")


def _stage(name: str, body: list[Token]) -> Stage:
    stage = Stage(name)
    i = 0
    while i < len(body):
        tok = body[i]
        if tok.kind != "ident":
            i += 1
            continue
        if tok.value == "stage" or tok.value in ("stages", "parallel", "matrix"):
            raise ValueError(f"stage {name!r}: nested stages are not supported")
        if tok.value == "sh":
            paren = _is(body, i + 1, "punct", "(")
            at = i + 2 if paren else i + 1
            if not _is(body, at, "str") or (paren and not _is(body, at + 1, "punct", ")")):
                raise ValueError(f"stage {name!r}: only sh 'script' steps are supported")
            stage.steps.append(ShStep(body[at].quote, body[at].value))
            i = at + 1
        elif tok.value == "branch" and _is(body, i + 1, "str"):
            stage.branch = body[i + 1].value
            i += 2
        elif tok.value == "input":
            stage.has_input = True
            i += 1
        elif (
            _is(body, i + 1, "punct", "=")
            and _is(body, i + 2, "ident", "credentials")
            and _is(body, i + 4, "str")
        ):
            stage.credentials[tok.value] = body[i + 4].value
            i += 5
        elif tok.value == "string" and _is(body, i + 1, "punct", "("):
            end = next(j for j in range(i, len(body)) if _is(body, j, "punct", ")"))
            args = {
                body[j].value: body[j + 2].value
                for j in range(i + 2, end)
                if body[j].kind == "ident" and _is(body, j + 1, "punct", ":")
            }
            stage.credentials[args["variable"]] = args["credentialsId"]
            i = end + 1
        else:
            i += 1
    return stage


def jenkins_stages(stages: list[Stage], branch: str) -> list[Stage]:
    """The stages a build of ``branch`` runs (``when { branch '...' }``)."""
    return [s for s in stages if s.branch is None or s.branch == branch]


def run_jenkins(
    stages: list[Stage],
    project: Path,
    *,
    branch: str,
    credentials: Mapping[str, str],
    secrets: tuple[str, ...] = (),
) -> Shell:
    shell = Shell(project, secrets, allowed=JENKINS_COMMANDS)
    for stage in jenkins_stages(stages, branch):
        unknown = set(stage.credentials.values()) - set(credentials)
        if unknown:
            raise TemplateFailed(f"stage {stage.name!r} needs credentials {sorted(unknown)}")
        env = {var: credentials[cid] for var, cid in stage.credentials.items()}
        for number, step in enumerate(stage.steps, 1):
            if step.quote.startswith('"') and "$" in step.script:
                raise TemplateFailed(
                    f"stage {stage.name!r} step {number}: Groovy interpolation in a double-"
                    "quoted sh step (use single quotes; it would expose secrets)"
                )
            shell.run(f"Jenkinsfile stage {stage.name!r} sh step {number}", step.script, env)
    return shell


# -- the sample project and what the templates must leave behind -----------------------


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """What a user's repository looks like: migrations/, tasks.py, requirements.txt."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(ROOT / "migrations", root / "migrations")
    (root / "tasks.py").write_text(TASKS_PY)
    (root / "requirements.txt").write_text("migrate_tasks\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")  # as after a clone
    git(root, "checkout", "-q", "-b", "feature")
    return root


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.com",
               GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.com")  # fmt: skip
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


#: A migration the branch adds: lint warns (LS402) without failing; verify passes.
BRANCH_MIGRATION = (
    "20250101090500_rename_display_name.sql",
    "-- migrate:up\nALTER TABLE users RENAME COLUMN display_name TO full_name;\n"
    "-- migrate:down\nALTER TABLE users RENAME COLUMN full_name TO display_name;\n",
)


def add_branch_migration(sample: Path) -> None:
    name, text = BRANCH_MIGRATION
    (sample / "migrations" / name).write_text(text)
    git(sample, "add", "-A")
    git(sample, "commit", "-q", "-m", "rename display_name")


def assert_all_applied(status_file: Path, url: str, token: str | None = None) -> None:
    """The artifact says every migration is applied, and so does the database itself."""
    status = json.loads(status_file.read_text())
    assert [(m["version"], m["state"]) for m in status["migrations"]] == [
        (v, "applied") for v in VERSIONS
    ]
    assert status["problems"] == []
    with open_driver(url, token) as db:
        rows = db.query("SELECT version, status FROM schema_migrations ORDER BY version")
    assert dict(rows) == dict.fromkeys(VERSIONS, "applied")


def file_url(path: Path) -> str:
    return f"file:{path}"


def mint(jwt_sqld: Any) -> str:
    return jwt_sqld.mint({"exp": int(time.time()) + 3600})


# -- static checks ------------------------------------------------------------------------


def test_every_template_parses_and_runs_only_migrate_tasks_or_nox():
    scripts: list[tuple[str, str, tuple[str, ...]]] = []
    for path in (GITHUB_VERIFY, GITHUB_DEPLOY):
        for job_name, job in load_yaml(path)["jobs"].items():
            scripts += [
                (f"{path.name}:{job_name}", s["run"], YAML_COMMANDS)
                for s in job["steps"]
                if "run" in s
            ]
    doc = load_yaml(GITLAB)
    pipelines = [
        {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main"},
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
    ]
    for name in gitlab_pipeline(doc, pipelines[0]) | gitlab_pipeline(doc, pipelines[1]):
        job = gitlab_job(doc, name)
        lines = [*doc["default"]["before_script"], *job["script"], *job.get("after_script", [])]
        scripts.append((f"gitlab:{name}", "\n".join(lines), YAML_COMMANDS))
    for stage in parse_jenkinsfile(JENKINSFILE.read_text()):
        scripts += [(f"jenkins:{stage.name}", s.script, JENKINS_COMMANDS) for s in stage.steps]

    shell = Shell(ROOT)
    for where, script, allowed in scripts:
        shell.allowed = allowed
        for raw in script.splitlines():
            shell._line(where, raw)  # raises on anything else
    assert set(shell.install_lines) == {PIP_REQUIREMENTS, ".venv/bin/" + PIP_REQUIREMENTS}
    assert shell.venv_lines == [VENV_LINE]
    used = {command.split()[1] for command in shell.commands}
    assert {"migrate.verify", "migrate.validate", "migrate.up", "migrate.status"} <= used
    assert "migrate.lint" in used


def test_this_repositorys_ci_runs_nox_with_the_pip_cache():
    doc = load_yaml(ROOT / ".github" / "workflows" / "ci.yml")
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert (ROOT / setup["with"]["cache-dependency-path"]).is_file()
    runs = " ".join(s.get("run", "") for s in steps)
    assert re.search(r"(^|\s|/)nox(\s|$)", runs), runs


def test_github_expressions_come_from_the_dict_and_unknown_ones_fail():
    used: set[str] = set()
    out = substitute({"a": ["x ${{ secrets.A }} y"]}, {"secrets.A": "1"}, used)
    assert out == {"a": ["x 1 y"]} and used == {"secrets.A"}
    with pytest.raises(TemplateFailed, match=r"unknown GitHub expression \$\{\{ github.sha \}\}"):
        substitute("${{ github.sha }}", {"secrets.A": "1"}, set())


def test_github_verify_runs_on_every_pull_request_without_secrets():
    doc = load_yaml(GITHUB_VERIFY)
    assert "pull_request" in github_on(doc)
    assert "secrets." not in GITHUB_VERIFY.read_text()


def test_github_deploy_is_manual_per_environment_behind_the_environment_gate():
    doc = load_yaml(GITHUB_DEPLOY)
    dispatch = github_on(doc)["workflow_dispatch"]
    choice = dispatch["inputs"]["environment"]
    assert {"staging", "production"} <= set(choice["options"])
    (job,) = doc["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"  # the approval gate
    assert job["env"] == {
        "LIBSQL_URL": "${{ secrets.LIBSQL_URL }}",
        "LIBSQL_AUTH_TOKEN": "${{ secrets.LIBSQL_AUTH_TOKEN }}",
    }
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-"))
    assert upload["with"]["path"] == "migration-status.json"


def test_gitlab_pipelines_verify_merge_requests_and_deploy_production_by_hand():
    doc = load_yaml(GITLAB)
    merge_request = gitlab_pipeline(
        doc, {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main"}
    )
    assert merge_request == {"verify-migrations": "on_success"}
    main = gitlab_pipeline(
        doc,
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
    )
    assert main == {"deploy-staging": "on_success", "deploy-production": "manual"}
    feature = gitlab_pipeline(
        doc,
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "x", "CI_DEFAULT_BRANCH": "main"},
    )
    assert feature == {}
    production = gitlab_job(doc, "deploy-production")
    assert production["environment"]["name"] == "production"
    assert production["needs"] == ["deploy-staging"]
    assert production.get("allow_failure") is False  # a manual job must block the pipeline


def test_jenkinsfile_parser_finds_steps_credentials_branches_and_input():
    text = r"""
    pipeline {
      // sh 'a comment, not a step'
      /* stage('Fake') { steps { sh 'nope' } } */
      stages {
        stage('One') {
          steps {
            sh 'echo "a { b"'
            sh "echo plain"
            sh '''
              echo one
              echo 'two'
            '''
            sh("echo paren")
            echo 'sh is only a word here'
          }
        }
        stage("Two") {
          when { branch 'release' }
          environment { TOKEN = credentials('tok-id') }
          input { message 'ok?' }
          steps {
            withCredentials([string(variable: 'URL', credentialsId: 'url-id')]) {
              sh 'echo it\'s'
            }
          }
        }
      }
    }
    """
    one, two = parse_jenkinsfile(text)
    assert one.name == "One" and one.branch is None and not one.has_input
    assert one.steps == [
        ShStep("'", 'echo "a { b"'),
        ShStep('"', "echo plain"),
        ShStep("'''", "\n              echo one\n              echo 'two'\n            "),
        ShStep('"', "echo paren"),
    ]
    assert one.credentials == {}
    assert two.name == "Two" and two.branch == "release" and two.has_input
    assert two.credentials == {"TOKEN": "tok-id", "URL": "url-id"}
    assert two.steps == [ShStep("'", "echo it's")]
    assert jenkins_stages([one, two], "main") == [one]


@pytest.mark.parametrize(
    "text, message",
    [
        ("stage('A') { steps { sh(script: 'x') } }", "only sh 'script' steps"),
        ("stage('A') { stages { stage('B') { } } }", "nested stages"),
        ("post { always { sh 'x' } }", "sh outside a stage"),
        ("stage('A') { steps { sh 'x } }", "unterminated string"),
        ("stage('A') { steps { sh 'x' }", "unbalanced braces"),
    ],
)
def test_jenkinsfile_parser_refuses_what_it_cannot_run(text, message):
    with pytest.raises(ValueError, match=message):
        parse_jenkinsfile(text)


def test_jenkins_verifies_every_build_and_gates_production_behind_input():
    stages = parse_jenkinsfile(JENKINSFILE.read_text())
    assert [s.name for s in jenkins_stages(stages, "feature/x")] == ["Install", "Verify"]
    on_main = jenkins_stages(stages, "main")
    assert [s.name for s in on_main] == [
        "Install",
        "Verify",
        "Deploy to staging",
        "Deploy to production",
    ]
    production = on_main[-1]
    assert production.has_input and not on_main[2].has_input
    assert production.credentials == {
        "LIBSQL_URL": "libsql-production-url",
        "LIBSQL_AUTH_TOKEN": "libsql-production-token",
    }
    assert all(step.quote == "'" for stage in stages for step in stage.steps)


# -- the templates, run --------------------------------------------------------------------


def test_a_failing_command_fails_the_template_run(sample):
    """The harness itself: a deploy to a database nobody listens on must fail."""
    with closed_port() as port:
        expressions = {
            "inputs.environment": "staging",
            "secrets.LIBSQL_URL": f"http://127.0.0.1:{port}",
            "secrets.LIBSQL_AUTH_TOKEN": "",
        }
        with pytest.raises(TemplateFailed, match=r"step 4 \(Check files.*exit 5"):
            run_github_job(GITHUB_DEPLOY, "migrate", sample, expressions=expressions)


def test_a_missing_url_secret_stops_every_deploy_before_it_touches_a_local_file(sample):
    """An unset secret is an empty string in CI; without the ${LIBSQL_URL:?} guard the
    tool would fall back to its default database, file:dev.db on the runner, and pass."""
    unset = "LIBSQL_URL: parameter null or not set"
    expressions = {
        "inputs.environment": "production",
        "secrets.LIBSQL_URL": "",
        "secrets.LIBSQL_AUTH_TOKEN": "",
    }
    with pytest.raises(TemplateFailed, match=rf"step 4 \(Check files(.|\n)*{unset}"):
        run_github_job(GITHUB_DEPLOY, "migrate", sample, expressions=expressions)
    with pytest.raises(TemplateFailed, match=rf"deploy-production script(.|\n)*{unset}"):
        run_gitlab_job(
            load_yaml(GITLAB), "deploy-production", sample, settings_variables={"LIBSQL_URL": ""}
        )
    ids = ("url", "token")
    credentials = {f"libsql-{env}-{i}": "" for env in ("staging", "production") for i in ids}
    deploys = [s for s in parse_jenkinsfile(JENKINSFILE.read_text()) if s.credentials]
    with pytest.raises(TemplateFailed, match=rf"'Deploy to staging' sh step 1(.|\n)*{unset}"):
        run_jenkins(deploys, sample, branch="main", credentials=credentials)
    assert not (sample / "dev.db").exists()


@pytest.mark.target("http")
def test_github_verify_template_on_a_file_and_a_throwaway_sqld(sample, sqld):
    add_branch_migration(sample)
    ran = run_github_job(
        GITHUB_VERIFY,
        "verify",
        sample,
        expressions={"github.base_ref": "main"},
        servers={"sqld": sqld},
    )
    assert ran.shell.install_lines == [PIP_REQUIREMENTS]
    assert ran.shell.commands == [
        "invoke migrate.verify",
        'invoke migrate.verify --url "$LIBSQL_URL"',
        "invoke migrate.validate",
        'invoke migrate.lint --since "origin/main"',
        'invoke migrate.lint --since "origin/main" --format sarif > lint.sarif',
    ]
    assert not (sample / "dev.db").exists()  # verify used scratch databases only
    assert any("linted 1 migration (since origin/main)" in out for out in ran.shell.outputs)
    assert ran.artifacts == [sample / "lint.sarif"]
    [result] = json.loads(ran.artifacts[0].read_text())["runs"][0]["results"]
    assert result["ruleId"] == "LS402"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "migrations/" + BRANCH_MIGRATION[0]
    )


def test_github_deploy_template_on_a_local_file(sample, tmp_path):
    url = file_url(tmp_path / "production.db")
    expressions = {
        "inputs.environment": "production",
        "secrets.LIBSQL_URL": url,
        "secrets.LIBSQL_AUTH_TOKEN": "",
    }
    ran = run_github_job(GITHUB_DEPLOY, "migrate", sample, expressions=expressions)
    assert ran.shell.install_lines == [PIP_REQUIREMENTS]
    assert ran.artifacts == [sample / "migration-status.json"]
    assert_all_applied(ran.artifacts[0], url)


@pytest.mark.target("http")
def test_github_deploy_template_on_sqld_with_a_jwt(sample, jwt_sqld):
    token = mint(jwt_sqld)
    expressions = {
        "inputs.environment": "production",
        "secrets.LIBSQL_URL": jwt_sqld.http_url,
        "secrets.LIBSQL_AUTH_TOKEN": token,
    }
    ran = run_github_job(
        GITHUB_DEPLOY, "migrate", sample, expressions=expressions, secrets=(token,)
    )
    assert_all_applied(ran.artifacts[0], jwt_sqld.http_url, token)
    # a second deploy finds nothing to do and still succeeds
    ran = run_github_job(
        GITHUB_DEPLOY, "migrate", sample, expressions=expressions, secrets=(token,)
    )
    assert any("nothing to apply" in out for out in ran.shell.outputs)


@pytest.mark.target("http")
def test_gitlab_verify_job_on_a_file_and_a_throwaway_sqld(sample, sqld):
    base = git(sample, "rev-parse", "HEAD")
    add_branch_migration(sample)
    ran = run_gitlab_job(
        load_yaml(GITLAB),
        "verify-migrations",
        sample,
        settings_variables={"CI_MERGE_REQUEST_DIFF_BASE_SHA": base},  # predefined in MRs
        servers={"sqld": sqld},
    )
    assert ran.shell.install_lines == [PIP_REQUIREMENTS]
    assert [c.split()[1] for c in ran.shell.commands] == [
        "migrate.verify",
        "migrate.verify",
        "migrate.validate",
        "migrate.lint",
        "migrate.lint",
    ]
    assert ran.artifacts == [sample / "lint.json"]
    lint = json.loads(ran.artifacts[0].read_text())
    assert [f["rule"] for f in lint["findings"]] == ["LS402"] and lint["ok"] is True


def test_gitlab_deploy_jobs_on_local_files(sample, tmp_path):
    doc = load_yaml(GITLAB)
    for name in ("deploy-staging", "deploy-production"):
        url = file_url(tmp_path / f"{name}.db")
        variables = {"LIBSQL_URL": url, "LIBSQL_AUTH_TOKEN": ""}
        ran = run_gitlab_job(doc, name, sample, settings_variables=variables)
        assert ran.shell.install_lines == [PIP_REQUIREMENTS]
        assert ran.artifacts == [sample / "migration-status.json"]
        assert_all_applied(ran.artifacts[0], url)


@pytest.mark.target("http")
def test_gitlab_deploy_jobs_on_sqld_staging_and_jwt_production(sample, sqld, jwt_sqld):
    doc = load_yaml(GITLAB)
    token = mint(jwt_sqld)
    targets = {
        "deploy-staging": (sqld.http_url, ""),
        "deploy-production": (jwt_sqld.http_url, token),
    }
    for name, (url, secret) in targets.items():
        variables = {"LIBSQL_URL": url, "LIBSQL_AUTH_TOKEN": secret}
        ran = run_gitlab_job(doc, name, sample, settings_variables=variables, secrets=(token,))
        assert_all_applied(ran.artifacts[0], url, secret or None)


def test_jenkins_pipeline_on_main_with_local_files(sample, tmp_path):
    urls = {env: file_url(tmp_path / f"{env}.db") for env in ("staging", "production")}
    credentials = {f"libsql-{env}-url": url for env, url in urls.items()}
    credentials |= {"libsql-staging-token": "", "libsql-production-token": ""}
    stages = parse_jenkinsfile(JENKINSFILE.read_text())
    shell = run_jenkins(stages, sample, branch="main", credentials=credentials)
    assert shell.venv_lines == [VENV_LINE] and (sample / ".venv").is_symlink()
    assert shell.install_lines == [".venv/bin/" + PIP_REQUIREMENTS]
    for env, url in urls.items():
        assert_all_applied(sample / f"migration-status-{env}.json", url)


@pytest.mark.target("http")
def test_jenkins_pipeline_on_main_with_sqld_and_a_jwt(sample, sqld, jwt_sqld):
    token = mint(jwt_sqld)
    credentials = {
        "libsql-staging-url": sqld.http_url,
        "libsql-staging-token": "",
        "libsql-production-url": jwt_sqld.http_url,
        "libsql-production-token": token,
    }
    stages = parse_jenkinsfile(JENKINSFILE.read_text())
    run_jenkins(stages, sample, branch="main", credentials=credentials, secrets=(token,))
    assert_all_applied(sample / "migration-status-staging.json", sqld.http_url)
    assert_all_applied(sample / "migration-status-production.json", jwt_sqld.http_url, token)
