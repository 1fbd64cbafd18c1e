"""Everyday command-line behaviour (issue 13): --version, shell completion, help texts that re-wrap,
NO_COLOR for the help too, suggestions for a mistyped bundled name, `netcalc specs` with descriptions,
tabs named in YAML errors, and the note for a file `lint --specs-only` skips."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import tomllib

import pytest
from cli_run import ROOT, default_env, netcalc, run_cli

COMMANDS = ["summary", "sizes", "explain", "signal", "verify", "lint", "schema", "diff", "specs"]
ANSI = re.compile(r"\x1b\[")


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    """netcalc in a subprocess with these environment variables on top of the current ones."""
    full = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
    full.pop("NETCALC_DEBUG", None)
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return run_cli(args, env=full)


# --------------------------------------------------------------------------- --version, completion


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    r = netcalc(flag)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == f"netcalc {_project_version()}\n"


def test_version_constant_is_the_project_version():
    """SARIF and the JSON output report netcalc.__version__ (no importlib.metadata on the summary path):
    it must be the version pyproject.toml gives the distribution, which --version prints."""
    import netcalc

    assert netcalc.__version__ == _project_version()


def test_version_with_a_command_is_still_the_version():
    r = netcalc("--version", "summary", "no-such-spec")  # eager: printed before the command runs
    assert r.returncode == 0 and r.stdout == f"netcalc {_project_version()}\n"


def test_completion_options_are_offered():
    out = netcalc("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


def test_completion_script_names_netcalc():
    """Also under `python -m netcalc` the script completes the `netcalc` command (prog_name)."""
    r = run("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert r.returncode == 0, r.stderr
    assert "_NETCALC_COMPLETE=complete_bash" in r.stdout
    assert re.search(r"complete .*-F _netcalc_completion netcalc$", r.stdout, re.M), r.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("netcalc su", "1", {"summary"}),
        ("netcalc s", "1", {"summary", "sizes", "signal", "schema", "specs"}),  # the commands that start with s
        ("netcalc summary --fo", "2", {"--format"}),
    ],
)
def test_completion_completes(words, cword, expected):
    """What the shell function asks for on <TAB>: the completions of the current word."""
    r = run(_NETCALC_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == expected


# --------------------------------------------------------------------------- help texts


def _description(text: str) -> list[list[str]]:
    """The paragraphs of a command's help text: the lines between the usage line and the first panel."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    paragraphs, current = [], []
    for line in lines[start:end]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(current)
            current = []
    return [*paragraphs, current] if current else paragraphs


def _assert_rewrapped(lines: list[str], width: int, where: str) -> None:
    """Every line break is one the wrapping made: the next line's first word did not fit."""
    for a, b in itertools.pairwise(lines):
        assert len(a) + 1 + len(b.split()[0]) > width, f"{where}: a line break after {a!r} (before {b!r})"


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_text_rewraps(command, columns):
    r = run(command, "--help", COLUMNS=str(columns))
    assert r.returncode == 0, r.stderr
    paragraphs = _description(r.stdout)
    assert paragraphs, r.stdout
    for lines in paragraphs:
        # rich pads the text with a space each side: `columns` − 2 for the words
        _assert_rewrapped(lines, columns - 2, f"netcalc {command} --help at {columns} columns")
    assert max(len(line) for line in r.stdout.splitlines()) <= columns


@pytest.mark.parametrize("columns", [80, 200])
def test_command_list_rewraps(columns):
    out = run("--help", COLUMNS=str(columns)).stdout.splitlines()
    start = next(i for i, line in enumerate(out) if "Commands" in line) + 1
    rows = [line for line in out[start:] if line.startswith("│")]
    text_col = len(rows[0]) - len(rows[0][2:].split(" ", 1)[1].lstrip())  # where the first help text starts
    entries: dict[str, list[str]] = {}
    name = ""
    for row in rows:
        head, cell = row[2:text_col].strip(), row[text_col:-1]
        name = head or name
        entries.setdefault(name, []).append(cell.strip())
    assert set(entries) == set(COMMANDS)
    for command, lines in entries.items():
        _assert_rewrapped(lines, len(rows[0]) - 1 - text_col - 1, f"netcalc --help, {command}, at {columns} columns")
    if columns == 200:  # every first paragraph is one sentence that fits
        assert all(len(lines) == 1 for lines in entries.values()), entries


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("summary", "netcalc summary [OPTIONS] {SPEC}"),
        ("explain", "netcalc explain [OPTIONS] {SPEC} {LAYER}"),
        ("lint", "netcalc lint [OPTIONS] {PATH...}"),
        ("diff", "netcalc diff [OPTIONS] {OLD} {NEW}"),
    ],
)
def test_usage_shows_metavars(command, usage):
    """Arguments in capitals (typer writes a required one in braces), and the program as `netcalc`
    also under `python -m netcalc`."""
    out = netcalc(command, "--help").stdout
    assert f"Usage: {usage}" in out, out


def test_missing_argument_names_the_metavar():
    r = netcalc("summary")
    assert r.returncode == 2 and "Missing argument 'SPEC'" in r.stderr, r.stderr


# --------------------------------------------------------------------------- NO_COLOR


@pytest.mark.parametrize("args", [["--help"], ["summary", "--help"], ["lint", "--help"], ["summary"]])
def test_no_color_also_for_help(args):
    """FORCE_COLOR makes typer draw the help (and a usage error) with colours even into a pipe; with
    NO_COLOR set as well there is no terminal escape at all, not even bold."""
    forced = run(*args, NO_COLOR=None, TERM="xterm-256color", FORCE_COLOR="1")
    assert ANSI.search(forced.stdout + forced.stderr), "colour was not forced: the test would prove nothing"
    plain = run(*args, NO_COLOR="1", TERM="xterm-256color", FORCE_COLOR="1")
    assert plain.returncode == forced.returncode
    assert not ANSI.search(plain.stdout + plain.stderr), plain.stdout + plain.stderr
    assert "Usage: netcalc" in plain.stdout + plain.stderr


# --------------------------------------------------------------------------- bundled names


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("lenet", None),  # nothing bundled is like it: the bundled names are listed instead
        ("alexnet-lit", ["alexnet-lite"]),
        ("vg16", ["vgg16"]),
        ("ResNet50", ["resnet50"]),
        ("mobilenet_v2", ["mobilenet-v2"]),
        ("unet", ["unet-small"]),  # the first part of one bundled name
        ("lstm", ["lstm-classifier-t", "lstm-lm-tied", "lstm-look-back", "lstm-look-back-pytorch"]),
        ("resnet", ["resnet18", "resnet34", "resnet50"]),  # a tie (ratio 12/14 each): the first three
    ],
)
def test_unknown_bundled_name(name, suggested):
    r = netcalc("summary", name)
    assert r.returncode == 2 and r.stdout == ""
    first, note = r.stderr.splitlines()[:2]
    if suggested is None:
        assert first == f"{name}: error E001: '{name}' is neither a file nor a bundled spec"
        assert note.strip() == "bundled specs: " + ", ".join(sorted(p.stem for p in (ROOT / "specs").glob("*.yaml")))
    else:
        quoted = [f"'{s}'" for s in suggested]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        assert first == f"{name}: error E001: '{name}' is neither a file nor a bundled spec (did you mean {listed}?)"
        assert note.strip() == "`netcalc specs` lists the bundled specs"


def _listing(columns: int) -> dict[str, str]:
    r = run("specs", COLUMNS=str(columns))
    assert r.returncode == 0 and r.stderr == ""
    out: dict[str, str] = {}
    name = ""
    for line in r.stdout.splitlines():
        assert len(line) <= columns, line
        if not line.startswith(" "):
            name, _, line = line.partition(" ")
        out[name] = (out.get(name, "") + " " + line.strip()).strip()
    return out


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_specs_lists_each_description(columns):
    """Every bundled spec with its own `description:` (read independently here, with PyYAML), wrapped to
    the terminal's width."""
    import yaml

    listed = _listing(columns)
    files = sorted((ROOT / "specs").glob("*.yaml"), key=lambda p: p.stem)
    assert list(listed) == [p.stem for p in files]
    for path in files:
        description = yaml.safe_load(path.read_text(encoding="utf-8")).get("description")
        assert isinstance(description, str) and description, f"{path.name} has no description"
        assert listed[path.stem] == " ".join(description.split())


def test_descriptions_give_the_parameters_the_zoo_checks():
    """A description that quotes a parameter count (`(25.6M parameters)`) rounds the count that
    test_zoo.py checks against the published one."""
    from netcalc import bundled
    from netcalc.analyze import analyze
    from netcalc.diagnostics import Diagnostics
    from netcalc.spec import load

    quoted = 0
    for name in bundled.names():
        m = re.search(r"\(([\d.]+)M parameters\)", bundled.description(bundled.find(name)))
        if not m:
            continue
        diags = Diagnostics()
        a = analyze(load(str(bundled.find(name)), diags), diags)
        decimals = len(m.group(1).partition(".")[2])
        assert f"{a.totals.params / 1e6:.{decimals}f}" == m.group(1), name
        quoted += 1
    assert quoted >= 16  # the torchvision and CIFAR ResNets, the VGGs, MobileNetV2


def test_description_falls_back_to_the_first_comment_sentence(tmp_path):
    from netcalc.bundled import description

    spec = tmp_path / "s.yaml"
    spec.write_text("# yaml-language-server: $schema=x.json\n# A tiny net for a test. Its second\n# sentence.\n"
                    "netcalc: 1\ninput: {shape: [4]}\nlayers: [{op: dense, units: 2}]\n")  # fmt: skip
    assert description(spec) == "A tiny net for a test."
    spec.write_text("# a comment\nnetcalc: 1\ndescription: 'quoted: with a colon'  # a comment\n")
    assert description(spec) == "quoted: with a colon"
    spec.write_text("netcalc: 1\ndescription: a plain text\n  continued here\nlayers: []\n")
    assert description(spec) == "a plain text continued here"
    spec.write_text("netcalc: 1\nlayers: []\n")
    assert description(spec) == ""


# --------------------------------------------------------------------------- tabs in YAML

TAB_CASES = {
    # text: (line, column) of the tab, whether libyaml takes it
    "layers:\n  - {op: conv2d,\tfilters: 8, kernel: 3}\n": (2, 17, True),  # between the items of a flow mapping
    "layers:\n  - {op: conv2d,\n\tfilters: 8, kernel: 3}\n": (3, 1, True),  # indenting a flow mapping's next line
    "layers: [\n\t{op: relu}]\n": (2, 1, True),  # inside a flow list
    "input:\n\t{shape: [3, 8, 8]}\n": (2, 1, False),  # indenting a flow-style value in block context
    "layers:\n\t- {op: relu}\n": (2, 1, False),  # block style
    "a:\n  b: 1\n\tc: 2\n": (3, 1, False),
}


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request, monkeypatch):
    """Both builds of PyYAML's safe loader: libyaml where installed, and the pure-Python one."""
    import yaml

    from netcalc import yamlsrc

    if request.param == "libyaml" and not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml here")
    monkeypatch.setattr(yamlsrc, "_FORCE_PURE_PYTHON", request.param == "pure-python")
    monkeypatch.setattr(yamlsrc, "_LOADER", None)
    yield request.param
    yamlsrc._LOADER = None


@pytest.mark.parametrize("text", list(TAB_CASES))
def test_a_tab_is_named(loader, text):
    """Where a loader refuses a tab, the error says "tab" and points at it. libyaml takes a tab anywhere
    inside a flow collection (as YAML 1.2 does) and refuses one that indents block context; PyYAML's
    pure-Python scanner refuses every one of these."""
    from netcalc.diagnostics import Diagnostics
    from netcalc.yamlsrc import parse_yaml

    line, col, libyaml_takes_it = TAB_CASES[text]
    diags = Diagnostics()
    root = parse_yaml(text, "t.yaml", diags)
    if loader == "libyaml" and libyaml_takes_it:
        assert root is not None and not diags.items, [d.format() for d in diags.items]
        return
    assert root is None
    [d] = diags.items
    assert d.code == "E003" and "tab" in d.message, d.message
    assert (d.loc.line, d.loc.col) == (line, col)
    indents = not text.split("\n")[line - 1][: col - 1].strip()
    assert ("indents" in d.message) == indents, d.message


# --------------------------------------------------------------------------- lint --specs-only

NET = "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 4}\n"


def _note(name: str) -> str:
    return (f"netcalc lint: note: {name} skipped (--specs-only): it has no top-level `netcalc:` key, "
            "so it is not a netcalc spec")  # fmt: skip


def test_specs_only_says_which_named_file_it_skips(tmp_path):
    (tmp_path / ".pre-commit-config.yaml").write_text("repos:\n  - repo: local\n", encoding="utf-8")
    (tmp_path / "net.yaml").write_text(NET, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yaml").write_text("a: 1\n", encoding="utf-8")
    r = netcalc("lint", ".pre-commit-config.yaml", "net.yaml", "--specs-only", cwd=tmp_path)
    assert r.returncode == 0  # a note, the exit code as without it
    assert r.stdout == "1 spec checked: 0 errors, 0 warnings\n"
    assert r.stderr.splitlines() == [_note(".pre-commit-config.yaml")]
    r = netcalc("lint", ".pre-commit-config.yaml", "--specs-only", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.splitlines() == [_note(".pre-commit-config.yaml")]
    assert r.stdout.startswith("{")  # the machine-readable output stays clean
    # found in a folder, not named: skipped in silence (a folder holds other YAML files as a matter of course)
    r = netcalc("lint", ".", "--specs-only", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "1 spec checked: 0 errors, 0 warnings\n"
    # named as well as found in its folder: named, so the note
    r = netcalc("lint", "sub", "sub/other.yaml", "--specs-only", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.splitlines() == [_note("sub/other.yaml")]


def test_specs_only_note_keeps_a_failing_exit_code(tmp_path):
    (tmp_path / "ci.yml").write_text("on: [push]\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(NET.replace("units: 4", "units: 0"), encoding="utf-8")
    r = netcalc("lint", "ci.yml", "bad.yaml", "--specs-only", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [_note("ci.yml")]
    assert "bad.yaml:4:" in r.stdout and "1 spec checked: 1 error" in r.stdout


def test_another_convention_changes_the_counting_only_and_the_header_says_so():
    # `resnet18 --convention keras` counts torchvision's ResNet-18 as Keras would (BatchNorm's moving
    # statistics as non-trainable parameters: 2·9,600/2 = 9,600 more), not Keras's own ResNet
    r = netcalc("summary", "resnet18", "--convention", "keras")
    head = r.stdout.splitlines()[0]
    assert "convention pytorch, counted as keras (the architecture is the spec's" in head, head
    assert "Total params                 11,699,112" in r.stdout  # 11,689,512 + 9,600
    assert "counted as" not in netcalc("summary", "resnet18").stdout.splitlines()[0]


# --------------------------------------------------------------------------- an output encoding without ×


ENCODED_RUNS = [
    ["summary", "alexnet-lite"],
    ["summary", "resnet20-cifar", "--format", "json"],
    ["sizes", "unet-small"],
    ["signal", "alexnet-lite"],
    ["explain", "alexnet-lite", "conv2d_1"],
    ["lint", "tests/readme/broken-cnn.yaml"],
    ["diff", "resnet18", "resnet34"],
    ["summary", "--help"],
]


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("args", ENCODED_RUNS, ids=[" ".join(a) for a in ENCODED_RUNS])
def test_an_output_encoding_without_the_tables_characters(encoding, args):
    # PYTHONIOENCODING=ascii made every table an internal error (UnicodeEncodeError on ×, │)
    env = {**default_env(), "PYTHONIOENCODING": encoding}
    r = run_cli(args, env=env, text=False)
    out, err = r.stdout.decode(encoding), r.stderr.decode(encoding)
    assert r.returncode == (1 if args[0] == "lint" else 0), err
    assert "internal error" not in err and out
    if encoding == "ascii":
        assert (out + err).isascii()
    if "json" in args:
        assert json.loads(out)["totals"]["params"] == 269_722  # ResNet-20, option A: He et al.'s "0.27M"


def test_the_ascii_spelling_of_a_table():
    # a shape's × as x, a child row's └ as +, the borders as - | +
    out = run("summary", "alexnet-lite", PYTHONIOENCODING="ascii").stdout
    assert "| conv2d_1    | conv2d    | 25x25x12     | 12x3x4x4     |     588 |" in out
    assert "+ relu" in out and out.splitlines()[4].startswith("+----")
    latin = run_cli(["summary", "alexnet-lite"], env={**default_env(), "PYTHONIOENCODING": "latin-1"}, text=False)
    assert "input 100×100×3 (hwc, float32)" in latin.stdout.decode("latin-1")  # Latin-1 holds × and ·
