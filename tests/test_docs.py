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


def _release(version: str) -> tuple[int, ...]:
    """1.24 and 1.24.0 name the same release."""
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_the_lowest_tested_versions_are_the_declared_lower_bounds() -> None:
    # pyproject.toml's ">=" bounds are what pip lets a user install; scripts/lowest-versions.txt is what was tested
    # (docs/reliability.md, "Versions"). A bound raised or lowered without the other would claim an untested version.
    pins = {}
    for line in (REPO / "scripts" / "lowest-versions.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    text = (REPO / "pyproject.toml").read_text()
    bounds = dict(re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', text))
    bounds = {name.lower(): version for name, version in bounds.items()}
    assert bounds.pop("torch") == "2.5"  # pinned by scripts/test_other_versions.sh's argument, not the file
    for name, pinned in pins.items():
        assert name in bounds, f"{name} is pinned in scripts/lowest-versions.txt but has no lower bound"
        assert _release(pinned) == _release(bounds[name]), (
            f"{name}: tested at {pinned}, pyproject.toml allows >= {bounds[name]}"
        )
    for name in bounds.keys() - pins.keys():
        assert name in {"pytest", "pytest-xdist", "ruff", "mypy", "hypothesis", "setuptools", "tensorboard"}, (
            f"{name}'s lower bound is in no test of the lowest versions"
        )


def test_the_formats_table_says_what_outputs_keep() -> None:
    # docs/formats.md's "output keeps" columns against the round trips' own record of what each format keeps.
    from idc.batch import OUTPUT_FORMATS
    from idc.fuzzcases import FORMATS, KEEPS_ALPHA, KEEPS_DEPTH, KEEPS_GRAY

    rows = {}
    for line in (REPO / "docs" / "formats.md").read_text().splitlines():
        if found := re.match(r"\| [^|]*\(`([a-z]+)`\) \|", line):
            rows[found.group(1)] = [cell.strip() for cell in line.strip("|").split("|")]
    assert set(rows) == set(FORMATS) == set(OUTPUT_FORMATS) - {"same"}
    for column, keeps in ((2, KEEPS_DEPTH), (3, KEEPS_ALPHA), (4, KEEPS_GRAY)):
        said = {fmt for fmt, cells in rows.items() if cells[column].startswith("yes")}
        assert said == keeps, (column, said, keeps)


def test_the_tests_the_docs_name_exist() -> None:
    # docs/reliability.md and the others cite tests as `tests/file.py::test_name`, and further ones of the same file as
    # `::test_name`: each must be a test of that file, or a guarantee would point at nothing.
    missing = []
    for doc in DOCS:
        current = None
        for found in re.finditer(r"`(tests/[\w/]+\.py)?(::[\w\[\]\-.]+)?", doc.read_text()):
            path, name = found.group(1), found.group(2)
            if path:
                current = path
                if not (REPO / path).exists():
                    missing.append(f"{doc.name}: {path}")
            if name and current and (REPO / current).exists():
                test = name[2:].split("[")[0]
                if not re.search(rf"^(async )?def {re.escape(test)}\b", (REPO / current).read_text(), re.MULTILINE):
                    missing.append(f"{doc.name}: {current}::{test}")
    assert not missing, missing
