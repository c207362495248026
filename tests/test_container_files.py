"""The container files say what docs/docker.md promises (the image itself is built and run
by ``nox -s image``, which .ci/run runs: scripts/image_check.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_is_multi_stage_non_root_with_the_documented_layout():
    steps = instructions(DOCKERFILE)
    stages = [rest for word, rest in steps if word == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    assert ("ARG", "BASE_IMAGE=python:3.12-slim") in steps
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    final = steps[last_from:]
    assert ("COPY", "--from=build /opt/libsql-migrate /opt/libsql-migrate") in final
    assert not any(word == "COPY" and "--from" not in rest for word, rest in final)
    [user] = [rest for word, rest in final if word == "USER"]
    assert not user.startswith(("0", "root"))
    [entrypoint] = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["libsql-migrate"]
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "MIGRATIONS_DIR=/migrations" in env
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # everything out, then what it needs
    for needed in ("!pyproject.toml", "!README.md", "!migrate_tasks/", "!docker/wheels/"):
        assert needed in ignored


def test_the_compose_example_starts_the_app_after_the_migrations_succeed():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"sqld", "migrate", "app"}
    migrate = services["migrate"]
    assert migrate["command"][:2] == ["up", "--wait"]
    assert migrate["environment"]["LIBSQL_URL"] == "http://sqld:8080"
    assert "./migrations:/migrations:ro" in migrate["volumes"]
    assert migrate["restart"] == "no"
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }


def test_ci_runs_the_image_session_after_the_test_command_and_fails_without_a_daemon():
    run = (ROOT / ".ci" / "run").read_text()
    lines = [line for line in run.splitlines() if line and not line.startswith("#")]
    readme_command = ".venv/bin/pip install --quiet nox uv && .venv/bin/nox"
    position = next(i for i, line in enumerate(lines) if line.endswith(readme_command))
    rest = "\n".join(lines[position + 1 :])
    assert rest.index(".ci/docker-daemon") < rest.index(".venv/bin/nox -s image")
    daemon = (ROOT / ".ci" / "docker-daemon").read_text()
    assert "set -euo pipefail" in daemon and "exit 1" in daemon
    noxfile = (ROOT / "noxfile.py").read_text()
    assert re.search(r"@nox\.session\(default=False\)\ndef image\(", noxfile)


def test_the_image_check_reads_dockers_times_in_order():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from image_check import _instant
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert _instant("2026-12-05T16:10:18.99153647Z") < _instant("2026-12-05T16:10:19.0001Z")
    assert _instant("2026-12-05T16:10:19Z") < _instant("2026-12-05T16:10:19.5Z")


def test_the_ci_scripts_are_valid_bash():
    for script in (ROOT / ".ci" / "run", ROOT / ".ci" / "docker-daemon"):
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
