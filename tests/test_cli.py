"""The command line as a user meets it: formats, options, exit codes, the JSON contract."""

from __future__ import annotations

import csv
import io
import json

from cli_run import ROOT, netcalc


def _json(*args: str) -> dict:
    result = netcalc("summary", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_contract_keys():
    data = _json("alexnet-lite")
    layer_keys = {"name", "type", "output_shape", "params", "trainable_params", "macs", "flops"}
    total_keys = {"params", "trainable_params", "non_trainable_params", "macs", "flops"}
    assert all(layer_keys <= set(layer) for layer in data["layers"])
    assert total_keys <= set(data["totals"])
    assert data["spec"]["convention"] == "pytorch" and data["batch"] == 1
    assert set(data["counting"]) >= {"macs", "flops", "params", "memory"}


def test_json_figures_for_alexnet_lite():
    data = _json("alexnet-lite")
    t = data["totals"]
    assert (t["params"], t["trainable_params"], t["non_trainable_params"], t["macs"]) == (
        279_315,
        279_315,
        0,
        1_667_700,
    )
    conv1 = data["layers"][0]
    # 100×100×3 hwc, 4×4 stride 4: 25×25×12; PyTorch weight (12, 3, 4, 4)
    assert conv1["output_shape"] == [25, 25, 12]
    assert conv1["tensors"][0] == {"name": "weight", "shape": [12, 3, 4, 4], "count": 576, "trainable": True,
                                   "kind": "param"}  # fmt: skip
    assert conv1["receptive_field"] == [4, 4] and conv1["jump"] == [4, 4]


def test_memory_by_batch_and_dtype():
    # alexnet-lite outputs per sample, every row kept: 7500·2 (conv1, relu) + 1728 + 3456·2 + 600 (pool)
    # + 600 (flatten) + 300·4 (two dense + relu) + 3·2 (dense, softmax) = 26,046 elements
    t = _json("alexnet-lite")["totals"]
    assert t["param_bytes"] == 279_315 * 4
    assert t["input_bytes"] == 100 * 100 * 3 * 4
    assert t["activation_bytes"] == 26_046 * 4
    t8 = _json("alexnet-lite", "--batch", "8", "--dtype", "float16")["totals"]
    assert t8["param_bytes"] == 279_315 * 2  # parameters do not grow with the batch
    assert t8["input_bytes"] == 30_000 * 8 * 2
    assert t8["activation_bytes"] == 26_046 * 8 * 2
    assert t8["macs"] == 1_667_700 and t8["macs_batch"] == 1_667_700 * 8  # per sample, and for the batch


def test_convention_override_changes_counting_only():
    keras = _json("keras-mobile")
    torch = _json("keras-mobile", "--convention", "pytorch")
    assert keras["totals"]["non_trainable_params"] == 256 and keras["totals"]["buffers"] == 0
    assert torch["totals"]["non_trainable_params"] == 0 and torch["totals"]["buffers"] == 256
    assert [x["output_shape"] for x in keras["layers"]] == [x["output_shape"] for x in torch["layers"]]
    assert torch["spec"]["counting"] == "pytorch" and torch["spec"]["convention"] == "keras"


def test_csv_has_one_row_per_layer():
    result = netcalc("summary", "mnist-cnn", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    names = [r["name"] for r in rows]
    assert names == ["conv2d_1", "conv2d_1.relu", "maxpool2d_1", "conv2d_2", "conv2d_2.relu", "total"]
    assert rows[3]["weight_shape"] == "64x32x5x5" and rows[3]["params"] == "51264"
    assert rows[-1]["index"] == "" and rows[-1]["params"] == "52096"  # the totals row: 832 + 51,264


def test_markdown_is_a_table():
    out = netcalc("summary", "mnist-cnn", "--format", "markdown").stdout
    assert "| 4 | conv2d_2 | conv2d | 64×14×14 | 64×32×5×5 | 51,264 |" in out


def test_bundled_spec_by_name_from_any_directory(tmp_path):
    result = netcalc("summary", "mnist-cnn.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "52,096" in result.stdout


def test_specs_lists_the_bundled_specs():
    names = [line.split()[0] for line in netcalc("specs").stdout.splitlines() if not line.startswith(" ")]
    assert {"alexnet-lite", "mnist-cnn", "flatten-vs-gap"} <= set(names)
    assert names == sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))


def test_unknown_spec_name_suggests_a_bundled_one():
    result = netcalc("summary", "alexnet-lit")
    assert result.returncode == 2
    assert (
        "error E001: 'alexnet-lit' is neither a file nor a bundled spec (did you mean 'alexnet-lite'?)" in result.stderr
    )


def test_errors_in_json_format(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("netcalc: 1\ninput: {shape: [3, 8, 8]}\nlayers:\n  - {op: conv2d, filters: 4, kernel: 9}\n")
    result = netcalc("summary", str(spec), "--format", "json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    [d] = data["diagnostics"]
    # (8 + 0 − 9)/1 + 1 = 0
    assert (d["code"], d["line"], d["col"], d["layer"]) == ("E201", 4, 38, "conv2d_1")


def test_warnings_do_not_fail_the_run(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "netcalc: 1\ninput: {shape: [3, 32, 32]}\nlayers:\n  - {op: conv2d, filters: 4, kernel: 5, stride: 2}\n"
    )
    result = netcalc("summary", str(spec))
    assert result.returncode == 0
    assert "warning W201" in result.stdout and "(32 + 2·0 − 5)/2 + 1 = 14.5" in result.stdout


def test_bad_option_is_a_usage_error():
    result = netcalc("summary", "mnist-cnn", "--format", "xml")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_help_lists_the_commands():
    out = netcalc("--help").stdout
    assert "summary" in out and "specs" in out


def test_terminal_snippet_points_at_the_column():
    """In a terminal each finding is followed by its source line and a caret under the column."""
    from netcalc.diagnostics import Diagnostic, Loc
    from netcalc.render import diagnostic_lines

    text = "netcalc: 1\nlayers:\n  - {op: conv2d, filtrs: 16}\n"
    d = Diagnostic("error", "E102", "unknown key 'filtrs'", Loc("s.yaml", 3, 18))
    lines = diagnostic_lines([d], {"s.yaml": text})
    assert lines == [
        "s.yaml:3:18: error E102: unknown key 'filtrs'",
        "     3 |   - {op: conv2d, filtrs: 16}",
        "       |                  ^",
    ]
    assert lines[2].index("^") == lines[1].index("filtrs")


def test_explain_conv_formulas_and_skipped_positions(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "netcalc: 1\ninput: {shape: [64, 56, 56]}\nlayers:\n"
        "  - {op: conv2d, filters: 256, kernel: 1, stride: 2, bias: false, id: shortcut}\n"
    )
    out = netcalc("explain", str(spec), "shortcut").stdout
    # (56 + 0 − 1)/2 + 1 = 28.5, floored to 28
    assert "output height: (n + p₁ + p₂ − d(k − 1) − 1)/s + 1 = (56 + 2·0 − 1)/2 + 1 = 28.5 → 28" in out
    # 256 × 64 × 1 × 1 = 16,384 weights
    assert "weights: filters × C_in/groups × k × k = 256 × 64 × 1 × 1 = 16,384 parameters" in out
    # a 1×1 window with stride 2 reads rows 0, 2, …, 54 and skips the 28 odd ones
    assert "reads rows 0, 2, 4, …, 54 (one in 2) of 0…55 and skips 28 of 56 (50%)" in out


def test_explain_unknown_layer():
    result = netcalc("explain", "alexnet-lite", "conv2")
    assert result.returncode == 2
    assert "error E114: no layer named 'conv2' in alexnet-lite (did you mean 'conv2d_2'?)" in result.stderr


def test_an_error_inside_a_block_names_its_definition_use_and_repetition():
    result = netcalc("summary", "e120_block_errors.yaml", cwd=ROOT / "tests" / "errors")
    lines = result.stderr.splitlines()
    i = lines.index(
        "e120_block_errors.yaml:8:31: error E120: '$filtres * 2': 'filtres' is not a parameter of this block"
        " (did you mean 'filters'?)"
    )
    # the block is defined at line 4 and used at line 11; the error shows in its first repetition of 3
    assert (
        lines[i + 1]
        == "  in block 'basic' (e120_block_errors.yaml:4:3), used at e120_block_errors.yaml:11:5 (repetition 1 of 3)"
    )
    assert result.returncode == 2


def test_depth_folds_block_uses(tmp_path):
    spec = tmp_path / "r.yaml"
    spec.write_text(
        "netcalc: 1\ninput: {shape: [8, 16, 16]}\n"
        "blocks:\n  pair:\n    params: {filters: int}\n    layers:\n"
        "      - {op: conv2d, filters: $filters, kernel: 3, padding: 1, bias: false}\n"
        "      - {op: relu}\n"
        "layers:\n  - {use: pair, filters: 8, repeat: 2, id: stage}\n  - {op: global_avgpool2d}\n"
    )
    folded = netcalc("summary", str(spec), "--depth", "1").stdout
    # one group row for the use: 2 × 3·3·8·8 = 1,152 parameters, 2 × 16·16·576 = 294,912 MACs
    assert "│   │ stage              │ [pair × 2]       │ 8×16×16      │              │  1,152 │ 294,912 │" in folded
    assert "conv2d_1" not in folded
    full = netcalc("summary", str(spec)).stdout
    assert full.count("conv2d_1") == 2 and "[pair]" in full


def test_several_named_inputs(tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text(
        "netcalc: 1\ninput:\n  - {name: image, shape: [3, 32, 32]}\n  - {name: meta, shape: [10]}\n"
        "layers:\n"
        "  - {op: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu}\n"
        "  - {op: global_avgpool2d, id: img}\n"
        "  - {op: dense, units: 8, in: meta, id: meta_features}\n"
        "  - {op: concat, in: [img, meta_features]}\n"
        "  - {op: dense, units: 2}\n"
    )
    data = _json(str(spec))
    assert [i["name"] for i in data["spec"]["inputs"]] == ["image", "meta"]
    # conv 3·3·3·8 + 8 = 224; dense on meta 10·8 + 8 = 88; head (8 + 8)·2 + 2 = 34 → 346
    assert data["totals"]["params"] == 346
    assert data["layers"][4]["output_shape"] == [16]
    # input memory: (3·32·32 + 10) floats of 4 bytes
    assert data["totals"]["input_bytes"] == (3072 + 10) * 4


def test_input_names_must_differ(tmp_path):
    spec = tmp_path / "dup.yaml"
    spec.write_text(
        "netcalc: 1\ninput:\n  - {name: x, shape: [4]}\n  - {name: x, shape: [5]}\nlayers:\n  - {op: relu}\n"
    )
    result = netcalc("summary", str(spec))
    assert result.returncode == 2 and "error E112: input name 'x' is already used (line 3)" in result.stderr
