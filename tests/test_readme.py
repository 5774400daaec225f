"""The README's curl examples, run as written with real curl against a real gunicorn.

Each command of a README code block runs in bash, as a reader would paste it; what the
README leaves to the reader is filled in from earlier answers: the `tpa_…` token that
`touchpoint bootstrap` (what `make run` calls) prints, `<token>` from the link created, the
`tp_cid` from the redirect, and the server's port for 127.0.0.1:8000. A `# -> …` comment under
a command is what its answer must look like: `…` stands for anything, objects may hold more
keys than shown, and a list's items must be found in the answer's list.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import backends
from .live import ROOT, gunicorn

README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
README_BASE = "http://127.0.0.1:8000"
SECRET = "readme-test-secret-key-0123456789-abcdef"

pytestmark = [
    pytest.mark.slow,
    backends.once,  # `make run` as the README shows it: the embedded SQLite default
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
]


def sh_blocks(heading: str) -> list[str]:
    """The ```sh blocks of the README section under `## heading`, in order."""
    start = README.index(f"\n## {heading}\n")
    end = README.find("\n## ", start + 1)
    section = README[start : end if end != -1 else None]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


@dataclass
class Step:
    command: str
    expected: str = ""
    comment: list[str] = field(default_factory=list)


def steps(block: str) -> list[Step]:
    """Shell statements (continued lines and multi-line quotes joined) with their comments."""
    found: list[Step] = []
    pending: list[str] = []
    in_expectation = False
    for line in block.splitlines():
        if pending:
            pending.append(line)
        elif line.startswith("#"):
            if line.startswith("# ->") and found:
                found[-1].comment.append(line)
                in_expectation = True
            elif in_expectation and re.match(r"#\s{2,}", line):
                found[-1].comment.append(line)
            else:
                in_expectation = False
            continue
        elif line.strip():
            pending = [line]
            in_expectation = False
        else:
            in_expectation = False
            continue
        text = "\n".join(pending)
        if not text.endswith("\\") and text.count("'") % 2 == 0:
            found.append(Step(text))
            pending = []
    assert not pending, f"unfinished command in the README: {pending}"
    for step in found:
        step.expected = "".join(line.lstrip("#").strip() for line in step.comment)
        step.expected = step.expected.removeprefix("->").strip()
    return found


def _without_bare_ellipses(text: str) -> str:
    """Pseudo-JSON with `…` for "more keys/items" made JSON (`"…"` strings are kept)."""
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "…":
            continue
        out.append(ch)
    json_text = "".join(out)
    json_text = re.sub(r",\s*(?=[}\]])", "", json_text)
    json_text = re.sub(r"(?<=[{\[])\s*,", "", json_text)
    return re.sub(r",\s*,", ",", json_text)


def _like(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("…"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def matches(expected, actual) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(
            any(matches(item, candidate) for candidate in actual) for item in expected
        )
    if isinstance(expected, str):
        return expected == "…" or (isinstance(actual, str) and _like(expected, actual))
    return expected == actual and isinstance(expected, bool) == isinstance(actual, bool)


def check_answer(step: Step, output: str, base: str) -> None:
    expected = step.expected.replace(README_BASE, base)
    if expected.startswith("{"):
        pattern = json.loads(_without_bare_ellipses(expected))
        answer = json.loads(output)
        assert matches(pattern, answer), f"{step.command}\nREADME says: {expected}\ngot: {output}"
    else:
        assert _like(expected, output.strip()), f"{step.command}\nREADME: {expected}\ngot: {output}"


class Reader:
    """Someone following the README: a shell, the values they copied, a working directory."""

    def __init__(self, workdir: Path, port: int, token: str, database: Path) -> None:
        self.workdir = workdir
        self.base = f"http://127.0.0.1:{port}"
        self.copied = {"T": token}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),  # no ~/.curlrc of ours changes what curl does
            "TOUCHPOINT_DATABASE": str(database),
            "TOUCHPOINT_SECRET_KEY": SECRET,
        }

    def fill_in(self, command: str) -> str:
        command = command.replace(README_BASE, self.base).replace(".venv/bin/", f"{BIN}/")

        def placeholder(match: re.Match) -> str:
            name = match.group(1)
            key = "tp_cid" if name.startswith("tp_cid") else name
            assert key in self.copied, f"the README asks for <{name}>, never given before"
            return self.copied[key]

        return re.sub(r"<([a-z_][^<>]*)>", placeholder, command)

    def run(self, step: Step) -> subprocess.CompletedProcess:
        """Run one statement; an assignment (export T=tpa_..., API=...) is remembered."""
        assignment = re.fullmatch(r"(?:export\s+)?([A-Za-z_]\w*)=(\S*)\s*(?:#.*)?", step.command)
        if assignment:
            name, value = assignment.groups()
            if name not in self.copied:  # T=tpa_... is the token bootstrap printed
                self.copied[name] = self.fill_in(value)
            return subprocess.CompletedProcess(step.command, 0, "", "")
        result = subprocess.run(
            ["bash", "-c", self.fill_in(step.command)],
            env={**self.env, **self.copied},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.remember(result.stdout)
        return result

    def remember(self, output: str) -> None:
        try:
            answer = json.loads(output)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "token" in answer and "url" in answer:
            self.copied["token"] = answer["token"]
        if click := re.search(r"[?&]tp_cid=([\w-]+)", output):
            self.copied["tp_cid"] = click.group(1)

    def follow(self, block: str) -> dict[str, subprocess.CompletedProcess]:
        """Every command of a block (not `make`, which the fixture stood in for), checked."""
        results = {}
        for step in steps(block):
            if step.command.startswith("make "):
                continue
            result = self.run(step)
            assert result.returncode == 0, f"{step.command}\nexit {result.returncode}\n{result}"
            if step.expected:
                check_answer(step, result.stdout, self.base)
            for saved in re.findall(r"-o (\S+\.(?:svg|png))", step.command):
                content = (self.workdir / saved).read_bytes()
                assert content.startswith((b"<svg", b"<?xml", b"\x89PNG")), (saved, content[:80])
            results[step.command] = result
        return results


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    """`make run` in a temporary directory: bootstrap prints the token, gunicorn serves."""
    workdir = tmp_path_factory.mktemp("readme")
    database = workdir / "touchpoint.db"
    env = {"TOUCHPOINT_DATABASE": str(database), "TOUCHPOINT_SECRET_KEY": SECRET}
    started = subprocess.run(
        [str(BIN / "touchpoint"), "bootstrap", "--url", README_BASE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=workdir,
    )
    assert started.returncode == 0, started.stderr
    token = re.search(r"^\s+(tpa_\S+)$", started.stdout, re.MULTILINE).group(1)
    with gunicorn(env, workers=2) as port:
        yield Reader(workdir, port, token, database)


def test_the_walkthrough_runs_as_written_and_its_report_adds_up(reader):
    [walkthrough] = sh_blocks("A two-minute walkthrough")
    commands = [step.command for step in steps(walkthrough)]
    assert sum("curl" in c for c in commands) >= 7 and any("<token>" in c for c in commands)
    reader.follow(walkthrough)

    # The conversion example, for the click the walkthrough made, in the same currency.
    _, conversion = sh_blocks("Email links, leads and conversions")
    reader.follow(conversion)

    # The demo's two report commands give the same table, with both sales in one currency.
    [demo] = sh_blocks("Demo data: a full season in a minute")
    results = reader.follow(demo)
    [api] = [r for c, r in results.items() if c.startswith("curl")]
    [cli] = [r for c, r in results.items() if "touchpoint report" in c]
    rows = json.loads(api.stdout)["rows"]
    assert [(r["key"], r["revenue"]) for r in rows] == [("email", "498.00")]
    table = list(csv.DictReader(io.StringIO(cli.stdout)))
    assert [(r["key"], r["revenue"]) for r in table if r["key"] != "total"] == [("email", "498.00")]
    database = reader.env["TOUCHPOINT_DATABASE"]
    assert cli.stderr.strip().endswith(f"Read {database} (1 event).")


def test_the_recipients_upload_exits_non_zero_when_the_file_is_refused(reader):
    [upload, *_] = steps(sh_blocks("Email links, leads and conversions")[0])
    # The README's promise: "exit status N and merge.csv: <its header>", for both outcomes.
    promises = re.findall(r"exit status (\d+) and merge\.csv: (\S+)", " ".join(upload.comment))
    assert [code for code, _ in promises] == ["0", "22"]
    link = _a_link(reader)
    # $API is what the walkthrough set; this test must not depend on running after it.
    reader.copied.setdefault("API", f"{reader.base}/api/v1")
    command = upload.command.replace("/links/1/", f"/links/{link}/")
    lists = {
        "0": "email,name,tier\nann@example.com,Ann,gold\n",
        "22": "email,name\nann@example.com,Ann\n=1+1,Eve\n",
    }
    for code, header in promises:
        (reader.workdir / "list.csv").write_text(lists[code])
        (reader.workdir / "merge.csv").unlink(missing_ok=True)
        result = reader.run(Step(command))
        assert result.returncode == int(code), result
        merged = (reader.workdir / "merge.csv").read_text()
        assert _like(header, merged.splitlines()[0]), (header, merged)
    rows = list(csv.DictReader(io.StringIO(merged)))
    assert rows == [{"line": "3", "email": "'=1+1", "error": "invalid email '=1+1'"}]


def _a_link(reader: Reader) -> int:
    """A link of its own, so this test does not depend on the walkthrough's."""
    command = (
        f'curl -s -H "Authorization: Bearer $T" {reader.base}/api/v1/campaigns -d '
        """'{"name": "List", "channel": "email", "utm_source": "a", "utm_medium": "b"}'"""
    )
    campaign = json.loads(reader.run(Step(command)).stdout)
    command = (
        f'curl -s -H "Authorization: Bearer $T" {reader.base}/api/v1/links -d '
        f"""'{{"campaign_id": {campaign["id"]}, "destination": "https://shop.example.com/"}}'"""
    )
    return json.loads(reader.run(Step(command)).stdout)["id"]
