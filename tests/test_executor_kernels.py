"""The NumPy executor's non-recurrent kernels and its runner.

1. Finite differences for every op, every variant (stride, padding, dilation, groups, transposed,
   ceil_mode, both layouts, both conventions): the gradient of L = Σ y·g with respect to the
   inputs and to every trainable tensor, from `backward`, against central differences.
2. Forward values (and gradients) against PyTorch in float64 (oracle, when torch is installed),
   with the executor's own sampled weights copied into the torch modules.
3. Every op of the layer registry has a kernel.
4. Every bundled spec runs forward and backward, and the executor's tensors and MACs per node are
   those netcalc.analyze reports (the cross-check: the two were written independently).
"""

from __future__ import annotations

import json
import math
import resource
import textwrap
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")  # the executor's one dependency

from netcalc.analyze import analyze  # noqa: E402
from netcalc.diagnostics import Diagnostics  # noqa: E402
from netcalc.executor.base import Env  # noqa: E402
from netcalc.executor.kernels import KERNELS  # noqa: E402
from netcalc.executor.run import ACTS_FACTOR, Measured, build_layers, estimate_memory, footprint, run  # noqa: E402
from netcalc.spec import build, load  # noqa: E402
from netcalc.yamlsrc import parse_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECURRENT_OPS = ("embedding", "rnn", "lstm", "gru")


def graph_of(layers: str, shape, layout: str = "chw", convention: str = "pytorch"):
    """A graph from a layer list written one YAML flow mapping per line."""
    body = textwrap.indent(textwrap.dedent(layers).strip(), "  ")
    text = f"netcalc: 1\nconvention: {convention}\ninput: {{shape: {list(shape)}, layout: {layout}}}\nlayers:\n{body}\n"
    diags = Diagnostics()
    graph = build(parse_yaml(text, "t.yaml", diags), "t.yaml", diags)
    assert graph is not None and not diags.has_errors(), [d.format() for d in diags.items]
    return graph


def last_layer(graph, mode: str = "train", dtype=np.float64, seed: int = 0):
    """(node, layer, input shapes) of the graph's last node, built by its kernel in float64."""
    env = Env(graph.convention, graph.channels_last, dtype, np.random.default_rng(seed), mode)
    env.dry = True
    shapes = {i.name: tuple(i.shape) for i in graph.inputs}
    for name, layer in build_layers(graph, env).items():
        shapes[name] = tuple(layer.out_shape)
    node = graph.nodes[-1]
    in_shapes = [shapes[n] for n in node.inputs]
    env = Env(graph.convention, graph.channels_last, dtype, np.random.default_rng(seed), mode)
    return node, KERNELS[node.op].build(node, in_shapes, env), in_shapes


# --------------------------------------------------------------------------- 1. finite differences

# (id, layers, input shape, layout, convention, mode). The node checked is the last one; the
# layers before it only give it its input shapes (merges read several).
P, K = "pytorch", "keras"
FD_CASES = [
    ("conv2d-basic", "- {op: conv2d, filters: 3, kernel: 3}", [2, 6, 5], "chw", P, "train"),
    ("conv2d-stride-pad", "- {op: conv2d, filters: 4, kernel: [3, 2], stride: [2, 1], padding: [1, 2]}", [3, 7, 6], "chw", P, "train"),
    ("conv2d-asym-pad", "- {op: conv2d, filters: 3, kernel: 3, stride: 2, padding: [[0, 2], [1, 0]]}", [2, 6, 7], "chw", P, "train"),
    ("conv2d-dilation", "- {op: conv2d, filters: 3, kernel: 3, dilation: [2, 1], padding: 2, bias: false}", [2, 7, 6], "chw", P, "train"),
    ("conv2d-groups", "- {op: conv2d, filters: 6, kernel: 3, groups: 2, stride: 2, padding: 1}", [4, 6, 5], "chw", P, "train"),
    ("conv2d-groups-hwc", "- {op: conv2d, filters: 6, kernel: 3, groups: 3, dilation: 2, padding: 1}", [6, 7, 6], "hwc", P, "train"),
    ("conv2d-depthwise", "- {op: conv2d, groups: depthwise, kernel: 3, padding: 1, stride: 2}", [3, 6, 5], "chw", P, "train"),
    ("conv2d-depthwise-mult", "- {op: conv2d, groups: depthwise, filters: 6, kernel: 3, dilation: 2}", [3, 7, 6], "chw", P, "train"),
    ("conv2d-depthwise-hwc", "- {op: conv2d, groups: depthwise, filters: 6, kernel: 3, padding: 1}", [5, 6, 3], "hwc", P, "train"),
    ("conv2d-hwc", "- {op: conv2d, filters: 4, kernel: 3, stride: 2, padding: 1}", [7, 6, 3], "hwc", P, "train"),
    ("conv2d-1x1", "- {op: conv2d, filters: 4, kernel: 1}", [3, 4, 5], "chw", P, "train"),
    ("conv2d-keras-same-s2", "- {op: conv2d, filters: 4, kernel: 3, stride: 2, padding: same}", [6, 7, 2], "hwc", K, "train"),
    ("conv2d-keras-chw", "- {op: conv2d, filters: 4, kernel: [2, 3], padding: same, groups: 2}", [4, 5, 6], "chw", K, "train"),
    ("conv2d-keras-depthwise", "- {op: conv2d, groups: depthwise, filters: 6, kernel: 3, padding: same}", [5, 6, 3], "hwc", K, "train"),
    ("conv2d-torch-same", "- {op: conv2d, filters: 3, kernel: 4, padding: same, dilation: 2}", [2, 8, 7], "chw", P, "train"),
    ("conv1d", "- {op: conv1d, filters: 4, kernel: 3, stride: 2, padding: 1}", [3, 9], "chw", P, "train"),
    ("conv1d-hwc-groups", "- {op: conv1d, filters: 4, kernel: 3, groups: 2, dilation: 2}", [9, 4], "hwc", P, "train"),
    ("conv1d-keras-same", "- {op: conv1d, filters: 3, kernel: 4, padding: same, stride: 3}", [10, 2], "hwc", K, "train"),
    ("convT-basic", "- {op: conv2d_transpose, filters: 3, kernel: 3, stride: 2}", [2, 4, 3], "chw", P, "train"),
    ("convT-pad-outpad", "- {op: conv2d_transpose, filters: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}", [4, 3, 4], "chw", P, "train"),
    ("convT-dilation", "- {op: conv2d_transpose, filters: 2, kernel: [2, 3], stride: [1, 2], dilation: 2, padding: [1, 2]}", [3, 4, 3], "chw", P, "train"),
    ("convT-outpad-past-span", "- {op: conv2d_transpose, filters: 2, kernel: 1, stride: 3, output_padding: 2}", [2, 3, 2], "chw", P, "train"),
    ("convT-hwc", "- {op: conv2d_transpose, filters: 4, kernel: 3, stride: 2, padding: 1, groups: 2}", [3, 4, 2], "hwc", P, "train"),
    ("convT-keras-same", "- {op: conv2d_transpose, filters: 3, kernel: 3, stride: 2, padding: same}", [3, 4, 2], "hwc", K, "train"),
    ("convT-keras-valid-small-k", "- {op: conv2d_transpose, filters: 3, kernel: 2, stride: 3}", [3, 2, 2], "hwc", K, "train"),
    ("convT-keras-same-outpad", "- {op: conv2d_transpose, filters: 2, kernel: 4, stride: 2, padding: same, output_padding: 1}", [3, 3, 2], "hwc", K, "train"),
    ("conv3d-basic", "- {op: conv3d, filters: 3, kernel: 2}", [2, 3, 4, 3], "chw", P, "train"),
    ("conv3d-stride-pad-dilation", "- {op: conv3d, filters: 4, kernel: [3, 2, 3], stride: [2, 1, 2], padding: [1, [0, 1], 2], dilation: [1, 2, 1]}", [2, 5, 4, 6], "chw", P, "train"),
    ("conv3d-groups-hwc", "- {op: conv3d, filters: 4, kernel: 3, groups: 2, padding: 1, stride: 2}", [4, 5, 3, 4], "hwc", P, "train"),
    ("conv3d-depthwise", "- {op: conv3d, groups: depthwise, filters: 6, kernel: 2, padding: 1}", [3, 3, 4, 3], "chw", P, "train"),
    ("conv3d-keras-depthwise", "- {op: conv3d, groups: depthwise, kernel: 3, padding: same}", [3, 4, 3, 2], "hwc", K, "train"),
    ("conv3d-keras-same-s2", "- {op: conv3d, filters: 2, kernel: 3, stride: 2, padding: same}", [4, 5, 3, 2], "hwc", K, "train"),
    ("convT1d", "- {op: conv1d_transpose, filters: 3, kernel: 4, stride: 2, padding: 1, output_padding: 1}", [2, 5], "chw", P, "train"),
    ("convT1d-keras-valid-small-k", "- {op: conv1d_transpose, filters: 2, kernel: 2, stride: 3}", [4, 3], "hwc", K, "train"),
    ("convT1d-keras-same-groups", "- {op: conv1d_transpose, filters: 4, kernel: 3, stride: 2, padding: same, groups: 2}", [5, 2], "hwc", K, "train"),
    ("convT3d", "- {op: conv3d_transpose, filters: 2, kernel: 3, stride: 2, padding: 1, output_padding: [1, 0, 1], groups: 2}", [2, 2, 3, 2], "chw", P, "train"),
    ("convT3d-hwc-dilation", "- {op: conv3d_transpose, filters: 2, kernel: 2, stride: [1, 2, 1], dilation: [2, 1, 1]}", [2, 3, 2, 3], "hwc", P, "train"),
    ("convT3d-keras-same", "- {op: conv3d_transpose, filters: 2, kernel: 3, stride: 2, padding: same}", [2, 2, 3, 2], "hwc", K, "train"),
    ("convT3d-keras-valid-small-k", "- {op: conv3d_transpose, filters: 2, kernel: [1, 2, 2], stride: [3, 3, 2]}", [2, 1, 2, 2], "hwc", K, "train"),
    ("maxpool2d", "- {op: maxpool2d, kernel: 2}", [2, 6, 5], "chw", P, "train"),
    ("maxpool2d-pad-stride", "- {op: maxpool2d, kernel: 3, stride: 2, padding: 1}", [2, 7, 6], "chw", P, "train"),
    ("maxpool2d-ceil", "- {op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}", [2, 6, 8], "chw", P, "train"),
    ("maxpool2d-dilation", "- {op: maxpool2d, kernel: 2, stride: 1, dilation: 2, padding: 1}", [2, 5, 6], "hwc", P, "train"),
    ("maxpool2d-keras-same", "- {op: maxpool2d, kernel: 3, stride: 2, padding: same}", [6, 5, 2], "hwc", K, "train"),
    ("maxpool1d", "- {op: maxpool1d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [2, 8], "chw", P, "train"),
    ("maxpool3d", "- {op: maxpool3d, kernel: 2, stride: [1, 2, 2], padding: [0, 1, 1]}", [2, 3, 4, 5], "chw", P, "train"),
    ("maxpool3d-ceil-dilation-hwc", "- {op: maxpool3d, kernel: 2, stride: 2, dilation: 2, ceil_mode: true}", [4, 5, 6, 2], "hwc", P, "train"),
    ("maxpool3d-keras-same", "- {op: maxpool3d, kernel: 3, stride: 2, padding: same}", [3, 5, 4, 2], "hwc", K, "train"),
    ("avgpool2d", "- {op: avgpool2d, kernel: 2}", [2, 6, 5], "chw", P, "train"),
    ("avgpool2d-pad-ceil", "- {op: avgpool2d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [2, 6, 7], "chw", P, "train"),
    ("avgpool2d-keras-same", "- {op: avgpool2d, kernel: 3, stride: 2, padding: same}", [5, 6, 2], "hwc", K, "train"),
    ("avgpool1d-hwc", "- {op: avgpool1d, kernel: 3, stride: 2, padding: 1}", [9, 3], "hwc", P, "train"),
    ("avgpool3d-pad-ceil", "- {op: avgpool3d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [2, 4, 5, 6], "chw", P, "train"),
    ("avgpool3d-keras-same", "- {op: avgpool3d, kernel: 2, stride: 2, padding: same}", [3, 3, 5, 2], "hwc", K, "train"),
    ("global-avg3d", "- {op: global_avgpool3d}", [3, 2, 3, 4], "chw", P, "train"),
    ("global-max3d-keep-hwc", "- {op: global_maxpool3d, keepdims: true}", [2, 3, 4, 3], "hwc", K, "train"),
    ("global-avg2d", "- {op: global_avgpool2d}", [3, 4, 5], "chw", P, "train"),
    ("global-avg2d-keep-hwc", "- {op: global_avgpool2d, keepdims: true}", [4, 5, 3], "hwc", P, "train"),
    ("global-max2d", "- {op: global_maxpool2d, keepdims: true}", [3, 4, 5], "chw", P, "train"),
    ("global-max1d-hwc", "- {op: global_maxpool1d}", [7, 3], "hwc", K, "train"),
    ("global-avg1d", "- {op: global_avgpool1d}", [3, 7], "chw", P, "train"),
    ("dense", "- {op: dense, units: 4}", [5], "chw", P, "train"),
    ("dense-rank3", "- {op: dense, units: 3, bias: false}", [2, 3, 4], "chw", P, "train"),
    ("dense-keras-seq", "- {op: dense, units: 3}", [4, 5], "ntf", K, "train"),
    ("relu", "- {op: relu}", [3, 4], "chw", P, "train"),
    ("relu6", "- {op: relu6}", [3, 4], "chw", P, "train"),
    ("leaky_relu", "- {op: leaky_relu}", [3, 4], "chw", P, "train"),
    ("leaky_relu-keras", "- {op: leaky_relu}", [4, 3], "hwc", K, "train"),
    ("leaky_relu-slope", "- {op: leaky_relu, negative_slope: 0.2}", [3, 4], "chw", P, "train"),
    ("elu", "- {op: elu, alpha: 0.7}", [3, 4], "chw", P, "train"),
    ("gelu", "- {op: gelu}", [3, 4], "chw", P, "train"),
    ("gelu-tanh", "- {op: gelu, approximate: tanh}", [3, 4], "chw", P, "train"),
    ("selu", "- {op: selu}", [3, 4], "chw", P, "train"),
    ("sigmoid", "- {op: sigmoid}", [3, 4], "chw", P, "train"),
    ("tanh", "- {op: tanh}", [3, 4], "chw", P, "train"),
    ("softmax", "- {op: softmax}", [3, 4], "chw", P, "train"),
    ("softmax-axis0", "- {op: softmax, axis: 0}", [3, 4, 2], "chw", P, "train"),
    ("identity", "- {op: identity}", [3, 4], "chw", P, "train"),
    ("dropout-train", "- {op: dropout, rate: 0.4}", [3, 4], "chw", P, "train"),
    ("dropout-eval", "- {op: dropout, rate: 0.4}", [3, 4], "chw", P, "eval"),
    ("batchnorm-train", "- {op: batchnorm}", [3, 4, 5], "chw", P, "train"),
    ("batchnorm-train-hwc", "- {op: batchnorm, eps: 0.001}", [4, 5, 3], "hwc", K, "train"),
    ("batchnorm-eval", "- {op: batchnorm}", [3, 4, 5], "chw", P, "eval"),
    ("batchnorm-no-affine", "- {op: batchnorm, affine: false}", [3, 4, 2], "chw", P, "train"),
    ("batchnorm-1d", "- {op: batchnorm}", [6], "chw", P, "train"),
    ("layernorm", "- {op: layernorm}", [3, 5], "chw", P, "train"),
    ("layernorm-axes", "- {op: layernorm, axes: [0, 2], eps: 0.01}", [3, 4, 5], "chw", P, "train"),
    ("layernorm-no-affine-keras", "- {op: layernorm, affine: false}", [4, 3], "hwc", K, "train"),
    ("groupnorm", "- {op: groupnorm, groups: 2}", [4, 3, 5], "chw", P, "train"),
    ("groupnorm-eval", "- {op: groupnorm, groups: 3}", [6, 2, 3], "chw", P, "eval"),
    ("groupnorm-hwc-keras", "- {op: groupnorm, groups: 3}", [3, 4, 6], "hwc", K, "train"),
    ("groupnorm-instance", "- {op: groupnorm, groups: 4, eps: 0.01}", [4, 7], "chw", P, "train"),
    ("groupnorm-no-affine", "- {op: groupnorm, groups: 1, affine: false}", [3, 4, 2], "chw", P, "train"),
    ("groupnorm-vector-hwc", "- {op: groupnorm, groups: 2}", [6], "hwc", K, "train"),
    ("instancenorm", "- {op: instancenorm}", [3, 4, 5], "chw", P, "train"),
    ("instancenorm-affine-1d", "- {op: instancenorm, affine: true}", [3, 7], "chw", P, "train"),
    ("instancenorm-keras-hwc", "- {op: instancenorm}", [4, 5, 3], "hwc", K, "train"),
    ("prelu", "- {op: prelu}", [3, 4], "chw", P, "train"),
    ("prelu-channel-hwc", "- {op: prelu, alphas: channel, alpha_init: 0.2}", [3, 4, 2], "hwc", P, "train"),
    ("prelu-keras-element", "- {op: prelu, alpha_init: 0.3}", [4, 3], "ntf", K, "train"),
    ("prelu-keras-channel-chw", "- {op: prelu, alphas: channel, alpha_init: 0.1}", [2, 3, 4], "chw", K, "train"),
    ("adaptive-avg2d-overlap", "- {op: adaptive_avgpool2d, output_size: [3, 4]}", [2, 5, 3], "chw", P, "train"),
    ("adaptive-max2d-hwc", "- {op: adaptive_maxpool2d, output_size: [2, 3]}", [5, 4, 2], "hwc", P, "train"),
    ("permute", "- {op: permute, dims: [3, 1, 2]}", [2, 3, 4], "chw", P, "train"),
    ("repeat_vector", "- {op: repeat_vector, n: 3}", [4], "chw", P, "train"),
    ("flatten", "- {op: flatten}", [2, 3, 4], "chw", P, "train"),
    ("reshape", "- {op: reshape, shape: [4, -1]}", [2, 3, 4], "chw", P, "train"),
    ("zeropad2d", "- {op: zeropad2d, padding: [[1, 0], [2, 1]]}", [2, 3, 4], "chw", P, "train"),
    ("zeropad2d-hwc", "- {op: zeropad2d, padding: 1}", [3, 4, 2], "hwc", K, "train"),
    ("zeropad1d", "- {op: zeropad1d, padding: [[0, 2]]}", [2, 5], "chw", P, "train"),
    ("reflectionpad2d", "- {op: reflectionpad2d, padding: [[1, 3], [2, 0]]}", [2, 4, 5], "chw", P, "train"),
    ("reflectionpad2d-hwc", "- {op: reflectionpad2d, padding: 2}", [3, 4, 2], "hwc", K, "train"),
    ("reflectionpad1d", "- {op: reflectionpad1d, padding: [3, 1]}", [2, 5], "chw", P, "train"),
    ("replicationpad2d", "- {op: replicationpad2d, padding: [[2, 1], [0, 5]]}", [2, 3, 4], "chw", P, "train"),
    ("replicationpad1d-hwc", "- {op: replicationpad1d, padding: [4, 1]}", [3, 2], "hwc", K, "train"),
    ("cropping2d", "- {op: cropping2d, cropping: [[1, 0], [2, 1]]}", [2, 4, 6], "chw", P, "train"),
    ("cropping1d-hwc", "- {op: cropping1d, cropping: [2, 1]}", [7, 3], "hwc", K, "train"),
    ("conv1d-causal", "- {op: conv1d, filters: 3, kernel: 3, dilation: 2, padding: causal}", [2, 9], "chw", P, "train"),
    ("conv1d-causal-keras-s2", "- {op: conv1d, filters: 2, kernel: 4, stride: 2, padding: causal}", [9, 3], "hwc", K, "train"),
    ("upsample2d-nearest", "- {op: upsample2d, scale: [2, 3]}", [2, 3, 4], "chw", P, "train"),
    ("upsample2d-bilinear", "- {op: upsample2d, scale: [2, 3], mode: bilinear}", [2, 3, 4], "chw", P, "train"),
    ("upsample2d-bilinear-hwc", "- {op: upsample2d, scale: 2, mode: bilinear}", [3, 4, 2], "hwc", K, "train"),
    ("upsample1d-linear", "- {op: upsample1d, scale: 3, mode: linear}", [2, 5], "chw", P, "train"),
    ("upsample1d-nearest-hwc", "- {op: upsample1d, scale: 2}", [5, 2], "hwc", P, "train"),
    ("add", "- {op: relu, id: a}\n- {op: add, in: [a, input, a]}", [2, 3, 4], "chw", P, "train"),
    ("add-broadcast", "- {op: global_avgpool2d, keepdims: true, id: g}\n- {op: add, in: [input, g]}", [2, 3, 4], "chw", P, "train"),
    ("multiply", "- {op: relu, id: a}\n- {op: multiply, in: [a, input, a]}", [2, 3, 4], "chw", P, "train"),
    ("multiply-broadcast", "- {op: global_avgpool2d, keepdims: true, id: g}\n- {op: multiply, in: [g, input]}", [3, 4, 2], "hwc", P, "train"),
    ("concat", "- {op: conv2d, filters: 2, kernel: 1, id: a}\n- {op: concat, in: [input, a]}", [3, 4, 5], "chw", P, "train"),
    ("concat-axis", "- {op: relu, id: a}\n- {op: concat, in: [a, input], axis: 1}", [3, 4, 5], "chw", P, "train"),
    ("concat-hwc", "- {op: conv2d, filters: 2, kernel: 1, id: a}\n- {op: concat, in: [input, a]}", [4, 5, 3], "hwc", K, "train"),
    ("shortcut-A", "- {op: shortcut, mode: A, filters: 7, stride: 2}", [3, 5, 6], "chw", P, "train"),
    ("shortcut-A-identity", "- {op: shortcut, mode: A}", [3, 5, 6], "chw", P, "train"),
    ("shortcut-A-hwc", "- {op: shortcut, mode: A, filters: 6, stride: 2}", [5, 6, 3], "hwc", K, "train"),
    ("shortcut-B", "- {op: shortcut, mode: B, filters: 5, stride: 2}", [3, 5, 6], "chw", P, "train"),
    ("shortcut-B-identity", "- {op: shortcut, mode: B}", [3, 5, 6], "chw", P, "train"),
    ("shortcut-C-keras", "- {op: shortcut, mode: C}", [5, 6, 3], "hwc", K, "train"),
    ("shortcut-C-eval", "- {op: shortcut, mode: C, filters: 4, stride: 3}", [3, 5, 7], "chw", P, "eval"),
    ("shortcut-B-no-bn", "- {op: shortcut, mode: B, filters: 4, batchnorm: false}", [3, 5, 6], "hwc", P, "train"),
    ("shortcut-B-bias-no-bn", "- {op: shortcut, mode: B, filters: 4, bias: true, batchnorm: false}", [3, 5, 6],
     "chw", P, "train"),
    ("shortcut-C-bias-keras", "- {op: shortcut, mode: C, filters: 4, stride: 2, bias: true}", [5, 6, 3], "hwc", K,
     "train"),
]  # fmt: skip

# Central differences in float64 with a step of 1e-6: the truncation error is O(h²·f''') ≈ 1e-12
# and the rounding error about ε·|L|/h ≈ 2e-16·|L|/1e-6 = 2e-10·|L|, both far below a relative
# tolerance of 1e-5; the absolute floor 1e-7·(1 + Σ|y·g|) covers entries whose gradient is ~0
# (ReLU's negative side, max pooling's losers, zero padding). Kinks (ReLU at 0, ties in a max)
# are met with probability ~1e-6 per element with normal inputs, not in these seeded draws.
FD_STEP = 1e-6
FD_RTOL = 1e-5
FD_ENTRIES = 12  # entries checked per tensor (all of them when it has fewer)


def _fd_check(name: str, arr: np.ndarray, analytic: np.ndarray, loss, scale: float, rng) -> None:
    assert analytic.shape == arr.shape, (name, analytic.shape, arr.shape)
    flat = arr.reshape(-1)  # a view: perturbing it perturbs arr
    idx = np.arange(flat.size) if flat.size <= FD_ENTRIES else rng.choice(flat.size, FD_ENTRIES, replace=False)
    numeric = []
    for i in idx:
        old = flat[i]
        flat[i] = old + FD_STEP
        up = loss()
        flat[i] = old - FD_STEP
        down = loss()
        flat[i] = old
        numeric.append((up - down) / (2 * FD_STEP))
    np.testing.assert_allclose(np.array(numeric), analytic.reshape(-1)[idx], rtol=FD_RTOL, atol=1e-7 * (1 + scale),
                               err_msg=f"gradient of {name}")  # fmt: skip


@pytest.mark.parametrize("case", FD_CASES, ids=[c[0] for c in FD_CASES])
def test_gradients_match_finite_differences(case):
    _, layers, shape, layout, convention, mode = case
    graph = graph_of(layers, shape, layout, convention)
    node, layer, in_shapes = last_layer(graph, mode)
    rng = np.random.default_rng(7)
    scale = 4.0 if node.op == "relu6" else 1.0  # reach ReLU6's upper clip
    xs = [scale * rng.standard_normal((2, *s)) for s in in_shapes]
    for p in layer.params.values():  # non-trivial γ, β, biases and moving statistics
        if p.ndim == 1:
            p += 0.3 * rng.standard_normal(p.shape)
    for name in layer.params:
        if name.endswith(("running_var", "moving_variance")):
            layer.params[name][:] = 0.5 + rng.random(layer.params[name].shape)
    g = rng.standard_normal((2, *layer.out_shape))

    def loss() -> float:
        if hasattr(layer, "rng"):  # dropout: the same mask at every evaluation
            layer.rng = np.random.default_rng(3)
        y, _ = layer.forward(xs)
        return float(np.sum(y * g))

    total = float(np.sum(np.abs(layer.forward(xs)[0] * g)))
    loss()
    dxs = layer.backward(g.copy(), {})
    grads = {k: v.copy() for k, v in layer.grads.items()}
    trainable = {k for k in layer.params if layer.trainable[k]}
    assert set(grads) == trainable
    assert len(dxs) == len(xs)
    for i, (x, dx) in enumerate(zip(xs, dxs, strict=True)):
        _fd_check(f"input {i}", x, np.asarray(dx), loss, total, rng)
    for name in sorted(trainable):
        _fd_check(name, layer.params[name], grads[name], loss, total, rng)


CONV_CASES = [c for c in FD_CASES if c[0].startswith(("conv", "shortcut"))]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_gradients_with_one_product_per_sample(case, monkeypatch):
    """Large maps (channels first) take the per-sample products; force them on the small cases."""
    import netcalc.executor.k_conv as k_conv

    monkeypatch.setattr(k_conv, "PER_SAMPLE_POSITIONS", 1)
    monkeypatch.setattr(k_conv, "PER_SAMPLE_POSITIONS_BACKWARD", 1)
    test_gradients_match_finite_differences(case)


def test_dropout_masks_and_scales_in_training():
    graph = graph_of("- {op: dropout, rate: 0.25}", [1000])
    _, layer, _ = last_layer(graph, "train")
    x = np.ones((4, 1000))
    y, _ = layer.forward([x])
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.03
    _, layer, _ = last_layer(graph, "eval")
    assert np.array_equal(layer.forward([x])[0], x)


def test_float32_stays_float32():
    graph = graph_of(
        """
        - {op: conv2d, filters: 4, kernel: 3, padding: 1}
        - {op: batchnorm}
        - {op: gelu}
        - {op: maxpool2d, kernel: 2}
        - {op: upsample2d, mode: bilinear}
        - {op: flatten}
        - {op: dense, units: 3}
        - {op: softmax}
        """,
        [3, 8, 8],
    )
    m = run(graph, batch=2, dtype="float32")
    env = Env("pytorch", False, np.float32)
    layers = build_layers(graph, env)
    x = np.ones((2, 3, 8, 8), np.float32)
    for node in graph.nodes:
        x, _ = layers[node.name].forward([x])
        assert x.dtype == np.float32, node.op
        assert all(p.dtype == np.float32 for p in layers[node.name].params.values())
    assert m.dtype == "float32"


# --------------------------------------------------------------------------- 2. PyTorch oracle

ORACLE_CASES = [
    ("conv-groups-dilation-pad", "- {op: conv2d, filters: 6, kernel: 3, stride: 2, padding: 2, dilation: 2, groups: 3}", [3, 11, 10], "chw"),
    ("conv-rect", "- {op: conv2d, filters: 4, kernel: [3, 5], stride: [2, 1], padding: [1, 2]}", [2, 9, 12], "chw"),
    ("conv-asym", "- {op: conv2d, filters: 4, kernel: 3, stride: 2, padding: [[0, 1], [2, 1]]}", [2, 9, 8], "chw"),
    ("conv-hwc-groups", "- {op: conv2d, filters: 8, kernel: 3, groups: 4, padding: 1}", [7, 9, 4], "hwc"),
    ("conv-depthwise", "- {op: conv2d, groups: depthwise, filters: 8, kernel: 3, padding: 1, stride: 2}", [4, 9, 9], "chw"),
    ("conv-large-map-groups", "- {op: conv2d, filters: 4, kernel: 3, padding: 1, groups: 2}", [4, 36, 34], "chw"),
    ("conv-large-map-1x1", "- {op: conv2d, filters: 5, kernel: 1}", [3, 33, 32], "chw"),
    ("conv-depthwise-dilation", "- {op: conv2d, groups: depthwise, filters: 8, kernel: 3, dilation: 2, padding: 2}", [4, 9, 9], "chw"),
    ("conv-depthwise-hwc", "- {op: conv2d, groups: depthwise, kernel: 5, padding: 2}", [9, 8, 5], "hwc"),
    ("conv-same", "- {op: conv2d, filters: 3, kernel: 4, padding: same}", [2, 7, 8], "chw"),
    ("conv1d", "- {op: conv1d, filters: 5, kernel: 3, stride: 2, dilation: 2, padding: 1, groups: 1}", [3, 17], "chw"),
    ("conv1d-hwc", "- {op: conv1d, filters: 4, kernel: 5, groups: 2, padding: 2}", [15, 6], "hwc"),
    ("convT", "- {op: conv2d_transpose, filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}", [4, 5, 6], "chw"),
    ("convT-dilation", "- {op: conv2d_transpose, filters: 3, kernel: [3, 2], stride: [2, 3], dilation: [2, 1], padding: [2, 0], output_padding: [1, 2]}", [2, 4, 5], "chw"),
    ("convT-hwc", "- {op: conv2d_transpose, filters: 4, kernel: 4, stride: 2, padding: 1}", [5, 6, 3], "hwc"),
    ("conv3d-groups-dilation-pad", "- {op: conv3d, filters: 6, kernel: 3, stride: [1, 2, 2], padding: [1, 2, 2], dilation: [1, 2, 2], groups: 3}", [3, 5, 9, 8], "chw"),
    ("conv3d-asym", "- {op: conv3d, filters: 4, kernel: 3, stride: 2, padding: [[0, 1], [1, 1], [2, 1]]}", [2, 6, 7, 6], "chw"),
    ("conv3d-depthwise-hwc", "- {op: conv3d, groups: depthwise, filters: 8, kernel: 3, padding: 1}", [5, 6, 5, 4], "hwc"),
    ("conv3d-large-map", "- {op: conv3d, filters: 3, kernel: 3, padding: 1}", [2, 4, 8, 8], "chw"),
    ("convT1d", "- {op: conv1d_transpose, filters: 4, kernel: 5, stride: 3, padding: 2, output_padding: 2, groups: 2}", [4, 7], "chw"),
    ("convT1d-hwc", "- {op: conv1d_transpose, filters: 3, kernel: 3, stride: 2, dilation: 2}", [6, 2], "hwc"),
    ("convT3d", "- {op: conv3d_transpose, filters: 4, kernel: [2, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1], output_padding: [0, 1, 0], groups: 2}", [2, 3, 4, 5], "chw"),
    ("convT3d-hwc", "- {op: conv3d_transpose, filters: 3, kernel: 2, stride: 2}", [2, 3, 2, 4], "hwc"),
    ("maxpool3d-ceil-pad-dilation", "- {op: maxpool3d, kernel: 2, stride: [2, 3, 3], padding: 1, dilation: 2, ceil_mode: true}", [2, 5, 10, 11], "chw"),
    ("avgpool3d-pad-ceil", "- {op: avgpool3d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [3, 5, 7, 6], "hwc"),
    ("global-max3d", "- {op: global_maxpool3d, keepdims: true}", [3, 2, 5, 4], "chw"),
    ("global-avg3d-hwc", "- {op: global_avgpool3d}", [2, 5, 4, 3], "hwc"),
    ("maxpool-pad", "- {op: maxpool2d, kernel: 3, stride: 2, padding: 1}", [3, 9, 10], "chw"),
    ("maxpool-ceil", "- {op: maxpool2d, kernel: 3, stride: 2, ceil_mode: true}", [3, 10, 8], "chw"),
    ("maxpool-ceil-pad-dilation", "- {op: maxpool2d, kernel: 2, stride: 3, padding: 1, dilation: 2, ceil_mode: true}", [2, 10, 11], "chw"),
    ("maxpool1d-ceil-hwc", "- {op: maxpool1d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [10, 3], "hwc"),
    ("avgpool-pad", "- {op: avgpool2d, kernel: 3, stride: 2, padding: 1}", [3, 9, 10], "chw"),
    ("avgpool-ceil", "- {op: avgpool2d, kernel: 3, stride: 2, ceil_mode: true}", [3, 10, 8], "chw"),
    ("avgpool-pad-ceil", "- {op: avgpool2d, kernel: 3, stride: 2, padding: 1, ceil_mode: true}", [2, 10, 7], "hwc"),
    ("avgpool1d-ceil", "- {op: avgpool1d, kernel: 4, stride: 3, padding: 2, ceil_mode: true}", [2, 12], "chw"),
    ("global-max", "- {op: global_maxpool2d, keepdims: true}", [3, 5, 4], "chw"),
    ("global-avg-hwc", "- {op: global_avgpool2d}", [5, 4, 3], "hwc"),
    ("batchnorm-train", "- {op: batchnorm, eps: 0.001}", [4, 5, 6], "chw"),
    ("batchnorm-train-hwc", "- {op: batchnorm}", [5, 6, 4], "hwc"),
    ("batchnorm-train-1d", "- {op: batchnorm}", [7], "chw"),
    ("layernorm", "- {op: layernorm}", [4, 6], "chw"),
    ("layernorm-axes", "- {op: layernorm, axes: [0, 2], eps: 0.01}", [3, 4, 5], "chw"),
    ("groupnorm", "- {op: groupnorm, groups: 4}", [8, 5, 6], "chw"),
    ("groupnorm-hwc", "- {op: groupnorm, groups: 3, eps: 0.001}", [5, 4, 6], "hwc"),
    ("groupnorm-1d-instance", "- {op: groupnorm, groups: 5}", [5, 9], "chw"),
    ("groupnorm-one-group-no-affine", "- {op: groupnorm, groups: 1, affine: false}", [4, 3, 5], "chw"),
    ("groupnorm-vector", "- {op: groupnorm, groups: 3}", [12], "chw"),
    ("instancenorm-affine", "- {op: instancenorm, affine: true, eps: 0.001}", [4, 5, 6], "chw"),
    ("instancenorm-1d-hwc", "- {op: instancenorm}", [9, 5], "hwc"),
    ("prelu", "- {op: prelu}", [3, 5], "chw"),
    ("prelu-channel-hwc", "- {op: prelu, alphas: channel, alpha_init: 0.1}", [5, 4, 3], "hwc"),
    ("adaptive-avg-overlap", "- {op: adaptive_avgpool2d, output_size: [6, 7]}", [3, 13, 5], "chw"),
    ("adaptive-max-hwc", "- {op: adaptive_maxpool2d, output_size: [4, 3]}", [9, 7, 2], "hwc"),
    ("adaptive-max-more-outputs", "- {op: adaptive_maxpool2d, output_size: [5, 6]}", [2, 3, 4], "chw"),
    ("permute", "- {op: permute, dims: [2, 3, 1]}", [2, 3, 4], "chw"),
    ("repeat_vector", "- {op: repeat_vector, n: 4}", [6], "chw"),
    ("upsample-bilinear", "- {op: upsample2d, scale: [2, 3], mode: bilinear}", [2, 4, 5], "chw"),
    ("upsample-bilinear-hwc", "- {op: upsample2d, scale: 4, mode: bilinear}", [3, 5, 2], "hwc"),
    ("upsample-nearest", "- {op: upsample2d, scale: [3, 2]}", [2, 4, 5], "chw"),
    ("upsample1d-linear", "- {op: upsample1d, scale: 3, mode: linear}", [2, 7], "chw"),
    ("gelu-tanh", "- {op: gelu, approximate: tanh}", [3, 5], "chw"),
    ("gelu", "- {op: gelu}", [3, 5], "chw"),
    ("elu-selu-softmax", "- {op: softmax, axis: 0}", [3, 5], "chw"),
    ("shortcut-B", "- {op: shortcut, mode: B, filters: 6, stride: 2}", [3, 7, 8], "chw"),
    ("shortcut-A", "- {op: shortcut, mode: A, filters: 7, stride: 2}", [3, 7, 8], "chw"),
    ("zeropad", "- {op: zeropad2d, padding: [[1, 0], [2, 3]]}", [2, 3, 4], "chw"),
    ("reflectionpad2d", "- {op: reflectionpad2d, padding: [[1, 3], [2, 0]]}", [2, 4, 5], "chw"),
    ("reflectionpad1d-hwc", "- {op: reflectionpad1d, padding: [3, 1]}", [5, 2], "hwc"),
    ("replicationpad2d-hwc", "- {op: replicationpad2d, padding: [[2, 1], [0, 5]]}", [3, 4, 2], "hwc"),
    ("replicationpad1d", "- {op: replicationpad1d, padding: [4, 1]}", [2, 3], "chw"),
    ("cropping2d", "- {op: cropping2d, cropping: [[1, 0], [2, 1]]}", [2, 4, 6], "chw"),
    ("cropping1d-hwc", "- {op: cropping1d, cropping: [2, 1]}", [7, 3], "hwc"),
    ("conv1d-causal", "- {op: conv1d, filters: 3, kernel: 3, dilation: 2, padding: causal}", [2, 9], "chw"),
    ("conv1d-causal-s2-hwc", "- {op: conv1d, filters: 2, kernel: 4, stride: 2, padding: causal}", [9, 3], "hwc"),
    ("dense-rank3", "- {op: dense, units: 4}", [2, 3, 5], "chw"),
]  # fmt: skip


def _copy_weights(module, layer) -> None:
    """The executor's arrays into the torch module, matched by name (wrappers' 'body.' dropped)."""
    import torch

    named = dict(module.named_parameters())
    named.update({k: v for k, v in module.named_buffers() if not k.endswith("num_batches_tracked")})
    assert len(named) == len(layer.params), (sorted(named), sorted(layer.params))
    for key, tensor in named.items():
        name = key.removeprefix("body.")
        src = layer.params[name] if name in layer.params else layer.params[name.split(".")[-1]]
        with torch.no_grad():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(src)))


@pytest.mark.oracle
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("case", ORACLE_CASES, ids=[c[0] for c in ORACLE_CASES])
def test_forward_and_gradients_match_pytorch(case):
    torch = pytest.importorskip("torch")
    from torch_oracle import build_module

    _, layers, shape, layout = case
    graph = graph_of(layers, shape, layout)
    node, layer, in_shapes = last_layer(graph, "train")
    rng = np.random.default_rng(11)
    for p in layer.params.values():  # γ, β and biases away from their 1/0 defaults
        if p.ndim == 1:
            p += 0.3 * rng.standard_normal(p.shape)
    x = rng.standard_normal((3, *in_shapes[0]))
    xt = torch.tensor(x, requires_grad=True)
    module, _ = build_module(node, xt, graph.channels_last, graph.layout)
    module = module.double()
    _copy_weights(module, layer)
    module.train()
    yt = module(xt)
    y, _ = layer.forward([x])
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    g = rng.standard_normal(y.shape)
    (yt * torch.from_numpy(g)).sum().backward()
    (dx,) = layer.backward(g, {})
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    for key, p in module.named_parameters():
        name = key.removeprefix("body.")
        name = name if name in layer.grads else name.split(".")[-1]
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), rtol=1e-12, atol=1e-10, err_msg=key)


@pytest.mark.oracle
def test_dense_and_conv_weight_layouts_match_keras_formulas():
    """Keras layouts (kernel (*k, in/groups, out), depthwise (*k, C, multiplier), Dense (in, out))
    give the same numbers as the PyTorch layout once transposed: output channel c·m + j of a
    depthwise convolution is input channel c's j-th filter."""
    torch = pytest.importorskip("torch")
    graph = graph_of(
        "- {op: conv2d, groups: depthwise, filters: 6, kernel: 3, padding: same}", [6, 5, 3], "hwc", "keras"
    )
    _, layer, _ = last_layer(graph)
    k = layer.params["kernel"]  # (3, 3, 3, 2)
    assert k.shape == (3, 3, 3, 2)
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 3))
    y, _ = layer.forward([x])
    w = torch.from_numpy(k.reshape(3, 3, 6).transpose(2, 0, 1)[:, None].copy())  # (6, 1, 3, 3)
    yt = torch.nn.functional.conv2d(
        torch.from_numpy(x).movedim(-1, 1), w, torch.from_numpy(layer.params["bias"]), padding=1, groups=3
    )
    np.testing.assert_allclose(y, yt.movedim(1, -1).numpy(), atol=1e-12)


# --------------------------------------------------------------------------- 3. coverage


def test_every_registered_op_has_a_kernel():
    from netcalc.layers import REGISTRY

    recurrent_module = ROOT / "netcalc" / "executor" / "recurrent.py"
    missing = [op for op in REGISTRY if op not in KERNELS]
    if recurrent_module.exists():
        assert missing == []
    else:
        assert set(missing) <= set(RECURRENT_OPS), missing
    for op, kernel in KERNELS.items():
        assert op in kernel.ops or op in RECURRENT_OPS, op


def test_kernels_import_only_numpy_and_the_standard_library():
    """The executor is an independent check: no figure may come from netcalc.layers, analyze or init."""
    import ast
    import sys

    allowed = {"numpy", "__future__", *sys.stdlib_module_names}
    for path in sorted((ROOT / "netcalc" / "executor").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("netcalc")):
                if node.level == 1:
                    continue  # the executor's own modules
                # from the rest of netcalc, only the parsed initialiser type
                module = (node.module or "").removeprefix("netcalc.")
                assert module == "initializers" and [a.name for a in node.names] == ["InitSpec"], path.name
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# --------------------------------------------------------------------------- 4. bundled specs

SPECS = sorted((ROOT / "specs").glob("*.yaml"))
MEMORY_LIMIT = 10**9


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_spec_runs_and_agrees_with_analyze(path):
    diags = Diagnostics()
    graph = load(str(path), diags)
    assert graph is not None, [d.format() for d in diags.items]
    analyze(graph, Diagnostics())  # as the pipeline does: `${in.channels // 2}` arguments are worked out there
    ops = {n.op for n in graph.nodes}
    missing = ops - set(KERNELS)
    if missing:
        pytest.skip(f"no kernel yet for {sorted(missing)}")
    if estimate_memory(graph, 2, "float32") > MEMORY_LIMIT:
        # too big to run here: the layers built dry (nothing sampled) still give shapes, tensors, MACs
        env = Env(graph.convention, graph.channels_last, np.float32)
        env.dry = True
        layers = build_layers(graph, env)
        for row in analyze(graph, Diagnostics()).rows:
            layer = layers[row.node.name]
            assert tuple(layer.out_shape) == tuple(row.out_shape), row.node.name
            ours = [(k, tuple(a.shape), layer.trainable[k], layer.kinds[k]) for k, a in layer.params.items()]
            assert ours == [(t.name, tuple(t.shape), t.trainable, t.kind) for t in row.tensors], row.node.name
            assert layer.macs == row.macs, row.node.name
        pytest.skip("needs more than 1 GB at batch 2: compared built dry, not run")
    m = run(graph, batch=2, dtype="float32")
    _agree_with_analyze(graph, m)
    for row in analyze(graph, Diagnostics()).rows:
        for suffix, shape in row.extra.items():
            assert tuple(m.nodes[f"{row.node.name}.{suffix}"].out_shape) == tuple(shape)
    for rec in [*m.nodes.values(), *m.inputs.values()]:
        for moments in (rec.forward, rec.backward):
            assert all(math.isfinite(v) for v in moments.values()), rec.name
    for name in graph.outputs:  # dL/dy = g ~ N(0, 1) at every output
        assert 0 < m.nodes[name].backward["second_moment"] < 10
    json.dumps(m.to_dict())


def _agree_with_analyze(graph, m) -> None:
    analysis = analyze(graph, Diagnostics())
    for row in analysis.rows:
        rec = m.nodes[row.node.name]
        assert tuple(rec.out_shape) == tuple(row.out_shape), row.node.name
        ours = [(t["name"], tuple(t["shape"]), t["trainable"], t["kind"]) for t in rec.tensors]
        theirs = [(t.name, tuple(t.shape), t.trainable, t.kind) for t in row.tensors]
        assert ours == theirs, row.node.name
        assert rec.macs == row.macs, (row.node.name, rec.macs, row.macs)


@pytest.mark.parametrize("case", FD_CASES + ORACLE_CASES, ids=[f"{c[0]}-{len(c)}" for c in FD_CASES + ORACLE_CASES])
def test_small_cases_agree_with_analyze(case):
    """Output shapes, tensors (names, shapes, trainable, kind) and MACs of every variant above."""
    _, layers, shape, layout, *rest = case
    graph = graph_of(layers, shape, layout, rest[0] if rest else "pytorch")
    _agree_with_analyze(graph, run(graph, batch=2, dtype="float32", mode=rest[1] if rest else "train"))


# --------------------------------------------------------------------------- runner


SMALL = """
- {op: conv2d, filters: 4, kernel: 3, padding: 1}
- {op: relu}
- {op: conv2d, filters: 4, kernel: 3, padding: 1, id: c2}
- {op: add, in: [c2, conv2d_1]}
- {op: global_avgpool2d}
- {op: dense, units: 3}
"""


def test_run_records_moments_and_is_reproducible():
    graph = graph_of(SMALL, [2, 6, 6])
    a = run(graph, batch=4, seed=3)
    b = run(graph, batch=4, seed=3)
    assert a.to_dict() == b.to_dict()
    rec = a.nodes["conv2d_1"]
    assert rec.out_shape == (4, 6, 6)
    assert rec.macs == 6 * 6 * 4 * 2 * 9
    fwd = rec.forward
    assert fwd["second_moment"] == pytest.approx(fwd["channel_mean_sq"] + fwd["channel_var"], rel=1e-9)
    assert a.inputs["input"].forward["second_moment"] == pytest.approx(1.0, abs=0.3)
    assert a.inputs["input"].backward["second_moment"] > 0
    assert isinstance(a, Measured)


def test_chunks_pool_to_the_same_statistics():
    graph = graph_of(SMALL, [2, 6, 6])
    whole = run(graph, batch=6, seed=1, mode="eval", chunk=6)
    parts = run(graph, batch=6, seed=1, mode="eval", chunk=2)
    for name, rec in whole.nodes.items():
        other = parts.nodes[name]
        for key, value in rec.forward.items():
            assert other.forward[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (name, key)
        for key, value in rec.backward.items():
            assert other.backward[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (name, key)


def test_progress_and_input_stats():
    text = "netcalc: 1\ninput: {shape: [3, 4, 4], mean: 2, std: 0.5}\nlayers:\n  - {op: relu}\n"
    diags = Diagnostics()
    graph = build(parse_yaml(text, "t.yaml", diags), "t.yaml", diags)
    seen = []
    m = run(graph, batch=512, chunk=128, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (8, 8) and len(seen) == 8
    fwd = m.inputs["input"].forward
    assert fwd["channel_mean_sq"] == pytest.approx(4.0, rel=0.01)
    assert fwd["channel_var"] == pytest.approx(0.25, rel=0.05)
    text = "netcalc: 1\ninput: {shape: [1000], range: [0, 255]}\nlayers:\n  - {op: relu}\n"
    graph = build(parse_yaml(text, "t.yaml", diags), "t.yaml", diags)
    fwd = run(graph, batch=64).inputs["input"].forward
    assert fwd["second_moment"] == pytest.approx(127.5**2 + 255**2 / 12, rel=0.02)


def test_init_override_replaces_every_kernel_initialiser():
    from netcalc.initializers import InitSpec

    graph = graph_of(SMALL + "- {op: shortcut, mode: C, in: conv2d_1}\n", [2, 6, 6])
    env = Env("pytorch", False, np.float64, np.random.default_rng(0), "train", InitSpec("constant", {"value": 0.25}))
    layers = build_layers(graph, env)
    for name in ("conv2d_1", "c2", "dense_1"):
        assert np.all(layers[name].params["weight"] == 0.25)
        assert not np.all(layers[name].params["bias"] == 0.25)  # biases keep theirs
    assert np.all(layers["shortcut_1"].params["0.weight"] == 0.25)
    assert np.all(layers["shortcut_1"].params["1.weight"] == 1.0)  # batchnorm γ is not a kernel


def test_correlated_inputs_keep_their_variance():
    from netcalc.executor.run import sample_input

    inp = graph_of("- {op: relu}", [2, 16, 16]).inputs[0]
    inp.stats = {"mean": 1.0, "std": [1.0, 3.0], "correlation": 0.8}
    x = sample_input(inp, 400, np.random.default_rng(0), np.float64, False)
    assert x[:, 0].mean() == pytest.approx(1.0, abs=0.05)
    assert x[:, 0].std() == pytest.approx(1.0, rel=0.05) and x[:, 1].std() == pytest.approx(3.0, rel=0.05)
    z = x[:, 0] - 1.0
    for a, b in ((z[:, 1:], z[:, :-1]), (z[:, :, 1:], z[:, :, :-1])):  # neighbours along each spatial axis
        assert np.mean(a * b) / np.sqrt(np.mean(a * a) * np.mean(b * b)) == pytest.approx(0.8, abs=0.03)


def test_estimate_memory_grows_with_the_batch():
    graph = graph_of(SMALL, [2, 6, 6])
    one, many = estimate_memory(graph, 1, "float32"), estimate_memory(graph, 101, "float32")
    per_sample = (many - one) / 100
    # the input and six outputs of 4·6·6 (the last two of 4 and 3), kept, cached and their gradients:
    # ACTS_FACTOR (3, from benchmarks/memory.py's measurements) × 4 bytes each
    assert ACTS_FACTOR == 3
    assert per_sample == 3 * 4 * (2 * 36 + 4 * 4 * 36 + 4 + 3)


def test_estimate_memory_counts_one_sample_columns_over_a_block():
    # a 3×3 convolution of a 1×2000×2000 input: one sample's columns are 9·1998² float64 values
    # (287 MB, over BLOCK_BYTES = 64 MiB), held with their gradient: the fixed part is at least twice that
    from netcalc.executor.windows import BLOCK_BYTES

    graph = graph_of("- {op: conv2d, filters: 2, kernel: 3}", [1, 2000, 2000])
    per_sample, fixed = footprint(graph, "float64")
    columns = 9 * 1998 * 1998 * 8
    assert columns > BLOCK_BYTES
    assert fixed == 2 * columns + 2 * 8 * (2 * 9 + 2)  # weights 2·1·3·3 and 2 biases, and their gradients
    assert per_sample == 3 * 8 * (2000 * 2000 + 2 * 1998 * 1998)


def test_estimate_memory_counts_3d_columns():
    # a 3×3×3 convolution of a 1×130×130×130 volume: one sample's columns are 27·128³ float64 values
    # (453 MB, over BLOCK_BYTES = 64 MiB), held with their gradient
    from netcalc.executor.windows import BLOCK_BYTES

    graph = graph_of("- {op: conv3d, filters: 2, kernel: 3}", [1, 130, 130, 130])
    per_sample, fixed = footprint(graph, "float64")
    columns = 27 * 128**3 * 8
    assert columns > BLOCK_BYTES
    assert fixed == 2 * columns + 2 * 8 * (2 * 27 + 2)  # weights 2·1·3·3·3 and 2 biases, and their gradients
    assert per_sample == 3 * 8 * (130**3 + 2 * 128**3)


def test_estimate_memory_counts_3d_transposed_columns():
    # a transposed 4×4×4 convolution of stride 2 on 1×64×64×64: its columns before col2im are
    # C_out·k³ per input position, 2·64·64³ float64 values (268 MB); the output is (64 − 1)·2 + 4 = 130
    graph = graph_of("- {op: conv3d_transpose, filters: 2, kernel: 4, stride: 2}", [1, 64, 64, 64])
    per_sample, fixed = footprint(graph, "float64")
    columns = 2 * 64 * 64**3 * 8
    assert fixed == 2 * columns + 2 * 8 * (1 * 2 * 64 + 2)  # weight (C_in, C_out, 4, 4, 4) and 2 biases
    assert per_sample == 3 * 8 * (64**3 + 2 * 130**3)


@pytest.mark.parametrize(
    "spec, weights",
    [
        # 10⁵ inputs × 10⁶ units + 10⁶ biases: 745 GiB of float64 weights
        ("input: {shape: [100000]}\nlayers:\n  - {op: dense, units: 1000000}", 10**11 + 10**6),
        # embedding 10⁷ × 10⁴, then an LSTM of 10⁵ units on 10⁴ features: 4h(i + h) + 8h (PyTorch)
        ("input: {shape: [20], dtype: int32}\nlayers:\n  - {op: embedding, vocab: 10000000, dim: 10000}\n"
         "  - {op: lstm, units: 100000}", 10**11 + 4 * 10**5 * (10**4 + 10**5) + 8 * 10**5),
    ],
    ids=["dense", "embedding-lstm"],
)  # fmt: skip
def test_the_estimate_reserves_no_weight(spec, weights):
    # found by the fuzzer: the dry build of the estimate allocated every weight (np.zeros, and sampled
    # them for the recurrent layers), so `verify` of such a spec ended in a MemoryError (an internal
    # error) instead of its "needs about ... GB" refusal
    diags = Diagnostics()
    graph = build(parse_yaml(f"netcalc: 1\n{spec}\n", "t.yaml", diags), "t.yaml", diags)
    assert graph is not None and not diags.has_errors(), [d.format() for d in diags.items]
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, fixed = footprint(graph, "float64")
    # the weights and their gradients, 8 bytes each, and two 64 MiB blocks of convolution columns
    assert fixed == 2 * weights * 8 + 2 * (1 << 26)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start < 100_000  # kB: nothing reserved
