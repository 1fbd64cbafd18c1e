"""`netcalc verify`: the executor's measurements beside the predictions, exit codes, limits, JSON.

Every bundled spec must verify (shapes, parameter tensors and MACs exactly; second moments within
the tolerance of the rules behind them). The tolerance logic itself is tested on made-up numbers,
and a disagreement is provoked by scaling one measured figure, to show the check can fail."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_run import ROOT, netcalc

from netcalc.amounts import parse_size
from netcalc.verify import FLOOR, Figure, compare, draw_spread

SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
HEAVY = {"resnet101", "resnet152", "resnet1202-cifar", "vgg11", "vgg13", "vgg16", "vgg19", "resnet50", "resnet34",
         "resnet18", "mobilenet-v2", "keras-resnet50"}  # fmt: skip
# specs with symbolic sizes run at a small value of each (their defaults are realistic sizes; the
# counts at the defaults are held by the golden summaries and the PyTorch oracle). A VGG at 32×32
# runs its 13–16 convolutions on maps down to 1×1 (its adaptive pool then repeats each value 7×7)
# in a seventh of the CPU time of 224×224 (most of what is left is sampling its 133–144 M weights).
SMALL = {
    "unet-small": ["--set", "H=32,W=48"],
    "lstm-classifier-t": ["--set", "T=24"],
    "resnet18-finetune": ["--set", "H=64,W=64"],
    **{vgg: ["--set", "H=32,W=32"] for vgg in ("vgg11", "vgg13", "vgg16", "vgg19")},
    "alexnet-torchvision": ["--set", "H=64,W=64"],  # its smallest size is 63
    "instancenorm-generator": ["--set", "H=64,W=64"],
}


@pytest.mark.parametrize("spec", SPECS)
def test_every_bundled_spec_verifies(spec):
    # small runs: 2 samples, 3 weight seeds (2 for the ImageNet-sized nets), float32. Exit 0 means every
    # figure agreed; the JSON says so per layer.
    seeds = "2" if spec in HEAVY else "3"
    r = netcalc("verify", spec, "--batch", "2", "--seeds", seeds, "--dtype", "float32", "--max-memory", "16GB",
                "--format", "json", *SMALL.get(spec, []), timeout=900)  # fmt: skip
    doc = json.loads(r.stdout)
    assert r.returncode == 0, "\n".join(doc["failures"])
    assert doc["ok"] and not doc["failures"]
    for layer in doc["layers"]:
        assert layer["output_shape"]["ok"] and layer["tensors"]["ok"] and layer["macs"]["ok"], layer["name"]


# cheap bundled specs of every kind (conv + pools, a deep He/Xavier stack, recurrent, shared weights,
# residual, normalisation, a 1-unit head): one weight seed at the default batch must verify too.
# Not stacked-gru: its second layer's E[h²] disagrees at any seed count (issue 14 item 4, stacked recurrent
# layers: 0.0098 predicted, 0.017 measured over 30 seeds)
ONE_SEED = ["mnist-cnn", "plain30-he", "plain30-xavier", "lstm-look-back", "text-cnn", "siamese", "residual-blocks",
            "alexnet-lite", "signal-autoencoder", "groupnorm-head", "conv-autoencoder"]  # fmt: skip


@pytest.mark.parametrize("spec", ONE_SEED)
@pytest.mark.parametrize("seed", ["0", "9"])
def test_one_seed_verifies(spec, seed):
    # issue 14: with one seed there is no spread to measure; the tolerance is the spread one network is
    # predicted to have over its weight draw (draw_spread), not the run's √(2/N) alone (mnist-cnn at
    # seed 9 measured conv2d_2 at 0.77× the prediction with a 29 % tolerance)
    r = netcalc("verify", spec, "--seeds", "1", "--seed", seed, "--format", "json", *SMALL.get(spec, []))
    doc = json.loads(r.stdout)
    assert r.returncode == 0, "\n".join(doc["failures"])


def test_draw_spread_by_hand():
    # dense 256 → 256 on N(0, 1) (m = 0, zero bias), batch 8: the input's sampling 2/(8·256); the layer's
    # draw 5·(1/(8·1))/256 + 2/(256·256) (B·P = 8 values per unit, W = 65,536 weights); its ReLU's
    # input has m = 1/π, so the second dense adds 5·(1/π² + (1 − 1/π)²/8)/256 + 2(1 − 1/π)²/65,536
    from conftest import run_spec

    from netcalc.signal import propagate

    analysis, _ = run_spec("""
    netcalc: 1
    input: {shape: [256]}
    defaults: {init: he_normal, bias_init: zeros}
    layers:
      - {op: dense, units: 256, activation: relu}
      - {op: dense, units: 256}
    """)
    rep = propagate(analysis)
    fwd, bwd = draw_spread(analysis.graph, rep.layers, 8)
    v0 = 2 / (8 * 256)
    v1 = v0 + 5 / 8 / 256 + 2 / 65536
    m = 1 / math.pi
    v2 = v1 + 5 * (m**2 + (1 - m) ** 2 / 8) / 256 + 2 * (1 - m) ** 2 / 65536
    assert fwd["dense_1"] ** 2 == pytest.approx(v1, rel=1e-9)
    assert fwd["dense_1.relu"] ** 2 == pytest.approx(v1, rel=1e-9)
    assert fwd["dense_2"] ** 2 == pytest.approx(v2, rel=1e-9)
    assert bwd**2 == pytest.approx(v2, rel=1e-9)


def test_one_seed_figure():
    # no spread: the tolerance is 3 × the predicted draw spread in log space (+ the 2 % floor); a draw
    # spread over FEW_DRAWS leaves the figure uncompared
    f = Figure(1.0, [1.3], 0.0, "E", elements=10**6, draw=0.1)
    assert f.tolerance == pytest.approx(FLOOR + 0.3) and f.ok  # log 1.3 = 0.262 < 0.32
    assert Figure(1.0, [1.4], 0.0, "E", elements=10**6, draw=0.1).ok is False  # log 1.4 = 0.336
    assert Figure(1.0, [0.01], 0.0, "E", elements=10**6, draw=0.8).ok is None


def test_figure_tolerance():
    # an [E] figure: no rule tolerance; four seeds with a relative spread s: t(3 df) = 8.891 standard
    # errors s/√4, + 2 %
    f = Figure(1.0, [1.0, 1.1, 0.9, 1.0], 0.0, "E")
    spread = math.sqrt((0.01 + 0.01) / 3)  # sample std of the four values around their mean 1.0
    assert f.spread == pytest.approx(spread)
    assert f.tolerance == pytest.approx(math.log(1.02) + math.log1p(8.891 * spread / 2))
    assert f.ok
    assert not Figure(1.2, [1.0, 1.0, 1.0, 1.0], 0.0, "E").ok  # 20 % off with no spread: fails
    # a run's own sampling error is the floor: 8 elements, √(2/8) = 0.5 per run, 4 runs: 8.891·0.25
    g = Figure(1.0, [1.0, 1.0, 1.0, 1.0], 0.0, "E", elements=8)
    assert g.tolerance == pytest.approx(math.log(1.02) + math.log1p(8.891 * 0.25))
    assert Figure(1.2, [1.0, 1.0, 1.0, 1.0], math.log(1.25), "A").ok  # within an [A] rule's 25 %
    assert Figure(0.0, [0.0, 0.0], 0.0, "E").ok  # both exactly 0 (a zero-initialised branch)
    assert Figure(math.nan, [1.0], 0.0, "E").ok is None  # nothing predicted: not compared


def test_parse_size():
    assert parse_size("4GB") == 4 * 10**9  # as netcalc prints memory: MB = 10⁶ bytes
    assert parse_size("512MB") == 512 * 10**6
    assert parse_size("1.3MB") == 1_300_000
    assert parse_size("64kB") == 64_000
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1_000KB") == 10**6
    assert parse_size("1000") == 1000
    assert parse_size("lots") is None


def _checks(spec: str, scale_node: str | None = None, factor: float = 1.0):
    from netcalc.analyze import analyze
    from netcalc.diagnostics import Diagnostics
    from netcalc.executor.run import run
    from netcalc.signal import propagate
    from netcalc.spec import load

    d = Diagnostics()
    analysis = analyze(load(str(ROOT / "specs" / f"{spec}.yaml"), d), d)
    runs = [run(analysis.graph, batch=8, seed=s, dtype="float64") for s in range(4)]
    if scale_node:
        for r in runs:
            rec = r.nodes[scale_node].fwd
            rec.s2 = rec.s2 * factor
    return compare(analysis, propagate(analysis, batch=8), runs)


def test_a_wrong_measurement_is_a_disagreement():
    # plain30-he agrees as measured; the same runs with dense 5's forward second moment doubled do not,
    # and the failure names the layer and both figures
    assert all(c.ok for c in _checks("plain30-he"))
    checks = _checks("plain30-he", "plain.1.dense_1", 2.0)
    bad = [c for c in checks if not c.ok]
    assert [c.name for c in bad] == ["plain.1.dense_1"]
    msg = bad[0].failures()[0]
    assert msg.startswith("plain.1.dense_1: forward E[x²] predicted 2, measured ")


def test_exit_code_1_on_a_disagreement(monkeypatch):
    # the executor's run wrapped to double one measured second moment: verify exits 1 and names it
    from typer.testing import CliRunner

    import netcalc.executor.run as runner
    from netcalc.cli import app

    real = runner.run

    def skewed(graph, **kw):
        measured = real(graph, **kw)
        measured.nodes["plain.1.dense_1"].fwd.s2 *= 2
        return measured

    monkeypatch.setattr(runner, "run", skewed)
    result = CliRunner().invoke(app, ["verify", "plain30-he", "--seeds", "4"])
    assert result.exit_code == 1
    assert "1 disagreement:" in result.output
    assert "plain.1.dense_1: forward E[x²] predicted 2, measured " in result.output


def test_json_has_an_ok_per_figure():
    r = netcalc("verify", "mnist-cnn", "--batch", "4", "--seeds", "3", "--format", "json")
    assert r.returncode == 0, r.stdout
    doc = json.loads(r.stdout)
    keys = {"output_shape", "tensors", "macs", "forward_second_moment", "backward_second_moment", "ok"}
    assert keys <= set(doc["layers"][0])
    fwd = doc["layers"][0]["forward_second_moment"]
    assert set(fwd) >= {"predicted", "measured", "spread", "tolerance", "tag", "ok"}


def test_memory_limit_refuses_before_running():
    r = netcalc("verify", "resnet50", "--batch", "64", "--max-memory", "100MB")
    assert r.returncode == 2
    assert "more than --max-memory 100MB" in r.stderr and "GB" in r.stderr and "--batch" in r.stderr
    assert r.stderr.startswith("--max-memory: error E107: resnet50 at batch 64 in float64 needs about ")


def test_bad_options_exit_2():
    assert netcalc("verify", "mnist-cnn", "--dtype", "float16").returncode == 2
    assert netcalc("verify", "mnist-cnn", "--max-memory", "lots").returncode == 2


def test_save_writes_the_measured_statistics(tmp_path):
    out = tmp_path / "stats.json"
    r = netcalc("verify", "lstm-look-back", "--batch", "4", "--seeds", "2", "--save", str(out))
    assert r.returncode == 0, r.stdout
    doc = json.loads(Path(out).read_text())
    assert len(doc["runs"]) == 2
    lstm = next(n for n in doc["runs"][0]["nodes"] if n["name"] == "lstm")
    assert lstm["params"] == 96 and lstm["out_shape"] == [4]  # Keras LSTM(4) on (1, 1): 4·4·(1 + 4 + 1)
    assert lstm["forward"]["second_moment"] > 0


def test_an_embedding_reading_floats_is_fed_token_ids():
    # W202's spec: a float32 input read by an embedding. verify used to crash (exit 3) indexing the
    # table with floats; it now feeds integer ids as floats (Keras's Embedding casts them) and the
    # figures agree: params 100·8 + (10·8)·2 + 2 = 962.
    r = netcalc("verify", str(ROOT / "tests" / "lint_rules" / "W202_fires.yaml"), "--batch", "4", "--seeds", "2",
                "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    assert sum(t[2] for layer in doc["layers"] for t in layer["tensors"]["measured"]) == 962


def test_save_refuses_to_overwrite_the_spec(tmp_path):
    spec = tmp_path / "net.yaml"
    text = (ROOT / "specs" / "mnist-cnn.yaml").read_text()
    spec.write_text(text)
    r = netcalc("verify", str(spec), "--save", str(spec))
    assert r.returncode == 2 and "is the spec being read" in r.stderr
    assert spec.read_text() == text


def test_input_distribution_options():
    # plain30-he's first dense (He, 256 → 256) on inputs of mean 1 and std 3: E[x²] = 1 + 9 = 10, times
    # n·Var(w) = 2: 20, predicted [E] and measured
    r = netcalc("verify", "plain30-he", "--seeds", "4", "--input-mean", "1", "--input-std", "3", "--format", "json")
    assert r.returncode == 0, r.stdout
    doc = json.loads(r.stdout)
    assert doc["inputs"]["input"] == {"mean": 1.0, "std": 3.0}
    first = doc["layers"][0]["forward_second_moment"]
    assert first["predicted"] == pytest.approx(20.0, rel=1e-12)
    assert first["ok"]


def test_ctrl_c_stops_cleanly():
    # SIGINT in the middle of a run: one line, exit 130, no traceback. 500 seeds of resnet50 take minutes, so
    # the signal arrives mid-run however fast the machine (4 seeds finished inside the 6 s on an idle one)
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "NO_COLOR": "1"}
    # a pytest-xdist worker ignores SIGINT and a child inherits SIG_IGN (Python then installs no
    # KeyboardInterrupt handler): give the child the default disposition an interactive shell gives it
    p = subprocess.Popen([sys.executable, "-m", "netcalc", "verify", "resnet50", "--batch", "2", "--seeds", "500"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    time.sleep(6)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130
    assert err == "interrupted\n" and out == ""
