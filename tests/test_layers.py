"""Every layer type's formulas against numbers worked out by hand.

Each expected value is a literal with its derivation in a comment next to it; nothing expected is
computed by netcalc. Sizes are odd (and H ≠ W) wherever that can catch a swapped axis or an
off-by-one. Shapes exclude the batch axis and are in the spec's layout (chw or hwc).
"""

from __future__ import annotations

import pytest
from conftest import one_layer, run_spec

from netcalc.diagnostics import Diagnostics
from netcalc.layers.base import Ctx


def tensors(row):
    """(name, shape, trainable, kind) of every tensor of a row."""
    return [(t.name, t.shape, t.trainable, t.kind) for t in row.tensors]


def found(diags):
    """(severity, code) of every finding."""
    return [(d.severity, d.code) for d in diags.items]


def geometry(row, convention="pytorch", layout="chw"):
    """Resolve a row's layer again to read what the summary does not show (padding split, slope)."""
    ctx = Ctx(row.node, convention, layout == "hwc", Diagnostics())
    return row.ltype.resolve(row.node.args, row.in_shapes, ctx)


def ok(layer, shape, layout="chw", convention="pytorch"):
    """A row that must resolve without any finding."""
    row, diags = one_layer(layer, shape, layout=layout, convention=convention)
    assert row is not None and row.ok, [d.format() for d in diags.items]
    assert found(diags) == []
    return row


def failing(layer, shape, code, layout="chw", convention="pytorch"):
    """The single error a layer must report; its row must be left unresolved."""
    row, diags = one_layer(layer, shape, layout=layout, convention=convention)
    assert found(diags) == [("error", code)]
    assert row is None or not row.ok
    return diags.items[0]


# ---------------------------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------------------------


def test_conv2d_int_kernel_stride_pytorch_counts_and_w201():
    row, diags = one_layer("{op: conv2d, filters: 8, kernel: 5, stride: 2}", [3, 32, 33])
    # H: (32 + 0 − 5)//2 + 1 = 27//2 + 1 = 14 ; W: (33 − 5)//2 + 1 = 28//2 + 1 = 15
    assert row.out_shape == (8, 14, 15)
    # weight (C_out, C_in, kh, kw) = (8, 3, 5, 5); bias (8,)
    assert tensors(row) == [("weight", (8, 3, 5, 5), True, "param"), ("bias", (8,), True, "param")]
    assert row.params == 608  # 8·3·5·5 + 8 = 600 + 8
    assert row.trainable == 608
    assert row.buffers == 0
    assert row.macs == 126_000  # 14·15 positions × 8 × 3 × 25 = 210 × 600
    assert row.flops == 253_680  # 2·126000 + 14·15·8 bias adds = 252000 + 1680
    # height leaves 27 mod 2 = 1 real row unread; width 28 mod 2 = 0: one warning only
    assert found(diags) == [("warning", "W201")]
    w = diags.items[0]
    assert "(32 + 2·0 − 5)/2 + 1 = 14.5" in w.message  # 27/2 + 1
    assert "floored to 14" in w.message
    assert "the last input row of 32 is never read" in w.message
    # the warning points at the kernel value: "  - {op: conv2d, filters: 8, kernel: 5, ..." is line 6
    # of the dedented text (line 1 is empty); '5' follows 4 + 1 + 12 + 12 + 8 = 37 characters → col 38
    assert (w.loc.line, w.loc.col) == (6, 38)


def test_conv2d_w201_counts_several_rows():
    row, diags = one_layer("{op: conv2d, filters: 2, kernel: 5, stride: 3}", [1, 34, 35])
    # H: (34 − 5)//3 + 1 = 29//3 + 1 = 10, remainder 2 → 2 rows unread
    # W: (35 − 5)//3 + 1 = 30//3 + 1 = 11, remainder 0
    assert row.out_shape == (2, 10, 11)
    assert found(diags) == [("warning", "W201")]
    msg = diags.items[0].message
    assert "(34 + 2·0 − 5)/3 + 1 = 10.67" in msg  # 29/3 + 1 = 10.666…
    assert "the last 2 input rows of 34 are never read" in msg


def test_conv2d_w201_width_names_columns():
    _, diags = one_layer("{op: conv2d, filters: 2, kernel: 3, stride: 2}", [1, 9, 10])
    # H: (9 − 3) = 6, 6 mod 2 = 0 → fine ; W: (10 − 3) = 7, 7 mod 2 = 1 → one column unread
    assert found(diags) == [("warning", "W201")]
    assert "(10 + 2·0 − 3)/2 + 1 = 4.5" in diags.items[0].message
    assert "the last input column of 10 is never read" in diags.items[0].message


def test_conv2d_no_warning_when_only_padding_is_unused():
    row = ok("{op: conv2d, filters: 8, kernel: 7, stride: 2, padding: 3}", [3, 224, 224])
    # (224 + 6 − 7)//2 + 1 = 223//2 + 1 = 112; remainder 1 ≤ right padding 3 → only padding unused
    assert row.out_shape == (8, 112, 112)
    assert row.macs == 14_751_744  # 112·112 × 8 × 3 × 49 = 12544 × 1176


def test_conv2d_pair_kernel_stride_padding():
    row = ok("{op: conv2d, filters: 4, kernel: [3, 5], stride: [2, 1], padding: [1, 2]}", [5, 9, 11])
    # H: (9 + 2·1 − 3)//2 + 1 = 8//2 + 1 = 5 ; W: (11 + 2·2 − 5)//1 + 1 = 10 + 1 = 11
    assert row.out_shape == (4, 5, 11)
    assert tensors(row)[0] == ("weight", (4, 5, 3, 5), True, "param")  # (C_out, C_in, kh, kw)
    assert row.params == 304  # 4·5·3·5 + 4 = 300 + 4
    assert row.macs == 16_500  # 5·11 × 4 × 5 × 15 = 55 × 300
    assert row.flops == 33_220  # 2·16500 + 55·4 = 33000 + 220


def test_conv2d_asymmetric_padding():
    row = ok("{op: conv2d, filters: 3, kernel: 3, stride: 2, padding: [[1, 2], [0, 3]]}", [2, 7, 6])
    # H: (7 + 1 + 2 − 3)//2 + 1 = 7//2 + 1 = 4 (remainder 1 ≤ 2 bottom padding: no warning)
    # W: (6 + 0 + 3 − 3)//2 + 1 = 6//2 + 1 = 4
    assert row.out_shape == (3, 4, 4)
    assert row.macs == 864  # 16 × 3 × 2 × 9
    assert row.flops == 1_776  # 2·864 + 16·3 = 1728 + 48
    assert geometry(row).pads == [(1, 2), (0, 3)]


def test_conv2d_asymmetric_padding_unread_row_counts_after_padding():
    _, diags = one_layer("{op: conv2d, filters: 1, kernel: 3, stride: 3, padding: [[0, 1], [0, 0]]}", [1, 10, 9])
    # H: (10 + 0 + 1 − 3) = 8, 8 mod 3 = 2, minus 1 bottom padding → 1 real row unread
    # W: (9 − 3) = 6, 6 mod 3 = 0
    assert found(diags) == [("warning", "W201")]
    assert "(10 + 0 + 1 − 3)/3 + 1 = 3.667" in diags.items[0].message  # 8/3 + 1
    assert "the last input row of 10 is never read" in diags.items[0].message


def test_conv2d_valid_is_zero_padding():
    row = ok("{op: conv2d, filters: 5, kernel: 3, padding: valid}", [3, 13, 10])
    # H: 13 − 3 + 1 = 11 ; W: 10 − 3 + 1 = 8
    assert row.out_shape == (5, 11, 8)
    assert geometry(row).pads == [(0, 0), (0, 0)]


def test_conv2d_keras_same_stride2_pads_bottom_right():
    row = ok(
        "{op: conv2d, filters: 6, kernel: 3, stride: 2, padding: same}", [17, 16, 3], layout="hwc", convention="keras"
    )
    # out = ceil(n/s): H ceil(17/2) = 9, W ceil(16/2) = 8; channels last
    assert row.out_shape == (9, 8, 6)
    # H total pad (9−1)·2 + 3 − 17 = 2 → (1, 1) ; W total (8−1)·2 + 3 − 16 = 1 → (0, 1): extra on the right
    assert geometry(row, "keras", "hwc").pads == [(1, 1), (0, 1)]
    # Keras kernel (kh, kw, C_in, C_out)
    assert tensors(row) == [("kernel", (3, 3, 3, 6), True, "param"), ("bias", (6,), True, "param")]
    assert row.params == 168  # 3·3·3·6 + 6 = 162 + 6
    assert row.macs == 11_664  # 9·8 × 6 × 3 × 9 = 72 × 162
    assert row.flops == 23_760  # 2·11664 + 72·6 = 23328 + 432


def test_conv2d_keras_same_stride3_and_even_kernel():
    row = ok(
        "{op: conv2d, filters: 1, kernel: [5, 4], stride: [3, 1], padding: same}",
        [10, 11, 1],
        layout="hwc",
        convention="keras",
    )
    # H: ceil(10/3) = 4, total (4−1)·3 + 5 − 10 = 4 → (2, 2) ; W: ceil(11/1) = 11, total 10 + 4 − 11 = 3 → (1, 2)
    assert row.out_shape == (4, 11, 1)
    assert geometry(row, "keras", "hwc").pads == [(2, 2), (1, 2)]


def test_conv2d_pytorch_same_stride1_with_dilation():
    row = ok("{op: conv2d, filters: 2, kernel: [4, 3], padding: same, dilation: [1, 2]}", [1, 11, 9])
    # stride 1: output = input; H total d(k−1) = 3 → (1, 2) (extra right, as PyTorch) ; W total 2·2 = 4 → (2, 2)
    assert row.out_shape == (2, 11, 9)
    assert geometry(row).pads == [(1, 2), (2, 2)]
    assert row.macs == 2_376  # 11·9 × 2 × 1 × 12 = 99 × 24
    assert row.flops == 4_950  # 2·2376 + 99·2 = 4752 + 198


def test_conv2d_pytorch_same_with_stride2_is_e204():
    err = failing("{op: conv2d, filters: 8, kernel: 3, stride: 2, padding: same}", [3, 17, 17], "E204")
    assert "stride" in err.message and "same" in err.message


def test_conv2d_dilation():
    row = ok("{op: conv2d, filters: 4, kernel: 3, dilation: 2}", [2, 11, 12])
    # window span d(k−1) + 1 = 5: H 11 − 5 + 1 = 7 ; W 12 − 5 + 1 = 8
    assert row.out_shape == (4, 7, 8)
    assert row.macs == 4_032  # 7·8 × 4 × 2 × 9 = 56 × 72 (dilation adds no taps)
    assert row.rf == [(5, 1), (5, 1)]  # 1 + 2·(3−1)·1 = 5


def test_conv2d_dilation_w201_formula_text():
    row, diags = one_layer("{op: conv2d, filters: 1, kernel: 3, stride: 2, dilation: 2}", [1, 12, 13])
    # H: (12 − 2·(3−1) − 1)//2 + 1 = 7//2 + 1 = 4, remainder 1 → warning ; W: (13 − 5)//2 + 1 = 5, remainder 0
    assert row.out_shape == (1, 4, 5)
    assert found(diags) == [("warning", "W201")]
    assert "(12 + 2·0 − 2·(3 − 1) − 1)/2 + 1 = 4.5" in diags.items[0].message


def test_conv2d_below_one_is_e201():
    err = failing("{op: conv2d, filters: 8, kernel: 9}", [3, 5, 17], "E201")
    # H: (5 + 0 − 9)/1 + 1 = −3
    assert "(5 + 2·0 − 9)/1 + 1 = -3 is below 1" in err.message


def test_conv2d_exactly_one_is_fine():
    row = ok("{op: conv2d, filters: 3, kernel: [5, 7]}", [1, 5, 7])
    assert row.out_shape == (3, 1, 1)  # 5 − 5 + 1 = 1 ; 7 − 7 + 1 = 1


def test_conv2d_groups_pytorch_and_keras():
    row = ok("{op: conv2d, filters: 6, kernel: 3, groups: 3, padding: 1}", [9, 7, 5])
    # same size with k3 p1: (7 + 2 − 3) + 1 = 7 ; (5 + 2 − 3) + 1 = 5
    assert row.out_shape == (6, 7, 5)
    assert tensors(row)[0] == ("weight", (6, 3, 3, 3), True, "param")  # (C_out, C_in/g = 9/3, 3, 3)
    assert row.params == 168  # 6·3·3·3 + 6 = 162 + 6
    assert row.macs == 5_670  # 7·5 × 6 × 3 × 9 = 35 × 162
    assert row.flops == 11_550  # 2·5670 + 35·6 = 11340 + 210
    krow = ok("{op: conv2d, filters: 6, kernel: 3, groups: 3, padding: 1}", [7, 5, 9], layout="hwc", convention="keras")
    assert krow.out_shape == (7, 5, 6)
    assert tensors(krow)[0] == ("kernel", (3, 3, 3, 6), True, "param")  # (kh, kw, C_in/g, C_out)


def test_conv2d_groups_not_dividing_channels_is_e203():
    err = failing("{op: conv2d, filters: 8, kernel: 3, groups: 2}", [3, 5, 17], "E203")
    assert "3 input channels" in err.message
    # "  - {op: conv2d, filters: 8, kernel: 3, groups: 2}": '2' after 4 + 1 + 12 + 12 + 11 + 8 = 48 characters
    assert (err.loc.line, err.loc.col) == (6, 49)


def test_conv2d_groups_not_dividing_filters_is_e203():
    err = failing("{op: conv2d, filters: 4, kernel: 3, groups: 3}", [9, 5, 7], "E203")
    assert "4 filters" in err.message  # 9 % 3 = 0 but 4 % 3 = 1


def test_conv2d_depthwise_defaults_filters_to_channels():
    row = ok("{op: conv2d, kernel: 3, groups: depthwise}", [5, 9, 7])
    # filters = groups = C_in = 5 ; H 9 − 3 + 1 = 7, W 7 − 3 + 1 = 5
    assert row.out_shape == (5, 7, 5)
    assert tensors(row) == [("weight", (5, 1, 3, 3), True, "param"), ("bias", (5,), True, "param")]
    assert row.params == 50  # 5·1·3·3 + 5 = 45 + 5
    assert row.macs == 1_575  # 7·5 × 5 × 1 × 9 = 35 × 45
    assert row.flops == 3_325  # 2·1575 + 35·5 = 3150 + 175


def test_conv2d_depthwise_keras_kernel_layout_with_multiplier():
    row = ok("{op: conv2d, kernel: 3, groups: depthwise}", [9, 7, 5], layout="hwc", convention="keras")
    assert tensors(row) == [("kernel", (3, 3, 5, 1), True, "param"), ("bias", (5,), True, "param")]  # (kh, kw, C, 1)
    row = ok("{op: conv2d, filters: 10, kernel: 3, groups: depthwise}", [9, 7, 5], layout="hwc", convention="keras")
    assert row.out_shape == (7, 5, 10)
    # depth multiplier 10/5 = 2: kernel (3, 3, 5, 2), bias 10
    assert tensors(row) == [("kernel", (3, 3, 5, 2), True, "param"), ("bias", (10,), True, "param")]
    assert row.macs == 3_150  # 7·5 × 10 × 1 × 9 = 35 × 90


def test_conv2d_bias_false():
    row = ok("{op: conv2d, filters: 4, kernel: 3, bias: false}", [3, 7, 9])
    # H 7 − 2 = 5, W 9 − 2 = 7
    assert row.out_shape == (4, 5, 7)
    assert tensors(row) == [("weight", (4, 3, 3, 3), True, "param")]
    assert row.params == 108  # 4·3·3·3
    assert row.macs == 3_780  # 5·7 × 4 × 3 × 9 = 35 × 108
    assert row.flops == 7_560  # 2·3780, no bias adds


def test_conv2d_pytorch_on_channels_last_layout():
    row = ok("{op: conv2d, filters: 4, kernel: 3, stride: 2}", [9, 7, 3], layout="hwc")
    # H (9−3)//2 + 1 = 4 ; W (7−3)//2 + 1 = 3 ; channels stay last; weight still (C_out, C_in, kh, kw)
    assert row.out_shape == (4, 3, 4)
    assert tensors(row)[0] == ("weight", (4, 3, 3, 3), True, "param")


# ---------------------------------------------------------------------------------------------
# conv1d
# ---------------------------------------------------------------------------------------------


def test_conv1d_pytorch_and_keras():
    row = ok("{op: conv1d, filters: 4, kernel: 5, stride: 3, padding: 2}", [3, 23])
    # L: (23 + 4 − 5)//3 + 1 = 22//3 + 1 = 8 (remainder 1 ≤ right padding 2: no warning)
    assert row.out_shape == (4, 8)
    assert tensors(row) == [("weight", (4, 3, 5), True, "param"), ("bias", (4,), True, "param")]
    assert row.params == 64  # 4·3·5 + 4
    assert row.macs == 480  # 8 × 4 × 3 × 5
    assert row.flops == 992  # 2·480 + 8·4
    krow = ok("{op: conv1d, filters: 4, kernel: 5, stride: 3, padding: 2}", [23, 3], layout="hwc", convention="keras")
    assert krow.out_shape == (8, 4)
    assert tensors(krow)[0] == ("kernel", (5, 3, 4), True, "param")  # (k, C_in, C_out)


def test_conv1d_asymmetric_padding_and_w201():
    row = ok("{op: conv1d, filters: 2, kernel: 4, padding: [[2, 1]]}", [1, 10])
    assert row.out_shape == (2, 10)  # 10 + 2 + 1 − 4 + 1 = 10
    row, diags = one_layer("{op: conv1d, filters: 2, kernel: 4, stride: 3}", [1, 24])
    # (24 − 4)//3 + 1 = 20//3 + 1 = 7, remainder 2 → 2 positions unread
    assert row.out_shape == (2, 7)
    assert found(diags) == [("warning", "W201")]
    assert "(24 + 2·0 − 4)/3 + 1 = 7.667" in diags.items[0].message
    assert "the last 2 input positions of 24 are never read" in diags.items[0].message


def test_conv1d_keras_same_dilation_groups_bias():
    row = ok(
        "{op: conv1d, filters: 6, kernel: 4, stride: 2, padding: same, groups: 3, bias: false}",
        [15, 3],
        layout="hwc",
        convention="keras",
    )
    # ceil(15/2) = 8; total (8−1)·2 + 4 − 15 = 3 → (1, 2)
    assert row.out_shape == (8, 6)
    assert geometry(row, "keras", "hwc").pads == [(1, 2)]
    assert tensors(row) == [("kernel", (4, 1, 6), True, "param")]  # (k, C_in/g = 3/3, C_out)
    assert row.macs == 192  # 8 × 6 × 1 × 4
    assert row.flops == 384  # 2·192, no bias
    row = ok("{op: conv1d, filters: 2, kernel: 3, dilation: 3}", [1, 13])
    assert row.out_shape == (2, 7)  # span 3·2 + 1 = 7: 13 − 7 + 1 = 7
    assert row.rf == [(7, 1)]  # 1 + 3·(3−1)·1


def test_conv1d_pytorch_same_stride2_is_e204():
    failing("{op: conv1d, filters: 2, kernel: 3, stride: 2, padding: same}", [1, 13], "E204")


# ---------------------------------------------------------------------------------------------
# conv2d_transpose
# ---------------------------------------------------------------------------------------------


def test_conv2d_transpose_pytorch():
    row = ok("{op: conv2d_transpose, filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}", [4, 7, 9])
    # H: (7−1)·2 − 2·1 + 1·(3−1) + 1 + 1 = 12 − 2 + 2 + 2 = 14 ; W: (9−1)·2 − 2 + 2 + 2 = 18
    assert row.out_shape == (6, 14, 18)
    # weight (C_in, C_out/g, k, k)
    assert tensors(row) == [("weight", (4, 6, 3, 3), True, "param"), ("bias", (6,), True, "param")]
    assert row.params == 222  # 4·6·9 + 6 = 216 + 6
    assert row.macs == 13_608  # H_in·W_in·C_in·C_out·k·k = 7·9·4·6·9 = 63 × 216
    assert row.flops == 28_728  # 2·13608 + 14·18·6 = 27216 + 1512


def test_conv2d_transpose_pytorch_groups_dilation_output_padding():
    row = ok("{op: conv2d_transpose, filters: 6, kernel: 3, groups: 2, dilation: 2, output_padding: 1}", [4, 5, 7])
    # op 1 < max(stride 1, dilation 2) is allowed
    # H: (5−1)·1 − 0 + 2·(3−1) + 1 + 1 = 4 + 4 + 2 = 10 ; W: 6 + 4 + 2 = 12
    assert row.out_shape == (6, 10, 12)
    assert tensors(row)[0] == ("weight", (4, 3, 3, 3), True, "param")  # (C_in, C_out/g = 6/2, 3, 3)
    assert row.macs == 3_780  # 5·7 × 4 × 3 × 9 = 35 × 108


def test_conv2d_transpose_pytorch_output_padding_not_below_stride_is_e204():
    failing("{op: conv2d_transpose, filters: 2, kernel: 3, stride: 2, output_padding: 2}", [1, 5, 7], "E204")


def test_conv2d_transpose_pytorch_same_is_e204():
    failing("{op: conv2d_transpose, filters: 2, kernel: 3, padding: same}", [1, 5, 7], "E204")


def test_conv2d_transpose_keras_same_and_valid():
    row = ok(
        "{op: conv2d_transpose, filters: 6, kernel: 3, stride: 2, padding: same}",
        [7, 9, 4],
        layout="hwc",
        convention="keras",
    )
    assert row.out_shape == (14, 18, 6)  # n·s: 7·2, 9·2
    assert tensors(row) == [("kernel", (3, 3, 6, 4), True, "param"), ("bias", (6,), True, "param")]  # (k, k, Co, Ci)
    assert row.macs == 13_608  # 7·9 × 4 × 6 × 9
    row = ok(
        "{op: conv2d_transpose, filters: 2, kernel: [3, 2], stride: [2, 3], padding: valid}",
        [7, 5, 1],
        layout="hwc",
        convention="keras",
    )
    # H: 7·2 + max(3 − 2, 0) = 15 ; W: 5·3 + max(2 − 3, 0) = 15
    assert row.out_shape == (15, 15, 2)


def test_conv2d_transpose_keras_output_padding():
    row = ok(
        "{op: conv2d_transpose, filters: 1, kernel: 3, stride: 2, padding: same, output_padding: 1}",
        [7, 9, 1],
        layout="hwc",
        convention="keras",
    )
    # (n−1)·s + k − 2·(k//2) + op: H 12 + 3 − 2 + 1 = 14 ; W 16 + 3 − 2 + 1 = 18
    assert row.out_shape == (14, 18, 1)
    row = ok(
        "{op: conv2d_transpose, filters: 1, kernel: 3, stride: 2, padding: valid, output_padding: 1}",
        [7, 9, 1],
        layout="hwc",
        convention="keras",
    )
    # pad 0: H 12 + 3 + 1 = 16 ; W 16 + 3 + 1 = 20
    assert row.out_shape == (16, 20, 1)


def test_conv2d_transpose_keras_output_padding_not_below_stride_is_e204():
    # Keras Conv2DTranspose raises "Strides must be greater than output padding"
    failing(
        "{op: conv2d_transpose, filters: 1, kernel: 3, stride: 2, padding: same, output_padding: 2}",
        [7, 9, 1],
        "E204",
        layout="hwc",
        convention="keras",
    )


# ---------------------------------------------------------------------------------------------
# max / average pooling
# ---------------------------------------------------------------------------------------------


def test_maxpool2d_stride_defaults_to_kernel():
    row = ok("{op: maxpool2d, kernel: 3}", [4, 15, 9])
    # stride 3: H (15 − 3)//3 + 1 = 5 ; W (9 − 3)//3 + 1 = 3
    assert row.out_shape == (4, 5, 3)
    assert row.tensors == [] and row.params == 0 and row.macs == 0
    assert row.flops == 480  # 4·5·3 outputs × (9 − 1) comparisons = 60 × 8
    assert row.rf == [(3, 3), (3, 3)]  # 1 + 2·1 ; j = 3


def test_avgpool2d_flops_and_pair_kernel():
    row = ok("{op: avgpool2d, kernel: [3, 2], stride: [2, 1]}", [4, 15, 9])
    # H (15 − 3)//2 + 1 = 7 ; W (9 − 2)//1 + 1 = 8
    assert row.out_shape == (4, 7, 8)
    assert row.flops == 1_344  # 4·7·8 outputs × 6 (window 3·2: 5 adds + 1 divide) = 224 × 6


def test_pool1d_max_and_avg():
    row = ok("{op: maxpool1d, kernel: 4, stride: 3}", [3, 19])
    assert row.out_shape == (3, 6)  # (19 − 4)//3 + 1 = 6
    assert row.flops == 54  # 18 outputs × 3
    row = ok("{op: avgpool1d, kernel: 4, stride: 3}", [3, 19])
    assert row.flops == 72  # 18 outputs × 4
    row = ok("{op: avgpool1d, kernel: 3}", [18, 5], layout="hwc")
    assert row.out_shape == (6, 5)  # stride 3: (18 − 3)//3 + 1 = 6, channels last


def test_pool_padding():
    row = ok("{op: avgpool2d, kernel: 4, padding: 2}", [2, 9, 13])
    # padding 2 ≤ 4//2 is allowed; stride 4
    # H: (9 + 4 − 4)//4 + 1 = 9//4 + 1 = 3 (rem 1 ≤ pad 2) ; W: (13 + 4 − 4)//4 + 1 = 13//4 + 1 = 4 (rem 1)
    assert row.out_shape == (2, 3, 4)
    assert row.flops == 384  # 2·3·4 outputs × 16
    row, diags = one_layer("{op: avgpool2d, kernel: 4, padding: 2}", [2, 9, 11])
    # W: (11 + 4 − 4) = 11, 11 mod 4 = 3, minus right padding 2 → 1 real column unread
    assert row.out_shape == (2, 3, 3)
    assert found(diags) == [("warning", "W201")]
    assert "(11 + 2·2 − 4)/4 + 1 = 3.75" in diags.items[0].message  # 11/4 + 1


def test_pool_ceil_mode_last_window_in_padding_is_dropped():
    # n=5, k=2, s=2, p=1: floor (5 + 2 − 2)//2 + 1 = 3 ; ceil ⌈5/2⌉ + 1 = 4, but the 4th window starts
    # at 3·2 = 6 ≥ 5 + 1 (it would lie in the right padding) → dropped → 3
    assert ok("{op: maxpool1d, kernel: 2, stride: 2, padding: 1, ceil_mode: true}", [3, 5]).out_shape == (3, 3)
    assert ok("{op: maxpool1d, kernel: 2, stride: 2, padding: 1}", [3, 5]).out_shape == (3, 3)


def test_pool_ceil_mode_vs_floor():
    # n=6, k=3, s=2: ceil ⌈3/2⌉ + 1 = 3 (window 3 starts at 4 < 6: kept) ; floor 3//2 + 1 = 2
    assert ok("{op: avgpool1d, kernel: 3, stride: 2, ceil_mode: true}", [2, 6]).out_shape == (2, 3)
    row, diags = one_layer("{op: avgpool1d, kernel: 3, stride: 2}", [2, 6])
    assert row.out_shape == (2, 2)
    assert found(diags) == [("warning", "W201")]  # 3 mod 2 = 1 real position unread
    assert "the last input position of 6 is never read" in diags.items[0].message


def test_pool2d_ceil_mode_per_axis():
    row = ok("{op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}", [8, 13, 14])
    # H: 13 − 3 = 10 → ⌈10/2⌉ + 1 = 6 ; W: 14 − 3 = 11 → ⌈11/2⌉ + 1 = 7 (window 7 starts at 12 < 14)
    assert row.out_shape == (8, 6, 7)
    assert row.flops == 2_688  # 8·6·7 outputs × 8 = 336 × 8
    row, diags = one_layer("{op: maxpool2d, kernel: 3, stride: 2}", [8, 13, 14])
    assert row.out_shape == (8, 6, 6)  # floor: W 11//2 + 1 = 6
    assert found(diags) == [("warning", "W201")]
    assert "the last input column of 14 is never read" in diags.items[0].message


def test_pool_ceil_mode_window_longer_than_input_gives_one():
    # PyTorch: MaxPool1d(3, 2, ceil_mode=True) on length 2: ⌈(2 − 3)/2⌉ + 1 = 0 + 1 = 1 (the window is clipped)
    assert ok("{op: maxpool1d, kernel: 3, stride: 2, ceil_mode: true}", [1, 2]).out_shape == (1, 1)
    # ... but not when even the ceiling is below 1: ⌈(3 − 6)/2⌉ + 1 = −1 + 1 = 0
    failing("{op: maxpool1d, kernel: 6, stride: 2, ceil_mode: true}", [1, 3], "E201")
    # without ceil_mode: (2 − 3)/2 + 1 = 0.5 < 1
    failing("{op: maxpool1d, kernel: 3, stride: 2}", [1, 2], "E201")


def test_maxpool_dilation():
    row = ok("{op: maxpool2d, kernel: 3, stride: 2, dilation: 2, padding: 1}", [2, 15, 12])
    # span 2·2 + 1 = 5: H (15 + 2 − 5)//2 + 1 = 7 ; W (12 + 2 − 5)//2 + 1 = 5 (rem 1 ≤ pad 1)
    assert row.out_shape == (2, 7, 5)
    assert row.flops == 560  # 2·7·5 outputs × (9 taps − 1) = 70 × 8
    assert row.rf == [(5, 2), (5, 2)]  # 1 + 2·(3−1)·1 = 5, j = 2


def test_pool_pytorch_padding_more_than_half_kernel_is_e204():
    failing("{op: maxpool2d, kernel: 3, padding: 2}", [1, 9, 9], "E204")  # 2 > 3//2 = 1
    failing("{op: avgpool1d, kernel: 4, padding: 3}", [1, 9], "E204")  # 3 > 4//2 = 2
    # PyTorch compares with the kernel itself, not the dilated window: 2 > 3//2 even though the span is 5
    failing("{op: maxpool2d, kernel: 3, dilation: 2, padding: 2}", [1, 15, 15], "E204")


def test_pool_pytorch_same_is_e204_keras_same_is_ceil():
    failing("{op: maxpool2d, kernel: 3, stride: 2, padding: same}", [1, 17, 10], "E204")
    row = ok("{op: maxpool2d, kernel: 3, stride: 2, padding: same}", [17, 10, 3], layout="hwc", convention="keras")
    assert row.out_shape == (9, 5, 3)  # ⌈17/2⌉ = 9, ⌈10/2⌉ = 5
    assert row.flops == 1_080  # 9·5·3 outputs × 8 = 135 × 8


# ---------------------------------------------------------------------------------------------
# global pooling
# ---------------------------------------------------------------------------------------------


def test_global_pool2d():
    row = ok("{op: global_avgpool2d}", [7, 5, 3])
    assert row.out_shape == (7,)
    assert row.flops == 105  # 7 channels × 5·3
    assert row.params == 0
    assert row.rf is None  # no spatial axis is left
    row = ok("{op: global_maxpool2d}", [7, 5, 3])
    assert row.flops == 98  # 7 × (15 − 1)
    row = ok("{op: global_avgpool2d, keepdims: true}", [7, 5, 3])
    assert row.out_shape == (7, 1, 1)
    assert row.rf == [(5, 1), (3, 1)]  # the whole map: 1 + (5 − 1), 1 + (3 − 1)
    assert ok("{op: global_maxpool2d, keepdims: true}", [5, 3, 7], layout="hwc").out_shape == (1, 1, 7)
    assert ok("{op: global_maxpool2d}", [5, 3, 7], layout="hwc").out_shape == (7,)


def test_global_pool1d():
    row = ok("{op: global_avgpool1d}", [6, 11])
    assert row.out_shape == (6,)
    assert row.flops == 66  # 6 × 11
    assert ok("{op: global_maxpool1d}", [6, 11]).flops == 60  # 6 × 10
    assert ok("{op: global_avgpool1d, keepdims: true}", [6, 11]).out_shape == (6, 1)
    assert ok("{op: global_maxpool1d, keepdims: true}", [11, 6], layout="hwc").out_shape == (1, 6)


def test_global_pool2d_wrong_rank_is_e202():
    failing("{op: global_avgpool2d}", [6, 11], "E202")


# ---------------------------------------------------------------------------------------------
# 3-D layers (conv3d, conv3d_transpose, pools) and conv1d_transpose
# ---------------------------------------------------------------------------------------------


def test_conv3d_pytorch_counts_and_w201_names_the_depth_slice():
    row, diags = one_layer("{op: conv3d, filters: 4, kernel: 3, stride: 2}", [2, 8, 9, 9])
    # (C, D, H, W): D (8 − 3)//2 + 1 = 3, remainder 1 → one slice unread; H, W (9 − 3)/2 + 1 = 4
    assert row.out_shape == (4, 3, 4, 4)
    assert tensors(row) == [("weight", (4, 2, 3, 3, 3), True, "param"), ("bias", (4,), True, "param")]
    assert row.params == 220  # 4·2·27 + 4
    assert row.macs == 10_368  # 3·4·4 positions × 4 × 2·27 = 48 × 216
    assert row.flops == 20_928  # 2·10368 + 48·4
    assert found(diags) == [("warning", "W201")]
    assert "output depth (8 + 2·0 − 3)/2 + 1 = 3.5" in diags.items[0].message
    assert "the last input slice of 8 is never read" in diags.items[0].message
    assert row.rf == [(3, 2), (3, 2), (3, 2)]  # 1 + (3 − 1)·1 per axis, jump 2


def test_conv3d_one_warning_names_all_three_axes():
    row, diags = one_layer("{op: conv3d, filters: 1, kernel: 3, stride: 2}", [1, 6, 6, 6])
    assert row.out_shape == (1, 2, 2, 2)  # (6 − 3)//2 + 1 on each axis, remainder 1
    assert found(diags) == [("warning", "W201")]
    assert "output depth, height and width (6 + 2·0 − 3)/2 + 1 = 2.5" in diags.items[0].message


def test_conv3d_keras_channels_last_and_depthwise_kernel():
    row = ok("{op: conv3d, filters: 6, kernel: [1, 3, 3], padding: same}", [4, 7, 5, 3], layout="hwc",
             convention="keras")  # fmt: skip
    assert row.out_shape == (4, 7, 5, 6)  # (D, H, W, C), 'same' at stride 1 keeps every axis
    assert tensors(row)[0] == ("kernel", (1, 3, 3, 3, 6), True, "param")  # (kd, kh, kw, C_in, filters)
    # no DepthwiseConv3D in Keras: Conv3D(groups=C_in), kernel (k, k, k, C_in/groups = 1, filters)
    row = ok("{op: conv3d, groups: depthwise, filters: 6, kernel: 3}", [5, 5, 5, 3], layout="hwc", convention="keras")
    assert row.out_shape == (3, 3, 3, 6)
    assert tensors(row) == [("kernel", (3, 3, 3, 1, 6), True, "param"), ("bias", (6,), True, "param")]
    assert row.params == 168  # 27·6 + 6
    assert row.macs == 4_374  # 27 positions × 6 × 1 × 27
    # PyTorch: Conv3d(3, 6, 3, groups=3), weight (6, 1, 3, 3, 3): the same count
    row = ok("{op: conv3d, groups: depthwise, filters: 6, kernel: 3}", [3, 5, 5, 5])
    assert tensors(row)[0] == ("weight", (6, 1, 3, 3, 3), True, "param")
    assert row.params == 168


@pytest.mark.parametrize(
    ("layer", "nd"),
    [
        ("{op: conv3d, filters: 2, kernel: 3}", 3),
        ("{op: conv3d_transpose, filters: 2, kernel: 3}", 3),
        ("{op: maxpool3d, kernel: 2}", 3),
        ("{op: avgpool3d, kernel: 2}", 3),
        ("{op: global_avgpool3d}", 3),
        ("{op: global_maxpool3d}", 3),
    ],
)
def test_3d_layers_on_a_2d_map_are_e202(layer, nd):
    d = failing(layer, [3, 32, 32], "E202")
    assert "takes a 3-D feature map (4 axes without the batch, channels-first), got an input of shape 3×32×32 (3 axes)" in d.message  # fmt: skip


def test_conv1d_transpose_on_a_2d_map_is_e202():
    d = failing("{op: conv1d_transpose, filters: 2, kernel: 3}", [5, 6, 3], "E202", layout="hwc")
    assert "takes a 1-D feature map (2 axes without the batch, channels-last)" in d.message


def test_conv1d_transpose_pytorch_and_keras():
    row = ok("{op: conv1d_transpose, filters: 4, kernel: 5, stride: 3, padding: 2, output_padding: 2}", [6, 7])
    # (7 − 1)·3 − 2·2 + (5 − 1) + 2 + 1 = 18 − 4 + 4 + 3 = 21
    assert row.out_shape == (4, 21)
    assert tensors(row) == [("weight", (6, 4, 5), True, "param"), ("bias", (4,), True, "param")]  # (C_in, C_out, k)
    assert row.macs == 840  # 7 × 6 × 4 × 5
    assert row.flops == 1_764  # 2·840 + 21·4
    # Keras, padding not written: 'valid', n·s + max(k − s, 0) = 7·3 + 2 = 23; kernel (k, filters, C_in)
    row = ok("{op: conv1d_transpose, filters: 4, kernel: 5, stride: 3}", [7, 6], layout="hwc", convention="keras")
    assert row.out_shape == (23, 4)
    assert tensors(row)[0] == ("kernel", (5, 4, 6), True, "param")
    # the same layer under PyTorch: padding 0, (7 − 1)·3 + 5 = 23 as well (k ≥ s); with k < s they differ
    assert ok("{op: conv1d_transpose, filters: 1, kernel: 2, stride: 3}", [1, 7]).out_shape == (1, 20)  # 6·3 + 2
    keras = ok("{op: conv1d_transpose, filters: 1, kernel: 2, stride: 3}", [7, 1], layout="hwc", convention="keras")
    assert keras.out_shape == (21, 1)  # 7·3 + max(2 − 3, 0)


def test_conv_transpose_keras_default_padding_is_valid_in_every_rank():
    # Keras's Conv1D/2D/3DTranspose default to padding='valid': n·s + max(k − s, 0), never (n − 1)s + k
    for op, shape, out in (
        ("conv1d_transpose", [3, 2], (9, 2)),  # 3·3 + max(2 − 3, 0)
        ("conv2d_transpose", [3, 2, 2], (9, 6, 2)),  # 3·3, 2·3
        ("conv3d_transpose", [1, 3, 2, 2], (3, 9, 6, 2)),
    ):
        row = ok(f"{{op: {op}, filters: 2, kernel: 2, stride: 3}}", shape, layout="hwc", convention="keras")
        assert row.out_shape == out, op


def test_conv_transpose_pytorch_same_names_the_rank():
    d = failing("{op: conv1d_transpose, filters: 2, kernel: 3, padding: same}", [1, 5], "E204")
    assert "PyTorch's ConvTranspose1d takes no padding 'same'" in d.message
    d = failing("{op: conv3d_transpose, filters: 2, kernel: 3, padding: same}", [1, 5, 5, 5], "E204")
    assert "PyTorch's ConvTranspose3d takes no padding 'same'" in d.message


def test_conv3d_transpose_pytorch_and_keras():
    row = ok("{op: conv3d_transpose, filters: 2, kernel: [2, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}",
             [4, 3, 5, 6])  # fmt: skip
    # D (3 − 1)·1 + (2 − 1) + 1 = 4 ; H (5 − 1)·2 − 2 + 2 + 1 = 9 ; W (6 − 1)·2 − 2 + 3 = 11
    assert row.out_shape == (2, 4, 9, 11)
    assert tensors(row)[0] == ("weight", (4, 2, 2, 3, 3), True, "param")
    assert row.params == 146  # 4·2·18 + 2
    assert row.macs == 12_960  # 3·5·6 inputs × 4 × 2 × 18 = 90 × 144
    row = ok("{op: conv3d_transpose, filters: 2, kernel: 3, stride: 2, padding: same}", [3, 5, 6, 4], layout="hwc",
             convention="keras")  # fmt: skip
    assert row.out_shape == (6, 10, 12, 2)  # n·s
    assert tensors(row)[0] == ("kernel", (3, 3, 3, 2, 4), True, "param")  # (k, k, k, filters, C_in)


def test_conv_transpose_explain_lines():
    row = ok("{op: conv3d_transpose, filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1}", [4, 3, 5, 6])
    lines = row.ltype.explain(geometry(row), None)
    # (3 − 1)·2 − 1 − 1 + (3 − 1) + 1 + 1 = 6
    assert lines[0] == ("output depth: (n − 1)s − p₁ − p₂ + d(k − 1) + output_padding + 1 = (3 − 1)·2 − 1 − 1 + "
                        "(3 − 1) + 1 + 1 = 6")  # fmt: skip
    assert (
        lines[3] == "weights: C_in × filters/groups × k × k × k = 4 × 2 × 3 × 3 × 3 = 216 + 2 biases = 218 parameters"
    )
    assert lines[4].startswith("MACs: input positions × C_in × filters/groups × k × k × k = 3 × 5 × 6 × 4 × 2 × 3 × 3 × 3 = 19,440")  # fmt: skip
    assert "kernel span 3 is not a multiple of stride 2 on the depth" in lines[5]
    row = ok("{op: conv1d_transpose, filters: 1, kernel: 2, stride: 3}", [7, 1], layout="hwc", convention="keras")
    lines = row.ltype.explain(geometry(row, "keras", "hwc"), None)
    assert lines[0] == "output length (Keras 'valid'): n·s + max(d(k − 1) + 1 − s, 0) = 7·3 + max(2 − 3, 0) = 21"
    assert lines[-1].startswith("stride 3 > kernel span 2 on the length: 1 of every 3 output positions receive no tap")


def test_conv3d_explain_lines():
    row = ok("{op: conv3d, filters: 4, kernel: [1, 3, 3], padding: [0, 1, 1], groups: 2}", [6, 8, 7, 5])
    lines = row.ltype.explain(geometry(row), None)
    assert lines[0] == "output depth: (n + p₁ + p₂ − d(k − 1) − 1)/s + 1 = (8 + 2·0 − 1)/1 + 1 = 8"
    assert lines[3] == ("weights: filters × C_in/groups × k × k × k = 4 × 3 × 1 × 3 × 3 (C_in/groups = 6/2) = 108 + 4 "
                        "biases = 112 parameters")  # fmt: skip
    # 6 input channels in 2 groups: each filter reads the 3 of its group through a 1 × 3 × 3 window
    assert lines[4] == (
        "each of the 4 filters is 3 × 1 × 3 × 3: it spans the 3 input channels of its group (2 groups of 3 of the "
        "6), so the 4 filters make the 4 output channels"
    )
    assert (
        lines[5]
        == "MACs: output positions × filters × C_in/groups × k × k × k = 8 × 7 × 5 × 4 × 3 × 1 × 3 × 3 = 30,240"
    )


def test_pool3d_counts_and_pytorch_avgpool3d_refuses_an_input_below_the_kernel():
    # stride = kernel: D 8, H 16, W (31 − 2)//2 + 1 = 15, the remainder 29 mod 2 = 1 leaving a column unread (W201)
    row, diags = one_layer("{op: maxpool3d, kernel: [1, 2, 2]}", [16, 8, 32, 31])
    assert row.out_shape == (16, 8, 16, 15)
    assert found(diags) == [("warning", "W201")]
    assert row.flops == 92_160  # 16·8·16·15 = 30,720 outputs × 3 comparisons
    row = ok("{op: avgpool3d, kernel: 2, stride: 2}", [3, 4, 6, 8])
    assert row.out_shape == (3, 2, 3, 4)
    assert row.flops == 576  # 72 outputs × 8
    # nn.AvgPool3d(3, 2, 1) on a depth of 2 raises "input image (T: 2 …) smaller than kernel size (kT: 3 …)",
    # although the padded depth 4 holds the window (AvgPool2d and MaxPool3d accept it)
    d = failing("{op: avgpool3d, kernel: 3, stride: 2, padding: 1}", [1, 2, 5, 5], "E204")
    assert "the depth 2 is smaller than the kernel 3: PyTorch's AvgPool3d refuses" in d.message
    assert ok("{op: maxpool3d, kernel: 3, stride: 2, padding: 1}", [1, 2, 5, 5]).out_shape == (1, 1, 3, 3)
    # Keras's AveragePooling3D with 'same' takes it: ⌈2/2⌉ = 1, ⌈5/2⌉ = 3
    row = ok("{op: avgpool3d, kernel: 3, stride: 2, padding: same}", [2, 5, 5, 1], layout="hwc", convention="keras")
    assert row.out_shape == (1, 3, 3, 1)


def test_global_pool3d_shapes_in_both_layouts():
    row = ok("{op: global_avgpool3d}", [7, 4, 5, 3])
    assert row.out_shape == (7,)  # AdaptiveAvgPool3d(1) + flatten; Keras GlobalAveragePooling3D
    assert row.flops == 420  # 7 × 4·5·3
    assert ok("{op: global_maxpool3d}", [7, 4, 5, 3]).flops == 413  # 7 × 59
    row = ok("{op: global_avgpool3d, keepdims: true}", [7, 4, 5, 3])
    assert row.out_shape == (7, 1, 1, 1)
    assert ok("{op: global_maxpool3d, keepdims: true}", [4, 5, 3, 7], layout="hwc").out_shape == (1, 1, 1, 7)
    lines = row.ltype.explain(geometry(row), None)  # the keepdims average above, 7 channels of 4 × 5 × 3
    assert lines[0] == (
        "averages each of the 7 channels' 4 × 5 × 3 = 60 values into one number: 7 numbers out, and no parameters "
        "(nothing here is learnt)"
    )
    # the alternatives: the max pool's 7 × 59 = 413 FLOPs; a 1×1 conv to one channel: 7 + 1 = 8 parameters
    assert lines[3] == (
        "instead, global max pooling keeps each channel's largest value rather than its mean: the same 7 outputs; "
        "413 FLOPs"
    )
    assert lines[4].startswith(
        "instead, a 1×1 convolution to one channel mixes the 7 channels into one number at each position: "
        "7 weights + 1 bias = 8 parameters, output 4 × 5 × 3 positions × 1 channel = 60 numbers"
    )
    assert lines[1:3] == [
        "one mean per channel over 4 × 5 × 3 = 60 positions: 59 adds and 1 divide = 60 per channel, × 7 channels = "
        "420 FLOPs",
        "output 7×1×1×1 (keepdims): PyTorch's nn.AdaptiveAvgPool3d(1) as it is, Keras's "
        "layers.GlobalAveragePooling3D(keepdims=True)",
    ]
    row = ok("{op: global_maxpool3d}", [7, 4, 5, 3])
    assert row.ltype.explain(geometry(row), None)[2] == (
        "output 7: PyTorch's nn.AdaptiveMaxPool3d(1) gives (7, 1, 1, 1), then flattened; Keras's "
        "layers.GlobalMaxPooling3D gives (7) directly"
    )


# ---------------------------------------------------------------------------------------------
# dense
# ---------------------------------------------------------------------------------------------


def test_dense_rank1_pytorch_and_keras():
    row = ok("{op: dense, units: 10}", [7])
    assert row.out_shape == (10,)
    assert tensors(row) == [("weight", (10, 7), True, "param"), ("bias", (10,), True, "param")]  # (units, in)
    assert row.params == 80  # 70 + 10
    assert row.macs == 70  # 7 × 10
    assert row.flops == 150  # 2·70 + 10
    krow = ok("{op: dense, units: 10}", [7], layout="hwc", convention="keras")
    assert tensors(krow) == [("kernel", (7, 10), True, "param"), ("bias", (10,), True, "param")]  # (in, units)


def test_dense_rank3_uses_last_axis_of_layout():
    row = ok("{op: dense, units: 6}", [3, 5, 9])
    # chw: the last axis is W = 9; the 3·5 = 15 other positions are kept
    assert row.out_shape == (3, 5, 6)
    assert tensors(row)[0] == ("weight", (6, 9), True, "param")
    assert row.macs == 810  # 15 × 9 × 6
    assert row.flops == 1_710  # 2·810 + 15·6 = 1620 + 90
    row = ok("{op: dense, units: 6}", [5, 9, 3], layout="hwc", convention="keras")
    # hwc: the last axis is C = 3; 5·9 = 45 positions
    assert row.out_shape == (5, 9, 6)
    assert tensors(row)[0] == ("kernel", (3, 6), True, "param")
    assert row.macs == 810  # 45 × 3 × 6
    assert row.flops == 1_890  # 2·810 + 45·6 = 1620 + 270
    assert row.rf is None


def test_dense_bias_false():
    row = ok("{op: dense, units: 5, bias: false}", [11])
    assert tensors(row) == [("weight", (5, 11), True, "param")]
    assert row.params == 55  # 5 × 11
    assert row.flops == 110  # 2·55


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "flops"),
    [
        ("relu", 105),  # 3·5·7 = 105 elements × 1
        ("relu6", 105),
        ("leaky_relu", 105),
        ("elu", 105),
        ("gelu", 105),
        ("selu", 105),
        ("sigmoid", 105),
        ("tanh", 105),
        ("softmax", 315),  # × 3 (exp, sum, divide)
        ("identity", 0),
    ],
)
def test_activation_layers(op, flops):
    row = ok(f"{{op: {op}}}", [3, 5, 7])
    assert row.out_shape == (3, 5, 7)
    assert row.params == 0 and row.macs == 0
    assert row.flops == flops


def test_leaky_relu_default_slope_by_convention():
    row = ok("{op: leaky_relu}", [3, 5, 7])
    assert geometry(row).negative_slope == 0.01  # torch.nn.LeakyReLU default
    krow = ok("{op: leaky_relu}", [5, 7, 3], layout="hwc", convention="keras")
    assert geometry(krow, "keras", "hwc").negative_slope == 0.3  # keras.layers.LeakyReLU default
    row = ok("{op: leaky_relu, negative_slope: 0.2}", [3, 5, 7])
    assert geometry(row).negative_slope == 0.2


def test_softmax_axis_out_of_range_is_e202():
    failing("{op: softmax, axis: 3}", [3, 5, 7], "E202")  # axes 0..2
    failing("{op: softmax, axis: -4}", [3, 5, 7], "E202")  # axes −3..−1
    assert ok("{op: softmax, axis: -3}", [3, 5, 7]).flops == 315


def test_activation_shorthand_on_conv_is_a_separate_row():
    analysis, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [3, 9, 11]}
        layers:
          - {op: conv2d, filters: 4, kernel: 3, activation: relu}
          - {op: dense, units: 5, activation: softmax}
          - {op: dense, units: 3, activation: linear}
          - {op: dense, units: 2, activation: {op: leaky_relu, negative_slope: 0.2}}
        """
    )
    assert found(diags) == []
    names = [r.node.name for r in analysis.rows]
    assert names == [
        "conv2d_1",
        "conv2d_1.relu",
        "dense_1",
        "dense_1.softmax",
        "dense_2",
        "dense_2.identity",
        "dense_3",
        "dense_3.leaky_relu",
    ]
    conv, relu, _, softmax, _, ident, _, leaky = analysis.rows
    # conv: (4, 7, 9); relu keeps it and counts 1 per element
    assert conv.out_shape == relu.out_shape == (4, 7, 9)
    assert relu.node.part_of == "conv2d_1"
    assert relu.flops == 252  # 4·7·9
    assert relu.params == 0
    assert conv.flops == 13_860  # conv alone: 2·(63·4·27) + 63·4 = 2·6804 + 252
    # dense_1 on W = 9 → (4, 7, 5); softmax 3 per element
    assert softmax.out_shape == (4, 7, 5)
    assert softmax.flops == 420  # 3 × 140
    assert ident.out_shape == (4, 7, 3)
    assert ident.flops == 0  # 'linear' = identity
    assert leaky.out_shape == (4, 7, 2)
    assert leaky.flops == 56  # 4·7·2
    assert geometry(leaky).negative_slope == 0.2


def test_activation_shorthand_refused_on_pooling():
    _, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [3, 9, 11]}
        layers:
          - {op: maxpool2d, kernel: 3, activation: relu}
        """
    )
    assert found(diags) == [("error", "E102")]


# ---------------------------------------------------------------------------------------------
# dropout, batchnorm, layernorm
# ---------------------------------------------------------------------------------------------


def test_dropout():
    row = ok("{op: dropout, rate: 0.25}", [3, 5, 7])
    assert row.out_shape == (3, 5, 7)
    assert row.params == 0 and row.flops == 0  # identity at inference


def test_dropout_rate_one_is_an_error():
    row, diags = one_layer("{op: dropout, rate: 1.0}", [3, 5, 7])
    assert row is None
    assert found(diags) == [("error", "E104")]


def test_batchnorm_pytorch_buffers():
    row = ok("{op: batchnorm}", [6, 5, 7])
    assert tensors(row) == [
        ("weight", (6,), True, "param"),
        ("bias", (6,), True, "param"),
        ("running_mean", (6,), False, "buffer"),
        ("running_var", (6,), False, "buffer"),
    ]
    assert row.params == 12  # γ, β: 2·6
    assert row.trainable == 12
    assert row.buffers == 12  # running mean and var: 2·6, not parameters
    assert row.flops == 420  # 2 × 6·5·7
    assert row.out_shape == (6, 5, 7)


def test_batchnorm_keras_non_trainable_params():
    row = ok("{op: batchnorm}", [5, 7, 6], layout="hwc", convention="keras")
    assert tensors(row) == [
        ("gamma", (6,), True, "param"),
        ("beta", (6,), True, "param"),
        ("moving_mean", (6,), False, "param"),
        ("moving_variance", (6,), False, "param"),
    ]
    assert row.params == 24  # 4 × 6
    assert row.trainable == 12  # γ, β
    assert row.buffers == 0


def test_batchnorm_channel_axis_follows_layout():
    assert ok("{op: batchnorm}", [4, 5, 7]).params == 8  # chw: C = 4 → 2·4
    assert ok("{op: batchnorm}", [4, 5, 7], layout="hwc").params == 14  # hwc: C = 7 → 2·7
    assert ok("{op: batchnorm}", [9]).params == 18  # features: 2·9
    assert ok("{op: batchnorm}", [3, 11]).buffers == 6  # 1-D map (C, L): 2·3


def test_batchnorm_affine_false():
    row = ok("{op: batchnorm, affine: false}", [6, 5, 7])
    assert row.params == 0
    assert row.buffers == 12  # running statistics stay
    row = ok("{op: batchnorm, affine: false}", [5, 7, 6], layout="hwc", convention="keras")
    assert row.params == 12  # moving mean/variance, non-trainable
    assert row.trainable == 0


def test_layernorm_default_last_axis():
    row = ok("{op: layernorm}", [4, 5, 7])
    assert tensors(row) == [("weight", (7,), True, "param"), ("bias", (7,), True, "param")]
    assert row.params == 14  # 2 × 7
    assert row.flops == 980  # 7 × 4·5·7 = 7 × 140
    krow = ok("{op: layernorm}", [5, 7, 4], layout="hwc", convention="keras")
    assert tensors(krow) == [("gamma", (4,), True, "param"), ("beta", (4,), True, "param")]


def test_layernorm_axes_list_and_affine_false():
    assert ok("{op: layernorm, axes: [1, 2]}", [4, 5, 7]).params == 70  # 2 × 5·7
    row = ok("{op: layernorm, axes: [-1, 0]}", [4, 5, 7])
    assert tensors(row)[0] == ("weight", (4, 7), True, "param")  # axes {0, 2}, in order
    assert row.params == 56  # 2 × 4·7
    row = ok("{op: layernorm, affine: false}", [4, 5, 7])
    assert row.params == 0
    assert row.flops == 700  # 5 × 140
    failing("{op: layernorm, axes: [3]}", [4, 5, 7], "E202")


def test_groupnorm_counts_gamma_and_beta_per_channel_in_both_conventions():
    row = ok("{op: groupnorm, groups: 8}", [64, 5, 7])
    # nn.GroupNorm(8, 64): weight and bias per channel (64 each, not per group), no buffers
    assert tensors(row) == [("weight", (64,), True, "param"), ("bias", (64,), True, "param")]
    assert (row.params, row.buffers, row.macs) == (128, 0, 0)
    assert row.flops == 15_680  # 7 × 64·5·7 = 7 × 2,240
    krow = ok("{op: groupnorm, groups: 8}", [5, 7, 64], layout="hwc", convention="keras")
    # GroupNormalization(groups=8): gamma and beta, both trainable, nothing non-trainable
    assert tensors(krow) == [("gamma", (64,), True, "param"), ("beta", (64,), True, "param")]
    assert (krow.params, krow.trainable) == (128, 128)
    assert ok("{op: groupnorm, groups: 2, affine: false}", [4, 5, 7]).flops == 700  # 5 × 140


def test_groupnorm_groups_divide_the_layouts_channels():
    assert ok("{op: groupnorm, groups: 5}", [4, 5, 10], layout="hwc").params == 20  # C = 10 (last): 2·10
    d = failing("{op: groupnorm, groups: 5}", [4, 5, 10], "E203")  # chw: C = 4, not divisible by 5
    assert "groups 5 does not divide the 4 channels" in d.message
    assert (d.loc.line, d.loc.col) == (6, 29)  # at the value of `groups` in `  - {op: groupnorm, groups: 5}`
    failing("{op: groupnorm, groups: 16}", [8], "E203")  # more groups than channels


def test_groupnorm_eps_follows_the_convention_unless_written():
    assert geometry(ok("{op: groupnorm, groups: 2}", [4, 3, 3])).eps == 1e-5  # PyTorch nn.GroupNorm
    row = ok("{op: groupnorm, groups: 2}", [3, 3, 4], layout="hwc", convention="keras")
    assert geometry(row, "keras", "hwc").eps == 1e-3  # Keras GroupNormalization
    assert geometry(ok("{op: groupnorm, groups: 2, eps: 0.1}", [4, 3, 3])).eps == 0.1


def test_instancenorm_defaults_differ_by_convention():
    row = ok("{op: instancenorm}", [8, 5, 6])
    # nn.InstanceNorm2d(8): affine=False, no running statistics: nothing counted; eps 1e-5
    assert tensors(row) == [] and (row.params, row.buffers) == (0, 0)
    assert row.flops == 1_200  # 5 × 8·5·6
    assert geometry(row).eps == 1e-5
    krow = ok("{op: instancenorm}", [5, 6, 8], layout="hwc", convention="keras")
    # Keras GroupNormalization(groups=-1): center and scale true, epsilon 1e-3
    assert tensors(krow) == [("gamma", (8,), True, "param"), ("beta", (8,), True, "param")]
    assert krow.flops == 1_680 and geometry(krow, "keras", "hwc").eps == 1e-3  # 7 × 240
    assert ok("{op: instancenorm, affine: true, eps: 0.1}", [8, 5, 6]).params == 16
    err = failing("{op: instancenorm}", [8], "E202")  # a vector: one position per channel
    assert "got a vector of shape 8" in err.message


def test_prelu_counts_each_conventions_alphas():
    assert tensors(ok("{op: prelu}", [4, 5, 6])) == [("weight", (1,), True, "param")]  # nn.PReLU()
    assert tensors(ok("{op: prelu, alphas: channel}", [5, 6, 4], layout="hwc")) == [("weight", (4,), True, "param")]
    # Keras PReLU(): one α per element of the 5×6×4 input; shared over height and width: (1, 1, 4)
    k = ok("{op: prelu}", [5, 6, 4], layout="hwc", convention="keras")
    assert tensors(k) == [("alpha", (5, 6, 4), True, "param")] and k.params == 120
    kc = ok("{op: prelu, alphas: channel}", [4, 5, 6], convention="keras")  # channels first: (4, 1, 1)
    assert tensors(kc) == [("alpha", (4, 1, 1), True, "param")]
    assert geometry(ok("{op: prelu}", [3, 4])).negative_slope == 0.25  # PyTorch's init
    assert geometry(k, "keras", "hwc").negative_slope == 0.0  # Keras's zeros
    err = failing("{op: prelu, alphas: element}", [4, 5, 6], "E105")
    assert "PyTorch's nn.PReLU has one α" in err.message
    assert (ok("{op: prelu}", [4, 5, 6]).macs, ok("{op: prelu}", [4, 5, 6]).flops) == (0, 120)


def test_adaptive_pools_window_sizes_and_receptive_field():
    row = ok("{op: adaptive_avgpool2d, output_size: [6, 7]}", [3, 13, 5])
    g = geometry(row)
    # 13 → 6: [⌊13i/6⌋, ⌈13(i + 1)/6⌉) = [0,3) [2,5) [4,7) [6,9) [8,11) [10,13); 5 → 7: sizes 1 2 2 1 2 2 1
    assert g.starts[0] == (0, 2, 4, 6, 8, 10) and g.ends[0] == (3, 5, 7, 9, 11, 13)
    assert g.sizes[1] == (1, 2, 2, 1, 2, 2, 1)
    # receptive field: the largest window (3 and 2), the jump the mean step 13/6 and 5/7
    from fractions import Fraction

    assert row.rf == [(3, Fraction(13, 6)), (2, Fraction(5, 7))]
    assert ok("{op: adaptive_maxpool2d, output_size: 2}", [4, 8, 8]).rf == [(4, 4), (4, 4)]  # kernel = stride 4
    failing("{op: adaptive_avgpool2d, output_size: 2}", [4, 8], "E202")  # a 1-D map


def test_permute_and_repeat_vector():
    assert ok("{op: permute, dims: [3, 1, 2]}", [3, 4, 5]).out_shape == (5, 3, 4)
    err = failing("{op: permute, dims: [0, 2, 1]}", [3, 4, 5], "E202")  # PyTorch's numbering, with the batch
    assert "dims [0, 2, 1]" in err.message and "from 1, without the batch" in err.message
    row = ok("{op: repeat_vector, n: 7}", [16])
    assert row.out_shape == (7, 16) and (row.params, row.flops) == (0, 0)
    failing("{op: repeat_vector, n: 7}", [4, 16], "E202")


# ---------------------------------------------------------------------------------------------
# flatten, reshape, zero padding, upsampling
# ---------------------------------------------------------------------------------------------


def test_flatten():
    row = ok("{op: flatten}", [4, 5, 7])
    assert row.out_shape == (140,)  # 4·5·7
    assert row.params == 0 and row.flops == 0
    assert row.rf is None


def test_reshape():
    assert ok("{op: reshape, shape: [-1, 5]}", [3, 5, 7]).out_shape == (21, 5)  # 105 / 5
    assert ok("{op: reshape, shape: [7, 15]}", [3, 5, 7]).out_shape == (7, 15)  # 105 = 7·15
    err = failing("{op: reshape, shape: [4, -1]}", [3, 5, 7], "E205")
    assert "not divisible by 4" in err.message  # 105 mod 4 = 1
    err = failing("{op: reshape, shape: [10, 10]}", [3, 5, 7], "E205")
    assert "(100 elements)" in err.message  # 100 ≠ 105


def test_zeropad2d():
    row = ok("{op: zeropad2d, padding: [[1, 2], [0, 3]]}", [3, 5, 7])
    assert row.out_shape == (3, 8, 10)  # H 5 + 1 + 2, W 7 + 0 + 3
    assert row.flops == 0 and row.params == 0
    assert ok("{op: zeropad2d, padding: [[1, 2], [0, 3]]}", [5, 7, 3], layout="hwc").out_shape == (8, 10, 3)
    assert ok("{op: zeropad2d, padding: 2}", [3, 5, 7]).out_shape == (3, 9, 11)  # + 2·2 each
    assert ok("{op: zeropad2d, padding: [1, 3]}", [3, 5, 7]).out_shape == (3, 7, 13)  # 5 + 2, 7 + 6


def test_zeropad1d():
    assert ok("{op: zeropad1d, padding: [[2, 1]]}", [3, 7]).out_shape == (3, 10)  # 7 + 2 + 1
    assert ok("{op: zeropad1d, padding: [[2, 1]]}", [7, 3], layout="hwc").out_shape == (10, 3)
    assert ok("{op: zeropad1d, padding: 3}", [3, 7]).out_shape == (3, 13)  # 7 + 3 + 3
    assert ok("{op: zeropad1d, padding: [2, 1]}", [3, 7]).out_shape == (
        3,
        10,
    )  # the pair alone, as nn.ZeroPad1d((2, 1))


def _warnings(text):
    analysis, diags = run_spec(text)
    assert analysis is not None, [d.format() for d in diags.items]
    return [d for d in diags.items if d.severity == "warning"]


def test_w201_quiet_when_only_a_zero_padding_before_is_left_unread():
    # 32 + 1 + 1 = 34; (34 − 3)/2 + 1 = 16.5 → 16 windows at 0, 2, …, 30 read rows 0…32: row 33 is the
    # bottom row of zeros zeropad2d added, no data
    spec = """
    netcalc: 1
    input: {shape: [3, 32, 32]}
    layers:
      - {op: zeropad2d, padding: 1}
      - {op: conv2d, filters: 4, kernel: 3, stride: 2}
    """
    assert _warnings(spec) == []
    # the same conv on a 34×34 map of data leaves its last row and column unread
    (w,) = _warnings(spec.replace("[3, 32, 32]", "[3, 34, 34]").replace("      - {op: zeropad2d, padding: 1}\n", ""))
    assert w.code == "W201" and "the last input row/column of 34 is never read" in w.message


def test_w201_counts_data_rows_after_padding_and_cropping():
    # zeropad1d [0, 2]: 34 + 2 = 36, cropping [0, 1] leaves 35 with 1 zero at the end;
    # (35 − 3)/3 + 1 = 11.67 → 11 windows read 0…32: position 33 (data) unread, 34 a zero
    (w,) = _warnings("""
    netcalc: 1
    input: {shape: [3, 34]}
    layers:
      - {op: zeropad1d, padding: [0, 2]}
      - {op: cropping1d, cropping: [0, 1]}
      - {op: conv1d, filters: 4, kernel: 3, stride: 3}
    """)
    assert "(35 + 2·0 − 3)/3 + 1 = 11.67" in w.message  # 32/3 + 1
    assert "the last input position of 35 that is not padding is never read" in w.message
    assert "the 1 position of padding cropping1d_1 added" in w.message


def test_w201_quiet_after_reflection_padding():
    # reflectionpad2d 1: 32 + 2 = 34, the bottom row a copy of row 30 (read): (34 − 3)/2 + 1 = 16.5 → 16
    # windows read rows 0…32, leaving only the copy
    assert (
        _warnings("""
    netcalc: 1
    input: {shape: [3, 32, 32]}
    layers:
      - {op: reflectionpad2d, padding: 1}
      - {op: conv2d, filters: 4, kernel: 3, stride: 2}
    """)
        == []
    )


def test_w201_says_a_stride_larger_than_the_window_skips_rows():
    # 1×1, stride 2 on 32: (32 − 1)/2 + 1 = 16.5 → 16 windows at 0, 2, …, 30: the 16 odd rows never read
    _, diags = one_layer("{op: conv2d, filters: 4, kernel: 1, stride: 2}", [3, 32, 32])
    (w,) = diags.items
    assert "(32 + 2·0 − 1)/2 + 1 = 16.5" in w.message and "floored to 16" in w.message
    assert "the stride 2 is larger than the window (1), so the windows skip rows/columns between them" in w.message
    assert (
        "16 of the 32 input rows/columns are never read (1, 3, 5, …, 31; the last row/column among them)" in w.message
    )
    assert "the last input row/column of 32 is never read" not in w.message


def test_w201_says_dilated_taps_miss_rows():
    # kernel 2, dilation 2 (span 3), stride 2 on 10: (10 − 3)/2 + 1 = 4.5 → 4 windows at 0, 2, 4, 6 with taps
    # o·2 + {0, 2}: rows 0, 2, 4, 6, 8 read; 1, 3, 5, 7 skipped and the last, 9, too: 5 of 10
    _, diags = one_layer("{op: conv1d, filters: 2, kernel: 2, dilation: 2, stride: 2}", [1, 10])
    (w,) = diags.items
    assert "the 2 taps 2 apart (dilation 2) and the stride 2 never land on some positions" in w.message
    assert "5 of the 10 input positions are never read (1, 3, 5, 7, 9; the last position among them)" in w.message


def test_conv1d_causal():
    # d(k − 1) = 2·2 = 4 zeros before: (12 + 4 − 5)/1 + 1 = 12 (Keras: (12 + 1 − 1)//1 = 12)
    row = ok(
        "{op: conv1d, filters: 2, kernel: 3, dilation: 2, padding: causal}", [12, 3], layout="hwc", convention="keras"
    )
    assert row.out_shape == (12, 2) and geometry(row, "keras", "hwc").pads == [(4, 0)]
    # stride 3 on 12: (12 + 2 − 3)/3 + 1 = 4.67 → 4 = ⌈12/3⌉; windows end at inputs 0, 3, 6, 9: 10, 11 unread
    row, diags = one_layer("{op: conv1d, filters: 2, kernel: 3, stride: 3, padding: causal}", [3, 12])
    assert row.out_shape == (2, 4) and found(diags) == [("warning", "W201")]
    assert "the last 2 input positions of 12 are never read" in diags.items[0].message


def test_causal_is_conv1d_only():
    _, diags = one_layer("{op: conv2d, filters: 2, kernel: 3, padding: causal}", [3, 8, 8])
    assert found(diags) == [("error", "E105")]
    assert (
        "got 'causal': 'causal' (Keras Conv1D's d·(k − 1) zeros before, none after) is conv1d's only"
        in diags.items[0].message
    )


def test_cropping():
    assert ok("{op: cropping2d, cropping: [[2, 2], [4, 4]]}", [28, 28, 3], layout="hwc").out_shape == (24, 20, 3)
    assert ok("{op: cropping2d, cropping: [1, 2]}", [3, 5, 7]).out_shape == (3, 3, 3)  # 5 − 2, 7 − 4
    assert ok("{op: cropping1d, cropping: [2, 1]}", [10, 4], layout="hwc").out_shape == (7, 4)  # 10 − 2 − 1
    assert ok("{op: cropping1d, cropping: 2}", [4, 10]).out_shape == (4, 6)  # 10 − 2 − 2


def test_cropping_too_much_is_e201():
    # 5 − 3 − 2 = 0 rows left
    err = failing("{op: cropping2d, cropping: [[3, 2], [0, 0]]}", [3, 5, 7], "E201")
    assert "cropping 3 + 2 from the height of 5 leaves 5 − 3 − 2 = 0: below 1" in err.message
    # at the value: "  - {op: cropping2d, cropping: [[3, ..." has 4 + 17 + 10 = 31 characters before it
    assert (err.loc.line, err.loc.col) == (6, 32)


def test_reflection_padding():
    assert ok("{op: reflectionpad2d, padding: [[1, 3], [2, 0]]}", [2, 4, 5]).out_shape == (2, 8, 7)
    assert ok("{op: reflection_pad1d, padding: [3, 1]}", [2, 5]).out_shape == (2, 9)  # alias; 5 + 4
    # each side below the size: 4 on a height of 4 is refused (PyTorch raises), replication takes it
    err = failing("{op: reflectionpad2d, padding: [[4, 0], [0, 0]]}", [2, 4, 5], "E204")
    assert "reflection padding 4 on the height of 4: it must be smaller than the size" in err.message
    assert ok("{op: replicationpad2d, padding: [[4, 0], [0, 0]]}", [2, 4, 5]).out_shape == (2, 8, 5)
    assert ok("{op: replicate_pad1d, padding: 6}", [5, 2], layout="hwc").out_shape == (17, 2)  # 5 + 12


def test_upsample2d():
    row = ok("{op: upsample2d, scale: [2, 3]}", [3, 5, 7])
    assert row.out_shape == (3, 10, 21)  # 5·2, 7·3
    assert row.flops == 0  # nearest
    row = ok("{op: upsample2d, scale: [2, 3], mode: bilinear}", [3, 5, 7])
    assert row.flops == 4_410  # 7 × 3·10·21 = 7 × 630
    assert ok("{op: upsample2d}", [5, 7, 3], layout="hwc").out_shape == (10, 14, 3)  # default scale 2


def test_upsample1d():
    row = ok("{op: upsample1d, scale: 3, mode: linear}", [2, 7])
    assert row.out_shape == (2, 21)  # 7·3
    assert row.flops == 126  # 3 × 42
    assert ok("{op: upsample1d, scale: 3}", [2, 7]).flops == 0


# ---------------------------------------------------------------------------------------------
# receptive field and jump
# ---------------------------------------------------------------------------------------------


def test_receptive_field_through_conv_pool_conv():
    analysis, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [3, 33, 27]}
        layers:
          - {op: conv2d, filters: 4, kernel: [5, 3], stride: 2}
          - {op: maxpool2d, kernel: 3, stride: 2}
          - {op: conv2d, filters: 2, kernel: 3, dilation: 2}
        """
    )
    assert found(diags) == []
    conv1, pool, conv2 = analysis.rows
    # conv1: H (33 − 5)//2 + 1 = 15, W (27 − 3)//2 + 1 = 13
    assert conv1.out_shape == (4, 15, 13)
    # r = 1 + (k−1)·1: H 5, W 3 ; j = 1·2 = 2
    assert conv1.rf == [(5, 2), (3, 2)]
    # pool: H (15 − 3)//2 + 1 = 7, W (13 − 3)//2 + 1 = 6
    assert pool.out_shape == (4, 7, 6)
    # r += (3−1)·2: H 5 + 4 = 9, W 3 + 4 = 7 ; j = 2·2 = 4
    assert pool.rf == [(9, 4), (7, 4)]
    # conv2 span 5: H 7 − 5 + 1 = 3, W 6 − 5 + 1 = 2
    assert conv2.out_shape == (2, 3, 2)
    # r += d(k−1)·j = 2·2·4 = 16: H 25, W 23 ; j = 4·1
    assert conv2.rf == [(25, 4), (23, 4)]


def test_receptive_field_through_upsample_and_dense():
    analysis, diags = run_spec(
        """
        netcalc: 1
        input: {shape: [1, 9, 11]}
        layers:
          - {op: conv2d, filters: 1, kernel: 3, stride: 2}
          - {op: upsample2d, scale: [2, 1]}
          - {op: conv2d, filters: 1, kernel: 3}
          - {op: dense, units: 2}
        """
    )
    assert found(diags) == []
    conv1, up, conv2, dense = analysis.rows
    assert conv1.rf == [(3, 2), (3, 2)]  # 1 + 2·1 ; j 2
    assert up.rf == [(3, 1), (3, 2)]  # r kept ; j 2/2 = 1 on H, 2/1 = 2 on W
    assert conv2.rf == [(5, 1), (7, 2)]  # H 3 + 2·1 = 5 ; W 3 + 2·2 = 7
    assert dense.rf is None


# ---------------------------------------------------------------------------------------------
# maxunpool2d (and a max pool's indices)
# ---------------------------------------------------------------------------------------------


def _unpool(layers: str, shape: list, convention: str = "pytorch"):
    analysis, diags = run_spec(
        f"netcalc: 1\nconvention: {convention}\ninput: {{shape: {shape}, layout: chw}}\nlayers:\n{layers}"
    )
    return analysis, diags


def test_max_pool_indices_are_an_extra_output_of_the_pools_shape():
    analysis, diags = _unpool("  - {op: maxpool2d, kernel: 3, stride: 2, return_indices: true, id: p}\n", [4, 9, 11])
    assert analysis is not None and found(diags) == []
    (row,) = analysis.rows
    # (9 − 3)/2 + 1 = 4, (11 − 3)/2 + 1 = 5: the indices one per output, 4×4×5
    assert row.out_shape == (4, 4, 5) and row.extra == {"indices": (4, 4, 5)}
    assert row.ltype.index_spaces(row.g) == {"indices": (4, 9, 11)}  # positions in the 9×11 input
    # no return_indices, no extra output
    assert ok("{op: maxpool2d, kernel: 2}", [4, 8, 8]).extra == {}


def test_maxunpool2d_output_is_the_transposed_size_formula():
    analysis, diags = _unpool(
        "  - {op: maxpool2d, kernel: 3, stride: 2, padding: 1, return_indices: true, id: p}\n"
        "  - {op: maxunpool2d, kernel: 3, stride: 2, padding: 1, indices: p.indices, output_size: [9, 11]}\n",
        [2, 9, 11],
    )
    assert analysis is not None and found(diags) == []
    pool, unpool = analysis.rows
    # pool ⌊(9 + 2 − 3)/2⌋ + 1 = 5, ⌊(11 + 2 − 3)/2⌋ + 1 = 6; the unpool's formula (5 − 1)·2 − 2 + 3 = 9,
    # (6 − 1)·2 − 2 + 3 = 11: output_size [9, 11] is that, and the pool's input
    assert pool.out_shape == (2, 5, 6) and unpool.out_shape == (2, 9, 11)
    assert (unpool.params, unpool.macs, unpool.flops) == (0, 0, 0)
    # a 3-wide window of stride 2 on the pool's receptive field (3, jump 2): r + (⌈3/2⌉ − 1)·2 = 5, jump 1
    assert unpool.rf == [(5, 1), (5, 1)]


def test_maxunpool2d_refuses_indices_that_index_another_size():
    # pool 2×2 on 7×6: ⌊(7 − 2)/2⌋ + 1 = 3 by 3 (row 6 unread); the unpool's (3 − 1)·2 + 2 = 6 by 6, but the
    # indices are positions in the 7×6 map: E211, suggesting output_size [7, 6] (7 and 6 within 6 ± the stride 2)
    _, diags = _unpool(
        "  - {op: maxpool2d, kernel: 2, return_indices: true, id: p}\n  - {op: maxunpool2d, kernel: 2, indices: p.indices}\n",
        [2, 7, 6],
    )
    errors = [d for d in diags.items if d.severity == "error"]
    assert [d.code for d in errors] == ["E211"]
    assert "positions in a 7×6 map, but this unpool's output is 6×6" in errors[0].message
    assert "give the max pool's kernel, stride and padding" not in errors[0].message  # 7 is within (4, 8)
    assert "give output_size: [7, 6]" in errors[0].message


def test_maxunpool2d_in_keras_is_pytorchs_unpool():
    # Keras has no unpooling layer: accepted with PyTorch's formula; a 'same' pool of 5: ⌈5/2⌉ = 3 → 6
    analysis, diags = _unpool(
        "  - {op: maxpool2d, kernel: 2, padding: same, return_indices: true, id: p}\n"
        "  - {op: maxunpool2d, kernel: 2, indices: p.indices, output_size: 5}\n",
        [2, 5, 5],
        "keras",
    )
    assert analysis is not None and found(diags) == []
    assert analysis.rows[-1].out_shape == (2, 5, 5)
