"""The bundled specs' figures, checked against numbers worked out by hand (the issue's user stories)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcalc import bundled
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import load


def _analysis(name: str, convention: str | None = None):
    diags = Diagnostics()
    graph = load(str(bundled.find(name)), diags, convention=convention)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    return a


def _by_type(a, op):
    return [r for r in a.rows if r.node.op == op]


def test_alexnet_lite_shapes_params_and_macs():
    a = _analysis("alexnet-lite")
    main = [r for r in a.rows if r.node.part_of is None]
    # 100×100×3 → conv 4/4: (100−4)/4+1 = 25 → pool 3/2: (25−3)/2+1 = 12 → conv 5 pad 2: 12 →
    # pool 4/2: (12−4)/2+1 = 5 → flatten 5·5·24 = 600 → 300 → 300 → 3   (hwc layout)
    assert [r.out_shape for r in main] == [
        (25, 25, 12), (12, 12, 12), (12, 12, 24), (5, 5, 24), (600,), (300,), (300,), (3,)
    ]  # fmt: skip
    # params: 4·4·3·12+12 = 588; 5·5·12·24+24 = 7,224; 600·300+300 = 180,300; 300·300+300 = 90,300;
    # 300·3+3 = 903; sum = 279,315
    assert [r.params for r in main if r.params] == [588, 7224, 180300, 90300, 903]
    assert a.totals.params == 279_315
    assert a.totals.trainable_params == 279_315 and a.totals.non_trainable_params == 0
    # conv MACs: 25·25·12·48 = 360,000 and 12·12·24·300 = 1,036,800 → 1,396,800
    assert sum(r.macs for r in _by_type(a, "conv2d")) == 1_396_800
    # dense MACs: 180,000 + 90,000 + 900 = 270,900
    assert sum(r.macs for r in _by_type(a, "dense")) == 270_900
    assert a.totals.macs == 1_667_700
    assert not a.diags.items  # every division is exact


def test_mnist_cnn_second_conv_weight():
    a = _analysis("mnist-cnn")
    conv2 = _by_type(a, "conv2d")[1]
    # 64 kernels, each spanning all 32 input channels: 64 × 32 × 5 × 5 = 51,200, plus 64 biases
    assert conv2.tensors[0].shape == (64, 32, 5, 5)
    assert conv2.tensors[0].count == 51_200 and conv2.tensors[1].count == 64
    # conv1: 32·1·25 + 32 = 832; total 832 + 51,264 = 52,096
    assert a.totals.params == 52_096
    # 1×28×28 → 32×28×28 → pool 2: 32×14×14 → 64×14×14
    assert [r.out_shape for r in a.rows if r.node.part_of is None] == [(32, 28, 28), (32, 14, 14), (64, 14, 14)]


def test_flatten_vs_gap():
    a = _analysis("flatten-vs-gap")
    fc_flat, fc_gap = _by_type(a, "dense")
    # 7·7·64 = 3,136 inputs × 500 = 1,568,000 weights + 500 biases
    assert [t.count for t in fc_flat.tensors] == [1_568_000, 500]
    # global average pooling: 64 × 500 = 32,000 + 500
    assert [t.count for t in fc_gap.tensors] == [32_000, 500]
    assert a.graph.outputs == ["fc_after_flatten", "fc_after_gap"]


@pytest.mark.parametrize("name", bundled.names())
def test_every_bundled_spec_analyses_cleanly(name):
    a = _analysis(name)
    assert a.totals.params > 0
    assert not [d for d in a.diags.items if d.severity == "error"]


def test_bundled_specs_ship_with_the_package():
    """specs/ is what the wheel ships as netcalc/specs (pyproject force-include)."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"specs" = "netcalc/specs"' in text
    assert {"alexnet-lite", "mnist-cnn", "flatten-vs-gap"} <= set(bundled.names())
