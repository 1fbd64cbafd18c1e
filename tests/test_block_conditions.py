"""Blocks: `if:` on a layer or a use (issue 17, item 7.1) and `repeat` naming a symbol (item 7.3).

Every figure is worked out by hand in the test's docstring."""

from __future__ import annotations

import textwrap

from netcalc.analyze import analyze
from netcalc.blocks import parse_blocks
from netcalc.diagnostics import Diagnostics
from netcalc.expand import _Counter
from netcalc.spec import build, parse_yaml

IR = """
netcalc: 1
input: {shape: [8, 16, 16]}
defaults: {conv2d: {bias: false}}
blocks:
  ir:
    params: {cin: int, c: int, t: 6, s: 1}
    layers:
      - {op: conv2d, filters: $cin * t, kernel: 1, if: $t != 1}
      - {op: relu6, if: $t != 1, id: expanded}
      - {op: conv2d, kernel: 3, stride: $s, padding: 1, groups: depthwise}
      - {op: conv2d, filters: $c, kernel: 1, id: main}
      - {op: add, in: [main, input], if: $s == 1 and cin == c}
layers:
"""


def _build(text: str, diags: Diagnostics, **options):
    return build(parse_yaml(textwrap.dedent(text), "<test>", diags), "<test>", diags, **options)


def _run(text: str, values: dict | None = None, symbolic: bool = False):
    diags = Diagnostics()
    graph = _build(text, diags, values=values, symbolic=symbolic)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    return a, diags


def test_expansion_left_out_at_t_1():
    """t = 1: no expansion, 8 channels in: depthwise 8·9 = 72, projection 8·8 = 64, the add kept
    (stride 1, 8 → 8). 136 parameters; MACs 16·16·(72 + 64) = 34,816. The depthwise conv reads the
    block's input, as if the two left-out layers were not written."""
    a, diags = _run(IR + "  - {use: ir, cin: 8, c: 8, t: 1, id: a}\n")
    assert a.ok, [d.format() for d in diags.items]
    names = [r.node.name for r in a.rows]
    assert names == ["a.conv2d_1", "a.main", "a.add_1"]
    assert a.rows[0].node.inputs == ["input"]
    assert a.rows[2].node.inputs == ["a.main", "input"]
    assert (a.totals.params, a.totals.macs) == (136, 34_816)


def test_expansion_kept_at_t_2_and_add_left_out_with_stride():
    """t = 2, s = 2, 8 → 4: expansion 8·16 = 128 (MACs 256·128 = 32,768), relu6, depthwise 16·9 = 144
    on 8×8 (64·144 = 9,216), projection 16·4 = 64 (64·64 = 4,096); no add (the stride changes the
    shape). 336 parameters, 46,080 MACs, and the output is the projection's."""
    a, diags = _run(IR + "  - {use: ir, cin: 8, c: 4, t: 2, s: 2, id: b}\n")
    assert a.ok, [d.format() for d in diags.items]
    assert [r.node.op for r in a.rows] == ["conv2d", "relu6", "conv2d", "conv2d"]
    assert (a.totals.params, a.totals.macs) == (336, 46_080)
    assert a.rows[-1].out_shape == (4, 8, 8)


def test_left_out_layer_id_names_what_it_reads():
    """A left-out layer with one `in:` passes that tensor on: `skip` (a projection left out) names the
    block's input, so the add is the identity residual: 8 + 8 channels added, no parameters but the
    conv's 8·8·9 = 576."""
    text = """
    netcalc: 1
    input: {shape: [8, 4, 4]}
    defaults: {conv2d: {bias: false}}
    blocks:
      b:
        params: {project: false}
        layers:
          - {op: conv2d, filters: 8, kernel: 3, padding: 1, id: main}
          - {op: conv2d, filters: 8, kernel: 1, in: input, id: skip, if: $project}
          - {op: add, in: [main, skip]}
    layers:
      - {use: b, id: u}
    """
    a, diags = _run(text)
    assert a.ok, [d.format() for d in diags.items]
    add = a.rows[-1].node
    assert add.inputs == ["u.main", "input"]
    assert a.totals.params == 576


def test_use_left_out_and_counted():
    """`if:` on a use: the use with `if: false` makes no layer and the next reads the previous output.
    The counter counts included layers only: 2 (the b use) + 1 (the relu) = 3, not 5."""
    text = """
    netcalc: 1
    input: {shape: [8, 4, 4]}
    blocks:
      b:
        params: {on: true}
        layers:
          - {op: relu, if: $on}
          - {op: relu}
      two:
        layers:
          - {use: b, id: x}
          - {use: b, on: false, if: false, id: y}
    layers:
      - {use: two}
      - {op: relu}
    """
    a, diags = _run(text)
    assert a.ok, [d.format() for d in diags.items]
    assert len(a.rows) == 3
    root = parse_yaml(textwrap.dedent(text), "<test>", Diagnostics())
    blocks = parse_blocks(root.get("blocks"), Diagnostics())
    total, broken, _ = _Counter(blocks, Diagnostics()).count(root.get("layers").items)
    assert (total, broken) == (3, set())


def test_counter_counts_only_included_layers_for_the_limit():
    """100 repetitions of a block of 3 layers, 2 of them left out by `if:`: 100 layers, under a limit
    of 150 that the 300 written ones would pass."""
    text = """
    netcalc: 1
    input: {shape: [4]}
    blocks:
      b:
        params: {big: false}
        layers:
          - {op: dense, units: 4, if: $big}
          - {op: relu, if: $big}
          - {op: relu}
    layers:
      - {use: b, repeat: 100}
    """
    diags = Diagnostics()
    graph = _build(text, diags, max_layers=150)
    assert graph is not None and not diags.errors, [d.format() for d in diags.items]
    diags = Diagnostics()
    _build(text.replace("big: false", "big: true"), diags, max_layers=150)
    assert [d.code for d in diags.errors] == ["E118"]


def test_repeat_names_a_symbol():
    """`repeat: N` with N's default 2: two dense layers of 4·4 + 4 = 20 parameters (40); --set N=5
    gives five (100). N is no free size: the figures are numbers, not formulas."""
    text = """
    netcalc: 1
    symbols: {N: 2}
    input: {shape: [4]}
    blocks:
      d:
        layers:
          - {op: dense, units: 4}
    layers:
      - {use: d, repeat: N}
    """
    a, _ = _run(text, symbolic=True)  # as summary reads it: a free symbol would stay a formula
    assert a.totals.params == 40 and not a.graph.symbols.free
    a, _ = _run(text, {"N": 5})
    assert a.totals.params == 100 and len(a.rows) == 5


def test_repeat_symbol_also_a_width_takes_its_value():
    """A symbol named by `repeat` keeps its value everywhere, also as a width: three repetitions of
    dense(units: N = 3) on 4 features: 4·3 + 3 = 15, then 3·3 + 3 = 12 twice: 39."""
    text = """
    netcalc: 1
    symbols: {N: 3}
    input: {shape: [4]}
    blocks:
      d:
        layers:
          - {op: dense, units: N}
    layers:
      - {use: d, repeat: N}
    """
    a, _ = _run(text, symbolic=True)
    assert a.totals.params == 39 and not a.graph.symbols.free
