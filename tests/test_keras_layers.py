"""netcalc's Keras convention against real Keras on the catalogue's layers and patterns (3-D and
transposed convolutions, cropping, causal padding, RepeatVector, Permute, PReLU, GroupNormalization,
recurrent dropout and initial states, frozen and shared layers): the counts, the output shape and
every weight's shape, as Keras 3.15.1 (torch backend) reported them for the same networks, built
by tests/keras_measured/layers.py and recorded in tests/keras_measured/layers.json. With Keras
installed the measurement is repeated. Exact: counts and shapes are integers."""

from __future__ import annotations

import json

import pytest
from cli_run import ROOT

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import build
from netcalc.yamlsrc import parse_yaml

MEASURED = json.loads((ROOT / "tests" / "keras_measured" / "layers.json").read_text(encoding="utf-8"))
CASES = {case["id"]: case for case in MEASURED["cases"]}


def _analysis(case: dict):
    spec = {"netcalc": 1, "convention": "keras", "input": {"shape": case["input"]}, "layers": case["layers"]}
    text = json.dumps(spec)  # JSON is YAML
    diags = Diagnostics()
    graph = build(parse_yaml(text, f"{case['id']}.yaml", diags), f"{case['id']}.yaml", diags)
    assert graph is not None and not diags.has_errors(), [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert not diags.has_errors(), [d.format() for d in diags.items]
    return a


@pytest.mark.parametrize("name", sorted(CASES))
def test_as_keras_counts_and_shapes_it(name):
    case, keras = CASES[name], CASES[name]["keras"]
    a = _analysis(case)
    t = a.totals
    assert (t.params, t.trainable_params, t.non_trainable_params) == (
        keras["params"], keras["trainable"], keras["non_trainable"])  # fmt: skip
    assert list(a.rows[-1].out_shape) == keras["output_shape"]
    # each weight once (a shared layer's tensors are listed at their owner only), as model.weights has them
    own = [list(tensor.shape) for row in a.rows for tensor in row.tensors if tensor.kind in ("param", "buffer")]
    assert sorted(own) == sorted(keras["weights"])


def test_the_cases_cover_the_catalogue():
    ops = {layer["op"] for case in MEASURED["cases"] for layer in case["layers"]}
    assert {"conv3d", "conv3d_transpose", "conv1d_transpose", "cropping1d", "cropping2d", "repeat_vector",
            "permute", "prelu", "groupnorm", "maxpool3d", "avgpool3d", "global_avgpool3d", "attention"} <= ops  # fmt: skip
    assert any("shares" in layer for case in MEASURED["cases"] for layer in case["layers"])
    assert any(layer.get("trainable") is False for case in MEASURED["cases"] for layer in case["layers"])


def test_keras_itself_when_installed():
    pytest.importorskip("keras")
    import importlib.util

    spec = importlib.util.spec_from_file_location("measure_layers", ROOT / "tests" / "keras_measured" / "layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for id_, shape, _, build_fn in module.CASES:
        assert module.measure(shape, build_fn) == CASES[id_]["keras"], id_
