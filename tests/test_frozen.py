"""Frozen layers (`trainable: false` on a layer or a block use): their parameters count as
non-trainable in both conventions, the executor allocates them as non-trainable, a Keras batchnorm
that is frozen runs in inference mode, and the signal report judges the backward growth only down
to the first trainable layer. Figures worked out by hand; PyTorch's own count of a frozen network
(requires_grad_(False)) is in test_torch_oracle.py (the bundled resnet18-finetune)."""

from __future__ import annotations

import json
import math

import numpy as np
from cli_run import netcalc

from netcalc import bundled
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.signal import propagate
from netcalc.spec import load


def _analysis(text: str, convention: str | None = None):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "frozen.yaml"
    path.write_text(text, encoding="utf-8")
    diags = Diagnostics()
    graph = load(str(path), diags, convention=convention)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    return a


NET = """
netcalc: 1
convention: {convention}
input: {{shape: [3, 8, 8], layout: chw}}
blocks:
  b:
    layers:
      - {{op: conv2d, filters: 4, kernel: 3, padding: 1}}
      - {{op: batchnorm}}
      - {{op: relu}}
layers:
  - {{op: conv2d, filters: 4, kernel: 3, trainable: false}}
  - {{use: b, repeat: 2, trainable: false, id: s}}
  - {{use: b, id: t}}
  - {{op: flatten}}
  - {{op: dense, units: 10}}
"""


def test_frozen_layers_and_uses_count_as_non_trainable_in_pytorch():
    a = _analysis(NET.format(convention="pytorch"))
    t = a.totals
    # conv 3→4 3×3 valid: 4·3·9 + 4 = 112 (8×8 → 6×6); each b: conv 4·4·9 + 4 = 148, bn 2·4 = 8: 156;
    # flatten 4·6·6 = 144; dense 144·10 + 10 = 1,450. Frozen: 112 + 2·156 = 424; trainable 156 + 1,450
    assert (t.params, t.trainable_params, t.non_trainable_params, t.frozen_params) == (2030, 1606, 424, 424)
    # running statistics stay buffers (2·4 per batchnorm, three of them), frozen or not
    assert t.buffers == 24
    frozen = {r.node.name for r in a.rows if r.node.frozen}
    assert frozen == {"conv2d_1", "s.1.conv2d_1", "s.1.batchnorm_1", "s.1.relu_1", "s.2.conv2d_1",
                      "s.2.batchnorm_1", "s.2.relu_1"}  # fmt: skip
    assert all(not tn.trainable for r in a.rows if r.node.frozen for tn in r.tensors)
    assert (a.groups["s"].params, a.groups["s"].frozen, a.groups["t"].frozen) == (312, 312, 0)


def test_frozen_under_keras_adds_the_moving_statistics_to_the_non_trainable_ones():
    a = _analysis(NET.format(convention="keras"))
    t = a.totals
    # Keras: batchnorm γ, β (4 each) trainable and moving mean/variance (4 each) non-trainable:
    # total 2,030 + 3·8 = 2,054; frozen: 112 + 2·(148 + 16) = 440; t's batchnorm keeps 8 more
    # non-trainable (448); trainable as in PyTorch, 156 + 1,450 = 1,606
    assert (t.params, t.frozen_params, t.non_trainable_params, t.trainable_params) == (2054, 440, 448, 1606)


def test_trainable_true_inside_a_frozen_use_stays_frozen():
    text = NET.format(convention="pytorch").replace(
        "{op: conv2d, filters: 4, kernel: 3, padding: 1}",
        "{op: conv2d, filters: 4, kernel: 3, padding: 1, trainable: true}",
    )
    a = _analysis(text)
    assert a.totals.frozen_params == 424  # as Keras: a layer inside a non-trainable model is not trainable


def test_resnet18_finetune_counts_as_the_issue_says():
    diags = Diagnostics()
    a = analyze(load(str(bundled.find("resnet18-finetune")), diags), diags)
    # torchvision's resnet18: 11,689,512 parameters, fc 512·1000 + 1000 = 513,000 of them;
    # the new head 512·10 + 10 = 5,130
    assert a.totals.params == 11_689_512 - 513_000 + 5_130 == 11_181_642
    assert a.totals.trainable_params == 5_130
    assert a.totals.frozen_params == 11_176_512


def test_the_summary_marks_frozen_rows_groups_and_totals():
    r = netcalc("summary", "resnet18-finetune", "--depth", "1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "147,968 frozen" in out  # stage1: two basic blocks of 2·36,864 + 2·128
    assert "  of them frozen             11,176,512" in out
    doc = json.loads(netcalc("summary", "resnet18-finetune", "--format", "json").stdout)
    assert doc["totals"]["frozen_params"] == 11_176_512
    head = next(layer for layer in doc["layers"] if layer["name"] == "head")
    assert head["frozen"] is False and head["trainable_params"] == 5_130
    stage1 = next(g for g in doc["groups"] if g["label"] == "stage1")
    assert (stage1["params"], stage1["trainable_params"], stage1["frozen_params"]) == (147_968, 0, 147_968)


def test_verify_agrees_on_frozen_tensors_and_keras_inference_batchnorm(tmp_path):
    for convention in ("pytorch", "keras"):
        spec = tmp_path / f"{convention}.yaml"
        spec.write_text(NET.format(convention=convention))
        r = netcalc("verify", str(spec), "--seeds", "3", "--batch", "16", "--format", "json")
        doc = json.loads(r.stdout)
        assert r.returncode == 0, doc["failures"]
        for layer in doc["layers"]:
            assert layer["tensors"]["ok"], layer["name"]


def test_a_frozen_keras_batchnorm_normalises_by_its_moving_statistics():
    # inference mode: y = (x − 0)/√(1 + ε) with ε = 1e-3: E[y²] = E[x²]/1.001 exactly, backward ÷ 1.001
    text = """
netcalc: 1
convention: keras
input: {shape: [16], mean: 0, std: 3}
layers:
  - {op: batchnorm, eps: 0.001, trainable: false}
  - {op: dense, units: 4}
"""
    report = propagate(_analysis(text))
    bn = report.by_name["batchnorm_1"]
    assert math.isclose(bn.q, 9 / 1.001, rel_tol=1e-12)
    assert math.isclose(float(np.mean(bn.r_in[0])), float(np.mean(bn.r)) / 1.001, rel_tol=1e-12)
    # trainable, it would normalise by the batch's statistics: E[y²] = 9/(9 + ε)
    trained = propagate(_analysis(text.replace(", trainable: false", ""))).by_name["batchnorm_1"]
    assert math.isclose(trained.q, 9 / 9.001, rel_tol=1e-12)


DEEP = """
netcalc: 1
convention: pytorch
input: {{shape: [64]}}
defaults: {{dense: {{init: {{name: normal, std: 0.5}}, bias_init: zeros}}}}
layers:
  - {{op: dense, units: 64, {frozen}}}
  - {{op: dense, units: 64, {frozen}}}
  - {{op: dense, units: 64, {frozen}}}
  - {{op: dense, units: 64}}
"""


def test_the_backward_growth_stops_at_the_first_trainable_layer():
    # linear dense layers of N(0, 0.5²) weights, fan 64: each multiplies the gradient's squared norm by
    # 64·0.25 = 16. From the last to the first layer: 16³ = 4,096; with the first three frozen only
    # the last counts, and no gradient goes further: growth 1 (from dense_4 to itself)
    fwd_all, bwd_all = propagate(_analysis(DEEP.format(frozen="trainable: true"))).growth()
    assert math.isclose(bwd_all, 16**3, rel_tol=1e-9)
    report = propagate(_analysis(DEEP.format(frozen="trainable: false")))
    fwd, bwd = report.growth()
    assert math.isclose(fwd, fwd_all) and math.isclose(bwd, 1.0)
    assert report.span(backward=True)[0].node.name == "dense_4"


def test_lint_says_nothing_of_a_gradient_no_trainable_weight_needs(tmp_path):
    (tmp_path / "frozen.yaml").write_text(DEEP.format(frozen="trainable: false"))
    (tmp_path / "trainable.yaml").write_text(DEEP.format(frozen="trainable: true"))
    frozen = netcalc("lint", str(tmp_path / "frozen.yaml"))
    assert "W302" not in frozen.stdout, frozen.stdout
    trainable = netcalc("lint", str(tmp_path / "trainable.yaml"))
    assert "W302" in trainable.stdout  # 4,096× outside the band of 10


def test_diff_shows_a_layer_that_was_frozen():
    r = netcalc("diff", "resnet18", "resnet18-finetune")
    assert r.returncode == 0, r.stderr
    assert "9,408 → 9,408 frozen" in r.stdout  # the stem's 7×7 conv: 64·3·49
    assert "Trainable params" in r.stdout and "5,130" in r.stdout
