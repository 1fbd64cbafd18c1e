"""Tables that fit the terminal, and CSV a machine can read (issue 13, "Everyday CLI").

Widths: the summary of every bundled spec at 60, 80 and 200 columns; signal on every bundled spec
but the model zoo (two ResNets stand for it: the others' names and cells are of the same kinds, and
their propagation takes seconds) and the four recurrent nets over long sequences (lstm-look-back
stands for them); `--compare` and verify on specs with long block-qualified names. A table line may never be wider than the width; the lines
under a table (totals, growth, findings) may run on. Layouts are worked out by hand from the cells'
widths (in the comments); numbers are never cut, and wrapping only moves text onto more lines.
CSV figures are computed by hand (in the comments) and read back with the csv module.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import textwrap

import pytest
from cli_run import ROOT, run_cli

from netcalc import bundled, render, render_formats, signal_render, table, verify_render
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import load
from netcalc.table import NAME_BREAKS, Drop, Style, Wrap, fit_columns, wrap_cell

WIDTHS = (60, 80, 200)
PLAIN = Style(False)

# nested blocks: names such as stage2.1.main.conv2d_1, an id of 44 characters
LONG_NAMES = """\
netcalc: 1
name: long-names
input: {shape: [3, 32, 32]}
blocks:
  branch:
    params: {filters: int, stride: 1}
    layers:
      - {op: conv2d, filters: $filters, kernel: 3, stride: $stride, padding: 1}
      - {op: batchnorm}
      - {op: relu}
  unit:
    params: {filters: int, stride: 1}
    layers:
      - {use: branch, filters: $filters, stride: $stride, id: main}
      - {op: shortcut, in: input, mode: B, filters: $filters, stride: $stride, id: projection_shortcut}
      - {op: add, in: [main, projection_shortcut]}
layers:
  - {use: unit, filters: 16, repeat: 2, id: stage1}
  - {use: unit, filters: 32, repeat: 2, first: {stride: 2}, id: stage2}
  - {op: global_avgpool2d}
  - {op: dense, units: 10, id: classifier_with_a_very_long_descriptive_name}
"""


@pytest.fixture(scope="module")
def long_names(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "long-names.yaml"
    path.write_text(LONG_NAMES, encoding="utf-8")
    return str(path)


_ANALYSES: dict = {}


def _analysis(spec: str):
    if spec not in _ANALYSES:
        d = Diagnostics()
        found = bundled.find(spec)
        graph = load(str(found) if found else spec, d)
        assert graph is not None, [x.format() for x in d.items]
        _ANALYSES[spec] = analyze(graph, d)
    return _ANALYSES[spec]


def _box_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def _plain_table_lines(text: str) -> list[str]:
    """A signal/verify table: the lines after the title up to the first blank line or `notes:`."""
    lines = text.splitlines()[1:]
    end = next(i for i, line in enumerate(lines) if line in ("", "notes:"))
    return lines[:end]


# ============================================================================= the layout helpers


def test_wrap_cell_cuts_only_after_break_characters():
    # a dot or an underscore, but not between either and a number: stage2.1. and conv2d_1 stay whole
    assert wrap_cell("stage2.1.main.conv2d_1", 10, NAME_BREAKS) == ["stage2.1.", "main.", "conv2d_1"]
    # the continuation is indented under the text after the tree marker (4 spaces + "└ " = 6)
    assert wrap_cell("    └ relu_of_a_long_name", 12, NAME_BREAKS) == [
        "    └ relu_", "      of_a_", "      long_", "      name",
    ]  # fmt: skip
    assert wrap_cell("1,179,648", 5, "· ") == ["1,179,648"]  # a number is never cut
    assert wrap_cell("2359296·⌊H/16⌋·⌊W/16⌋", 15, "· ") == ["2359296·⌊H/16⌋·", "⌊W/16⌋"]
    assert wrap_cell("10080·H·W + 3396·⌊H/16⌋", 12, "· ") == ["10080·H·W", "+ 3396·", "⌊H/16⌋"]
    assert wrap_cell("3×224×224", 4, "×") == ["3×", "224×", "224"]
    assert wrap_cell("short", 3, "") == ["short"]


def test_fit_columns_follows_the_plan():
    headers = ["a", "bb", "c"]
    rows = [["xxxx", "yy", "zzzzzz"]]
    natural = [4, 2, 6]  # 4 + 2 + 6 + 2 gaps of 2 = 16 wide
    plan = (Drop(2), Drop(0))
    assert fit_columns(headers, rows, 16, plan, {}, 2, 0, natural)[0] == [0, 1, 2]  # fits: nothing taken
    assert fit_columns(headers, rows, 15, plan, {}, 2, 0, natural)[0] == [0, 1]  # 4 + 2 + 2 = 8
    assert fit_columns(headers, rows, 7, plan, {}, 2, 0, natural)[0] == [1]
    assert fit_columns(headers, rows, 1, plan, {}, 2, 0, natural)[0] == [1]  # the plan is spent: runs on


def test_fit_columns_wraps_as_far_as_needed():
    headers, rows = ["name", "n"], [["stage2.1.main.conv2d_1", "7"]]
    natural = [22, 1]  # 22 + 2 + 1 = 25
    # at 14 the name column gets 14 − 2 − 1 = 11 (its longest piece, stage2.1., is 9)
    cols, widths = fit_columns(headers, rows, 14, (Wrap(0),), {0: NAME_BREAKS}, 2, 0, natural)
    assert cols == [0, 1] and widths == [11, 1]
    # not below the step's least, nor below the longest piece: the table then runs on
    assert fit_columns(headers, rows, 14, (Wrap(0, least=12),), {0: NAME_BREAKS}, 2, 0, natural)[1] == [12, 1]
    assert fit_columns(headers, rows, 5, (Wrap(0),), {0: NAME_BREAKS}, 2, 0, natural)[1] == [9, 1]
    # a header wraps at its spaces before any cell does: "output shape" over cells of 5 takes 6
    cols, widths = fit_columns(["output shape"], [["3×4×5"]], 8, (Wrap(),), {}, 2, 0, [12])
    assert widths == [8]
    cols, widths = fit_columns(["output shape"], [["3×4×5"]], 4, (Wrap(),), {}, 2, 0, [12])
    assert widths == [6]


def test_wrapping_only_moves_text(long_names):
    # every layer-column cell of every bundled spec (and the long names), wrapped to 10, 16 and 24:
    # the lines put back together are the cell (spaces aside), and no line is wider than the width
    # unless one piece is
    cells = set()
    for name in [*bundled.names(), long_names]:
        cells.update(c[1] for c, _ in render.view_rows(_analysis(name)))
    for cell in cells:
        for width in (10, 16, 24):
            lines = wrap_cell(cell, width, NAME_BREAKS)
            assert "".join(lines).replace(" ", "") == cell.replace(" ", ""), (cell, width)
            assert all(len(x) <= max(width, table._narrowest(cell, NAME_BREAKS)) for x in lines), (cell, width)


# ============================================================================= summary


def _header_names(text: str) -> list[str]:
    head = _box_lines(text)[1]
    return [h.strip() for h in head.strip("┃").split("┃")]


def test_alexnet_lite_summary_drops_columns_in_the_stated_order():
    # natural widths (the longest cell or header): # 2, layer 11 (maxpool2d_1), type 9, output shape 12,
    # weight shape 12, params 7 (180,300), MACs 9 (1,036,800), RF 2, jump 4, line 4: 72, plus 3 per
    # column and 1 = 103. Dropping line (4 + 3) leaves 96, jump 89, RF (2 + 3) 84, # 79; then type
    # (9 + 3) 67 and weight shape (12 + 3) 52
    a = _analysis("alexnet-lite")
    every = ["#", "layer", "type", "output shape", "weight shape", "params", "MACs", "RF", "jump", "line"]
    assert _header_names(render.render_table(a, PLAIN, width=103)) == every
    assert _header_names(render.render_table(a, PLAIN, width=102)) == every[:-1]
    assert _header_names(render.render_table(a, PLAIN, width=84)) == every[:-3]
    assert _header_names(render.render_table(a, PLAIN, width=83)) == every[1:-3]
    assert _header_names(render.render_table(a, PLAIN, width=80)) == every[1:-3]
    assert max(map(len, _box_lines(render.render_table(a, PLAIN, width=80)))) == 79
    # at 60: after type (67 > 60) weight shape goes too, even with its header wrapped (2 saved)
    assert _header_names(render.render_table(a, PLAIN, width=60)) == ["layer", "output shape", "params", "MACs"]
    assert max(map(len, _box_lines(render.render_table(a, PLAIN, width=60)))) == 52


@pytest.mark.parametrize("name", [*bundled.names(), "long-names"])
def test_every_summary_fits(name, long_names):
    a = _analysis(long_names if name == "long-names" else name)
    natural = render.render_table(a, PLAIN)
    # the counts (a frozen layer's "9,408 frozen" may wrap after the number, never inside it)
    numbers = {c.split(" ")[0] for cells, _ in render.view_rows(a) for c in cells[5:7] if c and "·" not in c}
    for width in WIDTHS:
        text = render.render_table(a, PLAIN, width=width)
        table = _box_lines(text)
        assert max(map(len, table)) <= width, (name, width)
        body = "\n".join(table)
        assert all(n in body for n in numbers), (name, width)  # params and MACs are never cut
        if max(map(len, _box_lines(natural))) <= width:
            assert text == natural  # a table that fits is left as it is
    # the totals under the table are the same at every width
    assert text.splitlines()[-5:] == natural.splitlines()[-5:]


# ============================================================================= signal

SLOW_SIGNAL = {"lstm-classifier-t", "recurrent-cells", "stacked-gru", "text-bilstm", "lstm-look-back-pytorch"}
SIGNAL_SPECS = [n for n in bundled.names() if not n.startswith(("resnet", "vgg", "mobilenet")) and n not in SLOW_SIGNAL]
SIGNAL_SPECS += ["resnet18", "resnet20-cifar", "long-names"]
_REPORTS: dict = {}


def _report(spec: str, override=None):
    from netcalc.signal import advise, propagate

    key = (spec, override.describe() if override else None)
    if key not in _REPORTS:
        a = _analysis(spec)
        _REPORTS[key] = propagate(a, override)
        if override is None:
            advise(_REPORTS[key], 10.0, a.diags)
    return _REPORTS[key]


@pytest.mark.parametrize("name", SIGNAL_SPECS)
def test_every_signal_table_fits(name, long_names):
    report = _report(long_names if name == "long-names" else name)
    natural = signal_render.render_table(report, PLAIN, 10.0)
    header = _plain_table_lines(natural)[0]
    notes = {}  # the natural table's notes column, found by its header's position
    at = header.index("notes")
    for line in _plain_table_lines(natural)[2:]:
        if len(line) > at and line[at:].strip():
            notes[line.split()[0]] = line[at:].strip()
    for width in WIDTHS:
        text = signal_render.render_table(report, PLAIN, 10.0, width)
        assert max(map(len, _plain_table_lines(text))) <= width, (name, width)
        if max(map(len, _plain_table_lines(natural))) <= width:
            assert text == natural
        elif notes:  # the notes column went: every note is listed under the table
            listed = text.split("\nnotes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
            assert listed == [f"  {k}: {v}" for k, v in notes.items()], (name, width)


def test_signal_at_80_keeps_rms_x_and_drops_op():
    # residual-blocks without the notes, the two bars and rms g: layer 18 (global_avgpool2d_1), op 16,
    # E[x²] forward 13, rms x 6 ("0.5653"), gain 7, tag 3, E[g²] backward 14, tag 3 = 80, + 7 gaps of 2 =
    # 94 > 80; the headers wrapped ("E[x²]" / "forward": 7) save 6 and 6: 82, still > 80; op goes:
    # 64 + 6 gaps of 2 = 76, which fits with the headers whole again
    text = signal_render.render_table(_report("residual-blocks"), PLAIN, 10.0, 80)
    head = _plain_table_lines(text)[:2]
    assert head[0].split() == ["layer", "E[x²]", "forward", "rms", "x", "gain", "tag", "E[g²]", "backward", "tag"]
    assert head[1].startswith("─")
    assert len(head[0]) == 76  # the rows end in a tag of 1 or 2 letters (the lines are stripped)
    assert "notes:\n  conv2d_5: bias 9%\n" in text
    assert "\nrms x: √E[x²], a value's typical magnitude (tagged as its second moment).\n" in text
    # the rms column is the root of the E[x²] beside it: conv2d_1 0.3196 → 0.5653
    row = next(x for x in _plain_table_lines(text) if x.startswith("conv2d_1 "))
    assert row.split()[1:3] == ["0.3196", "0.5653"]


def test_compare_fits(long_names):
    from netcalc.initializers import parse_cli

    for spec in ("alexnet-lite", "plain30-xavier", long_names):
        overrides = [None, parse_cli("he_normal"), parse_cli("normal:std=0.01")]
        reports = [_report(spec, o) for o in overrides]
        labels = [o.describe() if o else "spec" for o in overrides]
        natural = signal_render.render_compare(reports, labels, PLAIN)
        for width in WIDTHS:
            text = signal_render.render_compare(reports, labels, PLAIN, width)
            assert max(map(len, text.splitlines()[1:])) <= width, (spec, width)
            if max(map(len, natural.splitlines()[1:])) <= width:
                assert text == natural
            # the headers, wrapped or not, still name the three initialisers
            lines = text.splitlines()
            rule = next(i for i, x in enumerate(lines) if x.startswith("─"))
            assert "".join("".join(lines[1:rule]).split()).count("fwd") == 3, (spec, width)


# ============================================================================= verify


def _checks(spec: str, scale: str | None = None, batch: int = 2, seeds: int = 2):
    from netcalc.executor.run import run
    from netcalc.signal import propagate
    from netcalc.verify import compare

    a = _analysis(spec)
    runs = [run(a.graph, batch=batch, seed=s, dtype="float64") for s in range(seeds)]
    if scale:  # the measured forward moment of one layer doubled: a disagreement
        for r in runs:
            r.nodes[scale].fwd.s2 = r.nodes[scale].fwd.s2 * 2.0
    return compare(a, propagate(a, batch=batch), runs)


META = {"name": "t", "batch": 2, "seeds": 2, "dtype": "float64", "mode": "train"}


def test_verify_tables_fit(long_names):
    for spec in ("alexnet-lite", "plain30-he", long_names):
        checks = _checks(spec)
        natural = verify_render.render_table(checks, META, PLAIN)
        for width in WIDTHS:
            text = verify_render.render_table(checks, META, PLAIN, width)
            assert max(map(len, _plain_table_lines(text))) <= width, (spec, width)
            if max(map(len, _plain_table_lines(natural))) <= width:
                assert text == natural


def test_a_disagreement_shows_at_every_width():
    # as tests/test_verify.py provokes one: 8 samples, 4 seeds, one measured moment doubled
    checks = _checks("plain30-he", scale="plain.1.dense_1", batch=8, seeds=4)
    for width in (None, *WIDTHS):
        text = verify_render.render_table(checks, META, PLAIN, width)
        assert "1 disagreement:\n  plain.1.dense_1: forward E[x²] predicted 2, measured " in text
    # with room for the marks the row says FAIL; at 60 the marks are gone (the list above remains)
    row = next(x for x in _plain_table_lines(verify_render.render_table(checks, META, PLAIN, 200))
               if x.startswith("plain.1.dense_1 "))  # fmt: skip
    assert "FAIL" in row
    assert "FAIL" not in "\n".join(_plain_table_lines(verify_render.render_table(checks, META, PLAIN, 60)))


# ============================================================================= the command line


def _run(*args: str, columns: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NETCALC_DEBUG")}
    env.update({"NO_COLOR": "1", "TERM": "dumb"})
    if columns is not None:
        env["COLUMNS"] = columns
    return run_cli(args, env=env)


def test_columns_fits_the_summary_and_signal(long_names):
    r = _run("summary", long_names, columns="60")
    assert r.returncode == 0, r.stderr
    assert max(map(len, _box_lines(r.stdout))) <= 60
    assert "classifier_with_a_very_" in r.stdout and "long_descriptive_name" in r.stdout
    r = _run("signal", long_names, columns="60")
    assert r.returncode == 0, r.stderr
    assert max(map(len, _plain_table_lines(r.stdout))) <= 60
    assert "stage2.1.main.conv2d_1" in r.stdout  # 22 characters: the name column keeps it whole


@pytest.mark.parametrize("columns", [None, "abc", "0", "-5", "9" * 5000])
def test_a_pipe_without_a_usable_columns_keeps_the_natural_width(columns):
    # today's behaviour (before tables were fitted): residual-blocks' table at its natural 129
    # columns, every column kept (as tests/golden/residual-blocks.txt had it at 120 columns)
    r = _run("summary", "residual-blocks", columns=columns)
    assert r.returncode == 0, r.stderr
    assert r.stdout == render.render_table(_analysis("residual-blocks"), PLAIN)
    assert max(map(len, _box_lines(r.stdout))) == 129 and "┃ line ┃" in r.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_a_terminal_without_columns_is_fitted_to_its_width():
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NETCALC_DEBUG")}
    env.update({"NO_COLOR": "1", "TERM": "dumb"})
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal 70 columns wide on stdin/stdout
        try:
            fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 70, 0, 0))
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "netcalc", "summary", "residual-blocks"], env)
        finally:
            os._exit(127)  # only if exec failed: never back into pytest
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = out.decode("utf-8").replace("\r\n", "\n")
    table = _box_lines(text)
    assert table and max(map(len, table)) <= 70


# ============================================================================= CSV

COLUMN_NAMES = ["index", "name", "type", "output_shape", "weight_shape", "params", "trainable_params",
                "non_trainable_params", "buffers", "macs", "flops", "receptive_field", "jump", "line"]  # fmt: skip
NUMERIC = ["index", "params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops", "line"]


def _csv(text: str) -> list[dict]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == COLUMN_NAMES
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_alexnet_lite_csv_by_hand():
    rows = _csv(render_formats.render_csv(_analysis("alexnet-lite")))
    by = {r["name"]: r for r in rows}
    conv2 = by["conv2d_2"]
    # 24 filters of 12 × 5 × 5 + 24 biases = 7,224; output 12×12×24 (hwc); MACs 12·12·24 · 12·5·5 = 1,036,800
    assert (conv2["params"], conv2["weight_shape"], conv2["output_shape"]) == ("7224", "24x12x5x5", "12x12x24")
    assert conv2["macs"] == "1036800" and conv2["index"] == "4" and conv2["line"] == "12"
    # receptive field: conv 4/4 → 4 (jump 4); pool 3/2 → 4 + 2·4 = 12 (jump 8); conv 5 → 12 + 4·8 = 44
    assert (conv2["receptive_field"], conv2["jump"]) == ("44x44", "8x8")
    assert by["maxpool2d_1"]["weight_shape"] == "" and by["maxpool2d_1"]["params"] == "0"  # a window is no weight
    assert by["flatten_1"]["receptive_field"] == "" and by["flatten_1"]["jump"] == ""
    total = rows[-1]
    # 588 + 7,224 + 180,300 + 90,300 + 903 = 279,315; MACs 360,000 + 1,036,800 + 180,000 + 90,000 + 900
    assert (total["index"], total["name"], total["params"], total["macs"]) == ("", "total", "279315", "1667700")
    assert total["trainable_params"] == "279315" and total["non_trainable_params"] == "0"
    assert len(rows) == 14  # 13 layers and the totals


def test_keras_counting_csv():
    # keras-mobile: BatchNorm over 32 channels, Keras counts γ, β trainable and the moving statistics
    # non-trainable: 4·32 = 128 parameters, 64 of them non-trainable; as PyTorch, 64 parameters + 64 buffers
    keras = {r["name"]: r for r in _csv(render_formats.render_csv(_analysis("keras-mobile")))}
    assert (keras["batchnorm_1"]["params"], keras["batchnorm_1"]["non_trainable_params"]) == ("128", "64")
    assert keras["conv2d_1"]["weight_shape"] == "3x3x3x32"  # Keras kernel layout (k, k, in, out)
    assert keras["total"]["non_trainable_params"] == "256" and keras["total"]["buffers"] == "0"


def test_every_csv_is_plain_numbers(long_names):
    for name in [*bundled.names(), long_names]:
        text = render_formats.render_csv(_analysis(name))
        assert "×" not in text and "—" not in text and "·" not in text, name
        for row in _csv(text):
            for key in NUMERIC:
                assert re.fullmatch(r"\d*", row[key]), (name, key, row[key])
            for key in ("output_shape", "weight_shape", "receptive_field", "jump"):
                assert re.fullmatch(r"(\d+(\.\d+)?(x\d+(\.\d+)?)*)?", row[key]), (name, key, row[key])


def test_symbolic_csv_has_the_values_at_the_defaults(tmp_path):
    # unet-small at its defaults H = W = 256: enc1.conv2d_1 is 32×256×256, MACs 864·256·256 = 56,623,104
    rows = {r["name"]: r for r in _csv(render_formats.render_csv(_analysis("unet-small")))}
    assert rows["enc1.conv2d_1"]["output_shape"] == "32x256x256" and rows["enc1.conv2d_1"]["macs"] == "56623104"
    # --set H=32,W=48: 32×32×48 and 864·32·48 = 1,327,104
    r = _run("summary", "unet-small", "--set", "H=32,W=48", "--format", "csv", columns=None)
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in _csv(r.stdout)}
    assert rows["enc1.conv2d_1"]["output_shape"] == "32x32x48" and rows["enc1.conv2d_1"]["macs"] == "1327104"
    # a symbol without a default: the figures that involve it are empty, the others numbers
    spec = tmp_path / "free.yaml"
    spec.write_text(
        textwrap.dedent("""\
        netcalc: 1
        input: {shape: [3, H, W]}
        layers:
          - {op: conv2d, filters: 8, kernel: 3, padding: 1}
          - {op: global_avgpool2d}
          - {op: dense, units: 10}
        """)
    )
    r = _run("summary", str(spec), "--format", "csv", columns=None)
    rows = {x["name"]: x for x in _csv(r.stdout)}
    # conv 8·3·3·3 + 8 = 224 parameters; its shape 8×H×W and MACs 216·H·W have no value
    assert rows["conv2d_1"]["params"] == "224" and rows["conv2d_1"]["output_shape"] == ""
    assert rows["conv2d_1"]["macs"] == "" and rows["dense_1"]["macs"] == "80"  # 8 · 10
    assert rows["total"]["params"] == "314" and rows["total"]["macs"] == ""  # 224 + 90
