"""Block expressions that read the block's input: `${in.channels // 2}`, `in.shape[-1]` (issue 17,
item 7.2). Every figure is worked out by hand in the test's comments."""

from __future__ import annotations

import textwrap

from conftest import run_spec

from netcalc.analyze import analyze
from netcalc.blocks import BlockInput, ExprError, evaluate, reads_input
from netcalc.diagnostics import Diagnostics
from netcalc.spec import build, parse_yaml

DENSE = """
netcalc: 1
input: {{shape: {shape}, layout: {layout}}}
defaults: {{conv2d: {{bias: false}}}}
blocks:
  dense_layer:
    params: {{growth: int}}
    layers:
      - {{op: conv2d, filters: $growth, kernel: 3, padding: 1, id: new}}
      - {{op: concat, in: [input, new]}}
  transition:
    layers:
      - {{op: conv2d, filters: "${{in.channels // 2}}", kernel: 1, id: squeeze}}
      - {{op: avgpool2d, kernel: 2, stride: 2}}
layers:
  - {{use: dense_layer, growth: 4, repeat: 3, id: dense}}
  - {{use: transition, id: trans}}
"""


def _ok(text: str):
    a, diags = run_spec(text)
    assert a is not None and a.ok, [d.format() for d in diags.items]
    return a


def _row(a, name: str):
    return next(r for r in a.rows if r.node.name == name)


def test_transition_halves_the_channels_a_dense_block_grew():
    """8 channels + 3 layers of growth 4 = 20 → the transition's 1×1 conv has 20 // 2 = 10 filters:
    weight 10·20 = 200, MACs 10·20·6·6 = 7,200; the pool then halves 6×6 to 3×3."""
    a = _ok(DENSE.format(shape=[8, 6, 6], layout="chw"))
    squeeze = _row(a, "trans.squeeze")
    assert squeeze.in_shapes == [(20, 6, 6)]
    assert squeeze.node.args["filters"] == 10
    assert squeeze.tensors[0].shape == (10, 20, 1, 1) and squeeze.params == 200
    assert squeeze.macs == 7_200
    assert a.rows[-1].out_shape == (10, 3, 3)


def test_in_channels_is_the_layouts_channel_axis():
    """Channels last (hwc): the same network on 6×6×8 reads the last axis, 20 → 10 filters."""
    a = _ok(DENSE.format(shape=[6, 6, 8], layout="hwc"))
    assert _row(a, "trans.squeeze").node.args["filters"] == 10
    assert a.rows[-1].out_shape == (3, 3, 10)


BOTTLENECK = """
netcalc: 1
input: {shape: [16, 8, 8]}
defaults: {conv2d: {bias: false}}
blocks:
  bottleneck:                   # expand ×4, then project back to what the block was given
    layers:
      - {op: conv2d, filters: "${in.channels * 4}", kernel: 1, id: expand}
      - {op: relu}
      - {op: conv2d, filters: $in.channels, kernel: 1, id: project}
      - {op: add, in: [project, input]}
layers:
  - {use: bottleneck, id: b1}
  - {op: conv2d, filters: 24, kernel: 1, id: widen}
  - {use: bottleneck, id: b2}
"""


def test_bottleneck_expands_by_four_what_each_use_is_given():
    """b1 reads 16 channels: expand 64·16 = 1,024 weights, project 16·64 = 1,024; b2 reads 24:
    expand 96·24 = 2,304, project 24·96 = 2,304 (the same block, other figures: the memo keys on the
    worked-out values). Total 1,024 + 1,024 + 24·16 = 384 + 2,304 + 2,304 = 7,040; MACs 64 positions
    each: 64·7,040 = 450,560."""
    a = _ok(BOTTLENECK)
    assert [_row(a, n).node.args["filters"] for n in ("b1.expand", "b1.project", "b2.expand", "b2.project")] == [
        64, 16, 96, 24
    ]  # fmt: skip
    assert a.rows[-1].out_shape == (24, 8, 8)
    assert a.totals.params == 7_040 and a.totals.macs == 450_560


def test_a_vector_has_its_length_as_channels_and_shape_indexes():
    """After flatten 4·3·3 = 36: dense `${in.channels // 4}` = 9 units (36·9 + 9 = 333 parameters);
    in.shape[-1] of a 4×3×5 map is 5, and len(in.shape) 3."""
    text = """
    netcalc: 1
    input: {shape: [4, 3, 5]}
    blocks:
      head:
        layers:
          - {op: conv2d, filters: "${in.shape[-1] + len(in.shape)}", kernel: 3, id: c}
          - {op: flatten}
      fc:
        layers:
          - {op: dense, units: "${in.channels // 4}", id: d}
    layers:
      - {use: head, id: h}
      - {use: fc, id: f}
    """
    a = _ok(text)
    # conv: 5 + 3 = 8 filters, 3×5 → 1×3 (valid 3×3): 8·1·3 = 24 values, flattened
    assert _row(a, "h.c").out_shape == (8, 1, 3)
    assert _row(a, "f.d").in_shapes == [(24,)] and _row(a, "f.d").node.args["units"] == 6
    assert _row(a, "f.d").params == 24 * 6 + 6


def test_a_symbolic_channel_count_flows_into_a_width():
    """Input C×8×8: the transition's filters are ⌊C/2⌋, its weight ⌊C/2⌋·C; at C = 24, 12·24 = 288."""
    text = """
    netcalc: 1
    symbols: {C: {default: 24}}
    input: {shape: [C, 8, 8]}
    defaults: {conv2d: {bias: false}}
    blocks:
      t:
        layers:
          - {op: conv2d, filters: "${in.channels // 2}", kernel: 1}
    layers:
      - {use: t}
    """
    diags = Diagnostics()
    graph = build(parse_yaml(textwrap.dedent(text), "<t>", diags), "<t>", diags, symbolic=True)
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    import sympy

    c = sympy.Symbol("C", integer=True, positive=True)
    params = a.totals.params
    assert sympy.simplify(params.e.subs({s: c for s in params.e.free_symbols}) - c * sympy.floor(c / 2)) == 0
    assert params.v == 288


def test_expressions_over_in():
    given = BlockInput(96, (96, 32, 32))
    env = {"__in__": given, "k": 2}
    assert evaluate("in.channels // k", env) == 48
    assert evaluate("in.shape[-1] * in.shape[1]", env) == 1_024
    assert evaluate("in.shape[1:]", env) == (32, 32)
    assert evaluate("in.channels if in.channels < 100 else 3", env) == 96
    assert reads_input("in.channels // 2") and reads_input("min(in.shape[1], 4)")
    assert not reads_input("k // 2") and not reads_input("k in k")  # `in` the operator is not the input
    for bad in ("in.chanels", "in.shape * 2", "in.shape[3]", "in.shape[k * 0.5]"):
        try:
            evaluate(bad, env)
        except ExprError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_the_executor_runs_the_analysed_graph_and_refuses_one_that_is_not():
    import pytest

    from netcalc import bundled
    from netcalc.executor.run import Env, build_layers
    from netcalc.spec import load

    graph = load(str(bundled.find("densenet-bc-small")), Diagnostics())
    with pytest.raises(ValueError, match="analyse the graph first"):
        build_layers(graph, Env(graph.convention, graph.channels_last))
    analyze(graph, Diagnostics())
    layers = build_layers(graph, Env(graph.convention, graph.channels_last))
    # the first transition halves 24 + 3·12 = 60 channels: a 1×1 conv 60 → 30 (no bias)
    conv = next(name for name in layers if name.startswith("trans1.conv2d"))
    assert [a.shape for a in layers[conv].params.values()] == [(30, 60, 1, 1)], conv
