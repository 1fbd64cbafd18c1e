"""netcalc's signal report against PyTorch (tests/signal_oracle.py): E[x²] forward and E[g²]
backward per layer, measured in torch over 100 weight seeds, within netcalc verify's tolerance.

The reproducers of issue 14: the ReLU's backward gain below a max pool (the gradient lands where
the ReLU took each window's maximum) is kept through a batchnorm and lost through a convolution;
batchnorm after a ReLU whose units have their own means divides each unit by its own variance
(E_c[1/Var_c], not 1/E_c[Var_c]).
"""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import run_spec  # noqa: E402
from signal_oracle import measure, table  # noqa: E402

pytestmark = pytest.mark.oracle

HEAD = "netcalc: 1\nconvention: {conv}\ninput: {inp}\n{extra}layers:\n"
POOL_DEFAULTS = "defaults: {init: kaiming_normal, bias_init: zeros}\n"

CASES = {
    # issue 14 item 1: conv → relu → conv → relu → max pool; the first relu's gradient is not at the maxima
    "relu-conv-relu-maxpool": (
        "pytorch",
        "{shape: [16, 16, 16]}",
        POOL_DEFAULTS,
        """
        - {op: conv2d, filters: 16, kernel: 3, padding: 1, activation: relu}
        - {op: conv2d, filters: 16, kernel: 3, padding: 1, activation: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # issue 14 item 1: relu → batchnorm → max pool; the relu's gradient is at the maxima
    "relu-batchnorm-maxpool": (
        "pytorch",
        "{shape: [16, 16, 16]}",
        POOL_DEFAULTS,
        """
        - {op: conv2d, filters: 16, kernel: 3, padding: 1, activation: relu}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # issue 14 item 2, at a large batch (the rule is the infinite batch's: see channel_spread)
    "dense-relu-offset-batchnorm": (
        "keras",
        "{shape: [64], mean: 1, std: 1}",
        "",
        """
        - {op: dense, units: 64, activation: relu}
        - {op: batchnorm}
        - {op: dense, units: 10}
        """,
        1024,
    ),
    # a relu read by a max pool and an average pool (concat pooling): the max pool's share of the gradient
    # lands at the maxima, the average pool's everywhere
    "relu-concat-pooling": (
        "pytorch",
        "{shape: [16, 16, 16]}",
        POOL_DEFAULTS,
        """
        - {op: conv2d, filters: 16, kernel: 3, padding: 1, activation: relu, id: features}
        - {op: adaptive_maxpool2d, output_size: 2, in: features, id: max_bins}
        - {op: adaptive_avgpool2d, output_size: 2, in: features, id: avg_bins}
        - {op: concat, in: [max_bins, avg_bins]}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    "pytorch-defaults-mlp": (
        "pytorch",
        "{shape: [64]}",
        "",
        """
        - {op: dense, units: 128, activation: relu}
        - {op: dense, units: 128, activation: tanh}
        - {op: dense, units: 10}
        """,
        64,
    ),
    "conv-bn-avgpool": (
        "pytorch",
        "{shape: [8, 16, 16]}",
        POOL_DEFAULTS,
        """
        - {op: conv2d, filters: 8, kernel: 3, padding: 1}
        - {op: batchnorm}
        - {op: relu}
        - {op: avgpool2d, kernel: 2}
        - {op: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
}

# the figures each reproducer is about
FOCUS = {
    "relu-conv-relu-maxpool": [("conv2d_1", "backward")],
    "relu-batchnorm-maxpool": [("conv2d_1", "backward"), ("maxpool2d_1", "forward")],
    "dense-relu-offset-batchnorm": [("dense_1", "backward")],
    "relu-concat-pooling": [("features", "backward")],
}

# figures known to disagree, and why (not asserted)
KNOWN = {
    # the gradient at the ReLU's output, E_c[1/(Var_c + ε)]: a unit whose batch is (nearly) all below 0
    # has a batch variance far under its population one (ε = 1e-5: up to 10⁵), a finite-batch tail the
    # rule (population variances) does not model; the gradient below the ReLU (dense_1) agrees
    ("dense-relu-offset-batchnorm", "dense_1.relu", "backward"),
}


def _spec(conv, inp, extra, layers):
    body = textwrap.indent(textwrap.dedent(layers).strip(), "  ")
    return HEAD.format(conv=conv, inp=inp, extra=extra) + body + "\n"


@pytest.mark.parametrize("case", list(CASES))
def test_signal_against_torch(case):
    conv, inp, extra, layers, batch = CASES[case]
    analysis, diags = run_spec(_spec(conv, inp, extra, layers))
    assert analysis is not None, diags
    rows = measure(analysis, seeds=100, batch=batch)
    print(table(rows))
    by = {r.name: r for r in rows}
    for name, way in FOCUS.get(case, []):
        fig = getattr(by[name], way)
        assert fig.ok, f"{name} {way}: predicted {fig.predicted:.4g}, measured {fig.measured:.4g}"
    bad = [
        f"{r.name} {w}"
        for r in rows
        for w in ("forward", "backward")
        if getattr(r, w).ok is False and (case, r.name, w) not in KNOWN
    ]
    assert not bad, f"outside netcalc's tolerance: {bad}\n{table(rows)}"


def test_global_avgpool_weight_gradients_in_torch():
    # W302_quiet_global_avgpool: the pool divides the gradient's norm at the convs by 32·32 = 1,024 by
    # construction, but not the weight gradients of the conv before it: measured in torch, its
    # ‖∂L/∂W‖²/‖W‖² is within 2× of the dense's, while its output gradient's norm is ~1/1,024 of the dense's;
    # netcalc's backward growth, which counts the pool at its forward gain, stays inside the band
    from pathlib import Path

    from signal_oracle import TorchNet

    from netcalc.signal import propagate

    spec = Path(__file__).parent / "lint_rules" / "W302_quiet_global_avgpool.yaml"
    analysis, diags = run_spec(spec.read_text(encoding="utf-8"))
    assert analysis is not None, diags
    net = TorchNet(analysis.graph)
    rel = {"conv2d_3": [], "dense_1": []}
    norm = {"conv2d_3": [], "dense_1": []}
    for seed in range(20):
        for _, _, w in net.modules.values():
            if w is not None:
                w.zero_grad()
        out = net.run(seed, 64)
        for name in rel:
            w = net.modules[name][2].weight
            rel[name].append(float((w.grad**2).mean() / (w.detach() ** 2).mean()))
            norm[name].append(out[name][1])
    mean = {k: sum(v) / len(v) for k, v in rel.items()}
    assert 0.5 < mean["conv2d_3"] / mean["dense_1"] < 2, mean
    rep = propagate(analysis)
    by = rep.by_name
    # the mean squared gradient per element: conv2d_3 has 64·32·32 elements, dense_1 10
    ratio = (sum(norm["conv2d_3"]) * 64 * 1024) / (sum(norm["dense_1"]) * 10)
    assert ratio == pytest.approx(by["conv2d_3"].r_norm / by["dense_1"].r_norm, rel=0.25)
    assert ratio < 2 / 1024
    assert 0.1 < rep.growth()[1] < 10
