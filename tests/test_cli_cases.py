"""Command-line cases, one data file each: tests/cli_cases/NAME.case is a command, what it must exit
with and what it must print. They cover values, paths and specs that once crashed netcalc (exit 3),
hung it or made it grow without bound (issue 13): each must now exit 0, 1 or 2 with a clear
`error CODE:` message, never a traceback.

A case file:

    # why the case exists (the figures that make its expected output right)
    run: summary lstm-classifier-t --set T={7*5000}
    stdin: specs/typo.yaml          (optional: a file fed to standard input)
    exit: 2
    coded: no                       (optional: an exit 2 whose message has no E-code; every
                                     refusal now has one, so no case uses it)
    stdout has:                     (optional: text that must appear in stdout, a line each)
    lstm-classifier-t · ...
    stderr:                         (the whole of stderr, line by line)
    --set: error E107: ...

`run:` is split as a shell would; `{C*N}` stands for the character C written N times; in stderr,
`{bundled}` stands for the names of the bundled specs (specs/*.yaml, sorted, comma-separated). Each case
runs in a fresh folder holding specs/ (tests/cli_cases/specs) and fixtures: pipe.yaml (a named pipe
no one writes to), loop.yaml (a symbolic link to itself), dangling.yaml (a link to nothing),
folder/ (a directory), afile (a regular file), spec.yaml (a copy of specs/seq.yaml, which a case
may write over) and link.yaml (a link to it). A case must finish well within TIMEOUT: a run
that blocks (on a pipe) or expands without end fails by timing out, not by a measured duration.

`pytest --update-golden` rewrites the stderr sections from what netcalc prints: review the diff.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from cli_run import run_cli

CASES_DIR = Path(__file__).resolve().parent / "cli_cases"
CASES = sorted(p.stem for p in CASES_DIR.glob("*.case"))
TIMEOUT = 60  # seconds: far above any case (each takes about a second), only there to stop a hang
REPEAT = re.compile(r"\{(.)\*(\d+)\}")
BUNDLED = ", ".join(sorted(p.stem for p in (CASES_DIR.parents[1] / "specs").glob("*.yaml")))


def parse(text: str) -> dict:
    case: dict = {"comment": [], "stdout has": [], "stderr": None}
    section = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if section is None and line.startswith("#"):
            case["comment"].append(line)
        elif key in ("run", "stdin", "exit", "coded") and section is None:
            case[key] = value.strip()
        elif line in ("stdout has:", "stderr:"):
            section = line[:-1]
            if section == "stderr":
                case["stderr"] = []
        elif section is not None:
            case[section].append(line)
        elif line.strip():
            raise AssertionError(f"cannot read the line {line!r}")
    assert "run" in case and "exit" in case, "a case needs run: and exit:"
    return case


def expand(word: str) -> str:
    return REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), word)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "specs").symlink_to(CASES_DIR / "specs")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "dangling.yaml").symlink_to("nowhere.yaml")
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "spec.yaml").write_bytes((CASES_DIR / "specs" / "seq.yaml").read_bytes())
    (tmp_path / "link.yaml").symlink_to("spec.yaml")
    return tmp_path


def test_there_are_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", CASES)
def test_cli_case(name, folder, update_golden):
    path = CASES_DIR / f"{name}.case"
    case = parse(path.read_text(encoding="utf-8"))
    args = [expand(w) for w in shlex.split(case["run"])]
    stdin = (CASES_DIR / case["stdin"]).read_bytes() if "stdin" in case else b""
    result = run_cli(args, cwd=folder, stdin=stdin, text=False, timeout=TIMEOUT)
    out, err = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    assert "Traceback" not in out + err and "internal error" not in out + err, err
    assert result.returncode in (0, 1, 2)
    assert result.returncode == int(case["exit"]), f"exit {result.returncode}\n{out}\n{err}"
    got = [line.rstrip() for line in err.rstrip("\n").splitlines()]
    if update_golden and case["stderr"] is not None:
        got = [line.replace(BUNDLED, "{bundled}") if BUNDLED in line else line for line in got]
        text = path.read_text(encoding="utf-8")
        head = text[: text.index("\nstderr:\n") + len("\nstderr:\n")]
        path.write_text(head + "".join(f"{line}\n" for line in got), encoding="utf-8")
        return
    if case["stderr"] is not None:
        case["stderr"] = [line.replace("{bundled}", BUNDLED) for line in case["stderr"]]
        assert got == case["stderr"], "\n".join(["got:", *got, "expected:", *case["stderr"]])
    for want in case["stdout has"]:
        assert want in out, f"{want!r} not in stdout:\n{out}"
    if int(case["exit"]) == 2 and case.get("coded") != "no":
        # every refusal has a code (lint's findings are on stdout)
        assert re.search(r"error:? E\d{3}: ", out + err), err
