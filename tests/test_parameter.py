"""Free parameters (`parameter`): a learned tensor outside any layer, a source read by merges.

Figures by hand: the tensor is shape's product, named after the node (the memo of identical layers
must not give a repetition the first one's name), frozen and shared as any weight, no activation
memory, its second moment from its initialiser, and its gradient the sum over the batch (and over
every reader and every use) of what arrives, against finite differences of the whole network."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
from cli_run import netcalc
from conftest import run_spec

from netcalc.signal import propagate

TOKENS = """
netcalc: 1
convention: {convention}
input: {{shape: [5, 8], layout: {layout}}}
layers:
  - {{op: parameter, shape: [1, 8], id: cls{cls}}}
  - {{op: concat, in: [cls, input], axis: 0, id: tokens}}
  - {{op: parameter, shape: [6, 8], init: {{name: normal, std: 0.02}}, id: pos}}
  - {{op: add, in: [tokens, pos], id: out}}
"""


def _analysis(text: str, convention: str | None = None, batch: int = 1):
    a, diags = run_spec(text, convention=convention, batch=batch)
    assert a is not None, [d.format() for d in diags.items]
    return a


def _tokens(convention: str = "pytorch", layout: str = "chw", cls: str = "") -> str:
    return TOKENS.format(convention=convention, layout=layout, cls=cls)


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_a_class_token_and_a_position_table_by_hand(convention):
    a = _analysis(_tokens(convention, "ntf" if convention == "keras" else "chw"))
    rows = {r.node.name: r for r in a.rows}
    # cls 1·8 = 8, pos 6·8 = 48: named after the layer in both conventions (state_dict key, add_weight name)
    assert [(t.name, t.shape, t.trainable, t.kind) for t in rows["cls"].tensors] == [("cls", (1, 8), True, "param")]
    assert [(t.name, t.shape) for t in rows["pos"].tensors] == [("pos", (6, 8))]
    assert (rows["tokens"].out_shape, rows["out"].out_shape) == ((6, 8), (6, 8))
    assert (a.totals.params, a.totals.trainable_params, a.totals.macs) == (56, 56, 0)
    # FLOPs: the add's 6·8 = 48 only (the parameters compute nothing, the concat places)
    assert a.totals.flops == 48
    # activations: the concat's and the add's 48 elements each, the parameters none: 96·4 bytes at batch 3
    a3 = _analysis(_tokens(convention, "ntf" if convention == "keras" else "chw"), batch=3)
    assert a3.totals.activation_elements == 96 and a3.totals.activation_bytes == 3 * 96 * 4


def test_a_parameter_reads_no_input():
    a, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [4]}
        layers:
          - {op: parameter, shape: [4], in: input}
        """
    )
    assert a is None
    (e,) = diags.errors
    assert e.code == "E115" and "parameter reads no input" in e.message and (e.loc.line, e.loc.col) == (5, 37)


def test_each_repetition_of_a_block_names_its_own_tensor():
    """Two identical parameters (same shape and init) in a repeated block: the memo gives the second
    the first's figures, never its name; LayerScale γ of 4 channels, [4, 1, 1] against 4×3×3."""
    a = _analysis(
        """
        netcalc: 1
        input: {shape: [4, 3, 3], layout: chw}
        blocks:
          scaled:
            layers:
              - {op: conv2d, filters: 4, kernel: 3, padding: 1, id: conv}
              - {op: parameter, shape: [4, 1, 1], init: {name: constant, value: 1.0e-6}, id: gamma}
              - {op: multiply, in: [conv, gamma], id: scaled}
              - {op: add, in: [input, scaled]}
        layers:
          - {use: scaled, repeat: 2, id: s}
        """
    )
    gammas = [r for r in a.rows if r.node.op == "parameter"]
    assert [[t.name for t in r.tensors] for r in gammas] == [["s.1.gamma"], ["s.2.gamma"]]
    # conv 4·4·9 + 4 = 148 and γ 4, twice: 304
    assert a.totals.params == 2 * (148 + 4) == 304


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_a_frozen_parameter_is_non_trainable(convention):
    a = _analysis(_tokens(convention, "ntf" if convention == "keras" else "chw").replace(
        "id: cls}", "id: cls, trainable: false}"))  # fmt: skip
    cls = next(r for r in a.rows if r.node.name == "cls")
    assert [(t.name, t.trainable) for t in cls.tensors] == [("cls", False)]
    assert (a.totals.params, a.totals.trainable_params, a.totals.frozen_params) == (56, 48, 8)
    from netcalc.executor.run import run

    m = run(a.graph, batch=2, seed=0)
    assert m.nodes["cls"].tensors[0]["trainable"] is False and m.nodes["cls"].trainable == 0
    assert m.params == 56


SHARED = """
netcalc: 1
input: {shape: [3, 4], layout: chw}
layers:
  - {op: parameter, shape: [1, 4], init: {name: normal, std: 1.0}, id: a}
  - {op: add, in: [input, a], id: s}
  - {op: parameter, shares: a, id: b}
  - {op: multiply, in: [s, b], id: y}
"""


def test_a_parameter_shared_is_counted_once_and_named_after_its_owner():
    a = _analysis(SHARED)
    b = next(r for r in a.rows if r.node.name == "b")
    assert [(t.name, t.shape, t.kind) for t in b.tensors] == [("a", (1, 4), "shared")]
    assert (b.params, a.totals.params) == (0, 4)
    assert b.node.args["shape"] == (1, 4)  # the owner's arguments
    # writing another shape on the sharing layer is E122 (its arguments are the owner's)
    bad, diags = run_spec(SHARED.replace("shares: a, id: b", "shares: a, shape: [2, 4], id: b"))
    assert bad is None and [d.code for d in diags.errors] == ["E122"]


def _graph_loss(graph, layers, xs: dict, g: np.ndarray, n: int) -> float:
    values = dict(xs)
    for node in graph.nodes:
        layer = layers[node.name]
        layer.batch = n
        values[node.name], _ = layer.forward([values[name] for name in node.inputs])
    return float((values[graph.outputs[0]] * g).sum())


def _graph_backward(graph, layers, g: np.ndarray) -> None:
    grads = {graph.outputs[0]: g}
    for node in reversed(graph.nodes):
        dy = grads.pop(node.name, None)
        if dy is None:
            continue
        for name, dx in zip(node.inputs, layers[node.name].backward(dy, {}), strict=True):
            grads[name] = dx if name not in grads else grads[name] + dx


def test_the_gradient_of_a_shared_broadcast_parameter_against_finite_differences():
    """y = (x + a)·a over a batch of 3 and 3 rows: a (1, 4) is broadcast over the rows and the batch
    and read twice (its own add, the sharing multiply), dL/da = Σ over samples and rows of
    g·(x + 2a): the executor's `weight_grads` against central differences of the network's loss."""
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, weight_grads

    a = _analysis(SHARED)
    graph = a.graph
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    assert layers["b"].params["a"] is layers["a"].params["a"]  # the owner's very array
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 3, 4))
    g = rng.standard_normal((3, 3, 4))
    _graph_loss(graph, layers, {"input": x}, g, 3)
    _graph_backward(graph, layers, g)
    grads = weight_grads(graph, layers)
    assert set(grads) == {("a", "a")}
    p = layers["a"].params["a"]
    numeric = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        keep = p[idx]
        p[idx] = keep + 1e-6
        up = _graph_loss(graph, layers, {"input": x}, g, 3)
        p[idx] = keep - 1e-6
        down = _graph_loss(graph, layers, {"input": x}, g, 3)
        p[idx] = keep
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(grads[("a", "a")], numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(numeric, (g * (x + 2 * p)).sum(axis=(0, 1), keepdims=True)[0], rtol=1e-6)


def _sig(text: str, name: str, convention: str | None = None):
    report = propagate(_analysis(text, convention=convention))
    return next(s for s in report.layers if s.node.name == name)


@pytest.mark.parametrize(
    ("init", "q", "mu", "mfrac"),
    [
        ("zeros", 0.0, 0.0, 0.0),
        ("ones", 1.0, 1.0, 1.0),
        ("{name: normal, std: 0.02}", 4e-4, 0.0, 1 / 8),  # v/P over q = v: P = 8 positions per channel
        ("{name: constant, value: 1.0e-6}", 1e-12, 1e-6, 1.0),
        ("{name: normal, mean: 1.0, std: 2.0}", 5.0, 1.0, (1 + 4 / 8) / 5),
    ],
)
def test_the_second_moment_comes_from_the_initialiser(init, q, mu, mfrac):
    """A (3, 8) table under chw: 3 channels of 8 positions, each element drawn with mean m and
    variance v: q = m² + v, a channel's squared mean m² + v/8."""
    text = f"""
    netcalc: 1
    input: {{shape: [3, 8], layout: chw}}
    layers:
      - {{op: parameter, shape: [3, 8], init: {init}, id: p}}
      - {{op: add, in: [input, p]}}
    """
    s = _sig(text, "p")
    assert s.fwd_tag == "E"
    assert math.isclose(s.q, q, rel_tol=1e-12, abs_tol=0) and math.isclose(s.out.mu, mu, abs_tol=1e-15)
    assert math.isclose(s.out.mfrac, mfrac, rel_tol=1e-12, abs_tol=0)
    assert s.info.init is None  # not a weighted layer: the growth is measured between weighted layers


def test_the_defaults_are_zeros_in_pytorch_and_glorot_uniform_in_keras():
    text = """
    netcalc: 1
    convention: {}
    input: {{shape: [6, 8], layout: ntf}}
    layers:
      - {{op: parameter, shape: [6, 8], id: p}}
      - {{op: add, in: [input, p]}}
    """
    assert _sig(text.format("pytorch"), "p").q == 0.0
    # Keras glorot_uniform on (6, 8): fan_in 6, fan_out 8, Var = 2/(6 + 8) = 1/7
    assert math.isclose(_sig(text.format("keras"), "p").q, 1 / 7)


def test_verify_agrees_on_a_class_token_and_a_position_table(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(_tokens().replace("id: cls}", "init: ones, id: cls}"), encoding="utf-8")
    r = netcalc("verify", str(path), "--seeds", "2", "--batch", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "everything agrees" in r.stdout


def test_json_explain_and_diff_show_the_tensor(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(_tokens(), encoding="utf-8")
    doc = json.loads(netcalc("summary", str(path), "--format", "json").stdout)
    pos = next(layer for layer in doc["layers"] if layer["name"] == "pos")
    assert pos["inputs"] == [] and pos["tensors"] == [
        {"name": "pos", "shape": [6, 8], "count": 48, "trainable": True, "kind": "param"}
    ]
    explained = netcalc("explain", str(path), "pos").stdout
    assert "in: none (a source: it reads no tensor) → out: 6×8" in explained
    assert "state_dict key 'pos'" in explained and "add_weight(name='pos', shape=(6, 8))" in explained
    # without the position table: the diff adds its 48 parameters and no output memory (0 B)
    old = tmp_path / "old.yaml"
    old.write_text(_tokens().split("  - {op: parameter, shape: [6, 8]")[0], encoding="utf-8")
    d = json.loads(netcalc("diff", str(old), str(path), "--format", "json").stdout)
    assert d["totals"]["params"]["delta"] == 48
    added = {c["name"]: c for c in d["layers"]}
    assert added["pos"]["status"] == "added" and added["pos"]["new"]["output_bytes"] == 0


LAYERSCALE_IF = """
netcalc: 1
input: {shape: [16, 8, 8], layout: chw}
blocks:
  ls:
    params: {scale: true}
    layers:
      - {op: conv2d, filters: 16, kernel: 3, padding: 1, id: c}
      - {op: parameter, shape: [16, 1, 1], init: {name: constant, value: 1.0e-6}, id: g, if: $scale}
      - {op: multiply, in: [c, g], id: m, if: $scale}
      - {op: add, in: [input, m]}
layers:
  - {use: ls}
  - {use: ls, scale: false}
"""


def test_a_layerscale_left_out_by_if_passes_on_what_it_scaled():
    """A left-out parameter stands for no tensor: the multiply of [c, g] left out with it passes on c,
    so the residual add reads [input, c]. Params: conv 16·16·9 + 16 = 2,320 twice, γ 16 once: 4,656."""
    a = _analysis(LAYERSCALE_IF)
    adds = [r for r in a.rows if r.node.op == "add"]
    assert [r.node.inputs for r in adds] == [["input", "ls_1.m"], ["ls_1.add_1", "ls_2.c"]]
    assert a.totals.params == 2 * 2_320 + 16 == 4_656


def test_naming_a_left_out_parameter_is_an_error():
    _, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [5, 8], layout: chw}
        layers:
          - {op: dense, units: 8, id: d}
          - {op: parameter, shape: [5, 8], id: pos, if: false}
          - {op: add, in: [d, pos]}
        """
    )
    (e,) = diags.errors
    assert e.code == "E113" and "a source (a free parameter) that reads nothing" in e.message


def test_a_position_table_of_symbolic_length(tmp_path):
    """shape: [T, 64] with T a symbol: 64·T parameters, 12,608 at T = 197, and no activation."""
    path = tmp_path / "pos.yaml"
    path.write_text(
        textwrap.dedent(
            """
            netcalc: 1
            symbols: {T: {default: 197}}
            input: {shape: [T, 64], layout: ntf}
            layers:
              - {op: parameter, shape: [T, 64], id: pos}
              - {op: add, in: [input, pos]}
            """
        ),
        encoding="utf-8",
    )
    totals = json.loads(netcalc("summary", str(path), "--format", "json").stdout)["totals"]
    assert (totals["params"], totals["params_value"]) == ("64*T", 64 * 197) == ("64*T", 12_608)
    # activations: the add's 64·T elements of 4 bytes only, 256·T
    assert (totals["activation_bytes"], totals["activation_bytes_value"]) == ("256*T", 256 * 197)
