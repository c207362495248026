"""Stand-ins for ``gh`` (GitHub's CLI) and ``curl`` against GitLab's API, for the CI
template tests: they answer the few API calls the review-comment steps make from a JSON
state file, apply what a real forge would (a comment created, edited; only its author
may edit it), and log every request, so a test sees exactly what would have been posted.

Run as ``python fake_forges.py gh|curl ARGS...`` (``install`` writes the two wrappers
into a folder to put first on PATH); ``FAKE_FORGE_STATE`` names the state file. A call
the fake does not know fails loudly, as a real API would answer 404.

``gh api --jq`` is evaluated by the real ``jq`` program (gh embeds a jq implementation;
the filters the template uses mean the same in both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

BOT = "github-actions[bot]"
#: Comments per page in the fake GitHub: small, so that ``--paginate`` matters.
GITHUB_PAGE = 2


def install(folder: Path, state: Path) -> dict[str, str]:
    """Write ``gh`` and ``curl`` into ``folder``; the environment to run them with."""
    if shutil.which("jq") is None:
        raise RuntimeError("the fake gh evaluates --jq with the real jq: install jq")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("gh", "curl"):
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{__file__}" {name} "$@"\n')
        wrapper.chmod(0o755)
    return {"FAKE_FORGE_STATE": str(state)}


def load(state: Path) -> dict[str, Any]:
    return json.loads(state.read_text())


def save(state: Path, doc: dict[str, Any]) -> None:
    state.write_text(json.dumps(doc, indent=2))


class Refused(Exception):
    """The forge's error answer: an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


# -- gh ---------------------------------------------------------------------------------


def gh(args: list[str], doc: dict[str, Any]) -> int:
    if args[:1] != ["api"]:
        raise SystemExit(f"fake gh: only 'gh api' is known, not {args}")
    method, paginate, jq, silent, params, endpoint = "", False, None, False, {}, None
    i = 1
    while i < len(args):
        arg = args[i]
        if arg in ("-X", "--method"):
            method, i = args[i + 1], i + 2
        elif arg == "--paginate":
            paginate, i = True, i + 1
        elif arg in ("--jq", "-q"):
            jq, i = args[i + 1], i + 2
        elif arg == "--silent":
            silent, i = True, i + 1
        elif arg in ("-f", "--raw-field", "-F", "--field"):
            key, _, value = args[i + 1].partition("=")
            if arg in ("-F", "--field") and value.startswith("@"):
                value = Path(value[1:]).read_text(encoding="utf-8")
            params[key], i = value, i + 2
        elif arg.startswith("-"):
            raise SystemExit(f"fake gh: unknown flag {arg}")
        else:
            endpoint, i = arg, i + 1
    if os.environ.get("GH_TOKEN") != doc["token"]:
        raise Refused(401, "Bad credentials")
    method = method or ("POST" if params else "GET")
    doc["log"].append({"method": method, "endpoint": endpoint, "params": params})
    pages = _github(doc, method, str(endpoint), params)
    if not paginate:
        pages = pages[:1]
    for page in pages:
        if silent:
            continue
        if jq is None:
            print(json.dumps(page))
            continue
        out = subprocess.run(
            ["jq", "-r", jq], input=json.dumps(page), capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"fake gh: jq failed on {jq!r}: {out.stderr}")
        sys.stdout.write(out.stdout)
    return 0


def _github(doc: dict[str, Any], method: str, endpoint: str, params: dict[str, str]) -> list[Any]:
    """The response pages of one GitHub REST call."""
    prefix = f"repos/{doc['repo']}/"
    if not endpoint.startswith(prefix):
        raise Refused(404, f"not this repository: {endpoint}")
    parts = endpoint[len(prefix) :].split("/")
    comments = doc["comments"]
    if method == "GET" and parts == ["pulls"]:
        found = [
            p for p in doc["pulls"]
            if p["state"] == params.get("state", "open") and p["head"]["label"] == params.get("head")
        ]  # fmt: skip
        return [found]
    if parts[:1] == ["issues"] and parts[2:] == ["comments"] and parts[1].isdigit():
        thread = comments.setdefault(parts[1], [])
        if method == "GET":
            return [thread[i : i + GITHUB_PAGE] for i in range(0, len(thread), GITHUB_PAGE)] or [[]]
        if method == "POST":
            comment = {"id": _next_id(doc), "user": {"login": BOT}, "body": params["body"]}
            thread.append(comment)
            return [comment]
    if parts[:2] == ["issues", "comments"] and method == "PATCH":
        comment = _find(comments, "id", int(parts[2]))
        if comment["user"]["login"] != BOT:
            raise Refused(403, "Resource not accessible by integration")
        comment["body"] = params["body"]
        return [comment]
    raise Refused(404, f"{method} {endpoint}")


# -- curl against GitLab ------------------------------------------------------------------


def curl(args: list[str], doc: dict[str, Any]) -> int:
    method, headers, data, output, url = "GET", {}, {}, None, None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-X":
            method, i = args[i + 1], i + 2
        elif arg == "-H":
            key, _, value = args[i + 1].partition(":")
            headers[key.strip().lower()], i = value.strip(), i + 2
        elif arg == "--data-urlencode":
            spec = args[i + 1]
            key, at, path = spec.partition("@")
            if at:
                data[key] = Path(path).read_text(encoding="utf-8")
            else:
                key, _, value = spec.partition("=")
                data[key] = value
            i += 2
        elif arg == "-o":
            output, i = args[i + 1], i + 2
        elif arg in ("--fail-with-body", "-sS", "-s", "-S"):
            i += 1
        elif arg.startswith("-"):
            raise SystemExit(f"fake curl: unknown flag {arg}")
        else:
            url, i = arg, i + 1
    if "--fail-with-body" not in args:
        raise SystemExit("fake curl: the template must use --fail-with-body")
    if headers.get("private-token") != doc["token"]:
        raise Refused(401, "401 Unauthorized")
    split = urlsplit(str(url))
    base = urlsplit(doc["api"])
    if (split.scheme, split.netloc) != (base.scheme, base.netloc) or not split.path.startswith(
        base.path + "/"
    ):
        raise Refused(404, f"not this GitLab: {url}")
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    path = unquote_plus(split.path[len(base.path) :])
    doc["log"].append({"method": method, "path": path, "query": query, "data": data})
    body = json.dumps(_gitlab(doc, method, path, query, data))
    if output is not None:
        Path(output).write_text(body)
    else:
        sys.stdout.write(body)
    return 0


def _gitlab(
    doc: dict[str, Any], method: str, path: str, query: dict[str, str], data: dict[str, str]
) -> Any:
    if path == "/user" and method == "GET":
        return {"id": doc["bot_id"], "username": "project_1_bot"}
    notes_path = f"/projects/{doc['project']}/merge_requests/{doc['mr']}/notes"
    notes = doc["notes"]
    if path == notes_path and method == "GET":
        assert query.get("sort") == "asc" and query.get("order_by") == "created_at", query
        size, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        return notes[(page - 1) * size : page * size]
    if path == notes_path and method == "POST":
        note = {"id": _next_id(doc), "author": {"id": doc["bot_id"]}, "body": data["body"]}
        notes.append(note)
        return note
    if path.startswith(notes_path + "/") and method == "PUT":
        note = next((n for n in notes if n["id"] == int(path.rsplit("/", 1)[1])), None)
        if note is None:
            raise Refused(404, "404 Not found")
        if note["author"]["id"] != doc["bot_id"]:
            raise Refused(403, "403 Forbidden")
        note["body"] = data["body"]
        return note
    raise Refused(404, f"{method} {path}")


# -- shared -------------------------------------------------------------------------------


def _next_id(doc: dict[str, Any]) -> int:
    doc["next_id"] += 1
    return int(doc["next_id"])


def _find(comments: dict[str, list[dict[str, Any]]], key: str, value: int) -> dict[str, Any]:
    for thread in comments.values():
        for comment in thread:
            if comment[key] == value:
                return comment
    raise Refused(404, "Not Found")


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_FORGE_STATE"])
    doc = load(state)
    tool, args = argv[0], argv[1:]
    try:
        code = gh(args, doc) if tool == "gh" else curl(args, doc)
    except Refused as exc:
        doc["log"].append({"refused": str(exc)})
        save(state, doc)
        sys.stderr.write(f"{tool}: {exc}\n")
        return 1 if tool == "gh" else 22  # curl --fail-with-body exits 22 on HTTP >= 400
    save(state, doc)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
