"""`netcalc diff`: layers matched by name, the totals' changes worked out by hand, budgets, renderers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.diff import ADDED, CHANGED, REMOVED, SAME, check, compare
from netcalc.diff_render import render_json, render_markdown, render_table
from netcalc.spec import load
from netcalc.table import Style

HEAD = """
netcalc: 1
name: head
convention: keras
input: {shape: [7, 7, 64], layout: hwc, name: features}
layers:
"""

# The two heads of specs/flatten-vs-gap.yaml, each in a design of its own, the dense layer named alike.
FLATTEN = HEAD + "  - {op: flatten, id: flat}\n  - {op: dense, units: 500, id: fc}\n"
GAP = HEAD + "  - {op: global_avgpool2d, id: gap}\n  - {op: dense, units: 500, id: fc}\n"

CONV = """
netcalc: 1
name: conv
convention: pytorch
input: {shape: [1, 28, 28], layout: chw}
layers:
  - {op: conv2d, filters: 8, kernel: KERNEL}
  - {op: flatten}
  - {op: dense, units: 10}
"""


def analysis(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    diags = Diagnostics()
    graph = load(str(path), diags)
    assert graph is not None, [d.format() for d in diags.items]
    result = analyze(graph, diags)
    assert result.ok, [d.format() for d in diags.items]
    return result


def diff_of(tmp_path, old: str, new: str, signal: bool = False):
    return compare(analysis(tmp_path, old, "old"), analysis(tmp_path, new, "new"), signal=signal)


def test_flatten_head_against_global_average_pool(tmp_path):
    d = diff_of(tmp_path, FLATTEN, GAP)
    assert [(c.name, c.status) for c in d.layers] == [("flat", REMOVED), ("gap", ADDED), ("fc", CHANGED)]
    flat, gap, fc = d.layers
    assert (flat.old_shape, flat.new_shape, flat.params_delta) == ((3136,), None, 0)
    assert (gap.old_shape, gap.new_shape, gap.params_delta) == (None, (64,), 0)
    # 3,136 inputs × 500 + 500 biases against 64 × 500 + 500
    assert (fc.old_params, fc.new_params, fc.params_delta) == (1_568_500, 32_500, -1_536_000)
    assert (fc.old_macs, fc.new_macs, fc.macs_delta) == (1_568_000, 32_000, -1_536_000)
    assert fc.old_shape == fc.new_shape == (500,)

    t = d.totals
    assert (t["params"].old, t["params"].new, t["params"].delta) == (1_568_500, 32_500, -1_536_000)
    assert t["params"].percent == pytest.approx(-1_536_000 / 1_568_500 * 100)
    assert t["trainable_params"].delta == -1_536_000
    assert (t["macs"].old, t["macs"].new) == (1_568_000, 32_000)
    # FLOPs: 2 per MAC + 500 bias adds; the average pool adds 49 per output element (64 × 49 = 3,136)
    assert (t["flops"].old, t["flops"].new) == (3_136_500, 3_136 + 64_000 + 500)
    # activations kept: (3,136 + 500) and (64 + 500) float32 elements
    assert (t["activation_bytes"].old, t["activation_bytes"].new) == (3_636 * 4, 564 * 4)
    # weights + the 7×7×64 input + activations, float32
    assert t["total_bytes"].old == (1_568_500 + 3_136 + 3_636) * 4
    assert t["total_bytes"].new == (32_500 + 3_136 + 564) * 4
    assert d.growth is None and d.unchanged == 0


def test_the_two_heads_add_up_to_the_bundled_spec(tmp_path):
    from netcalc import bundled

    diags = Diagnostics()
    both = analyze(load(str(bundled.find("flatten-vs-gap")), diags), diags)
    d = diff_of(tmp_path, FLATTEN, GAP)
    assert d.totals["params"].old + d.totals["params"].new == both.totals.params == 1_601_000


def test_renamed_layer_is_removed_then_added(tmp_path):
    old = HEAD + "  - {op: flatten}\n  - {op: dense, units: 10, id: logits}\n"
    new = HEAD + "  - {op: flatten}\n  - {op: dense, units: 10, id: scores}\n"
    d = diff_of(tmp_path, old, new)
    assert [(c.name, c.status) for c in d.layers] == [("flatten_1", SAME), ("logits", REMOVED), ("scores", ADDED)]
    removed, added = d.layers[1:]
    assert (removed.old_params, removed.new_params, removed.params_delta) == (31_370, None, -31_370)
    assert (added.old_params, added.new_params, added.params_delta) == (None, 31_370, 31_370)
    assert all(f.delta == 0 and f.percent == 0 for f in d.totals.values())
    assert d.unchanged == 1


def test_kernel_change_shows_shape_and_macs(tmp_path):
    d = diff_of(tmp_path, CONV.replace("KERNEL", "3"), CONV.replace("KERNEL", "5"))
    by = {c.name: c for c in d.layers}
    conv = by["conv2d_1"]
    assert conv.status == CHANGED
    assert (conv.old_shape, conv.new_shape) == ((8, 26, 26), (8, 24, 24))
    assert (conv.old_params, conv.new_params, conv.params_delta) == (8 * 9 + 8, 8 * 25 + 8, 128)
    # 8 × 26 × 26 outputs × 9 taps against 8 × 24 × 24 × 25
    assert (conv.old_macs, conv.new_macs, conv.macs_delta) == (48_672, 115_200, 66_528)
    flat, dense = by["flatten_1"], by["dense_1"]
    assert (flat.status, flat.old_shape, flat.new_shape) == (CHANGED, (5408,), (4608,))
    assert (dense.params_delta, dense.macs_delta) == (-8_000, -8_000)
    assert d.totals["params"].delta == 128 - 8_000
    assert d.totals["macs"].delta == 66_528 - 8_000


def test_type_change_under_one_name_is_changed(tmp_path):
    old = HEAD + "  - {op: global_avgpool2d, id: pool}\n"
    new = HEAD + "  - {op: global_maxpool2d, id: pool}\n"
    (c,) = diff_of(tmp_path, old, new).layers
    assert (c.status, c.old_op, c.new_op) == (CHANGED, "global_avgpool2d", "global_maxpool2d")


WIDE = HEAD.replace("[7, 7, 64], layout: hwc", "[99]") + "  - {op: dense, units: UNITS, id: fc}\n"


def test_check_budgets(tmp_path):
    d = diff_of(tmp_path, WIDE.replace("UNITS", "4"), WIDE.replace("UNITS", "5"))  # 400 → 500 parameters
    assert d.totals["params"].percent == pytest.approx(25.0)
    (message,) = check(d, max_params_growth=10)
    assert "parameters" in message and "400 → 500" in message and "25.00 %" in message and "10 %" in message
    assert check(d, max_params_growth=30) == []
    assert check(d) == []
    assert len(check(d, max_params_growth=10, max_macs_growth=10)) == 2  # 396 → 495 MACs, +25 %
    shrink = diff_of(tmp_path, WIDE.replace("UNITS", "5"), WIDE.replace("UNITS", "4"))
    assert check(shrink, 0, 0, 0) == []


def test_check_growth_from_nothing(tmp_path):
    d = diff_of(tmp_path, HEAD + "  - {op: flatten}\n", HEAD + "  - {op: flatten}\n  - {op: dense, units: 2}\n")
    assert d.totals["params"].percent is None
    (message,) = check(d, max_params_growth=1000)
    assert "from 0" in message and "0 → 6,274" in message


def test_signal_growth_old_and_new(tmp_path):
    d = diff_of(tmp_path, FLATTEN, GAP, signal=True)
    fwd, bwd = d.growth["forward_growth"], d.growth["backward_growth"]
    for g in (fwd, bwd):
        assert math.isfinite(g.old) and math.isfinite(g.new) and g.ratio == pytest.approx(g.new / g.old)
    assert "Forward growth" in render_table(d, Style(False)) and "Backward growth" in render_markdown(d)


def test_markdown_has_the_totals_table_and_the_changed_layers(tmp_path):
    d = diff_of(tmp_path, FLATTEN, GAP)
    md = render_markdown(d)
    assert "|  | old | new | Δ | % |" in md
    assert "| Total params | 1,568,500 | 32,500 | −1,536,000 | −97.93 % |" in md
    assert "| MACs per sample | 1,568,000 | 32,000 | −1,536,000 | −97.96 % |" in md
    assert "| ~ | fc | dense | 500 | 1,568,500 → 32,500 | −1,536,000 | 1,568,000 → 32,000 | −1,536,000 |" in md
    assert "| − | flat | flatten | 3136 |" in md and "| + | gap | global_avgpool2d | 64 |" in md
    flagged = render_markdown(d, violations=["parameters grew"])
    assert "**over budget**: parameters grew" in flagged


def test_table_counts_unchanged_layers_in_one_line(tmp_path):
    d = diff_of(tmp_path, CONV.replace("KERNEL", "3"), CONV.replace("KERNEL", "3").replace("units: 10", "units: 12"))
    text = render_table(d, Style(False))
    assert "dense_1" in text and "conv2d_1" not in text
    assert "1 changed; 2 unchanged layers not shown" in text
    full = render_table(d, Style(False), all_layers=True)
    assert "conv2d_1" in full and "not shown" not in full
    assert "\x1b[" not in text  # no styles without a terminal


def test_json(tmp_path):
    d = diff_of(tmp_path, FLATTEN, GAP)
    doc = json.loads(render_json(d, violations=["x"]))
    assert doc["ok"] is False and doc["violations"] == ["x"]
    assert doc["totals"]["params"] == {"old": 1_568_500, "new": 32_500, "delta": -1_536_000,
                                       "percent": pytest.approx(-97.9279, abs=1e-4)}  # fmt: skip
    assert doc["signal"] is None and doc["unchanged"] == 0
    fc = doc["layers"][2]
    assert fc["status"] == "changed" and fc["delta"] == {"params": -1_536_000, "macs": -1_536_000, "output_bytes": 0}
    assert fc["old"] == {"type": "dense", "output_shape": [500], "params": 1_568_500, "macs": 1_568_000,
                         "output_bytes": 2_000, "frozen": False, "weights": None}  # 500 float32 outputs  # fmt: skip
    assert doc["layers"][0]["new"] is None and doc["layers"][1]["old"] is None


def test_no_numpy_without_the_signal():
    code = "import sys, netcalc.diff; assert 'numpy' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cli_diff_exit_code_and_markdown(tmp_path):
    # flatten-vs-gap with both heads at 600 units instead of 500: parameters 1,601,000 → 1,921,200 (+20 %)
    from cli_run import ROOT, netcalc

    old = ROOT / "specs" / "flatten-vs-gap.yaml"
    new = tmp_path / "wider.yaml"
    new.write_text(old.read_text(encoding="utf-8").replace("units: 500", "units: 600"), encoding="utf-8")
    r = netcalc("diff", str(old), str(new), "--max-params-growth", "10", "--no-signal")
    assert r.returncode == 1
    assert "parameters grew by 20.00 %: 1,601,000 → 1,921,200, more than the 10 % allowed" in r.stdout
    r = netcalc("diff", str(old), str(new), "--max-params-growth", "25", "--format", "markdown", "--no-signal")
    assert r.returncode == 0
    assert "| Total params | 1,601,000 | 1,921,200 | +320,200 | +20.00 % |" in r.stdout


def test_per_layer_output_memory(tmp_path):
    # conv 8 filters 3×3 on 1×28×28: 8×26×26 = 5,408 floats = 21,632 bytes; 5×5: 8×24×24 = 4,608 floats = 18,432 B
    d = diff_of(tmp_path, CONV.replace("KERNEL", "3"), CONV.replace("KERNEL", "5"))
    conv = next(c for c in d.layers if c.name == "conv2d_1")
    assert (conv.old_memory, conv.new_memory, conv.memory_delta) == (21_632, 18_432, -3_200)
    head = next(c for c in d.layers if c.name == "dense_1")
    assert head.old_memory == head.new_memory == 10 * 4  # 10 logits
    doc = json.loads(render_json(d))
    row = next(r for r in doc["layers"] if r["name"] == "conv2d_1")
    assert (row["old"]["output_bytes"], row["delta"]["output_bytes"]) == (21_632, -3_200)
    assert "21.63 kB → 18.43 kB" in render_table(d, Style(False))


@pytest.mark.parametrize("flag", ["--max-params-growth", "--max-macs-growth", "--max-memory-growth"])
def test_growth_budget_must_be_a_number(flag):
    r = subprocess.run([sys.executable, "-m", "netcalc", "diff", "resnet18", "resnet34", flag, "nan"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and f"{flag}: error E107: {flag} takes a finite percentage, got nan" in r.stderr
