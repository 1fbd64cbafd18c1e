"""specs/keras-resnet50.yaml against Keras's own ResNet50: the totals worked out by hand, and every
layer's parameters and output shape against what Keras reports for keras.applications.ResNet50
(weights=None), measured by tests/keras_measured/measure.py (Keras 3.15.1, torch backend) and
recorded in tests/keras_measured/resnet50.json. With Keras installed the measurement is repeated."""

from __future__ import annotations

import json
import re

import pytest
from cli_run import ROOT

from netcalc import bundled
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import build
from netcalc.yamlsrc import parse_yaml

MEASURED = json.loads((ROOT / "tests" / "keras_measured" / "resnet50.json").read_text(encoding="utf-8"))

# netcalc's layer in a block → Keras's layer suffix in conv{2..5}_block{b}: the shortcut is Keras's
# _0_conv and _0_bn together (one netcalc layer, two Keras layers)
IN_BLOCK = {
    "conv2d_1": ["_1_conv"], "batchnorm_1": ["_1_bn"], "relu_1": ["_1_relu"],
    "conv2d_2": ["_2_conv"], "batchnorm_2": ["_2_bn"], "relu_2": ["_2_relu"],
    "conv2d_3": ["_3_conv"], "main": ["_3_bn"], "skip": ["_0_conv", "_0_bn"],
    "add_1": ["_add"], "relu_3": ["_out"],
}  # fmt: skip
# outside the stages; the softmax is Dense(activation="softmax"), no layer of its own in Keras
TOP = {
    "zeropad2d_1": ["conv1_pad"], "conv2d_1": ["conv1_conv"], "batchnorm_1": ["conv1_bn"], "relu_1": ["conv1_relu"],
    "zeropad2d_2": ["pool1_pad"], "stem": ["pool1_pool"], "avg_pool": ["avg_pool"], "predictions": ["predictions"],
    "predictions.softmax": [],
}  # fmt: skip


def _analysis():
    path = bundled.find("keras-resnet50")
    diags = Diagnostics()
    root = parse_yaml(path.read_text(encoding="utf-8"), path.name, diags)
    a = analyze(build(root, path.name, diags), diags)
    assert not diags.has_errors(), [d.format() for d in diags.items]
    return a


def _keras_names(name: str) -> list[str]:
    """conv3.block1.conv2d_1 → conv3_block1_1_conv; conv3.identity.2.main → conv3_block3_3_bn."""
    m = re.fullmatch(r"(conv\d)\.(?:block1|identity\.(\d+))\.(.+)", name)
    if m is None:
        return TOP[name]
    block = 1 if m[2] is None else int(m[2]) + 1
    return [f"{m[1]}_block{block}{suffix}" for suffix in IN_BLOCK[m[3]]]


def test_totals_by_hand_and_as_keras_reports_them():
    a = _analysis()
    t = a.totals
    # spec header: stem 9,472 + 256; stages 220,032 + 1,230,336 + 7,129,088 + 14,998,528; dense 2,049,000
    assert 9_472 + 256 + 220_032 + 1_230_336 + 7_129_088 + 14_998_528 + 2_049_000 == 25_636_712
    # non-trainable: half of every batchnorm's 4 per channel: 128 + 2,816 + 7,168 + 20,480 + 22,528
    assert 128 + 2_816 + 7_168 + 20_480 + 22_528 == 53_120
    assert (t.params, t.trainable_params, t.non_trainable_params) == (25_636_712, 25_583_592, 53_120)
    assert (MEASURED["total"], MEASURED["trainable"], MEASURED["non_trainable"]) == (25_636_712, 25_583_592, 53_120)
    stages = {label: a.groups[label].params for label in ("conv2", "conv3", "conv4", "conv5")}
    assert stages == {"conv2": 220_032, "conv3": 1_230_336, "conv4": 7_129_088, "conv5": 14_998_528}
    # conv3's convolutional block (f = 128, C_in = 256): 32,896 + 147,584 + 66,048 + 131,584 + 40·128
    assert a.groups["conv3.block1"].params == 32_896 + 147_584 + 66_048 + 131_584 + 5_120 == 383_232


def test_every_layer_as_keras_counts_and_shapes_it():
    a = _analysis()
    keras = {layer["name"]: layer for layer in MEASURED["layers"]}
    matched = set()
    for row in a.rows:
        names = _keras_names(row.node.name)
        matched.update(names)
        assert row.params == sum(keras[n]["params"] for n in names), (row.node.name, names)
        if names:
            assert list(row.out_shape) == keras[names[-1]]["output_shape"], (row.node.name, names)
    assert set(keras) - matched == {"input_layer"}  # every other Keras layer has its netcalc layer


def test_the_stride_is_on_the_first_1x1_convolution_as_keras_puts_it():
    a = _analysis()
    rows = {r.node.name: r for r in a.rows}
    # conv3_block1_1_conv: Conv2D(128, 1, strides=2) on 56×56×256 → 28×28×128; the 3×3 keeps 28×28
    assert rows["conv3.block1.conv2d_1"].out_shape == (28, 28, 128)
    assert rows["conv3.block1.conv2d_2"].in_shapes[0] == (28, 28, 128)
    assert rows["conv3.block1.skip"].out_shape == (28, 28, 512)  # conv3_block1_0_conv, strides 2, with its bias


def test_keras_itself_when_installed():
    keras = pytest.importorskip("keras")
    model = keras.applications.ResNet50(weights=None)
    assert model.count_params() == MEASURED["total"]
    assert [(layer.name, layer.count_params()) for layer in model.layers] == [
        (layer["name"], layer["params"]) for layer in MEASURED["layers"]
    ]
