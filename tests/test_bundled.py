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


def test_keras_mobile_counts_batchnorm_statistics_by_convention():
    a = _analysis("keras-mobile")
    # conv 3·3·3·32 = 864 (no bias); depthwise 3·3·32 = 288; pointwise 32·64 = 2,048; dense 64·10+10 = 650
    # batchnorm: Keras 4C each (γ, β trainable; moving mean/var non-trainable): 128 + 128 + 256 = 512
    assert a.totals.params == 864 + 288 + 2048 + 650 + 512 == 4362
    assert a.totals.non_trainable_params == 2 * (32 + 32 + 64) == 256
    depthwise = _by_type(a, "conv2d")[1]
    assert depthwise.tensors[0].shape == (3, 3, 32, 1)  # Keras DepthwiseConv2D kernel layout
    # 32×32 'same' stride 2 → ceil(32/2) = 16
    assert depthwise.out_shape == (16, 16, 32)
    as_pytorch = _analysis("keras-mobile", convention="pytorch")
    # PyTorch: running statistics are buffers, not parameters: 4,362 − 256 = 4,106 parameters
    assert as_pytorch.totals.params == 4106 and as_pytorch.totals.buffers == 256


def test_groupnorm_head_counts_the_same_in_both_conventions():
    """GroupNorm keeps no statistics: γ and β (2C, trainable) in PyTorch and in Keras alike."""
    for convention in ("pytorch", "keras"):
        a = _analysis("groupnorm-head", convention=convention)
        gns = _by_type(a, "groupnorm")
        # C = 64, G = 8: weight/bias (PyTorch) or gamma/beta (Keras), 64 each, nothing else
        names = ["gamma", "beta"] if convention == "keras" else ["weight", "bias"]
        assert [[(t.name, t.shape, t.trainable, t.kind) for t in r.tensors] for r in gns] == [
            [(names[0], (64,), True, "param"), (names[1], (64,), True, "param")]
        ] * 4
        assert [r.params for r in gns] == [128] * 4 and [r.buffers for r in gns] == [0] * 4
        # FLOPs 7 per element (5 to normalise, 2 for γ·x + β) on 64·32·32 = 65,536: 458,752
        assert [r.flops for r in gns] == [458_752] * 4 and [r.macs for r in gns] == [0] * 4
        # 4 tower convs 64·64·3·3 = 36,864 (no bias) + 4·128 GroupNorm; cls 20·64·9 + 20 = 11,540;
        # box 4·64·9 + 4 = 2,308: 147,456 + 512 + 11,540 + 2,308 = 161,816, all trainable
        assert a.totals.params == a.totals.trainable_params == 161_816
        assert a.totals.non_trainable_params == 0 and a.totals.buffers == 0
        # MACs per position 576 per output channel over 32·32 = 1,024 positions: 1,024·576·(4·64 + 20 + 4)
        assert a.totals.macs == 1024 * 576 * 280 == 165_150_720
    # FLOPs: 2·MACs + 24 bias adds per position (24,576) + GroupNorm 4·458,752 + ReLU 4·65,536
    assert a.totals.flops == 330_301_440 + 24_576 + 1_835_008 + 262_144 == 332_423_168


def test_conv_autoencoder_shapes():
    a = _analysis("conv-autoencoder")
    shapes = [r.out_shape for r in a.rows if r.node.part_of is None]
    # 784 → 1×28×28 → pad 1: 30×30 → conv 3: 28 → pool 2: 14 → conv 3 pad 1: 14 → pool 2: 7 → 1×1: 7
    # → transposed k2 s2: (7−1)·2 + 2 = 14 → ×2: 28 → conv 3 pad 1: 28 → 784
    assert shapes == [
        (1, 28, 28), (1, 30, 30), (16, 28, 28), (16, 28, 28), (16, 28, 28), (16, 14, 14), (32, 14, 14),
        (32, 7, 7), (8, 7, 7), (16, 14, 14), (16, 14, 14), (16, 28, 28), (1, 28, 28), (784,),
    ]  # fmt: skip
    tconv = _by_type(a, "conv2d_transpose")[0]
    # weight (C_in 8, C_out 16, 2, 2) = 512 + 16 biases; MACs: 7·7·8 inputs × 16·2·2 = 25,088
    assert tconv.tensors[0].shape == (8, 16, 2, 2) and tconv.params == 528 and tconv.macs == 25_088


def test_text_cnn_keras_conv1d():
    a = _analysis("text-cnn")
    conv1, conv2 = _by_type(a, "conv1d")
    # Keras Conv1D kernel (k, in, out) = 5·64·128 = 40,960 + 128 biases; 'same' keeps 200 steps
    assert conv1.tensors[0].shape == (5, 64, 128) and conv1.params == 41_088 and conv1.out_shape == (200, 128)
    # 100 steps, valid k5: 96; MACs 96·128·128·5 = 7,864,320
    assert conv2.out_shape == (96, 128) and conv2.macs == 7_864_320


def test_every_layer_type_appears_in_a_bundled_spec():
    """Adding a layer type means adding an example of it: a bundled spec that uses it."""
    from netcalc.layers import REGISTRY

    used = set()
    for name in bundled.names():
        used |= {r.node.op for r in _analysis(name).rows}
    assert set(REGISTRY) - used == set()


def test_lstm_look_back_keras_and_pytorch():
    keras = _analysis("lstm-look-back")
    lstm = _by_type(keras, "lstm")[0]
    # Keras: kernel (1, 4·4), recurrent_kernel (4, 16), one bias of 16: 16 + 64 + 16 = 96
    assert [(t.name, t.shape) for t in lstm.tensors] == [
        ("kernel", (1, 16)),
        ("recurrent_kernel", (4, 16)),
        ("bias", (16,)),
    ]
    assert lstm.params == 96 and lstm.out_shape == (4,)
    assert keras.totals.params == 101  # + dense 4·1 + 1
    torch = _analysis("lstm-look-back-pytorch")
    lstm = _by_type(torch, "lstm")[0]
    # PyTorch: weight_ih (16, 1), weight_hh (16, 4), bias_ih 16, bias_hh 16 = 112
    assert lstm.params == 112
    assert lstm.extra == {"h": (1, 4), "c": (1, 4)}  # h_n, c_n: (num_layers·directions, hidden)


def test_recurrent_cells_keras():
    a = _analysis("recurrent-cells")
    rows = {r.node.name: r for r in a.rows}
    # u = 4, F = 3: rnn 4·7 + 4 = 32; gru 3·4·7 + 2·3·4 = 108 (reset_after); lstm 4·4·7 + 16 = 128
    assert (rows["simple_rnn"].params, rows["gru"].params, rows["lstm"].params) == (32, 108, 128)
    assert rows["lstm"].out_shape == (4,) and rows["lstm_sequences"].out_shape == (20, 4)
    # MACs: 20 steps × 4·4·(3 + 4) = 2,240
    assert rows["lstm"].macs == 2240 and rows["lstm"].per_step[0] == 112


def test_text_bilstm():
    a = _analysis("text-bilstm")
    emb, lstm = _by_type(a, "embedding")[0], _by_type(a, "lstm")[0]
    assert emb.params == 20_000 * 128 and emb.out_shape == (80, 128) and emb.macs == 0
    # two directions × (4·64·(128 + 64) + 4·64) = 2 × 49,408 = 98,816; outputs concatenated: 128
    assert lstm.params == 98_816 and lstm.out_shape == (128,)
    # memory: the token ids are int64, the weights and activations float32
    assert a.totals.input_bytes == 80 * 8 and a.totals.param_bytes == a.totals.params * 4


def test_stacked_gru_two_ways_agree():
    a = _analysis("stacked-gru")
    rows = {r.node.name: r for r in a.rows}
    # layer 1: 3·64·(32 + 64) + 6·64 = 18,816; layer 2 reads 64: 3·64·128 + 384 = 24,960
    assert rows["gru_a"].params == 18_816 and rows["gru_b"].params == 24_960
    assert rows["gru_stack"].params == 18_816 + 24_960
    assert rows["gru_stack"].macs == rows["gru_a"].macs + rows["gru_b"].macs
    # dense per time step: 50 steps × 64 inputs
    assert rows["head_stack"].out_shape == (50, 1) and rows["head_stack"].macs == 50 * 64


def test_seq2seq_lstm_decoder_starts_from_the_encoders_states():
    a = _analysis("seq2seq-lstm")
    rows = {r.node.name: r for r in a.rows}
    enc, dec = rows["encoder"], rows["decoder"]
    # Keras: 4·128·(64 + 128) + 4·128 = 98,304 + 512 = 98,816 each; the states change no count
    assert enc.params == dec.params == 98_816
    assert enc.extra == {"h": (128,), "c": (128,)}
    assert dec.node.inputs == ["tgt_emb", "encoder.h", "encoder.c"]
    assert dec.in_shapes == [(10, 64), (128,), (128,)] and dec.out_shape == (10, 128)
    # MACs: 12 and 10 steps × 4·128·192 = 98,304; dense 10 steps × 128·1200
    assert (enc.macs, dec.macs, rows["next_word"].macs) == (1_179_648, 983_040, 1_536_000)
    # 1000·64 + 98,816 + 1200·64 + 98,816 + (128·1200 + 1200) = 64,000 + 98,816 + 76,800 + 98,816 + 154,800
    assert a.totals.params == 493_232
    # FLOPs: encoder 12 × (2·98,304 + 512 + 9·128) = 12 × 198,272 = 2,379,264, decoder 10 × 198,272 =
    # 1,982,720, dense 2·1,536,000 + 12,000 = 3,084,000, softmax 3·12,000 = 36,000: 7,481,984 (dropout 0)
    assert a.totals.flops == 7_481_984
    # PyTorch counts a second bias vector per LSTM: + 2·512 = 494,256, and its adds: + 22·512 FLOPs
    torch = _analysis("seq2seq-lstm", convention="pytorch")
    assert torch.totals.params == 494_256 and torch.totals.flops == 7_481_984 + 22 * 512


def test_residual_blocks():
    a = _analysis("residual-blocks")
    rows = {r.node.name: r for r in a.rows}
    # option A: every second row and column of 16×32×32 plus 16 zero channels: 32×16×16, no parameters
    assert rows["skip_a"].out_shape == (32, 16, 16) and rows["skip_a"].params == 0
    # option B: 1×1 stride-2 projection 32·16 = 512 weights + batchnorm 2·32 = 576; MACs 16·16·32·16
    assert rows["skip_b"].params == 576 and rows["skip_b"].buffers == 64 and rows["skip_b"].macs == 131_072
    # a block: 3·3·16·32 = 4,608 + BN 64 + 3·3·32·32 = 9,216 + BN 64 = 13,952; two blocks 27,904;
    # + 576 + squeeze 32·8 + 8 = 264 + excite 8·32 + 32 = 288 → 29,032
    assert a.totals.params == 29_032
    assert a.totals.buffers == 5 * 64  # four batchnorms in the blocks and one in the projection
    assert rows["se_out"].out_shape == (32, 16, 16)  # 32×16×16 · 32×1×1 broadcast
    assert rows["joined"].out_shape == (64, 16, 16)
    assert rows["add_1"].node.inputs == ["main_a", "skip_a"]
    assert rows["se_out"].node.inputs == ["out_b", "gate.sigmoid"]  # `gate` is read after its activation
