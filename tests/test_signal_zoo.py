"""netcalc's signal report against PyTorch on networks practitioners build (none of them bundled):
textbook CNNs with every conv/batchnorm/ReLU/pool ordering, MLPs under each activation's own
initialiser, residual blocks, text models with an embedding, dropout in training mode, group norm,
1-D convolutions. The harness is tests/signal_oracle.py (E[x²] forward and E[g²] backward per layer,
100 weight seeds, netcalc verify's tolerance); the issue 14 reproducers and the recurrent stacks are
in tests/test_signal_oracle.py. `test_agreement_share` counts what the two files assert: every figure
outside KNOWN agrees, and KNOWN stays under 2 % of all figures compared.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import run_spec  # noqa: E402
from signal_oracle import false_alarms, measure, table  # noqa: E402
from test_signal_oracle import CASES as REPRODUCERS  # noqa: E402
from test_signal_oracle import KNOWN as REPRODUCERS_KNOWN  # noqa: E402
from test_signal_oracle import _spec  # noqa: E402

pytestmark = pytest.mark.oracle

HE = "defaults: {init: kaiming_normal, bias_init: zeros}\n"


def _vgg_bn(widths):
    rows = []
    for w in widths:
        rows += [f"- {{op: conv2d, filters: {w}, kernel: 3, padding: 1, bias: false}}", "- {op: batchnorm}",
                 "- {op: relu}"] * 2  # fmt: skip
        rows.append("- {op: maxpool2d, kernel: 2}")
    return "\n".join([*rows, "- {op: flatten}", "- {op: dense, units: 10}"])


def _basic_block(i, width):
    conv = f"- {{op: conv2d, filters: {width}, kernel: 3, padding: 1, bias: false}}\n"
    return (f"\n{conv}- {{op: batchnorm}}\n- {{op: relu}}\n{conv}- {{op: batchnorm, id: main{i}}}\n"
            f"- {{op: add, in: [main{i}, out{i - 1}]}}\n- {{op: relu, id: out{i}}}")  # fmt: skip


ZOO = {
    # issue 14 item 1's compounding case: an 8-conv VGG with batchnorm (W302 said 80.9×, measured 3.3×)
    "vgg8-bn": ("pytorch", "{shape: [3, 32, 32]}", HE, _vgg_bn([16, 32, 32, 64]), 64),
    # issue 14 item 3: the Keras conv → ReLU → BN → max pool ordering
    "keras-conv-relu-bn-maxpool": (
        "keras",
        "{shape: [32, 32, 3]}",
        "",
        """
        - {op: conv2d, filters: 32, kernel: 3, padding: same, activation: relu}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 2}
        - {op: conv2d, filters: 64, kernel: 3, padding: same, activation: relu}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # the same ordering in PyTorch with its default init (biases: the first conv's channels have their own
    # means too), leaky ReLU (slope 0.2: a closed unit passes a² = 0.04) and overlapping 3×3 windows at stride 2
    "pytorch-conv-leaky-bn-maxpool3s2": (
        "pytorch",
        "{shape: [3, 32, 32]}",
        "",
        """
        - {op: conv2d, filters: 32, kernel: 3, padding: 1}
        - {op: leaky_relu, negative_slope: 0.2}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 3, stride: 2}
        - {op: conv2d, filters: 64, kernel: 3, padding: 1}
        - {op: leaky_relu, negative_slope: 0.2}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 3, stride: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # a ResNet-style stem in the conv → ReLU → BN order: 7×7 stride 2, max pool 3×3 stride 2 padding 1, then
    # conv → ReLU → BN → max pool 2 and a global average pool head
    "pytorch-stem-relu-bn-maxpool": (
        "pytorch",
        "{shape: [3, 32, 32]}",
        HE,
        """
        - {op: conv2d, filters: 32, kernel: 7, stride: 2, padding: 3, activation: relu}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 3, stride: 2, padding: 1}
        - {op: conv2d, filters: 64, kernel: 3, padding: 1, activation: relu}
        - {op: batchnorm}
        - {op: maxpool2d, kernel: 2}
        - {op: conv2d, filters: 64, kernel: 3, padding: 1, activation: relu}
        - {op: batchnorm}
        - {op: global_avgpool2d}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # the other Keras ordering: conv → BN → ReLU → max pool
    "keras-conv-bn-relu-maxpool": (
        "keras",
        "{shape: [32, 32, 3]}",
        "",
        """
        - {op: conv2d, filters: 32, kernel: 3, padding: same, bias: false}
        - {op: batchnorm}
        - {op: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: conv2d, filters: 64, kernel: 3, padding: same, bias: false}
        - {op: batchnorm}
        - {op: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # max pool before the batchnorm: conv → ReLU → max pool → BN
    "conv-relu-maxpool-bn": (
        "pytorch",
        "{shape: [3, 32, 32]}",
        HE,
        """
        - {op: conv2d, filters: 16, kernel: 3, padding: 1, activation: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: batchnorm}
        - {op: conv2d, filters: 32, kernel: 3, padding: 1, activation: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: batchnorm}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    "keras-mlp-tanh": (
        "keras",
        "{shape: [784], range: [0, 1]}",
        "",
        """
        - {op: dense, units: 256, activation: tanh}
        - {op: dense, units: 256, activation: tanh}
        - {op: dense, units: 10}
        """,
        64,
    ),
    "keras-mlp-sigmoid": (
        "keras",
        "{shape: [100]}",
        "",
        """
        - {op: dense, units: 128, activation: sigmoid}
        - {op: dense, units: 128, activation: sigmoid}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # self-normalising: SELU under LeCun normal
    "selu-mlp": (
        "pytorch",
        "{shape: [128]}",
        "defaults: {init: lecun_normal, bias_init: zeros}\n",
        "\n".join(["- {op: dense, units: 128, activation: selu}"] * 4 + ["- {op: dense, units: 10}"]),
        64,
    ),
    "keras-elu-mlp": (
        "keras",
        "{shape: [64]}",
        "defaults: {init: he_normal}\n",
        """
        - {op: dense, units: 128, activation: elu}
        - {op: dense, units: 128, activation: elu}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # a transformer's MLP sub-block on vectors: dense → layernorm → GELU
    "gelu-layernorm-mlp": (
        "pytorch",
        "{shape: [64]}",
        "",
        """
        - {op: dense, units: 256}
        - {op: layernorm}
        - {op: gelu}
        - {op: dense, units: 256}
        - {op: layernorm}
        - {op: gelu}
        - {op: dense, units: 10}
        """,
        64,
    ),
    "mlp-dropout": (
        "pytorch",
        "{shape: [256]}",
        HE,
        """
        - {op: dense, units: 256, activation: relu}
        - {op: dropout, rate: 0.5}
        - {op: dense, units: 256, activation: relu}
        - {op: dropout, rate: 0.2}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # LeNet-5 as LeCun drew it: tanh and average pooling, PyTorch's default initialisation
    "lenet5": (
        "pytorch",
        "{shape: [1, 32, 32]}",
        "",
        """
        - {op: conv2d, filters: 6, kernel: 5, activation: tanh}
        - {op: avgpool2d, kernel: 2}
        - {op: conv2d, filters: 16, kernel: 5, activation: tanh}
        - {op: avgpool2d, kernel: 2}
        - {op: flatten}
        - {op: dense, units: 120, activation: tanh}
        - {op: dense, units: 84, activation: tanh}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # AlexNet's opening: a strided large kernel and overlapping max pools
    "alexnet-stem": (
        "pytorch",
        "{shape: [3, 64, 64]}",
        HE,
        """
        - {op: conv2d, filters: 32, kernel: 5, stride: 2, padding: 2, activation: relu}
        - {op: maxpool2d, kernel: 3, stride: 2}
        - {op: conv2d, filters: 64, kernel: 3, padding: 1, activation: relu}
        - {op: maxpool2d, kernel: 3, stride: 2}
        - {op: flatten}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # network in network: 1×1 convolutions and a global average pool as the head
    "nin-gap": (
        "pytorch",
        "{shape: [3, 16, 16]}",
        HE,
        """
        - {op: conv2d, filters: 32, kernel: 3, padding: 1, activation: relu}
        - {op: conv2d, filters: 32, kernel: 1, activation: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: conv2d, filters: 10, kernel: 1}
        - {op: global_avgpool2d}
        """,
        64,
    ),
    "conv1d-signal": (
        "pytorch",
        "{shape: [8, 128]}",
        HE,
        """
        - {op: conv1d, filters: 16, kernel: 5, padding: 2, activation: relu}
        - {op: maxpool1d, kernel: 2}
        - {op: conv1d, filters: 32, kernel: 5, padding: 2, activation: relu}
        - {op: global_avgpool1d}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # a DCGAN discriminator: strided convolutions, leaky ReLU 0.2, batchnorm after the first
    "dcgan-discriminator": (
        "pytorch",
        "{shape: [3, 32, 32]}",
        "defaults: {init: {name: normal, std: 0.02}, bias_init: zeros}\n",
        """
        - {op: conv2d, filters: 32, kernel: 4, stride: 2, padding: 1, bias: false}
        - {op: leaky_relu, negative_slope: 0.2}
        - {op: conv2d, filters: 64, kernel: 4, stride: 2, padding: 1, bias: false}
        - {op: batchnorm}
        - {op: leaky_relu, negative_slope: 0.2}
        - {op: conv2d, filters: 128, kernel: 4, stride: 2, padding: 1, bias: false}
        - {op: batchnorm}
        - {op: leaky_relu, negative_slope: 0.2}
        - {op: flatten}
        - {op: dense, units: 1}
        """,
        64,
    ),
    "groupnorm-cnn": (
        "pytorch",
        "{shape: [16, 16, 16]}",
        HE,
        """
        - {op: conv2d, filters: 32, kernel: 3, padding: 1}
        - {op: groupnorm, groups: 8}
        - {op: relu}
        - {op: conv2d, filters: 32, kernel: 3, padding: 1}
        - {op: groupnorm, groups: 8}
        - {op: relu}
        - {op: global_avgpool2d}
        - {op: dense, units: 10}
        """,
        64,
    ),
    # two ResNet basic blocks with identity shortcuts (post-activation, torchvision's layout)
    "resnet-basic-blocks": (
        "pytorch",
        "{shape: [16, 16, 16]}",
        HE,
        "- {op: conv2d, filters: 16, kernel: 3, padding: 1, bias: false}\n- {op: batchnorm}\n"
        "- {op: relu, id: out0}" + _basic_block(1, 16) + _basic_block(2, 16) + "\n- {op: global_avgpool2d}\n"
        "- {op: dense, units: 10}",
        64,
    ),
    # text classifiers: token ids → embedding → recurrent layer → dense
    "keras-text-lstm": (
        "keras",
        "{shape: [40], layout: ntf, dtype: int64}",
        "",
        """
        - {op: embedding, vocab: 1000, dim: 32}
        - {op: lstm, units: 32}
        - {op: dense, units: 3}
        """,
        64,
    ),
    "pytorch-text-gru": (
        "pytorch",
        "{shape: [40], layout: ntf, dtype: int64}",
        "",
        """
        - {op: embedding, vocab: 1000, dim: 32}
        - {op: gru, units: 32}
        - {op: dense, units: 3}
        """,
        64,
    ),
    # a 1-D CNN on word embeddings (Kim's text CNN, one width)
    "keras-text-cnn": (
        "keras",
        "{shape: [50], layout: ntf, dtype: int64}",
        "",
        """
        - {op: embedding, vocab: 1000, dim: 32}
        - {op: conv1d, filters: 32, kernel: 3, activation: relu}
        - {op: global_maxpool1d}
        - {op: dropout, rate: 0.5}
        - {op: dense, units: 2}
        """,
        64,
    ),
    # the Keras MNIST example's shape, on 16×16 inputs
    "keras-cnn-dropout": (
        "keras",
        "{shape: [16, 16, 1], range: [0, 1]}",
        "",
        """
        - {op: conv2d, filters: 16, kernel: 3, activation: relu}
        - {op: conv2d, filters: 32, kernel: 3, activation: relu}
        - {op: maxpool2d, kernel: 2}
        - {op: dropout, rate: 0.25}
        - {op: flatten}
        - {op: dense, units: 64, activation: relu}
        - {op: dropout, rate: 0.5}
        - {op: dense, units: 10}
        """,
        64,
    ),
}

# figures known to disagree, and why (not asserted)
KNOWN = {
    # the stem's batchnorm_2 reads a ReLU whose pre-activation's channels have their own means, widely spread
    # against the spread within a channel: predicted channel-mean variance 6.0 and within-channel s² 1.80 at
    # conv2d_2 (torch, 60 seeds: 4.8 and 2.83; the mean of maxpool2d_1's 3×3 windows is 10 % high: a conv's
    # outputs are uncorrelated over the weight draw, but each filter correlates its neighbours, and
    # E[max] falls with that correlation). The gain E_c[1/(v_c + ε)] comes from the nearly dead channels
    # (90 % of it from the 3.7 % beyond μ_c < −4.4, ε = 1e-5), a tail the 27 % excess spread inflates:
    # 0.655 predicted at conv2d_2.relu's output, 0.053 measured (torch's E_c[1/(v + ε)] 210, predicted 3,161);
    # through the pool's argmax (conv2d_2, in tolerance) 2× high, and so everything below it
    *(
        ("pytorch-stem-relu-bn-maxpool", n, "backward")
        for n in ("conv2d_1.relu", "batchnorm_1", "maxpool2d_1", "conv2d_2.relu")
    ),
}


@pytest.mark.parametrize("case", list(ZOO))
def test_signal_against_torch(case):
    conv, inp, extra, layers, batch = ZOO[case]
    analysis, diags = run_spec(_spec(conv, inp, extra, layers))
    assert analysis is not None, diags
    rows = measure(analysis, seeds=100, batch=batch)
    print(table(rows))
    bad = [
        f"{r.name} {w}: predicted {getattr(r, w).predicted:.4g}, measured {getattr(r, w).measured:.4g}"
        for r in rows
        for w in ("forward", "backward")
        if getattr(r, w).ok is False and (case, r.name, w) not in KNOWN
    ]
    assert not bad, f"outside netcalc's tolerance: {bad}\n{table(rows)}"
    alarms = false_alarms(analysis, rows, batch)
    assert not alarms, alarms


def test_agreement_share():
    """At least 30 networks and 98 % of their figures asserted to agree: each network's figures are its
    layers' forward and backward second moments (2 per layer); the known disagreements are listed."""
    figures = 0
    for cases in (ZOO, REPRODUCERS):
        for conv, inp, extra, layers, _ in cases.values():
            analysis, diags = run_spec(_spec(conv, inp, extra, layers))
            assert analysis is not None, diags
            figures += 2 * len(analysis.graph.nodes)
    known = len(KNOWN) + len(REPRODUCERS_KNOWN)
    networks = len(ZOO) + len(REPRODUCERS)
    assert networks >= 30
    assert known / figures <= 0.02, f"{known} of {figures} figures known to disagree: {known / figures:.1%}"
