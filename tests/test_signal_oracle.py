"""netcalc's signal report against PyTorch (tests/signal_oracle.py): E[x²] forward and E[g²]
backward per layer, measured in torch over 100 weight seeds, within netcalc verify's tolerance.

The reproducers of issue 14: the ReLU's backward gain below a max pool (the gradient lands where
the ReLU took each window's maximum) is kept through a batchnorm and lost through a convolution;
batchnorm after a ReLU whose units have their own means divides each unit by its own variance
(E_c[1/Var_c], not 1/E_c[Var_c]); batchnorm at a finite batch (batch 2, 8, 64: the batch variance's
distribution and the two directions its backward projects out), on networks and on torch's BatchNorm1d alone;
Keras's batchnorm epsilon 1e-3 against a depthwise convolution's small outputs (a MobileNet block).
"""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import run_spec  # noqa: E402
from signal_oracle import false_alarms, measure, table  # noqa: E402
from torch import nn  # noqa: E402

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

# issue 14 item 5: batchnorm's batch statistics at a finite batch (m = batch × positions per channel)
FINITE_BATCH = {
    "conv-bn-relu": (
        "pytorch",
        "{shape: [8, 8, 8]}",
        POOL_DEFAULTS,
        """
        - {op: conv2d, filters: 16, kernel: 3, padding: 1}
        - {op: batchnorm}
        - {op: relu}
        - {op: conv2d, filters: 16, kernel: 3, padding: 1}
        - {op: batchnorm}
        - {op: relu}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
    ),
    "dense-bn": (
        "pytorch",
        "{shape: [64]}",
        "",
        """
        - {op: dense, units: 64}
        - {op: batchnorm}
        - {op: relu}
        - {op: dense, units: 64}
        - {op: batchnorm}
        - {op: relu}
        - {op: dense, units: 10}
        """,
    ),
}
for _name, _case in FINITE_BATCH.items():
    for _batch in (2, 8, 64):
        CASES[f"{_name}-batch{_batch}"] = (*_case, _batch)

# a ResNet basic block with a projection shortcut (1×1 conv /2 and its own batchnorm), at verify's batch 8:
# the shortcut's batchnorm takes batchnorm's finite-batch rule (m = 8·4·4 = 128 values per channel)
CASES["resnet-block-projection-batch8"] = (
    "pytorch",
    "{shape: [8, 8, 8]}",
    POOL_DEFAULTS,
    """
    - {op: conv2d, filters: 8, kernel: 3, padding: 1, activation: relu, id: stem}
    - {op: conv2d, filters: 16, kernel: 3, stride: 2, padding: 1, bias: false}
    - {op: batchnorm}
    - {op: relu}
    - {op: conv2d, filters: 16, kernel: 3, padding: 1, bias: false}
    - {op: batchnorm, id: main}
    - {op: shortcut, in: stem, filters: 16, stride: 2, id: skip}
    - {op: add, in: [main, skip]}
    - {op: relu}
    - {op: flatten}
    - {op: dense, units: 10}
    """,
    8,
)

# issue 14 item 6: a Keras MobileNet block (conv → BN → relu → depthwise conv → BN → relu → pointwise conv → BN
# → relu), glorot_uniform everywhere. The depthwise kernel (3, 3, 64, 1) has fans 9·64 and 9: Var(w) =
# 2/(9·65), and each output channel sums 9 taps of a relu of variance ≈ 0.34, so the depthwise output's
# channel variance is ≈ 0.0102 (measured in torch: 5 %, 50 %, 95 % of the channels at 0.0054, 0.0100,
# 0.0156). Keras's epsilon 1e-3 takes a tenth of that: E[x̂²] measured 0.903, where netcalc predicted 0.999
# with PyTorch's 1e-5, which it took for every convention's batchnorm. The rest (0.9079 predicted, 0.903
# measured) is the channels' spread over the weight draw (a coefficient of variation 0.30 from 9 weights:
# E_c[v/(v + ε)] below v̄/(v̄ + ε) by ε·v̄²·CV²/(v̄ + ε)³ ≈ 0.007), inside the tolerance.
for _batch in (64, 8):
    CASES[f"keras-mobilenet-block-batch{_batch}"] = (
        "keras",
        "{shape: [16, 16, 16], layout: hwc}",
        "defaults:\n  conv2d: {bias: false, padding: same}\n",
        """
        - {op: conv2d, filters: 64, kernel: 3}
        - {op: batchnorm}
        - {op: relu}
        - {op: conv2d, groups: depthwise, kernel: 3}
        - {op: batchnorm}
        - {op: relu}
        - {op: conv2d, filters: 64, kernel: 1}
        - {op: batchnorm}
        - {op: relu}
        - {op: global_avgpool2d}
        - {op: dense, units: 10}
        """,
        _batch,
    )

# issue 14 item 4: stacked recurrent layers ([20, 16] sequences, 32 units), each convention's initialisers
# (Keras: glorot_uniform kernel, orthogonal recurrent kernel, forget bias 1)
for _conv in ("keras", "pytorch"):
    for _cell in ("lstm", "gru"):
        for _depth in (2, 3):
            _rows = [f"- {{op: {_cell}, units: 32, return_sequences: true}}"] * (_depth - 1)
            CASES[f"{_conv}-{_cell}-stack{_depth}"] = (
                _conv,
                "{shape: [20, 16]}",
                "",
                "\n".join([*_rows, f"- {{op: {_cell}, units: 32}}"]),
                64,
            )

# more stacks: a simple rnn (tanh), bidirectional layers, dropout between the layers (a dropout layer, and
# PyTorch's num_layers with its dropout between them), both conventions
for _conv in ("keras", "pytorch"):
    CASES[f"{_conv}-rnn-stack3"] = (
        _conv, "{shape: [20, 16]}", "",
        "- {op: rnn, units: 32, return_sequences: true}\n" * 2 + "- {op: rnn, units: 32}", 64,
    )  # fmt: skip
    CASES[f"{_conv}-bilstm-stack2"] = (
        _conv, "{shape: [20, 16]}", "",
        "- {op: lstm, units: 32, bidirectional: true, return_sequences: true}\n- {op: lstm, units: 32}", 64,
    )  # fmt: skip
    for _cell in ("lstm", "gru"):
        CASES[f"{_conv}-{_cell}-dropout-stack3"] = (
            _conv, "{shape: [20, 16]}", "",
            f"- {{op: {_cell}, units: 32, return_sequences: true}}\n- {{op: dropout, rate: 0.3}}\n"
            f"- {{op: {_cell}, units: 32, return_sequences: true}}\n- {{op: dropout, rate: 0.3}}\n"
            f"- {{op: {_cell}, units: 32}}", 64,
        )  # fmt: skip
CASES["pytorch-lstm-num-layers3-dropout"] = (
    "pytorch", "{shape: [20, 16]}", "", "- {op: lstm, units: 32, num_layers: 3, dropout: 0.3}", 64,
)  # fmt: skip
CASES["keras-lstm-dense-tanh-lstm"] = (
    "keras", "{shape: [20, 16]}", "",
    "- {op: lstm, units: 32, return_sequences: true}\n- {op: dense, units: 32, activation: tanh}\n"
    "- {op: layernorm}\n- {op: lstm, units: 32}", 64,
)  # fmt: skip

# issue 16: a pre-LN self-attention block (layernorm → attention → add), each convention's initialisers
# (PyTorch nn.MultiheadAttention: in_proj xavier_uniform, out_proj nn.Linear's, biases 0; Keras glorot_uniform
# per projection, biases 0), plain, causal, and grouped-query (Llama-style nn.Linear under PyTorch)
for _conv in ("pytorch", "keras"):
    for _variant, _args in (("", ""), ("-causal", ", causal: true"), ("-gqa", ", kv_heads: 2")):
        CASES[f"{_conv}-pre-ln-attention{_variant}"] = (
            _conv,
            "{shape: [16, 32], layout: ntf}",
            "",
            f"""
            - {{op: layernorm}}
            - {{op: attention, heads: 4{_args}}}
            - {{op: add, in: [attention_1, input]}}
            """,
            64,
        )

# the figures each reproducer is about
FOCUS = {
    "relu-conv-relu-maxpool": [("conv2d_1", "backward")],
    "relu-batchnorm-maxpool": [("conv2d_1", "backward"), ("maxpool2d_1", "forward")],
    "dense-relu-offset-batchnorm": [("dense_1", "backward")],
    "relu-concat-pooling": [("features", "backward")],
}

# the shortcut's batchnorm forward, and backward through it (and the main path) to the block's input
FOCUS["resnet-block-projection-batch8"] = [("skip", "forward"), ("stem", "backward")]
FOCUS["keras-mobilenet-block-batch64"] = [("batchnorm_2", "forward"), ("batchnorm_2", "backward")]
FOCUS["keras-mobilenet-block-batch8"] = [("batchnorm_2", "forward"), ("batchnorm_2", "backward")]
FOCUS["dense-bn-batch8"] = [("dense_1", "backward"), ("dense_2", "backward")]  # 2× under the infinite batch's rule

# figures known to disagree, and why (not asserted)
KNOWN = {
    # the gradient at the ReLU's output, E_c[1/(Var_c + ε)]: a unit whose batch is (nearly) all below 0
    # has a batch variance far under its population one (ε = 1e-5: up to 10⁵), a finite-batch tail the
    # rule (population variances) does not model; the gradient below the ReLU (dense_1) agrees
    ("dense-relu-offset-batchnorm", "dense_1.relu", "backward"),
    # batch 2 on a vector: m = 2 values per channel, the gradient through batchnorm is (ε/(v + ε))²/(v + ε),
    # all of it from batches whose two values nearly coincide (v ≲ ε); the rule's χ²₁ for dense_2's batch
    # variance holds for iid Gaussian values (torch's BatchNorm1d on them: within 4 %), but after batchnorm_1
    # at m = 2 the relu's inputs are exactly ±1 and dense_2's pair differs by Σ w·(±1): predicted 8.16,
    # measured 3.99 at dense_2, and every gradient below it inherits the factor 2
    *(("dense-bn-batch2", n, "backward") for n in ("dense_1", "batchnorm_1", "relu_1", "dense_2")),
    # a dropout layer between stacked recurrent layers adds white noise to the lower layer's AR(1)-like h:
    # its correlation becomes keep·ρ^k, which the one-number AR(1) model (recurrent_lags.ar1) reads as
    # (keep·ρ)^k, so the layer above integrates too little of it: the third layer 0.44× (Keras LSTM) and
    # 0.63× (PyTorch GRU, whose units' bias offsets are also under-counted: 0.73× at gru_2 without dropout)
    ("keras-lstm-dropout-stack3", "lstm_3", "forward"),
    ("pytorch-gru-dropout-stack3", "gru_3", "forward"),
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
    alarms = false_alarms(analysis, rows, batch)
    assert not alarms, alarms


@pytest.mark.parametrize("m", [2, 3, 4, 8, 32])
def test_batch_statistics_against_torch_batchnorm(m):
    """norm_batch.batch_stats against torch's BatchNorm1d in training mode on iid Gaussian values: E[x̂²]
    and the input gradient's second moment for loss Σ x̂·g, g ~ N(0, 1), at m values per channel."""
    from netcalc.layers.norm_batch import batch_stats

    var, eps, channels = 0.11, 1e-5, 400_000 // m
    gen = torch.Generator().manual_seed(m)
    x = (torch.randn(m, channels, dtype=torch.float64, generator=gen) * var**0.5).requires_grad_()
    y = nn.BatchNorm1d(channels, eps=eps, dtype=torch.float64).train()(x)
    (y * torch.randn(y.shape, dtype=torch.float64, generator=gen)).sum().backward()
    kept, inv, proj = (float(v) for v in batch_stats(var, eps, m))
    assert float((y.detach() ** 2).mean()) == pytest.approx(kept, rel=2e-3)
    # a vector: the batch mean removes 1/m of an independent gradient (gmean 1, B = m), x̂ another 1/m·proj/inv
    predicted = (1 - 1 / m) * inv - proj / m
    assert float((x.grad**2).mean()) == pytest.approx(predicted, rel=0.08 if m <= 3 else 0.03)


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
