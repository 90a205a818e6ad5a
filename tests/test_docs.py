"""The documentation stays true to the command: every `idc ...` line in README.md and docs/ parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from idc.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str]]:
    """(file:line, command) for every line of a ```bash block that runs `idc`, continuation lines joined."""
    found = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        in_block, i = False, 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("```"):
                in_block = line.strip() in {"```bash", "```sh", "```console"} if not in_block else False
            elif in_block:
                start = i
                while line.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line.rstrip()[:-1] + " " + lines[i].strip()
                for part in re.split(r"&&|;", line):
                    part = part.split(" #")[0].strip().removeprefix("$ ")
                    part = re.sub(r"^\.venv/bin/", "", part)
                    if part.startswith("idc "):
                        found.append((f"{doc.relative_to(REPO)}:{start + 1}", part))
            i += 1
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) >= 20 and any(where.startswith("README.md") for where, _ in COMMANDS)


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(command)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        if e.code != 0 or "--help" not in argv:  # `idc --help` exits 0 after printing
            pytest.fail(f"{where}: `{command}` does not parse: {capsys.readouterr().err.strip()}")
