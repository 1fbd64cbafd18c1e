"""netcalc against PyTorch: every layer's shape, parameters, buffers and MACs, measured in torch.

The oracle (tests/torch_oracle.py) builds each node as torch modules from the node's arguments
and runs a zero batch through them; nothing netcalc computes is read. These tests compare:
per layer out_shape, params, trainable params, buffers (BatchNorm's num_batches_tracked aside),
MACs of conv / conv-transpose / dense / recurrent layers (from the torch weight shapes and the
measured tensors), for embeddings and recurrent layers every tensor's name and shape (torch's
named_parameters against netcalc's Row.tensors) and the final-state outputs NAME.h / NAME.c
(torch's h_n / c_n without the batch against Row.extra), and the total parameter count against
sum(p.numel() for p in model.parameters()). A second group checks that netcalc refuses what
torch refuses.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import run_spec  # noqa: E402
from torch_oracle import MAC_OPS, RECURRENT, TENSOR_OPS, Recurrent, run_oracle  # noqa: E402

from netcalc.diagnostics import Diagnostics  # noqa: E402
from netcalc.spec import build  # noqa: E402
from netcalc.yamlsrc import parse_yaml  # noqa: E402

pytestmark = [
    pytest.mark.oracle,
    # torch's note that padding='same' with an even kernel copies the input: expected here
    pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning"),
]

ROOT = Path(__file__).resolve().parent.parent


def spec(layers: str, shape, layout: str = "chw", extra: str = "") -> str:
    """A pytorch-convention spec text from a layer list written one layer per line."""
    body = textwrap.indent(textwrap.dedent(layers).strip(), "  ")
    return (
        f"netcalc: 1\nconvention: pytorch\ninput: {{shape: {list(shape)}, layout: {layout}}}\n{extra}layers:\n{body}\n"
    )


# id -> spec text. Every layer type and argument variant, chw and hwc, odd sizes.
CASES: dict[str, str] = {
    "conv2d-odd-stride2-pad1": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, stride: 2, padding: 1}
        - {op: conv2d, filters: 5, kernel: 3, stride: 2}
        """,
        [3, 13, 11],
    ),
    "conv2d-rect-kernel-stride-pad": spec(
        """
        - {op: conv2d, filters: 6, kernel: [3, 5], stride: [2, 1], padding: [1, 2]}
        - {op: conv2d, filters: 4, kernel: [1, 7], stride: [1, 3], padding: valid, bias: false}
        """,
        [2, 15, 20],
    ),
    "conv2d-dilation": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, dilation: 2, padding: 2}
        - {op: conv2d, filters: 8, kernel: [3, 2], dilation: [2, 3], stride: [1, 2]}
        """,
        [3, 17, 19],
    ),
    "conv2d-groups": spec(
        """
        - {op: conv2d, filters: 12, kernel: 3, groups: 4, bias: false}
        - {op: conv2d, filters: 6, kernel: 1, groups: 3}
        """,
        [8, 10, 9],
    ),
    "conv2d-depthwise": spec(
        """
        - {op: conv2d, groups: depthwise, kernel: 3, padding: 1}
        - {op: conv2d, groups: depthwise, filters: 14, kernel: 5, stride: 2, padding: 2}
        - {op: conv2d, filters: 9, kernel: 1}
        """,
        [7, 11, 11],
    ),
    "conv2d-same-stride1": spec(
        """
        - {op: conv2d, filters: 4, kernel: 4, padding: same}
        - {op: conv2d, filters: 4, kernel: [3, 2], dilation: 2, padding: same}
        - {op: conv2d, filters: 4, kernel: 5, padding: same, groups: 2}
        """,
        [2, 9, 10],
    ),
    "conv2d-asymmetric-padding": spec(
        """
        - {op: conv2d, filters: 5, kernel: 3, padding: [[1, 2], [0, 3]]}
        - {op: conv2d, filters: 5, kernel: 2, stride: 2, padding: [[0, 1], 2]}
        """,
        [3, 10, 7],
    ),
    "conv1d-variants": spec(
        """
        - {op: conv1d, filters: 6, kernel: 5, stride: 2, padding: 2}
        - {op: conv1d, filters: 6, kernel: 4, padding: same}
        - {op: conv1d, filters: 4, kernel: 3, dilation: 3, groups: 2}
        - {op: conv1d, filters: 4, kernel: 2, padding: [[2, 1]]}
        - {op: conv1d, groups: depthwise, kernel: 3, bias: false}
        """,
        [4, 37],
    ),
    "conv3d-variants": spec(
        """
        - {op: conv3d, filters: 6, kernel: 3, stride: [1, 2, 2], padding: 1}
        - {op: conv3d, filters: 6, kernel: [1, 3, 3], dilation: [1, 2, 1], groups: 3, bias: false}
        - {op: conv3d, groups: depthwise, filters: 12, kernel: 2, padding: [[0, 1], 1, [1, 0]]}
        - {op: conv3d, filters: 4, kernel: 2, padding: same}
        """,
        [3, 7, 13, 12],
    ),
    "conv3d-hwc": spec(
        """
        - {op: conv3d, filters: 5, kernel: 3, stride: 2, padding: [[0, 1], [1, 0], 1]}
        - {op: conv3d, groups: depthwise, kernel: 3, padding: same}
        """,
        [6, 9, 8, 2],
        "hwc",
    ),
    "conv-transpose-1d-3d": spec(
        """
        - {op: conv1d_transpose, filters: 4, kernel: 5, stride: 3, padding: 2, output_padding: 2, groups: 2}
        - {op: conv1d_transpose, filters: 3, kernel: 3, dilation: 2, output_padding: 1}
        """,
        [6, 9],
    ),
    "conv3d-transpose": spec(
        """
        - {op: conv3d_transpose, filters: 4, kernel: [2, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1], output_padding: [0, 1, 0]}
        - {op: conv3d_transpose, filters: 2, kernel: 2, stride: 2, groups: 2, bias: false}
        """,
        [3, 3, 4, 5],
    ),
    "pools-3d": spec(
        """
        - {op: maxpool3d, kernel: [1, 2, 2], id: p1}
        - {op: maxpool3d, kernel: 3, stride: 2, padding: 1, dilation: [1, 2, 1], ceil_mode: true}
        - {op: avgpool3d, in: p1, kernel: 2, stride: [1, 2, 2], padding: [0, 1, 1], ceil_mode: true}
        - {op: global_avgpool3d, in: p1}
        - {op: global_maxpool3d, in: p1, keepdims: true}
        """,
        [4, 5, 9, 11],
    ),
    "conv2d-hwc": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, stride: 2, padding: [[0, 1], [1, 0]]}
        - {op: conv2d, groups: depthwise, kernel: 3, padding: same}
        - {op: conv2d, filters: 6, kernel: [2, 3], dilation: [1, 2]}
        """,
        [13, 15, 3],
        "hwc",
    ),
    "conv1d-hwc": spec(
        """
        - {op: conv1d, filters: 5, kernel: 3, stride: 2, padding: 1}
        - {op: conv1d, filters: 5, kernel: 3, groups: depthwise, padding: same}
        """,
        [17, 4],
        "hwc",
    ),
    "conv-transpose-basic": spec(
        """
        - {op: conv2d_transpose, filters: 8, kernel: 4, stride: 2, padding: 1}
        - {op: deconv2d, filters: 3, kernel: [3, 5], stride: [1, 2], bias: false}
        """,
        [16, 7, 5],
    ),
    "conv-transpose-output-padding": spec(
        """
        - {op: conv2d_transpose, filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}
        - {op: conv2d_transpose, filters: 4, kernel: 3, stride: [2, 3], padding: [1, 0], output_padding: [1, 2]}
        """,
        [5, 7, 6],
    ),
    "conv-transpose-dilation-groups": spec(
        """
        - {op: conv2d_transpose, filters: 6, kernel: 3, dilation: 2, groups: 2, output_padding: 1}
        - {op: conv2d_transpose, filters: 9, kernel: 2, stride: 3, groups: 3, padding: 1}
        """,
        [4, 6, 5],
    ),
    "conv-transpose-hwc": spec(
        """
        - {op: conv2d_transpose, filters: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1}
        """,
        [5, 7, 6],
        "hwc",
    ),
    "maxpool2d-ceil-mode": spec(
        """
        - {op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}
        - {op: maxpool2d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
        """,
        [3, 14, 13],
    ),
    "maxpool2d-ceil-mode-last-window-in-padding": spec(
        """
        - {op: maxpool2d, kernel: 2, stride: 3, padding: 1, ceil_mode: true}
        """,
        [2, 4, 7],
    ),
    "pool-ceil-mode-window-longer-than-input": spec(
        """
        - {op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}
        - {op: avgpool2d, in: input, kernel: 3, stride: 2, ceil_mode: true}
        - {op: reshape, in: input, shape: [3, 4]}
        - {op: maxpool1d, kernel: 5, stride: 4, ceil_mode: true}
        """,
        [3, 2, 2],
    ),
    "maxpool2d-dilation-padding": spec(
        """
        - {op: maxpool2d, kernel: 3, stride: 1, dilation: 2, padding: 1}
        - {op: maxpool2d, kernel: [2, 3], stride: [2, 1], dilation: [3, 1], padding: [1, 1], ceil_mode: true}
        """,
        [2, 15, 12],
    ),
    "avgpool2d-variants": spec(
        """
        - {op: avgpool2d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
        - {op: avgpool2d, kernel: [2, 3], stride: [1, 2]}
        - {op: avgpool2d, kernel: 2}
        """,
        [4, 13, 17],
    ),
    "pool1d-variants": spec(
        """
        - {op: maxpool1d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
        - {op: maxpool1d, kernel: 2, dilation: 2}
        - {op: avgpool1d, kernel: 3, stride: 2, ceil_mode: true}
        - {op: avgpool1d, kernel: 2, padding: 1}
        """,
        [3, 29],
    ),
    "pools-hwc": spec(
        """
        - {op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}
        - {op: avgpool2d, kernel: 2, padding: 1}
        """,
        [11, 10, 5],
        "hwc",
    ),
    "pool1d-hwc": spec(
        """
        - {op: maxpool1d, kernel: 3, stride: 2}
        - {op: avgpool1d, kernel: 2, ceil_mode: true}
        """,
        [21, 3],
        "hwc",
    ),
    "global-pools-chw": spec(
        """
        - {op: global_avgpool2d, keepdims: true, id: gap_keep}
        - {op: global_maxpool2d, in: input, keepdims: true}
        - {op: global_avgpool2d, in: input}
        - {op: global_maxpool2d, in: input}
        """,
        [6, 5, 7],
    ),
    "global-pools-1d": spec(
        """
        - {op: global_avgpool1d}
        - {op: global_maxpool1d, in: input, keepdims: true}
        """,
        [6, 11],
    ),
    "global-pools-hwc": spec(
        """
        - {op: global_avgpool2d, keepdims: true}
        - {op: global_maxpool2d, in: input}
        - {op: global_maxpool2d, in: input, keepdims: true}
        """,
        [5, 7, 6],
        "hwc",
    ),
    "dense-head": spec(
        """
        - {op: flatten}
        - {op: dense, units: 17, activation: relu}
        - {op: linear, units: 5, bias: false}
        """,
        [3, 5, 7],
    ),
    "dense-on-last-axis-chw": spec(
        """
        - {op: dense, units: 4}
        - {op: dense, units: 3, bias: false}
        """,
        [3, 5, 7],
    ),
    "dense-on-last-axis-hwc": spec(
        """
        - {op: dense, units: 8}
        """,
        [5, 7, 3],
        "hwc",
    ),
    "activations": spec(
        """
        - {op: conv2d, filters: 4, kernel: 3, activation: {op: leaky_relu, negative_slope: 0.2}}
        - {op: relu}
        - {op: leaky_relu}
        - {op: elu, alpha: 0.5}
        - {op: gelu}
        - {op: gelu, approximate: tanh}
        - {op: selu}
        - {op: sigmoid}
        - {op: tanh}
        - {op: softmax, axis: 0}
        - {op: softmax}
        - {op: identity}
        - {op: dense, units: 3, activation: linear}
        """,
        [2, 6, 6],
    ),
    "dropout": spec(
        """
        - {op: dropout, rate: 0.3}
        - {op: flatten}
        - {op: dropout}
        """,
        [2, 3, 3],
    ),
    "batchnorm-1d-features": spec(
        """
        - {op: flatten}
        - {op: dense, units: 10}
        - {op: batchnorm}
        - {op: batchnorm1d, affine: false}
        """,
        [2, 4, 4],
    ),
    "batchnorm-1d-sequence": spec(
        """
        - {op: conv1d, filters: 6, kernel: 3}
        - {op: batchnorm, eps: 0.001, momentum: 0.01}
        - {op: batchnorm, affine: false}
        """,
        [3, 19],
    ),
    "batchnorm-2d": spec(
        """
        - {op: conv2d, filters: 7, kernel: 3, bias: false}
        - {op: batchnorm2d}
        - {op: batch_norm, affine: false}
        """,
        [3, 9, 8],
    ),
    "batchnorm-hwc": spec(
        """
        - {op: conv2d, filters: 7, kernel: 3}
        - {op: batchnorm}
        """,
        [9, 8, 3],
        "hwc",
    ),
    "batchnorm-hwc-1d": spec(
        """
        - {op: conv1d, filters: 5, kernel: 3}
        - {op: batchnorm}
        """,
        [12, 3],
        "hwc",
    ),
    "batchnorm-after-reshape-rank4": spec(
        """
        - {op: reshape, shape: [2, 3, 4, -1]}
        - {op: batchnorm}
        """,
        [6, 4, 5],
    ),
    "layernorm-axes": spec(
        """
        - {op: layernorm}
        - {op: layernorm, axes: [1, 2]}
        - {op: layernorm, axes: 0}
        - {op: layernorm, axes: [0, -1], affine: false}
        - {op: layer_norm, axes: [-1, 2], eps: 0.001}
        """,
        [4, 5, 6],
    ),
    "layernorm-hwc": spec(
        """
        - {op: layernorm}
        - {op: layernorm, axes: [0, 1]}
        """,
        [5, 6, 4],
        "hwc",
    ),
    "groupnorm-variants": spec(
        """
        - {op: groupnorm, groups: 4}
        - {op: group_norm, groups: 8, eps: 0.001}
        - {op: groupnorm, groups: 1, affine: false}
        - {op: conv2d, filters: 6, kernel: 3, bias: false}
        - {op: groupnorm, groups: 6}
        """,
        [8, 7, 5],
    ),
    "groupnorm-hwc-1d-vector": spec(
        """
        - {op: groupnorm, groups: 3}
        - {op: flatten}
        - {op: groupnorm, groups: 5}
        """,
        [5, 6, 9],
        "hwc",
    ),
    "adaptive-pools-prelu-instancenorm": spec(
        """
        - {op: conv2d, filters: 6, kernel: 3, padding: 1}
        - {op: instancenorm}
        - {op: prelu, alphas: channel}
        - {op: adaptive_avgpool2d, output_size: [4, 9]}
        - {op: instance_norm, affine: true}
        - {op: prelu}
        - {op: adaptive_maxpool2d, output_size: 3}
        - {op: permute, dims: [2, 3, 1]}
        - {op: flatten}
        - {op: repeat_vector, n: 5}
        - {op: lstm, units: 4}
        """,
        [3, 11, 7],
    ),
    "adaptive-pools-prelu-hwc": spec(
        """
        - {op: adaptive_maxpool2d, output_size: [2, 5]}
        - {op: prelu, alphas: channel, alpha_init: 0.1}
        - {op: instancenorm}
        - {op: adaptive_avgpool2d, output_size: 1}
        """,
        [7, 4, 3],
        "hwc",
    ),
    "flatten-reshape": spec(
        """
        - {op: flatten}
        - {op: reshape, shape: [5, -1]}
        - {op: reshape, shape: [3, 10, 2]}
        - {op: dense, units: 4}
        """,
        [2, 3, 10],
    ),
    "zeropad": spec(
        """
        - {op: zeropad2d, padding: [[1, 2], [0, 3]]}
        - {op: zeropad2d, padding: 1}
        - {op: zero_padding2d, padding: [2, 0]}
        - {op: reshape, shape: [3, -1]}
        - {op: zeropad1d, padding: [[3, 1]]}
        - {op: zeropad1d, padding: 2}
        """,
        [3, 5, 4],
    ),
    "copy-pads-and-cropping": spec(
        """
        - {op: reflectionpad2d, padding: [[1, 3], [2, 0]]}
        - {op: replicationpad2d, padding: [[5, 0], [1, 1]]}
        - {op: cropping2d, cropping: [[2, 1], [0, 3]]}
        - {op: conv2d, filters: 3, kernel: 3, stride: 2}
        - {op: reshape, shape: [3, -1]}
        - {op: reflection_pad1d, padding: [2, 1]}
        - {op: replicate_pad1d, padding: 4}
        - {op: cropping1d, cropping: [1, 2]}
        - {op: conv1d, filters: 2, kernel: 3, dilation: 2, padding: causal}
        - {op: conv1d, filters: 2, kernel: 2, stride: 3, padding: causal}
        """,
        [3, 5, 6],
    ),
    "zeropad-hwc": spec(
        """
        - {op: zeropad2d, padding: [[1, 2], [0, 3]]}
        - {op: conv2d, filters: 2, kernel: 3}
        """,
        [5, 4, 3],
        "hwc",
    ),
    "upsample": spec(
        """
        - {op: upsample2d}
        - {op: upsample2d, scale: [2, 3], mode: bilinear}
        - {op: upsampling2d, scale: 3}
        - {op: reshape, shape: [3, -1]}
        - {op: upsample1d, scale: 3}
        - {op: upsample1d, mode: linear}
        """,
        [3, 3, 5],
    ),
    "upsample-hwc": spec(
        """
        - {op: upsample2d, scale: [3, 2], mode: bilinear}
        - {op: conv2d, filters: 2, kernel: 3}
        - {op: reshape, shape: [-1, 2]}
        - {op: upsample1d, scale: 2, mode: linear}
        """,
        [3, 5, 4],
        "hwc",
    ),
    "defaults-and-branches": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, id: stem}
        - {op: conv2d, filters: 4, kernel: 3, id: a}
        - {op: conv2d, in: stem, filters: 6, kernel: 5, padding: 2, id: b}
        - {op: global_avgpool2d}
        - {op: dense, units: 2}
        """,
        [3, 12, 12],
        "chw",
        "defaults: {conv2d: {bias: false, activation: relu}, init: he_normal}\n",
    ),
    # ---- sequences: embedding, rnn, lstm, gru (ntf = batch_first=True, tnf = batch_first=False)
    "rnn-last-step": spec(
        """
        - {op: rnn, units: 5}
        - {op: dense, units: 2}
        """,
        [7, 3],
        "ntf",
    ),
    "rnn-sequences-tnf": spec(
        """
        - {op: rnn, units: 6, return_sequences: true}
        - {op: rnn, units: 4}
        """,
        [9, 2],
        "tnf",
    ),
    "lstm-last-step": spec(
        """
        - {op: lstm, units: 7}
        - {op: dense, units: 3}
        """,
        [11, 5],
        "ntf",
    ),
    "lstm-sequences-tnf": spec(
        """
        - {op: lstm, units: 3, return_sequences: true}
        """,
        [6, 4],
        "tnf",
    ),
    "gru-last-step": spec(
        """
        - {op: gru, units: 6}
        """,
        [8, 3],
        "ntf",
    ),
    "gru-sequences-tnf": spec(
        """
        - {op: gru, units: 5, return_sequences: true}
        - {op: gru, units: 2}
        """,
        [10, 7],
        "tnf",
    ),
    "single-step-single-unit": spec(
        """
        - {op: lstm, units: 1, return_sequences: true}
        - {op: gru, units: 1}
        - {op: rnn, in: input, units: 1, bidirectional: true}
        """,
        [1, 1],
        "ntf",
    ),
    "bias-false-each-cell": spec(
        """
        - {op: rnn, units: 4, bias: false}
        - {op: lstm, in: input, units: 4, bias: false, return_sequences: true}
        - {op: gru, in: input, units: 4, bias: false, bidirectional: true, num_layers: 2}
        """,
        [5, 3],
        "ntf",
    ),
    "bidirectional-concat": spec(
        """
        - {op: lstm, units: 4, bidirectional: true}
        - {op: gru, in: input, units: 3, bidirectional: true, return_sequences: true}
        - {op: rnn, units: 2, bidirectional: true, merge_mode: concat}
        """,
        [6, 5],
        "ntf",
    ),
    "bidirectional-merge-modes-last-step": spec(
        """
        - {op: lstm, units: 4, bidirectional: true, merge_mode: sum}
        - {op: gru, in: input, units: 4, bidirectional: true, merge_mode: mul}
        - {op: rnn, in: input, units: 4, bidirectional: true, merge_mode: ave}
        - {op: dense, units: 2}
        """,
        [7, 3],
        "ntf",
    ),
    "bidirectional-merge-modes-sequences-tnf": spec(
        """
        - {op: lstm, units: 5, bidirectional: true, merge_mode: sum, return_sequences: true}
        - {op: gru, units: 3, bidirectional: true, merge_mode: mul, return_sequences: true}
        - {op: rnn, units: 2, bidirectional: true, merge_mode: ave, return_sequences: true}
        - {op: dense, units: 4}
        """,
        [6, 3],
        "tnf",
    ),
    "num-layers-2": spec(
        """
        - {op: lstm, units: 6, num_layers: 2}
        - {op: gru, in: input, units: 5, num_layers: 2, return_sequences: true}
        - {op: rnn, in: input, units: 3, num_layers: 2}
        """,
        [8, 4],
        "ntf",
    ),
    "num-layers-3": spec(
        """
        - {op: gru, units: 4, num_layers: 3}
        - {op: lstm, in: input, units: 2, num_layers: 3, return_sequences: true}
        - {op: rnn, in: input, units: 7, num_layers: 3}
        """,
        [5, 6],
        "tnf",
    ),
    "num-layers-bidirectional": spec(
        """
        - {op: lstm, units: 4, num_layers: 2, bidirectional: true}
        - {op: gru, in: input, units: 3, num_layers: 3, bidirectional: true, return_sequences: true}
        - {op: rnn, in: input, units: 5, num_layers: 3, bidirectional: true, merge_mode: ave}
        - {op: lstm, in: input, units: 3, num_layers: 2, bidirectional: true, merge_mode: mul, return_sequences: true}
        """,
        [6, 5],
        "ntf",
    ),
    "num-layers-bidirectional-tnf": spec(
        """
        - {op: gru, units: 4, num_layers: 2, bidirectional: true, merge_mode: sum, return_sequences: true}
        - {op: lstm, units: 3, num_layers: 3, bidirectional: true}
        """,
        [7, 2],
        "tnf",
    ),
    "lstm-return-state-dense-reads-h-and-c": spec(
        """
        - {op: lstm, units: 4, return_state: true, id: enc}
        - {op: dense, units: 3, in: enc.h}
        - {op: dense, units: 2, in: enc.c}
        - {op: dense, units: 5, in: enc}
        """,
        [6, 3],
        "ntf",
    ),
    "gru-return-state-stacked-bidirectional": spec(
        """
        - {op: gru, units: 5, num_layers: 2, bidirectional: true, return_state: true, id: enc}
        - {op: dense, units: 3, in: enc.h}
        - {op: flatten}
        - {op: dense, units: 2}
        """,
        [9, 4],
        "ntf",
    ),
    "rnn-return-state-sequences-tnf": spec(
        """
        - {op: rnn, units: 4, return_sequences: true, return_state: true, num_layers: 3, id: enc}
        - {op: dense, units: 2, in: enc.h}
        - {op: lstm, in: enc, units: 3, return_state: true, bidirectional: true, merge_mode: sum, id: dec}
        - {op: dense, units: 2, in: dec.c}
        """,
        [7, 3],
        "tnf",
    ),
    "embedding-lstm-dense": spec(
        """
        - {op: embedding, vocab: 50, dim: 8}
        - {op: lstm, units: 6}
        - {op: dense, units: 3, activation: softmax}
        """,
        [12],
        "ntf",
    ).replace("layout: ntf}", "layout: ntf, dtype: int64}"),
    "embedding-float-ids-bigru-tnf": spec(
        """
        - {op: embedding, vocab: 31, dim: 5}
        - {op: gru, units: 4, bidirectional: true, return_sequences: true}
        - {op: dense, units: 2}
        """,
        [10],
        "tnf",
    ),
    "dense-per-step-after-sequences": spec(
        """
        - {op: lstm, units: 5, return_sequences: true}
        - {op: dense, units: 4, activation: relu}
        - {op: dense, units: 1}
        - {op: flatten}
        - {op: dense, units: 2}
        """,
        [13, 3],
        "ntf",
    ),
    "stack-layer-by-layer-with-dropout-layernorm": spec(
        """
        - {op: lstm, units: 6, return_sequences: true}
        - {op: dropout, rate: 0.2}
        - {op: gru, units: 5, return_sequences: true, bidirectional: true}
        - {op: layernorm}
        - {op: rnn, units: 3}
        - {op: dense, units: 1}
        """,
        [8, 4],
        "tnf",
    ),
    "residual-option-a-odd-map": spec(
        """
        - {op: conv2d, filters: 24, kernel: 3, stride: 2, padding: 1, bias: false}
        - {op: batchnorm}
        - {op: relu}
        - {op: conv2d, filters: 24, kernel: 3, padding: 1, bias: false}
        - {op: batchnorm, id: main}
        - {op: shortcut, in: input, mode: A, filters: 24, stride: 2, id: skip}
        - {op: add, in: [main, skip]}
        - {op: relu}
        """,
        [16, 7, 9],
    ),
    "residual-option-a-uneven-channel-padding": spec(
        """
        - {op: shortcut, mode: A, filters: 19, stride: 3, id: skip}
        - {op: conv2d, in: input, filters: 19, kernel: 3, stride: 3, padding: 1, id: main}
        - {op: add, in: [main, skip]}
        - {op: shortcut, mode: A, id: same}
        - {op: add, in: [same, add_1]}
        """,
        [16, 10, 11],
    ),
    "residual-option-b-projection-and-identity": spec(
        """
        - {op: conv2d, filters: 32, kernel: 3, stride: 2, padding: 1, activation: relu, id: c1}
        - {op: conv2d, filters: 32, kernel: 3, padding: 1, id: c2}
        - {op: shortcut, in: input, filters: 32, stride: 2, id: proj}
        - {op: add, in: [c2, proj], id: sum1}
        - {op: relu, id: block1}
        - {op: conv2d, filters: 32, kernel: 3, padding: 1, id: c3}
        - {op: shortcut, in: block1, mode: B, id: ident}
        - {op: add, in: [c3, ident]}
        """,
        [16, 13, 11],
    ),
    "residual-option-b-channels-only-and-no-batchnorm": spec(
        """
        - {op: shortcut, mode: B, filters: 12, id: wider}
        - {op: shortcut, in: input, mode: B, filters: 5, stride: 2, batchnorm: false, id: narrower}
        - {op: shortcut, in: input, mode: B, stride: 2, id: strided}
        - {op: conv2d, in: input, filters: 5, kernel: 1, stride: 2}
        - {op: add, in: [conv2d_1, narrower]}
        """,
        [8, 9, 6],
        extra="outputs: [wider, strided, add_1]\n",
    ),
    "residual-option-c-always-projects": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, padding: 1, id: main}
        - {op: shortcut, in: input, mode: C, id: proj_same}
        - {op: add, in: [main, proj_same]}
        - {op: shortcut, mode: C, filters: 4, stride: 2, batchnorm: false}
        """,
        [8, 7, 5],
    ),
    "residual-shortcuts-hwc": spec(
        """
        - {op: conv2d, filters: 12, kernel: 3, stride: 2, padding: 1, id: main}
        - {op: shortcut, in: input, mode: A, filters: 12, stride: 2, id: a}
        - {op: shortcut, in: input, mode: B, filters: 12, stride: 2, id: b}
        - {op: shortcut, in: input, mode: C, filters: 12, stride: 2, id: c}
        - {op: add, in: [main, a, b, c]}
        - {op: shortcut, mode: B, id: ident}
        """,
        [9, 7, 6],
        "hwc",
    ),
    "se-gate-multiply-chw": spec(
        """
        - {op: conv2d, filters: 12, kernel: 3, padding: 1, activation: relu, id: feat}
        - {op: global_avgpool2d, keepdims: true}
        - {op: conv2d, filters: 3, kernel: 1, activation: relu}
        - {op: conv2d, filters: 12, kernel: 1, activation: sigmoid, id: gate}
        - {op: multiply, in: [feat, gate], id: scaled}
        - {op: add, in: [scaled, feat]}
        """,
        [5, 9, 7],
    ),
    "se-gate-multiply-hwc": spec(
        """
        - {op: conv2d, filters: 6, kernel: 3, padding: 1, id: feat}
        - {op: global_avgpool2d, keepdims: true}
        - {op: conv2d, filters: 6, kernel: 1, activation: sigmoid, id: gate}
        - {op: multiply, in: [gate, feat]}
        """,
        [7, 9, 4],
        "hwc",
    ),
    "broadcast-three-inputs": spec(
        """
        - {op: avgpool2d, kernel: [1, 7], id: rows}
        - {op: avgpool2d, in: input, kernel: [5, 1], id: cols}
        - {op: add, in: [input, rows, cols]}
        - {op: multiply, in: [rows, cols, add_1]}
        - {op: global_avgpool2d, keepdims: true, id: g}
        - {op: multiply, in: [g, rows]}
        """,
        [3, 5, 7],
        extra="outputs: [multiply_1, multiply_2]\n",
    ),
    "concat-chw": spec(
        """
        - {op: conv2d, filters: 4, kernel: 3, padding: 1, id: a}
        - {op: conv2d, in: input, filters: 6, kernel: 1, id: b}
        - {op: concat, in: [a, b, input], id: channels}
        - {op: maxpool2d, in: input, kernel: [1, 2], id: halved}
        - {op: concat, in: [input, halved], axis: 2, id: wide}
        - {op: concat, in: [halved, input], axis: -1, id: wide_neg}
        """,
        [3, 5, 8],
        extra="outputs: [channels, wide, wide_neg]\n",
    ),
    "concat-hwc": spec(
        """
        - {op: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu, id: a}
        - {op: concat, in: [a, input], id: channels}
        - {op: maxpool2d, in: input, kernel: [2, 1], id: halved}
        - {op: concat, in: [halved, input], axis: 0, id: tall}
        - {op: concat, in: [halved, input], axis: -3, id: tall_neg}
        """,
        [6, 5, 3],
        "hwc",
        extra="outputs: [channels, tall, tall_neg]\n",
    ),
    "concat-features-1d": spec(
        """
        - {op: global_avgpool2d, id: avg}
        - {op: global_maxpool2d, in: input, id: mx}
        - {op: flatten, in: input, id: flat}
        - {op: concat, in: [avg, mx, flat]}
        - {op: dense, units: 3}
        """,
        [4, 3, 5],
    ),
    "concat-features-1d-hwc": spec(
        """
        - {op: global_avgpool2d, id: avg}
        - {op: dense, in: avg, units: 7, activation: relu, id: d}
        - {op: concat, in: [d, avg], axis: 0}
        - {op: add, in: [d, d]}
        """,
        [4, 3, 5],
        "hwc",
        extra="outputs: [concat_1, add_1]\n",
    ),
    "densenet-style-concat-of-residuals": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu, id: c}
        - {op: shortcut, in: input, mode: B, filters: 8, id: s}
        - {op: add, in: [c, s]}
        - {op: relu, id: r1}
        - {op: conv2d, filters: 8, kernel: 3, padding: 1, id: c2}
        - {op: shortcut, in: r1, mode: A, id: s2}
        - {op: add, in: [c2, s2], id: r2}
        - {op: concat, in: [input, r1, r2]}
        - {op: shortcut, mode: A, filters: 22, stride: 2}
        """,
        [5, 6, 7],
    ),
    # free parameters: a class token concatenated first and a position table added (ViT), a LayerScale
    # γ multiplied channels last, a parameter frozen and one read again through `shares:`
    "parameter-tokens": spec(
        """
        - {op: parameter, shape: [1, 8], id: cls}
        - {op: concat, in: [cls, input], axis: 0, id: tokens}
        - {op: parameter, shape: [6, 8], init: {name: normal, std: 0.02}, id: pos}
        - {op: add, in: [tokens, pos]}
        """,
        [5, 8],
    ),
    "parameter-layerscale-hwc": spec(
        """
        - {op: conv2d, filters: 8, kernel: 3, padding: 1, id: conv}
        - {op: parameter, shape: [1, 1, 8], init: {name: constant, value: 1.0e-6}, id: gamma}
        - {op: multiply, in: [conv, gamma], id: scaled}
        - {op: add, in: [input, scaled]}
        """,
        [4, 5, 8],
        "hwc",
    ),
    "parameter-frozen-and-shared": spec(
        """
        - {op: parameter, shape: [3, 1, 1], trainable: false, id: a}
        - {op: add, in: [input, a], id: s}
        - {op: parameter, shape: [3, 1, 1], id: b}
        - {op: multiply, in: [s, b], id: m}
        - {op: parameter, shares: b, id: b2}
        - {op: add, in: [m, b2]}
        """,
        [3, 4, 4],
    ),
}

# Specs that PyTorch refuses: (id, spec text, the node torch refuses). netcalc must refuse them too.
_REFUSED_CASES = [
    ("conv2d-same-stride2", spec("- {op: conv2d, filters: 4, kernel: 3, stride: 2, padding: same}", [3, 8, 8]), "c"),
    ("conv1d-same-stride2", spec("- {op: conv1d, filters: 4, kernel: 3, stride: 2, padding: same}", [3, 9]), "c"),
    ("conv-transpose-same", spec("- {op: conv2d_transpose, filters: 4, kernel: 3, padding: same}", [3, 8, 8]), "c"),
    (
        "conv-transpose-output-padding-too-big",
        spec("- {op: conv2d_transpose, filters: 4, kernel: 3, stride: 2, output_padding: 2}", [3, 8, 8]),
        "c",
    ),
    ("maxpool2d-same", spec("- {op: maxpool2d, kernel: 3, padding: same}", [3, 8, 8]), "c"),
    ("avgpool2d-same", spec("- {op: avgpool2d, kernel: 3, padding: same}", [3, 8, 8]), "c"),
    ("maxpool2d-padding-over-half", spec("- {op: maxpool2d, kernel: 3, padding: 2}", [3, 8, 8]), "c"),
    ("avgpool1d-padding-over-half", spec("- {op: avgpool1d, kernel: 4, padding: 3}", [3, 8]), "c"),
    ("conv2d-window-too-big", spec("- {op: conv2d, filters: 4, kernel: 5}", [3, 4, 8]), "c"),
    ("conv2d-groups-not-dividing", spec("- {op: conv2d, filters: 4, kernel: 1, groups: 3}", [3, 4, 4]), "c"),
    ("reshape-element-count", spec("- {op: reshape, shape: [5, -1]}", [3, 4, 4]), "c"),
    # reflection padding of the size or more: PyTorch raises ("Padding size should be less than ...")
    (
        "reflectionpad2d-padding-of-the-height",
        spec("- {op: reflectionpad2d, padding: [[0, 4], [0, 0]]}", [3, 4, 6]),
        "c",
    ),
    ("reflectionpad1d-padding-over-the-length", spec("- {op: reflectionpad1d, padding: [0, 7]}", [3, 5]), "c"),
    ("groupnorm-groups-not-dividing", spec("- {op: groupnorm, groups: 3}", [8, 4, 4]), "c"),
    ("groupnorm-more-groups-than-channels", spec("- {op: groupnorm, groups: 8}", [4, 4, 4]), "c"),
    # torch bounds pool padding by kernel // 2 even with dilation (not by the dilated window)
    (
        "maxpool2d-dilated-padding-over-half-kernel",
        spec("- {op: maxpool2d, kernel: 3, stride: 2, dilation: 2, padding: 2}", [3, 11, 11]),
        "c",
    ),
    (
        "maxpool1d-dilated-padding-over-half-kernel",
        spec("- {op: maxpool1d, kernel: 3, stride: 2, dilation: 2, padding: 2}", [3, 11]),
        "c",
    ),
    # torch's AvgPool3d (not AvgPool2d) checks the input against the kernel before the padding
    ("avgpool3d-input-below-kernel", spec("- {op: avgpool3d, kernel: 3, padding: 1}", [2, 2, 6, 6]), "c"),
    ("conv3d-on-an-image", spec("- {op: conv3d, filters: 2, kernel: 3}", [3, 8, 8]), "c"),
    ("conv1d-transpose-same", spec("- {op: conv1d_transpose, filters: 4, kernel: 3, padding: same}", [3, 8]), "c"),
    (
        "conv3d-transpose-output-padding-too-big",
        spec("- {op: conv3d_transpose, filters: 4, kernel: 3, stride: 2, output_padding: [1, 2, 1]}", [3, 4, 4, 4]),
        "c",
    ),
    ("maxpool3d-padding-over-half", spec("- {op: maxpool3d, kernel: 3, padding: [1, 2, 1]}", [3, 6, 6, 6]), "c"),
    ("lstm-on-an-image", spec("- {op: lstm, units: 4}", [3, 4, 5]), "c"),
    # dims must name every axis: two for a 3-axis map, which torch's permute refuses too
    ("permute-dims-of-another-rank", spec("- {op: permute, dims: [2, 1]}", [3, 4, 5]), "c"),
    (
        "maxpool1d-ceil-mode-still-below-1",
        spec("- {op: maxpool1d, kernel: 3, stride: 2, ceil_mode: true}", [3, 1]),
        "c",
    ),
    # merges (layers written id first, so _with_ids leaves them alone): 8 against 4 on H
    (
        "add-shapes-differ",
        spec("- {id: p, op: maxpool2d, kernel: 2}\n- {id: m, op: add, in: [input, p]}", [3, 8, 8]),
        "m",
    ),
    (
        "concat-other-axes-differ",
        spec("- {id: p, op: maxpool2d, kernel: 2}\n- {id: m, op: concat, in: [input, p]}", [3, 8, 8]),
        "m",
    ),
    ("concat-axis-out-of-range", spec("- {id: m, op: concat, in: [input, input], axis: 3}", [3, 8, 8]), "m"),
    # a (C,) vector against a chw map: aligned from the last axis, C = 4 meets W = 6
    (
        "multiply-features-on-chw-map",
        spec("- {id: g, op: global_avgpool2d}\n- {id: m, op: multiply, in: [input, g]}", [4, 5, 6]),
        "m",
    ),
]
REFUSED = [pytest.param(*case, id=case[0]) for case in _REFUSED_CASES]


def _with_ids(text: str, first_id: str) -> str:
    """Give the single layer of a refused spec a known id."""
    return text.replace("- {op:", f"- {{id: {first_id}, op:", 1)


def _bundled() -> list:
    """Every bundled spec (specs/ and tests/oracle_specs/) written with the pytorch convention."""
    out = []
    for path in sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/oracle_specs/*.yaml")]):
        graph = _graph(path.read_text(), str(path))
        # pytorch-convention specs only (and counted as such: netcalc may count a spec by another convention)
        if graph is not None and graph.convention == "pytorch" and getattr(graph, "counting", "pytorch") == "pytorch":
            out.append(pytest.param(path, id=str(path.relative_to(ROOT))))
    return out


def _graph(text: str, file: str = "t.yaml"):
    """netcalc's parsed graph (no analysis): what the oracle builds from."""
    diags = Diagnostics()
    root = parse_yaml(textwrap.dedent(text), file, diags)
    return build(root, file, diags) if root is not None else None


def compare(text: str) -> list[str]:
    """Every disagreement between netcalc and torch on a spec, as readable lines."""
    analysis, diags = run_spec(text)
    assert analysis is not None, "netcalc could not read the spec:\n" + "\n".join(d.format() for d in diags.items)
    problems = [f"netcalc: {d.format()}" for d in diags.errors]
    oracle = run_oracle(analysis.graph)
    for row in analysis.rows:
        name = row.node.name
        o = oracle.rows[name]
        if not o.ok:
            problems.append(f"{name} ({row.node.op}): torch failed: {o.error}")
            continue
        if not row.ok:
            problems.append(f"{name} ({row.node.op}): netcalc has no figures, torch gives {o.out_shape}")
            continue
        figures = [
            ("out_shape", tuple(row.out_shape), o.out_shape),
            ("params", row.params, o.params),
            ("trainable", row.trainable, o.trainable),
            ("buffers", row.buffers, o.buffers),
        ]
        if row.node.op in MAC_OPS:
            figures.append(("macs", row.macs, o.macs))
        if row.node.op in TENSOR_OPS:
            figures.append(("tensors", [(t.name, tuple(t.shape)) for t in row.tensors], o.tensors))
            figures.append(("states", {k: tuple(v) for k, v in row.extra.items()}, o.extra))
        for what, ours, theirs in figures:
            if ours != theirs:
                problems.append(f"{name} ({row.node.op}) {what}: netcalc {ours}, torch {theirs}")
    totals = [
        ("total params", analysis.totals.params, oracle.total_params),
        ("total trainable", analysis.totals.trainable_params, oracle.total_trainable),
        ("total buffers", analysis.totals.buffers, oracle.total_buffers),
    ]
    for what, ours, theirs in totals:
        if ours != theirs:
            problems.append(f"{what}: netcalc {ours}, torch {theirs}")
    return problems


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
def test_layer_cases_match_torch(text):
    problems = compare(text)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", _bundled())
def test_bundled_specs_match_torch(path):
    problems = compare(path.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("case", "text", "layer"), REFUSED)
def test_netcalc_refuses_what_torch_refuses(case, text, layer):
    text = _with_ids(text, layer)
    graph = _graph(text)
    assert graph is not None, f"{case}: the spec does not parse"
    oracle = run_oracle(graph)
    assert oracle.rows[layer].error is not None and oracle.rows[layer].error.startswith("torch:"), (
        f"{case}: torch accepted it: {oracle.rows[layer]}"
    )
    analysis, diags = run_spec(text)
    errors = [d for d in diags.errors if d.layer == layer]
    shape = next((r.out_shape for r in analysis.rows if r.node.name == layer), None) if analysis else None
    assert errors and shape is None, (
        f"{case}: netcalc accepted what torch refuses ({oracle.rows[layer].error}); netcalc gives {shape}"
    )


def test_oracle_counts_are_torchs_own():
    """A sanity check of the oracle itself on a layer whose figures are known by heart."""
    graph = _graph(spec("- {op: conv2d, filters: 64, kernel: 5, padding: 2}\n- {op: batchnorm}", [32, 14, 14]))
    oracle = run_oracle(graph)
    conv, bn = oracle.rows.values()
    assert conv.out_shape == (64, 14, 14)
    assert conv.params == 64 * 32 * 25 + 64
    assert conv.macs == 64 * 14 * 14 * 32 * 25
    assert (bn.params, bn.buffers) == (128, 128)  # num_batches_tracked left out
    assert oracle.total_params == conv.params + bn.params


def test_oracle_recurrent_reference_numbers():
    """nn.LSTM(1, 4): 112 parameters, weight_ih 16×1, weight_hh 16×4, bias_ih 16, bias_hh 16."""
    graph = _graph(spec("- {op: lstm, units: 4, return_state: true, id: l}", [3, 1], "tnf"))
    row = run_oracle(graph).rows["l"]
    assert row.params == row.trainable == 112
    assert row.tensors == [
        ("weight_ih_l0", (16, 1)),
        ("weight_hh_l0", (16, 4)),
        ("bias_ih_l0", (16,)),
        ("bias_hh_l0", (16,)),
    ]
    assert row.out_shape == (4,)
    assert row.extra == {"h": (1, 4), "c": (1, 4)}
    assert row.macs == 3 * (16 * 1 + 16 * 4)


@pytest.mark.parametrize("layout", ["ntf", "tnf"])
@pytest.mark.parametrize("op", ["rnn", "lstm", "gru"])
def test_oracle_recurrent_semantics(op, layout):
    """The oracle's wrapper itself: the last step of a one-way, one-layer output is h_n, in both
    layouts, and a bidirectional merge combines torch's forward and reverse halves."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)  # batch first, as the oracle keeps tensors
    time_first = layout == "tnf"
    rnn = RECURRENT[op](3, 4, batch_first=not time_first)
    last = Recurrent(rnn, time_first, sequences=False, merge="concat")
    y = last(x)
    assert y.shape == (2, 4)
    assert torch.allclose(y, last.states["h"][:, -1])
    seq = Recurrent(rnn, time_first, sequences=True, merge="concat")(x)
    assert torch.allclose(seq[:, -1], y)
    birnn = RECURRENT[op](3, 4, batch_first=not time_first, bidirectional=True)
    full = Recurrent(birnn, time_first, sequences=True, merge="concat")(x)
    ave = Recurrent(birnn, time_first, sequences=True, merge="ave")(x)
    assert full.shape == (2, 5, 8) and ave.shape == (2, 5, 4)
    assert torch.allclose(ave, (full[..., :4] + full[..., 4:]) / 2)


def test_oracle_shortcut_reference_numbers():
    """torchvision's downsample for 16 → 32 channels, stride 2, on 7 × 9: a 1×1 conv (512 weights)
    and a batchnorm (64 parameters, 64 buffers); 4 × 5 positions × 32 × 16 = 10 240 MACs."""
    graph = _graph(spec("- {op: shortcut, filters: 32, stride: 2, id: s}", [16, 7, 9]))
    row = run_oracle(graph).rows["s"]
    assert row.out_shape == (32, 4, 5)
    assert (row.params, row.trainable, row.buffers) == (576, 576, 64)
    assert row.macs == 10_240
    assert row.tensors == [
        ("0.weight", (32, 16, 1, 1)),
        ("1.weight", (32,)),
        ("1.bias", (32,)),
        ("1.running_mean", (32,)),
        ("1.running_var", (32,)),
    ]


@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_oracle_option_a_places_the_zero_channels(layout):
    """Option A in the oracle: every second row and column, 3 zero channels: 1 before, 2 after."""
    shape = [2, 5, 4] if layout == "chw" else [5, 4, 2]  # C = 2, H = 5, W = 4
    oracle = run_oracle(_graph(spec("- {op: shortcut, mode: A, filters: 5, stride: 2, id: s}", shape, layout)))
    assert oracle.rows["s"].out_shape == ((5, 3, 2) if layout == "chw" else (3, 2, 5))  # ceil(5/2), ceil(4/2)
    module = oracle.model["s"]
    x = torch.arange(1.0, 41.0).reshape(1, 2, 5, 4)  # channels first: channel 0 is 1..20, 1 is 21..40
    y = module(x if layout == "chw" else x.movedim(1, -1))
    y = y if layout == "chw" else y.movedim(-1, 1)
    assert y[0, :, 0, 0].tolist() == [0.0, 1.0, 21.0, 0.0, 0.0]  # zeros, the 2 channels at (0, 0), zeros
    assert y[0, 1].tolist() == [[1.0, 3.0], [9.0, 11.0], [17.0, 19.0]]  # rows 0, 2, 4 and columns 0, 2


def test_oracle_broadcasts_with_the_batch_axis():
    """torch broadcasts batched tensors: a (C,) vector of every sample is (N, C), so against an hwc
    map (N, H, W, C) the batch axis meets W, and torch refuses for N = 2; netcalc refuses inputs of
    different ranks for that reason (E206)."""
    text = spec("- {id: g, op: global_avgpool2d}\n- {id: m, op: add, in: [input, g]}", [5, 6, 4], "hwc")
    row = run_oracle(_graph(text)).rows["m"]
    assert row.error is not None and row.error.startswith("torch: RuntimeError"), row


def test_transformer_encoder_tiny_against_a_hand_written_module():
    """specs/transformer-encoder-tiny.yaml as a PyTorch user writes it (nn.Embedding, a position
    nn.Parameter, two pre-LN blocks of nn.MultiheadAttention and an MLP, a final LayerNorm): torch's
    parameter count is the hand figure 168,192 and netcalc's total."""
    from torch import nn

    from netcalc import bundled
    from netcalc.analyze import analyze
    from netcalc.spec import load

    class Block(nn.Module):
        def __init__(self, d: int = 64, heads: int = 4, mlp: int = 256) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Linear(mlp, d))

        def forward(self, x):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class Encoder(nn.Module):
        def __init__(self, vocab: int = 1000, d: int = 64, t: int = 64) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Parameter(torch.zeros(t, d).normal_(std=0.02))
            self.blocks = nn.Sequential(Block(), Block())
            self.ln_f = nn.LayerNorm(d)

        def forward(self, ids):
            return self.ln_f(self.blocks(self.wte(ids) + self.wpe))

    model = Encoder()
    y = model(torch.zeros(2, 64, dtype=torch.long))
    assert tuple(y.shape) == (2, 64, 64)
    torch_params = sum(p.numel() for p in model.parameters())
    diags = Diagnostics()
    a = analyze(load(str(bundled.find("transformer-encoder-tiny")), diags), diags)
    assert torch_params == a.totals.params == 168_192
