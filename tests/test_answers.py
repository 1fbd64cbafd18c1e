"""The six user questions behind netcalc (issue 19), each answered by one command on a bundled spec.

Each answer is kept whole as a golden file (tests/golden/answers/NAME.txt: `pytest --update-golden`
rewrites them; review the diff), and its key sentences are checked here with their figures worked out
by hand (or, for the signal figures, from the first moments by an independent formula), so that a
change of wording that loses the answer fails even when the golden file is regenerated."""

from __future__ import annotations

import math

import pytest
from cli_run import ROOT, netcalc, shown

GOLDEN = ROOT / "tests" / "golden" / "answers"

# question → the command that answers it (the README's "What the bundled specs answer" shows them)
ANSWERS = {
    # "How to combat huge numbers produced by a relu-oriented CNN?" (the AlexNet-like net on 100×100×3)
    "huge-numbers": "signal alexnet-lite-he --compare normal",
    # "ResNet for 32x32 images: why 16 channels when the filters are {16, 32, 64}?"
    "resnet-16-channels": "explain resnet20-cifar layer1",
    # "Why does global average pooling work? (and the alternatives tried)"
    "global-average-pooling": "explain flatten-vs-gap gap",
    # "Stuck understanding ResNet's identity block and convolutional block" (Keras's ResNet50)
    "identity-vs-convolutional-block": "explain keras-resnet50 conv3",
    # "Kernel size change: 2 filters, or kernels of 32 × 5 × 5 for the second conv?"
    "kernel-of-the-second-conv": "explain mnist-cnn conv2d_2",
    # "What does the units parameter of a Keras LSTM mean?"
    "lstm-units": "explain lstm-look-back lstm",
}


def _answer(name: str) -> str:
    result = netcalc(*ANSWERS[name].split())
    assert result.returncode == 0, result.stderr
    return shown(result)


@pytest.mark.parametrize("name", list(ANSWERS))
def test_golden_answer(name, update_golden):
    text = _answer(name) + "\n"
    path = GOLDEN / f"{name}.txt"
    if update_golden or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not update_golden:
            pytest.fail(f"{path.name} did not exist; it has been written: review it")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (pytest --update-golden to accept)"


def test_huge_numbers_growth_and_saturation():
    out = _answer("huge-numbers")
    lines: dict = {}
    for line in out.splitlines()[3:]:  # the table's rows, by layer (before the notes under it)
        if line.strip():
            lines.setdefault(line.split()[0], line.split())
    # normalised input E[x²] = 1; conv2d_1 has fan-in 3·4·4 = 48 and zero biases: He (Var 2/48) gives
    # 48·(2/48) = 2, N(0, 1) gives 48·1 = 48; each ReLU halves it (symmetric pre-activations)
    assert lines["conv2d_1"][2:4] == ["2", "48"]
    assert lines["conv2d_1.relu"][2:4] == ["1", "24"]
    assert lines["dense_3.sigmoid"][3] == "saturated" and lines["dense_3.sigmoid"][5] == "saturated"
    # the sigmoid's input under the spec has E[x²] = 10.97 (its dense_3 row) and mean 0: the part
    # beyond ±4 is 2·(1 − Φ(4/√10.97)) = 0.227, the 23 % the answer gives
    q = float(lines["dense_3"][2])
    beyond = math.erfc(4 / math.sqrt(q) / math.sqrt(2))
    assert f"dense_3.sigmoid under spec: {beyond:.0%} of its inputs beyond ±4" in out
    # under N(0, 1) weights the logits' E[x²] is 5.33e11 (std 7.3e5): all of them beyond ±4
    assert "dense_3.sigmoid under normal(mean=0, std=1): 100% of its inputs beyond ±4" in out


def test_resnet_16_channels():
    out = _answer("resnet-16-channels")
    # 3×3 convolutions with padding 1 keep 32×32; the first block of layer2 and layer3 has stride 2
    # (32 → 16 → 8) and 32, then 64 filters; the stem convolution has 16
    assert (
        "the stages: conv2d_1 makes 16 channels (its 16 filters) → layer1 16×32×32 → layer2 32×16×16 → "
        "layer3 64×8×8" in out
    )
    assert "the widths {16, 32, 64}, one number per stage, not the channels of one layer; layer1 is 16 wide" in out
    # n = 3 basic blocks of 2 convolutions: 6 in layer1, every one with 16 filters
    assert (
        "layer1: 3 uses of block basic (layer1.1, layer1.2, layer1.3), 6 convolutions, 2 in each: all have 16 filters"
        in out
    )
    assert (
        "layer2.1.conv2d_1 (32 filters) turns 16×32×32 into 32×16×16: the channels double (16 → 32) while the "
        "map's sides halve (32×32 → 16×16)" in out
    )
    assert "identity blocks: the input is added unchanged" in out
    # 3 blocks × (2 convolutions of 16·16·3·3 = 2,304 weights + 2 batchnorms of 2·16) = 3 × 4,672
    assert "parameters: 14,016 (14,016 trainable)" in out


def test_global_average_pooling():
    out = _answer("global-average-pooling")
    # 7 × 7 = 49 positions per channel, 64 channels, no weights
    assert (
        "averages each of the 64 channels' 7 × 7 = 49 values into one number: 64 numbers out, and no parameters" in out
    )
    # the dense after it: 64·500 = 32,000 weights; flattened: 7·7·64 = 3,136 inputs, 3,136·500 = 1,568,000 (49×)
    assert (
        "fc_after_gap (dense, 500 units) after it takes 64 × 500 = 32,000 weights; fed the flattened map "
        "(7 × 7 × 64 = 3,136 numbers) it would take 3,136 × 500 = 1,568,000, 49× more" in out
    )
    # global max pooling: the same 64 outputs, 48 comparisons per channel: 64·48 = 3,072 FLOPs
    assert "global max pooling keeps each channel's largest value rather than its mean: the same 64 outputs" in out
    assert "3,072 FLOPs" in out
    # a 1×1 convolution to one channel: 64 weights + 1 bias; 7·7 = 49 numbers; the dense 49·500 = 24,500
    assert "64 weights + 1 bias = 65 parameters, output 7 × 7 positions × 1 channel = 49 numbers" in out
    assert "fc_after_gap would then take 49 × 500 = 24,500 weights" in out


def test_identity_vs_convolutional_block():
    out = _answer("identity-vs-convolutional-block")
    # conv3_block1_0_conv: 1×1, 256 → 512 with its bias, and its batchnorm: 256·512 + 512 + 4·512
    assert (
        "conv3.block1: a convolutional block: its shortcut conv3.block1.skip has weights (133,632 parameters) "
        "that make the input's 56×56×256 into 28×28×512" in out
    )
    assert "conv3.identity.1, conv3.identity.2, conv3.identity.3: identity blocks" in out
    # the stride 2 is on the main path's first 1×1 convolution (Keras), as on the shortcut: both read
    # the even rows and columns of 56×56, 28·28 = 784 of 3,136 positions; 3,136 − 784 = 2,352 unread
    assert (
        "conv3.block1.conv2d_1 and conv3.block1.skip both read its input at rows 0, 2, 4, …, 54 and columns "
        "0, 2, 4, …, 54: 784 of the 3,136 positions (1 in 4); the other 2,352 are read by neither path" in out
    )
    assert "conv3.block1.conv2d_1 (128 filters) turns 56×56×256 into 28×28×128" in out
    # 383,232 + 3 × 282,368 (the spec's header)
    assert "parameters: 1,230,336 (1,223,168 trainable)" in out


def test_kernel_of_the_second_conv():
    out = _answer("kernel-of-the-second-conv")
    # 64 filters over the 32 channels of the 14×14 map: 64·32·5·5 = 51,200 + 64 biases
    assert "weights: filters × C_in/groups × k × k = 64 × 32 × 5 × 5 = 51,200 + 64 biases = 51,264 parameters" in out
    assert "each of the 64 filters is 32 × 5 × 5: it spans all 32 input channels" in out
    assert "so the 64 filters make the 64 output channels" in out


def test_lstm_units():
    out = _answer("lstm-units")
    # units 4: h and c hold 4 numbers; 4 gates of (1 × 4 + 4 × 4 + 4) = 24 → 96
    assert "units = 4: the state h and the cell state c have 4 numbers per step" in out
    assert "4 gates × 24 = 96 = 4·4·(1 + 4) + 1·4·4" in out


def test_a_block_use_unknown_gets_a_did_you_mean():
    result = netcalc("explain", "resnet20-cifar", "layr2")
    assert result.returncode == 2
    assert "(did you mean 'layer2'?)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "keras-resnet50", "conv3"],  # a block use, with W201 warnings found while analysing
        ["explain", "flatten-vs-gap", "gap"],
        ["summary", "keras-resnet50"],  # W201 at three 1×1 stride-2 convolutions: the warning's text
    ],
)
def test_the_answers_import_neither_numpy_nor_sympy(args):
    """The start-up budget: explain and summary stay off numpy and sympy (a concrete W201 once loaded
    sympy through formulas.value, 0.45 s)."""
    import subprocess
    import sys

    code = (  # cli._run: the command without main()'s os._exit, so that the modules can be listed after it
        "import sys; sys.argv = ['netcalc', *sys.argv[1:]]; from netcalc import cli; cli._run(); "
        "print('LOADED', sorted(m for m in ('numpy', 'sympy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT).stdout
    assert out.splitlines()[-1] == "LOADED []"
