"""Sequence and token inputs get a sequence layout, and every command works on every recurrent variant.

A 2-D input read by a recurrent layer (directly or after dropout/activations), or token ids read by
an embedding, is a sequence: without a written layout it takes the convention's sequence layout
(PyTorch tnf: nn.LSTM's default batch_first=False; Keras ntf), features last, and the header and
JSON say so. Issue 13 item 1: `signal`, `lint`, `verify` and `diff` crashed on such a PyTorch spec
(the layout defaulted to chw) while `summary` printed `20×16 (chw, float32)`.

The matrix: cell (rnn, lstm, gru) × variant (plain, bidirectional, num_layers 2, both) × convention
× return mode (return_sequences; return_state with a layer reading the state) × layout (none, ntf,
tnf) through summary (table and JSON), explain, sizes (T a symbol) and diff without the signal part;
the commands that run the signal rules (signal, lint, verify, diff with signal: about 0.3 s each per
recurrent layer) over cell × convention × mode × layout (none, given) for the plain variant and with
no layout for bidirectional + 2 layers. Commands run in-process (typer's CliRunner): a crash is an
exception there, never hidden behind exit 3.

Expected figures are worked out by hand from the frameworks' documented counting (docs/spec-format.md
"Counting conventions", PyTorch nn.LSTM/GRU/RNN and Keras layer docs), never read from netcalc:
per stacked layer l (input n_l = F, then D·U) and direction, gates·U·(n_l + U) weights plus biases —
PyTorch two vectors (b_ih, b_hh) per gate, Keras one (GRU with reset_after, the default: two).
MACs: T × Σ_l D·gates·U·(n_l + U). Integer figures are compared exactly.

Input shapes and layouts (issue 13): None/null in a shape (Keras's (None, 28, 28, 1)) is E103 with a
hint, never a size symbol called None; an E201 on an input that looks written in the other image
layout gets a note naming the layout meant. The error lines are data in tests/errors/; the notes,
which .expected files leave out, are checked here.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from conftest import run_spec
from typer.testing import CliRunner

from netcalc.cli import app

T, F, U, HEAD = 5, 3, 4, 2  # steps, features, units, the head's units
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = tuple(GATES)
VARIANTS = {  # name -> (directions D, stacked layers L)
    "plain": (1, 1),
    "bidirectional": (2, 1),
    "stacked": (1, 2),
    "bidirectional_stacked": (2, 2),
}
CONVENTIONS = ("pytorch", "keras")
MODES = ("sequences", "state")
SEQUENCE_DEFAULT = {"pytorch": "tnf", "keras": "ntf"}  # what netcalc picks when the spec says nothing
OTHER = {"pytorch": "ntf", "keras": "tnf"}  # a written layout that is not the default
ERRORS = Path(__file__).resolve().parent / "errors"

RUNNER = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "NETCALC_DEBUG": None})


def invoke(*args: str, codes: tuple = (0,)):
    """Run a command in-process; an exception inside netcalc fails the test with its traceback."""
    result = RUNNER.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    out = result.stdout + result.stderr
    assert "internal error" not in out and "Traceback" not in out, out
    assert result.exit_code in codes, f"{args}: exit {result.exit_code}\n{out}"
    return result


# ------------------------------------------------------------------------------ specs and hand figures


def state_name(cell: str, convention: str, dirs: int) -> str:
    """PyTorch returns h_n (and c_n) for all layers and directions; Keras one state per direction."""
    return "h_forward" if convention == "keras" and dirs == 2 else "h"


def spec_text(cell, variant, convention, mode, layout, symbolic=False, units=U) -> str:
    dirs, layers = VARIANTS[variant]
    shape = f"[T, {F}]" if symbolic else f"[{T}, {F}]"
    lines = ["netcalc: 1", f"convention: {convention}"]
    if symbolic:
        lines.append(f"symbols: {{T: {T}}}")
    lines.append(f"input: {{shape: {shape}" + (f", layout: {layout}" if layout else "") + "}")
    args = [f"op: {cell}", "id: rec", f"units: {units}"]
    args += ["bidirectional: true"] if dirs == 2 else []
    args += [f"num_layers: {layers}"] if layers > 1 else []
    if mode == "sequences":
        args.append("return_sequences: true")
        head = f"{{op: dense, id: head, units: {HEAD}}}"  # per time step, on the features
    else:
        args.append("return_state: true")
        lines.append("outputs: [rec, head]")
        head = f"{{op: dense, id: head, units: {HEAD}, in: rec.{state_name(cell, convention, dirs)}}}"
    lines += ["layers:", f"  - {{{', '.join(args)}}}", f"  - {head}"]
    return "\n".join(lines) + "\n"


def hand_params(cell, convention, dirs, layers, features=F, units=U) -> int:
    """Σ over stacked layers and directions of gates·u·(n_in + u) + the biases."""
    g = GATES[cell]
    bias_vectors = 2 if convention == "pytorch" or cell == "gru" else 1
    total = 0
    for layer in range(layers):
        n_in = features if layer == 0 else dirs * units
        total += dirs * (g * units * (n_in + units) + bias_vectors * g * units)
    return total


def hand_macs_per_step(cell, dirs, layers, features=F, units=U) -> int:
    g = GATES[cell]
    return sum(dirs * g * units * ((features if layer == 0 else dirs * units) + units) for layer in range(layers))


def expected(cell, variant, convention, mode) -> dict:
    dirs, layers = VARIANTS[variant]
    width = dirs * U
    if mode == "sequences":
        rec_shape, head_in, head_shape = [T, width], width, [T, HEAD]
        head_macs = T * width * HEAD
    elif convention == "pytorch":  # h_n: (layers·D, units)
        rec_shape, head_in, head_shape = [width], U, [layers * dirs, HEAD]
        head_macs = layers * dirs * U * HEAD
    else:  # Keras: (units) per direction
        rec_shape, head_in, head_shape = [width], U, [HEAD]
        head_macs = U * HEAD
    return {
        "rec_params": hand_params(cell, convention, dirs, layers),
        "rec_macs_step": hand_macs_per_step(cell, dirs, layers),
        "rec_shape": rec_shape,
        "head_params": head_in * HEAD + HEAD,
        "head_shape": head_shape,
        "head_macs": head_macs,
    }


def test_hand_formulas_on_worked_examples():
    """The hand formula above against counts worked out on paper, so that it cannot drift."""
    # PyTorch LSTM, F = 16, u = 8 (the spec of issue 13): 4·8·(16 + 8) + 8·8 = 768 + 64 = 832
    assert hand_params("lstm", "pytorch", 1, 1, features=16, units=8) == 832
    # Keras LSTM, F = 3, u = 4: 4·4·7 + 4·4 = 112 + 16 = 128; PyTorch: 112 + 32 = 144
    assert hand_params("lstm", "keras", 1, 1) == 128
    assert hand_params("lstm", "pytorch", 1, 1) == 144
    # GRU: 3·4·7 = 84 weights, + 6·4 = 24 biases in both (Keras reset_after) → 108
    assert hand_params("gru", "keras", 1, 1) == hand_params("gru", "pytorch", 1, 1) == 108
    # RNN: 4·7 = 28, + 4 (Keras) or + 8 (PyTorch)
    assert (hand_params("rnn", "keras", 1, 1), hand_params("rnn", "pytorch", 1, 1)) == (32, 36)
    # PyTorch bidirectional 2-layer LSTM: layer 1 144 per direction; layer 2 reads 2·4 = 8 features:
    # 4·4·(8 + 4) + 32 = 224 per direction → 2·(144 + 224) = 736
    assert hand_params("lstm", "pytorch", 2, 2) == 736
    # MACs per step of that one: 2·4·4·7 + 2·4·4·12 = 224 + 384 = 608
    assert hand_macs_per_step("lstm", 2, 2) == 608


# ------------------------------------------------------------------------------ the issue's spec


ISSUE_SPEC = """\
netcalc: 1
convention: pytorch
input: {shape: [20, 16]}
layers:
  - {op: lstm, units: 8, return_sequences: true}
"""


def test_the_issue_spec_runs_through_every_command(tmp_path):
    path = tmp_path / "issue.yaml"
    path.write_text(ISSUE_SPEC)
    head = invoke("summary", path).stdout.splitlines()[0]
    assert "input 20×16 (tnf, float32)" in head, head
    data = json.loads(invoke("summary", path, "--format", "json").stdout)
    assert data["spec"]["layout"] == "tnf"
    (row,) = data["layers"]
    # 4·8·(16 + 8) + 8·8 = 832 parameters; MACs 20 steps × 4·8·24 = 15,360; output every step: 20×8
    assert (row["params"], row["macs"], row["output_shape"]) == (832, 15_360, [20, 8])
    signal = json.loads(invoke("signal", path, "--format", "json").stdout)
    lstm = signal["layers"][1]
    # step 1, PyTorch init U(±1/√8), variance 1/24: q = 16·(1/24)·E[x²] + 2·(1/24) (b_ih, b_hh) = 18/24
    gates = {g["gate"]: g["pre_activation_second_moment"] for g in lstm["gates_step1"]}
    assert gates == pytest.approx({"i": 0.75, "f": 0.75, "g": 0.75, "o": 0.75}, rel=1e-12)
    invoke("lint", path)
    invoke("verify", path, "--batch", "4", "--seeds", "2")
    invoke("diff", path, path)


# ------------------------------------------------------------------------------ the matrix

# "given": a written layout other than the default (PyTorch ntf, Keras tnf); the default written
# out is compared with no layout in test_summary_explain_sizes_diff
CHEAP = list(itertools.product(CELLS, VARIANTS, CONVENTIONS, MODES, (None, "given")))
SIGNAL_PATH = [
    *itertools.product(CELLS, ("plain",), CONVENTIONS, MODES, (None, "given")),
    *itertools.product(CELLS, ("bidirectional_stacked",), CONVENTIONS, MODES, (None,)),
]


def case_id(case) -> str:
    return "-".join(str(part or "nolayout") for part in case)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", CHEAP, ids=case_id)
def test_summary_explain_sizes_diff(case, tmp_path):
    cell, variant, convention, mode, layout = case
    layout = OTHER[convention] if layout == "given" else None
    want = expected(cell, variant, convention, mode)
    shown = layout or SEQUENCE_DEFAULT[convention]
    path = write(tmp_path, "s", spec_text(cell, variant, convention, mode, layout))

    head = invoke("summary", path).stdout.splitlines()[0]
    assert f"input {T}×{F} ({shown}, float32)" in head, head
    assert "chw" not in head and "hwc" not in head

    data = json.loads(invoke("summary", path, "--format", "json").stdout)
    assert data["spec"]["layout"] == shown
    rows = {row["name"]: row for row in data["layers"]}
    rec, head_row = rows["rec"], rows["head"]
    assert rec["params"] == want["rec_params"]
    assert rec["macs"] == T * want["rec_macs_step"]
    assert rec["per_step"]["macs"] == want["rec_macs_step"]
    assert rec["output_shape"] == want["rec_shape"]
    assert (head_row["params"], head_row["output_shape"], head_row["macs"]) == (
        want["head_params"],
        want["head_shape"],
        want["head_macs"],
    )
    assert data["totals"]["params"] == want["rec_params"] + want["head_params"]

    text = invoke("explain", path, "rec").stdout
    out = "×".join(map(str, want["rec_shape"]))
    assert f"in: input {T}×{F} → out: {out}" in text
    assert f"parameters: {want['rec_params']:,} ({want['rec_params']:,} trainable)" in text

    # the same network with its sequence layout written out: nothing changes
    written = write(tmp_path, "w", spec_text(cell, variant, convention, mode, shown))
    same = json.loads(invoke("diff", path, written, "--no-signal", "--format", "json").stdout)
    assert same["layers"] == [] and same["totals"]["params"]["delta"] == 0

    # T as a symbol: MACs are linear in T, with the head's share
    symbolic = write(tmp_path, "t", spec_text(cell, variant, convention, mode, layout, symbolic=True))
    sizes = json.loads(invoke("sizes", symbolic, "--format", "json").stdout)
    (sym,) = sizes["symbols"]
    assert (sym["name"], sym["minimum"], sym["default_valid"]) == ("T", 1, True)
    if mode == "sequences":
        formula = f"{want['rec_macs_step'] + want['head_macs'] // T}*T"
    else:
        formula = f"{want['rec_macs_step']}*T + {want['head_macs']}"
    assert sizes["leading"]["macs_batch"]["formula"] == formula


@pytest.mark.parametrize("case", SIGNAL_PATH, ids=case_id)
def test_signal_lint_verify_diff(case, tmp_path):
    cell, variant, convention, mode, layout = case
    layout = OTHER[convention] if layout == "given" else None
    dirs, layers = VARIANTS[variant]
    path = write(tmp_path, "s", spec_text(cell, variant, convention, mode, layout))

    signal = json.loads(invoke("signal", path, "--format", "json").stdout)
    rows = {row["name"]: row for row in signal["layers"]}
    for name in ("rec", "head"):
        q = rows[name]["forward_second_moment"]
        assert 0 < q < 10, (name, q)
    if cell == "lstm" and convention == "pytorch":
        # step 1, every weight U(±1/√U), variance 1/(3U) = 1/12: q = F·(1/12)·E[x²] + 2·(1/12) = 5/12
        gates = [g["pre_activation_second_moment"] for g in rows["rec"]["gates_step1"]]
        assert gates == pytest.approx([5 / 12] * 4, rel=1e-12)
    if cell == "lstm" and convention == "keras":
        # glorot_uniform kernel (F, 4U): variance 2/(F + 4U) = 2/19; zero bias, the forget gate's at 1
        # (E[b²] = 1): q_i = q_g = q_o = 3·2/19 = 6/19, q_f = 6/19 + 1
        gates = {g["gate"]: g["pre_activation_second_moment"] for g in rows["rec"]["gates_step1"]}
        assert [gates[k] for k in "ifgo"] == pytest.approx([6 / 19, 6 / 19 + 1, 6 / 19, 6 / 19], rel=1e-12)

    lint = json.loads(invoke("lint", path, "--format", "json", codes=(0, 1)).stdout)
    assert lint["errors"] == 0, lint["findings"]

    verified = json.loads(
        invoke("verify", path, "--batch", "4", "--seeds", "2", "--format", "json", codes=(0, 1)).stdout
    )
    for row in verified["layers"]:  # exact figures: shapes, tensors and MACs measured by the executor
        assert row["output_shape"]["ok"] and row["tensors"]["ok"] and row["macs"]["ok"], row["name"]

    wider = write(tmp_path, "u", spec_text(cell, variant, convention, mode, layout, units=U + 1))
    changed = json.loads(invoke("diff", path, wider, "--format", "json").stdout)
    delta = hand_params(cell, convention, dirs, layers, units=U + 1) - hand_params(cell, convention, dirs, layers)
    by_name = {row["name"]: row for row in changed["layers"]}
    assert by_name["rec"]["delta"]["params"] == delta
    assert set(changed["signal"]) == {"forward_growth", "backward_growth"}


@pytest.mark.oracle
@pytest.mark.parametrize("case", list(itertools.product(CELLS, VARIANTS, MODES)), ids=case_id)
def test_pytorch_builds_what_the_default_layout_describes(case):
    """PyTorch itself (tests/torch_oracle.py: nn.RNN/LSTM/GRU built from the node's arguments, with
    batch_first=False for tnf) on a spec with no layout: shapes and parameter counts as by hand."""
    pytest.importorskip("torch")
    from torch_oracle import run_oracle

    from netcalc.diagnostics import Diagnostics
    from netcalc.spec import build
    from netcalc.yamlsrc import parse_yaml

    cell, variant, mode = case
    diags = Diagnostics()
    graph = build(parse_yaml(spec_text(cell, variant, "pytorch", mode, None), "t.yaml", diags), "t.yaml", diags)
    assert graph is not None and graph.layout == "tnf", [d.format() for d in diags.items]
    rows = run_oracle(graph).rows
    want = expected(cell, variant, "pytorch", mode)
    assert rows["rec"].ok and rows["head"].ok, (rows["rec"].error, rows["head"].error)
    assert (rows["rec"].params, list(rows["rec"].out_shape)) == (want["rec_params"], want["rec_shape"])
    assert (rows["head"].params, list(rows["head"].out_shape)) == (want["head_params"], want["head_shape"])
    assert rows["rec"].macs == T * want["rec_macs_step"]


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_same_signal_with_and_without_the_layout_written(convention, tmp_path):
    """The layout netcalc picks is the one a user would write: the signal figures are identical."""
    text = spec_text("gru", "bidirectional", convention, "sequences", None)
    given = spec_text("gru", "bidirectional", convention, "sequences", SEQUENCE_DEFAULT[convention])
    a = json.loads(invoke("signal", write(tmp_path, "a", text), "--format", "json").stdout)["layers"]
    b = json.loads(invoke("signal", write(tmp_path, "b", given), "--format", "json").stdout)["layers"]
    assert a == b


# ------------------------------------------------------------------------------ token ids, chains, errors


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_token_ids_are_a_sequence(convention, tmp_path):
    """`input 100 (hwc, int32)` was wrong: token ids read by an embedding take the sequence layout."""
    path = write(
        tmp_path,
        "ids",
        f"netcalc: 1\nconvention: {convention}\ninput: {{shape: [12], dtype: int32}}\nlayers:\n"
        "  - {op: embedding, vocab: 50, dim: 6}\n  - {op: dropout, rate: 0.1}\n  - {op: lstm, units: 4}\n",
    )
    head = invoke("summary", path).stdout.splitlines()[0]
    assert f"input 12 ({SEQUENCE_DEFAULT[convention]}, int32)" in head, head
    data = json.loads(invoke("summary", path, "--format", "json").stdout)
    rows = {row["name"]: row for row in data["layers"]}
    # embedding 50·6 = 300; LSTM on 6 features: 4·4·(6 + 4) = 160 + biases (PyTorch 32, Keras 16)
    assert rows["embedding_1"]["params"] == 300
    assert rows["lstm_1"]["params"] == (192 if convention == "pytorch" else 176)
    assert rows["lstm_1"]["output_shape"] == [4]
    invoke("signal", path)
    invoke("lint", path)
    invoke("verify", path, "--batch", "4", "--seeds", "2", codes=(0, 1))


@pytest.mark.parametrize(
    "before, layout",
    [
        (["{op: dropout, rate: 0.2}"], "tnf"),  # after layers that do not care about the layout
        (["{op: tanh}", "{op: dropout, rate: 0.2}"], "tnf"),
        (["{op: conv1d, filters: 6, kernel: 3}"], "chw"),  # a convolution decides: PyTorch's (C, L)
    ],
)
def test_what_reads_the_input_first_decides(before, layout):
    layers = "".join(f"  - {layer}\n" for layer in [*before, "{op: gru, units: 3}"])
    analysis, diags = run_spec(f"netcalc: 1\ninput: {{shape: [8, 5]}}\nlayers:\n{layers}")
    assert analysis is not None, [d.format() for d in diags.items]
    assert analysis.graph.layout == layout
    assert analysis.graph.channels_last == (layout != "chw")
    assert analysis.graph.inputs[0].layout_default


def test_a_channels_first_graph_with_a_recurrent_layer_runs_the_signal_rules(tmp_path):
    """conv1d on PyTorch's (C, L), then an LSTM reading (C_out, L_out) as (steps, features): the
    figures are the layers' own; the signal rule fits its per-step map to the layout's positions."""
    path = write(
        tmp_path,
        "cf",
        "netcalc: 1\ninput: {shape: [4, 20]}\nlayers:\n  - {op: conv1d, filters: 6, kernel: 3}\n"
        "  - {op: lstm, units: 8, return_sequences: true}\n  - {op: dense, units: 4}\n",
    )
    rows = {r["name"]: r for r in json.loads(invoke("summary", path, "--format", "json").stdout)["layers"]}
    # conv1d: 6·4·3 + 6 = 78, output 6×18; LSTM on 18 features: 4·8·(18 + 8) + 8·8 = 832 + 64 = 896
    assert (rows["conv1d_1"]["params"], rows["lstm_1"]["params"]) == (78, 896)
    assert rows["lstm_1"]["output_shape"] == [6, 8]
    invoke("signal", path)
    invoke("lint", path)
    invoke("verify", path, "--batch", "4", "--seeds", "2", codes=(0, 1))


def test_a_channels_first_layout_on_a_sequence_is_refused():
    analysis, diags = run_spec("netcalc: 1\ninput: {shape: [20, 16], layout: chw}\nlayers:\n  - {op: lstm, units: 8}\n")
    assert analysis is None
    (err,) = diags.errors
    assert err.code == "E105" and (err.loc.line, err.loc.col) == (2, 34)  # at 'chw'
    assert "layout 'chw' puts the channels first, but lstm_1 (lstm) reads 'input' as a sequence" in err.message
    assert "write layout: tnf" in err.message


def test_inputs_that_mix_families_name_their_layouts():
    """An image (chw by default) beside token ids (tnf): one graph has one layout family."""
    analysis, diags = run_spec(
        """
        netcalc: 1
        input:
          - {name: image, shape: [3, 8, 8]}
          - {name: ids, shape: [6], dtype: int64}
        outputs: [conv2d_1, embedding_1]
        layers:
          - {op: conv2d, filters: 4, kernel: 3}
          - {op: embedding, in: ids, vocab: 10, dim: 4}
        """
    )
    assert analysis is None
    (err,) = diags.errors
    assert err.code == "E105"
    assert "('image' chw, 'ids' tnf)" in err.message
    assert err.notes == ["an input read by a recurrent layer or an embedding is a sequence, features last (ntf or tnf)"]


# ------------------------------------------------------------------------------ None in shapes, layout notes


def error_case(name: str):
    """Run a tests/errors case as test_errors does; its stderr."""
    result = RUNNER.invoke(app, ["summary", str(ERRORS / f"{name}.yaml")])
    assert result.exit_code == 2, result.stdout + result.stderr
    return result.stderr


def test_none_is_never_a_size():
    """`[None, 28, 28, 1]` used to give `MACs per sample 7840·None`; now an error quoting it."""
    err = error_case("e103_shape_batch_axis_none")
    assert "'shape'[0] must be a positive integer, got 'None': the batch axis is not part of the shape; " in err
    assert "write [28, 28, 1]" in err
    assert "·None" not in err


def test_the_json_schema_refuses_none_in_a_shape():
    jsonschema = pytest.importorskip("jsonschema")
    from netcalc.json_schema import spec_schema

    validator = jsonschema.Draft202012Validator(spec_schema())
    spec = {"netcalc": 1, "input": {"shape": [28, 28, 1]}, "layers": [{"op": "flatten"}]}
    assert not list(validator.iter_errors(spec))
    for shape in (["None", 28, 28, 1], [None, 28, 28, 1], [28, "none", 1]):
        assert list(validator.iter_errors({**spec, "input": {"shape": shape}})), shape
    assert not list(validator.iter_errors({**spec, "input": {"shape": ["T", 28]}}))  # a symbol


@pytest.mark.parametrize(
    "case, note",
    [
        (
            "e201_channels_last_shape_in_chw",
            "the input's layout is chw (pytorch's default: no layout is written); a shape [28, 28, 1] looks "
            "channels-last: did you mean layout: hwc?",
        ),
        (
            "e201_channels_first_shape_in_hwc",
            "the input's layout is hwc; a shape [3, 32, 32] looks channels-first: did you mean layout: chw?",
        ),
    ],
)
def test_a_channel_axis_in_the_wrong_place_gets_a_layout_note(case, note):
    err = error_case(case)
    notes = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert note in notes, err


def test_no_layout_note_when_the_shape_does_not_look_swapped():
    """[3, 8, 8] under chw is channels first already: a too-large kernel is only the E201."""
    _, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [3, 8, 8]}
        layers:
          - {op: conv2d, filters: 4, kernel: 9}
        """
    )
    (err,) = diags.errors
    assert err.code == "E201"
    assert not any(re.search("did you mean layout", n) for n in err.notes), err.notes
