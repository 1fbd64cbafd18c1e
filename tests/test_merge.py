"""Merges (add, multiply, concat), the residual shortcut, multi-input wiring, outputs and W203, by hand.

Each expected value is a literal with its derivation in a comment next to it; nothing expected is
computed by netcalc. Shapes exclude the batch axis and are in the spec's layout (chw or hwc).
Locations are line:column of the dedented spec text, whose line 1 is empty: line 2 `netcalc: 1`,
3 `convention`, 4 `input: {...}` (the input is located at its `{`, column 8), 5 `layers:`, and the
layers from line 6 on, each located at its `{` (column 5, after "  - ").
"""

from __future__ import annotations

import pytest
from conftest import run_spec

from netcalc.diagnostics import Diagnostics
from netcalc.layers.base import Ctx


def found(diags):
    """(severity, code) of every finding."""
    return [(d.severity, d.code) for d in diags.items]


def net(layers: str, shape, layout: str = "chw", convention: str = "pytorch", extra: str = "") -> str:
    """Spec text with the layers written one per line, each '- {...}' (see the module docstring);
    run_spec dedents it, so the layers start with "  - {"."""
    body = "\n".join(f"      {line.strip()}" for line in layers.strip().splitlines())
    return f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: {list(shape)}, layout: {layout}}}
    layers:
{body}
{extra}"""


def rows(text, convention=None):
    """(rows by name, diags) of a spec that must analyse without errors."""
    analysis, diags = run_spec(text, convention=convention)
    assert analysis is not None, [d.format() for d in diags.items]
    assert not diags.has_errors(), [d.format() for d in diags.items]
    return {r.node.name: r for r in analysis.rows}, diags


def errors(text):
    """The diagnostics of a spec that must fail."""
    _, diags = run_spec(text)
    assert diags.has_errors()
    return diags


def tensors(row):
    """(name, shape, trainable, kind) of every tensor of a row."""
    return [(t.name, t.shape, t.trainable, t.kind) for t in row.tensors]


def explain(row, convention="pytorch", layout="chw"):
    ctx = Ctx(row.node, convention, layout == "hwc", Diagnostics())
    return row.ltype.explain(row.g, ctx)


# ---------------------------------------------------------------------------------------------
# add / multiply
# ---------------------------------------------------------------------------------------------


def test_add_equal_shapes():
    r, diags = rows(
        net(
            """
            - {op: relu, id: a}
            - {op: relu, in: input, id: b}
            - {op: add, in: [a, b], id: s}
            """,
            [16, 5, 7],
        )
    )
    s = r["s"]
    assert s.node.inputs == ["a", "b"]
    assert s.out_shape == (16, 5, 7)
    assert (s.params, s.trainable, s.buffers, s.macs) == (0, 0, 0, 0)
    assert s.flops == 560  # 2 inputs − 1 = 1 add per output element: 16·5·7 = 560
    assert s.tensors == []
    assert found(diags) == []


@pytest.mark.parametrize("order", [["input", "g"], ["g", "input"]])
def test_add_broadcasts_a_channel_gate_over_the_map(order):
    r, diags = rows(
        net(
            f"""
            - {{op: global_avgpool2d, keepdims: true, id: g}}
            - {{op: add, in: [{order[0]}, {order[1]}], id: s}}
            """,
            [32, 16, 16],
        )
    )
    assert r["g"].out_shape == (32, 1, 1)
    # (32, 1, 1) with (32, 16, 16): from the last axis 1 stretches to 16, 1 to 16, 32 = 32
    assert r["s"].out_shape == (32, 16, 16)
    assert r["s"].flops == 8_192  # 1 per output element: 32·16·16
    assert found(diags) == []  # pytorch convention: broadcasting is no warning


def test_multiply_three_inputs_that_broadcast_among_themselves():
    r, diags = rows(
        net(
            """
            - {op: avgpool2d, kernel: [1, 7], id: rows}
            - {op: avgpool2d, in: input, kernel: [5, 1], id: cols}
            - {op: multiply, in: [rows, cols], id: outer}
            - {op: multiply, in: [input, rows, cols], id: m3}
            - {op: add, in: [input, m3, outer], id: a3}
            """,
            [3, 5, 7],
            extra="    outputs: [a3]\n",
        )
    )
    assert r["rows"].out_shape == (3, 5, 1)  # W: (7 − 7)/1 + 1 = 1
    assert r["cols"].out_shape == (3, 1, 7)  # H: (5 − 5)/1 + 1 = 1
    # (3, 5, 1) · (3, 1, 7): W 1 → 7, H 5 with 1 → 5, C 3 = 3 — neither input has the output's shape
    assert r["outer"].out_shape == (3, 5, 7)
    assert r["outer"].flops == 105  # (2 − 1) × 3·5·7
    assert r["m3"].out_shape == (3, 5, 7)
    assert r["m3"].flops == 210  # (3 − 1) × 105
    assert r["a3"].flops == 210  # (3 − 1) × 105
    assert r["a3"].node.inputs == ["input", "m3", "outer"]
    assert found(diags) == []


@pytest.mark.parametrize("layout, shape", [("hwc", [5, 7, 16]), ("chw", [16, 5, 7])])
def test_vector_against_a_map_is_e206(layout, shape):
    """A (16) vector against a 3-axis map: the ranks differ, refused in both layouts (with the batch
    axis first the vector's batch would meet the map's H or C axis, as torch refuses at batch 2)."""
    diags = errors(
        net(
            """
            - {op: global_avgpool2d, id: g}
            - {op: multiply, in: [input, g], id: m}
            """,
            shape,
            layout,
        )
    )
    assert found(diags) == [("error", "E206")]
    e = diags.items[0]
    assert e.layer == "m" and "the numbers of axes differ" in e.message
    assert "g 16 (t.yaml:6:5)" in e.message
    # reported at the `in:` value: "  - {op: multiply, in: " is 23 characters → column 24, line 7
    assert (e.loc.line, e.loc.col) == (7, 24)


def test_add_shape_mismatch_e206_names_both_shapes_and_where_they_are_written():
    diags = errors(
        net(
            """
            - {op: maxpool2d, kernel: 2, id: p}
            - {op: add, in: [input, p], id: s}
            """,
            [3, 8, 8],
        )
    )
    assert found(diags) == [("error", "E206")]
    msg = diags.items[0].message
    # p: (8 − 2)/2 + 1 = 4 per side; 8 against 4 on W and H
    assert "add cannot combine input 3×8×8 (t.yaml:4:8), p 3×4×4 (t.yaml:6:5)" in msg


def test_keras_same_rank_broadcast_is_accepted():
    r, diags = rows(
        net(
            """
            - {op: global_avgpool2d, keepdims: true, id: g}
            - {op: multiply, in: [input, g], id: m}
            """,
            [5, 7, 16],
            "hwc",
            "keras",
        )
    )
    # (5, 7, 16) · (1, 1, 16): the 1s stretch over H and W
    assert r["g"].out_shape == (1, 1, 16)
    assert r["m"].out_shape == (5, 7, 16) and r["m"].flops == 560  # 5·7·16
    assert found(diags) == []


def test_keras_equal_shapes_no_w204():
    r, diags = rows(
        net(
            """
            - {op: relu, id: a}
            - {op: add, in: [a, input, input], id: s}
            """,
            [5, 7, 16],
            "hwc",
            "keras",
        )
    )
    assert r["s"].flops == 1_120  # (3 − 1) × 5·7·16 = 2 × 560
    assert found(diags) == []


# ---------------------------------------------------------------------------------------------
# concat
# ---------------------------------------------------------------------------------------------


def test_concat_chw_default_axis_is_channels():
    r, diags = rows(
        net(
            """
            - {op: conv2d, filters: 4, kernel: 3, padding: 1, id: a}
            - {op: conv2d, in: input, filters: 6, kernel: 1, id: b}
            - {op: concat, in: [a, b, input], id: c}
            """,
            [3, 5, 8],
        )
    )
    assert r["c"].out_shape == (13, 5, 8)  # channels 4 + 6 + 3; H, W equal
    assert (r["c"].params, r["c"].macs, r["c"].flops) == (0, 0, 0)
    assert found(diags) == []


def test_concat_hwc_default_axis_is_last():
    r, diags = rows(
        net(
            """
            - {op: conv2d, filters: 4, kernel: 3, padding: 1, id: a}
            - {op: concat, in: [a, input], id: c}
            """,
            [6, 5, 3],
            "hwc",
        )
    )
    assert r["c"].out_shape == (6, 5, 7)  # channels last: 4 + 3
    assert found(diags) == []


@pytest.mark.parametrize("axis", [2, -1])
def test_concat_explicit_axis_chw(axis):
    r, _ = rows(
        net(
            f"""
            - {{op: maxpool2d, kernel: [1, 2], id: halved}}
            - {{op: concat, in: [input, halved], axis: {axis}, id: c}}
            """,
            [3, 5, 8],
        )
    )
    assert r["halved"].out_shape == (3, 5, 4)  # W: (8 − 2)/2 + 1 = 4
    assert r["c"].out_shape == (3, 5, 12)  # along W: 8 + 4


def test_concat_explicit_axis_0_in_hwc_joins_rows():
    r, _ = rows(
        net(
            """
            - {op: maxpool2d, kernel: [2, 1], id: halved}
            - {op: concat, in: [halved, input], axis: 0, id: c}
            """,
            [6, 5, 3],
            "hwc",
        )
    )
    assert r["halved"].out_shape == (3, 5, 3)  # H: (6 − 2)/2 + 1 = 3
    assert r["c"].out_shape == (9, 5, 3)  # along H: 3 + 6


@pytest.mark.parametrize(("layout", "shape"), [("chw", [4, 3, 5]), ("hwc", [3, 5, 4])])
def test_concat_of_feature_vectors(layout, shape):
    r, _ = rows(
        net(
            """
            - {op: global_avgpool2d, id: avg}
            - {op: flatten, in: input, id: flat}
            - {op: concat, in: [avg, flat, avg], id: c}
            """,
            shape,
            layout,
        )
    )
    assert r["avg"].out_shape == (4,)
    assert r["flat"].out_shape == (60,)  # 4·3·5
    assert r["c"].out_shape == (68,)  # 4 + 60 + 4: a vector's only axis in either layout


def test_concat_other_axes_differ_e206():
    diags = errors(
        net(
            """
            - {op: maxpool2d, kernel: 2, id: p}
            - {op: concat, in: [input, p], id: c}
            """,
            [3, 8, 8],
        )
    )
    assert found(diags) == [("error", "E206")]
    assert diags.items[0].message == (
        "c: concat along axis 0 needs the other axes equal: input 3×8×8 (t.yaml:4:8), p 3×4×4 (t.yaml:6:5)"
    )


def test_concat_ranks_differ_e206():
    diags = errors(
        net(
            """
            - {op: flatten, id: f}
            - {op: concat, in: [f, input], id: c}
            """,
            [3, 4, 4],
        )
    )
    assert found(diags) == [("error", "E206")]
    assert "f 48 (t.yaml:6:5), input 3×4×4 (t.yaml:4:8)" in diags.items[0].message  # 3·4·4 = 48


def test_concat_axis_out_of_range_e206():
    diags = errors(net("- {op: concat, in: [input, input], axis: 3, id: c}", [3, 4, 4]))
    assert found(diags) == [("error", "E206")]  # rank 3: axes −3 … 2
    assert "along axis 3" in diags.items[0].message


# ---------------------------------------------------------------------------------------------
# shortcut
# ---------------------------------------------------------------------------------------------


def shortcut(args: str, shape, layout="chw", convention="pytorch"):
    r, diags = rows(net(f"- {{op: shortcut, {args}, id: s}}", shape, layout, convention))
    assert found(diags) == []
    return r["s"]


def test_shortcut_a_subsamples_and_pads_channels_odd_map():
    s = shortcut("mode: A, filters: 32, stride: 2", [16, 7, 7])
    assert s.out_shape == (32, 4, 4)  # ceil(7/2) = 4 (rows 0, 2, 4, 6)
    assert (s.params, s.trainable, s.buffers, s.macs, s.flops) == (0, 0, 0, 0, 0)
    assert s.tensors == []
    assert s.weight_shape == "A: ::2, +16 zero channels"  # 32 − 16
    assert any("(8 before, 8 after)" in line for line in explain(s))  # 16 // 2 and 16 − 8


def test_shortcut_a_uneven_channel_split_and_stride_3():
    s = shortcut("mode: A, filters: 19, stride: 3", [16, 10, 11])
    assert s.out_shape == (19, 4, 4)  # ceil(10/3) = 4, ceil(11/3) = 4
    assert s.weight_shape == "A: ::3, +3 zero channels"
    assert any("(1 before, 2 after)" in line for line in explain(s))  # 3 // 2 = 1, 3 − 1 = 2


def test_shortcut_a_identity_and_channels_only():
    assert shortcut("mode: A", [16, 5, 7]).weight_shape == "A: identity"
    s = shortcut("mode: A, filters: 24", [16, 5, 7])
    assert s.out_shape == (24, 5, 7)
    assert s.weight_shape == "A: +8 zero channels"
    assert s.flops == 0


def test_shortcut_a_keras_hwc():
    s = shortcut("mode: A, filters: 40, stride: 2", [7, 7, 16], "hwc", "keras")
    assert s.out_shape == (4, 4, 40)  # ceil(7/2) = 4; channels last
    assert (s.params, s.buffers) == (0, 0)


def test_shortcut_a_fewer_filters_e207():
    diags = errors(net("- {op: shortcut, mode: A, filters: 8, id: s}", [16, 5, 7]))
    assert found(diags) == [("error", "E207")]
    e = diags.items[0]
    assert "cannot go from 16 to 8 channels" in e.message
    # at the filters value: "  - {op: shortcut, mode: A, filters: " is 37 characters → column 38
    assert (e.loc.line, e.loc.col) == (6, 38)


def test_shortcut_b_projection_pytorch():
    s = shortcut("mode: B, filters: 32, stride: 2", [16, 7, 7])
    assert s.out_shape == (32, 4, 4)  # 1×1 stride 2, no padding: (7 − 1)//2 + 1 = 4 = ceil(7/2)
    assert tensors(s) == [
        ("0.weight", (32, 16, 1, 1), True, "param"),  # (C_out, C_in, 1, 1), no bias
        ("1.weight", (32,), True, "param"),
        ("1.bias", (32,), True, "param"),
        ("1.running_mean", (32,), False, "buffer"),
        ("1.running_var", (32,), False, "buffer"),
    ]
    assert s.params == 576  # 32·16 + 32 + 32 = 512 + 64
    assert s.trainable == 576
    assert s.buffers == 64  # 32 + 32
    assert s.macs == 8_192  # 4·4 positions × 32 × 16
    assert s.flops == 17_408  # 2·8192 + 2 × 4·4·32 = 16384 + 1024
    assert s.weight_shape == "B: 1×1 conv /2, 16→32"


def test_shortcut_b_projection_keras_non_trainable_statistics():
    s = shortcut("mode: B, filters: 32, stride: 2", [7, 7, 16], "hwc", "keras")
    assert s.out_shape == (4, 4, 32)
    assert tensors(s) == [
        ("conv/kernel", (1, 1, 16, 32), True, "param"),  # (kh, kw, C_in, C_out)
        ("bn/gamma", (32,), True, "param"),
        ("bn/beta", (32,), True, "param"),
        ("bn/moving_mean", (32,), False, "param"),
        ("bn/moving_variance", (32,), False, "param"),
    ]
    assert s.params == 640  # 512 + 4·32
    assert s.trainable == 576  # 512 + 64
    assert s.buffers == 0
    assert s.macs == 8_192
    assert s.flops == 17_408


def test_shortcut_b_identity_when_nothing_changes():
    s = shortcut("mode: B", [16, 7, 5])
    assert s.out_shape == (16, 7, 5)
    assert (s.params, s.buffers, s.macs, s.flops) == (0, 0, 0, 0)
    assert s.weight_shape == "B: identity"


def test_shortcut_b_projects_for_channels_alone():
    s = shortcut("mode: B, filters: 8", [16, 7, 7])
    assert s.out_shape == (8, 7, 7)
    assert s.params == 144  # 8·16 + 2·8 = 128 + 16
    assert s.macs == 6_272  # 49 × 8 × 16
    assert s.flops == 13_328  # 2·6272 + 2·(49·8) = 12544 + 784
    assert s.weight_shape == "B: 1×1 conv, 16→8"


def test_shortcut_b_projects_for_stride_alone_pytorch_hwc():
    s = shortcut("mode: B, stride: 2", [5, 7, 16], "hwc")
    assert s.out_shape == (3, 4, 16)  # ceil(5/2) = 3, ceil(7/2) = 4
    assert tensors(s)[0] == ("0.weight", (16, 16, 1, 1), True, "param")  # pytorch names in any layout
    assert s.macs == 3_072  # 3·4 × 16 × 16 = 12 × 256
    assert s.buffers == 32


def test_shortcut_c_projects_even_for_same_shape():
    s = shortcut("mode: C", [16, 5, 7])
    assert s.out_shape == (16, 5, 7)
    assert s.params == 288  # 16·16 + 2·16
    assert s.macs == 8_960  # 35 × 16 × 16
    assert s.flops == 19_040  # 2·8960 + 2·560 = 17920 + 1120
    assert s.weight_shape == "C: 1×1 conv, 16→16"


def test_shortcut_without_batchnorm():
    s = shortcut("mode: C, filters: 32, stride: 2, batchnorm: false", [16, 5, 7])
    assert s.out_shape == (32, 3, 4)  # ceil(5/2), ceil(7/2)
    assert tensors(s) == [("0.weight", (32, 16, 1, 1), True, "param")]
    assert (s.params, s.buffers) == (512, 0)
    assert s.macs == 6_144  # 12 × 32 × 16
    assert s.flops == 12_288  # 2·6144, no batchnorm


def test_shortcut_needs_a_feature_map():
    diags = errors(net("- {op: shortcut, filters: 8, id: s}", [16, 9]))
    assert found(diags) == [("error", "E202")]


def test_receptive_field_after_shortcut_keeps_r_and_multiplies_jump():
    r, _ = rows(
        net(
            """
            - {op: conv2d, filters: 16, kernel: 3, padding: 1, id: c1}
            - {op: shortcut, stride: 2, id: s}
            - {op: conv2d, filters: 16, kernel: 3, padding: 1, id: c2}
            """,
            [16, 9, 9],
        )
    )
    assert r["c1"].rf == [(3, 1), (3, 1)]
    assert r["s"].rf == [(3, 2), (3, 2)]  # 1×1 window: r = 3 + 0·1; jump 1 × 2
    assert r["c2"].rf == [(7, 2), (7, 2)]  # r = 3 + (3 − 1)·2 = 7


# ---------------------------------------------------------------------------------------------
# wiring: E115, `in:` after an activation shorthand, outputs and W203
# ---------------------------------------------------------------------------------------------


def test_e115_merge_with_one_input():
    diags = errors(net("- {op: add, in: [input]}", [3, 4, 4]))
    assert found(diags) == [("error", "E115")]
    assert diags.items[0].message == "add merges two or more inputs, got 1 in 'in:'"


def test_e115_merge_without_in():
    diags = errors(net("- {op: concat}", [3, 4, 4]))
    assert found(diags) == [("error", "E115")]
    assert "concat merges two or more inputs" in diags.items[0].message


@pytest.mark.parametrize("op", ["relu", "shortcut", "conv2d, filters: 2, kernel: 1"])
def test_e115_one_input_layer_given_two(op):
    diags = errors(net(f"- {{op: {op}, in: [input, input]}}", [3, 4, 4]))
    assert found(diags) == [("error", "E115")]
    assert "takes one input, got 2" in diags.items[0].message


def test_in_reads_a_shorthand_layer_after_its_activation():
    r, diags = rows(
        net(
            """
            - {op: conv2d, filters: 3, kernel: 1, activation: sigmoid, id: gate}
            - {op: multiply, in: [input, gate], id: m}
            - {op: relu, in: gate, id: after}
            - {op: concat, in: [m, after]}
            """,
            [3, 5, 7],
        )
    )
    assert r["m"].node.inputs == ["input", "gate.sigmoid"]
    assert r["after"].node.inputs == ["gate.sigmoid"]
    assert r["gate.sigmoid"].node.inputs == ["gate"]
    assert found(diags) == []  # gate is read by its sigmoid, gate.sigmoid by m and after


def test_outputs_naming_a_shorthand_layer_mean_its_activation():
    text = net(
        """
        - {op: conv2d, filters: 3, kernel: 1, activation: sigmoid, id: gate}
        - {op: relu, in: input, id: r}
        """,
        [3, 5, 7],
        extra="    outputs: [gate, r]\n",
    )
    analysis, diags = run_spec(text)
    assert analysis.graph.outputs == ["gate.sigmoid", "r"]
    assert found(diags) == []


def test_w203_for_a_dangling_branch_not_the_last_layer():
    analysis, diags = run_spec(
        net(
            """
            - {op: relu, id: branch}
            - {op: conv2d, in: input, filters: 2, kernel: 1, id: main}
            - {op: relu, id: last}
            """,
            [3, 5, 7],
        )
    )
    assert analysis.graph.outputs == ["last"]
    assert found(diags) == [("warning", "W203")]
    w = diags.items[0]
    assert w.layer == "branch"
    assert w.message.startswith("branch: nothing reads this layer's output and it is not among the outputs (last)")
    assert (w.loc.line, w.loc.col) == (6, 5)


def test_no_w203_when_the_branch_is_an_output():
    analysis, diags = run_spec(
        net(
            """
            - {op: relu, id: branch}
            - {op: conv2d, in: input, filters: 2, kernel: 1, id: main}
            - {op: relu, id: last}
            """,
            [3, 5, 7],
            extra="    outputs: [branch, last]\n",
        )
    )
    assert analysis.graph.outputs == ["branch", "last"]
    assert found(diags) == []


def test_w203_for_the_last_layer_once_outputs_leave_it_out():
    _, diags = run_spec(
        net(
            """
            - {op: relu, id: kept}
            - {op: relu, id: last}
            """,
            [3, 5, 7],
            extra="    outputs: [kept]\n",
        )
    )
    # kept is read by last; last is read by nothing and is not listed
    assert found(diags) == [("warning", "W203")]
    assert diags.items[0].layer == "last"


def test_merge_receptive_field_is_the_first_inputs():
    r, _ = rows(
        net(
            """
            - {op: conv2d, filters: 3, kernel: 5, padding: 2, id: wide}
            - {op: add, in: [wide, input], id: a}
            - {op: add, in: [input, wide], id: b}
            """,
            [3, 9, 9],
            extra="    outputs: [a, b]\n",
        )
    )
    assert r["a"].rf == [(5, 1), (5, 1)]  # wide's: 1 + (5 − 1)·1
    assert r["b"].rf == [(1, 1), (1, 1)]  # the input's
