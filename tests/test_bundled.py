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


def test_tcn_causal_keeps_the_steps_and_reads_the_last():
    a = _analysis("tcn-causal")
    convs = _by_type(a, "conv1d")
    # causal: d(k − 1) zeros before, none after: (64 + d·2 − d·2 − 1)/1 + 1 = 64 steps at every dilation
    assert {r.out_shape for r in convs} == {(64, 16)}
    assert [r.g.pads for r in convs if r.g.ks == (3,)] == [[(2, 0)]] * 2 + [[(4, 0)]] * 2 + [[(8, 0)]] * 2 + [
        [(16, 0)]
    ] * 2
    # Keras kernels (k, C_in, C_out): block 1 3·4·16 + 16 = 208 and 3·16·16 + 16 = 784, the 1×1
    # projection 4·16 + 16 = 80; blocks 2–4 2·784 each; dense 16·10 + 10 = 170
    assert a.totals.params == 208 + 784 + 80 + 3 * 2 * 784 + 170 == 5_946
    # MACs: 64·16·(4·3) = 12,288; 64·16·(16·3) = 49,152 for each of the 7 others; 64·16·4 = 4,096; 160
    assert a.totals.macs == 12_288 + 7 * 49_152 + 4_096 + 160 == 360_608
    crop = _by_type(a, "cropping1d")[0]
    # the last step: 64 − 63 − 0 = 1; receptive field 1 + 2·(3 − 1)·(1 + 2 + 4 + 8) = 61 steps
    assert crop.out_shape == (1, 16) and crop.rf == [(61, 1)]


def test_style_transfer_reflection_padding_and_cropped_shortcuts():
    a = _analysis("style-transfer")
    pads = [r.out_shape for r in _by_type(a, "reflectionpad2d") + _by_type(a, "replicationpad2d")]
    # 64 + 2·12 = 88; after upsampling 64 + 2·1 = 66; the last (replication) 64 + 2·4 = 72
    assert pads == [(3, 88, 88), (32, 66, 66), (16, 72, 72)]
    # each block's 3×3 convs are unpadded (−2 each), its shortcut cropped by 2 per side: 40 → 36 → 32
    assert [r.out_shape for r in _by_type(a, "cropping2d")] == [(32, 36, 36), (32, 32, 32)]
    assert a.rows[-1].out_shape == (3, 64, 64)
    # convs (no bias but the last): 16·3·81 = 3,888; 32·16·9 = 4,608; 4 × 32·32·9 = 36,864; 16·32·9 = 4,608;
    # 3·16·81 + 3 = 3,891; groupnorms 2C each: 32 + 64 + 4·64 + 32 = 384
    assert a.totals.params == 3_888 + 4_608 + 36_864 + 4_608 + 3_891 + 384 == 54_243


def test_dlinear_replication_padding_keeps_the_length():
    a = _analysis("dlinear")
    pad, trend = _by_type(a, "replicationpad1d")[0], _by_type(a, "avgpool1d")[0]
    # 96 + 12 + 12 = 120; a window of 25 at stride 1: 120 − 25 + 1 = 96 again
    assert pad.out_shape == (7, 120) and trend.out_shape == (7, 96)
    # two Linear(96, 24) over time, shared by the 7 series: 2·(96·24 + 24) = 4,656; MACs 2·7·96·24 = 32,256
    assert a.totals.params == 4_656 and a.totals.macs == 32_256
    assert a.rows[-1].out_shape == (7, 24)


def test_melgan_stack_reflection_padding_per_dilation():
    a = _analysis("melgan-stack")
    # 32 + 2·3 = 38; in the blocks 256 + 2·d for d = 1, 3, 9; before the last conv 256 + 2·3
    assert [r.out_shape[1] for r in _by_type(a, "reflectionpad1d")] == [38, 258, 262, 274, 262]
    # every dilated 3-tap conv gives back 256: 256 + 2d − 2d = 256
    assert {r.out_shape for r in _by_type(a, "conv1d") if r.g.ks == (3,)} == {(64, 256)}
    # 128·80·7 + 128 = 71,808; block 1 64·128·3 + 64 = 24,640, 64·64 + 64 = 4,160, 64·128 + 64 = 8,256;
    # blocks 3, 9: 64·64·3 + 64 = 12,352 + 2·4,160; last 64·7 + 1 = 449
    assert a.totals.params == 71_808 + 24_640 + 4_160 + 8_256 + 2 * (12_352 + 2 * 4_160) + 449 == 150_657


def test_alexnet_torchvision_pools_to_6x6_at_any_size():
    """torchvision's AlexNet: the adaptive average pool gives 256×6×6 = 9,216 whatever the size."""
    a = _analysis("alexnet-torchvision")
    pool = _by_type(a, "adaptive_avgpool2d")[0]
    # at 224: conv1 ⌊(224 + 4 − 11)/4⌋ + 1 = 55, pools (55 − 3)/2 + 1 = 27, (27 − 3)/2 + 1 = 13, 6
    assert pool.in_shapes[0] == (256, 6, 6) and pool.out_shape == (256, 6, 6)
    # o = n = 6: 36 windows of one position, 1 FLOP each (a divide by 1, avgpool's k per output)
    assert pool.flops == 256 * 36
    # conv (3·64·121 + 64) + (64·192·25 + 192) + (192·384·9 + 384) + (384·256·9 + 256) + (256·256·9 + 256)
    # = 23,296 + 307,392 + 663,936 + 884,992 + 590,080 = 2,469,696; dense (9,216·4,096 + 4,096)
    # + (4,096² + 4,096) + (4,096·1,000 + 1,000) = 37,752,832 + 16,781,312 + 4,097,000 = 58,631,144
    assert a.totals.params == 2_469_696 + 58_631_144 == 61_100_840


def test_spp_net_pyramid_is_fixed_and_prelu_counts_one_alpha_per_channel():
    for values in (None, {"H": 37, "W": 250}):
        diags = Diagnostics()
        a = analyze(load(str(bundled.find("spp-net")), diags, values=values), diags)
        assert a.ok, [d.format() for d in diags.items]
        # nn.PReLU(C): 32, 64 and 128 alphas
        assert [r.params for r in _by_type(a, "prelu")] == [32, 64, 128]
        # 128·(4·4 + 2·2 + 1) = 2,688 features at any size
        assert _by_type(a, "concat")[0].out_shape == (2688,)
        # conv 896 + 18,496 + 73,856, PReLU 224, dense 2,688·10 + 10 = 26,890
        assert a.totals.params == 896 + 18_496 + 73_856 + 224 + 26_890 == 120_362
    # at 96×128 the last map is 128×24×32: bins of 6×8 (4 × 4), 12×16 (2 × 2), 24×32 (1 × 1), no overlap;
    # FLOPs k − 1 per output: 128·(24·32 − 16), 128·(24·32 − 4), 128·(24·32 − 1)
    a = _analysis("spp-net")
    assert [r.flops for r in _by_type(a, "adaptive_maxpool2d")] == [128 * 752, 128 * 764, 128 * 767]


def test_keras_attention_shapes_and_prelu_per_element():
    a = _analysis("keras-attention")
    shapes = {r.node.name: r.out_shape for r in a.rows}
    # LSTM query 64 → RepeatVector(30): 30×64, beside a (30×64): concat 30×128; scores 30×1 →
    # Permute((2, 1)): 1×30 → softmax over the 30 steps → Permute((2, 1)): 30×1
    assert shapes["query"] == (64,) and shapes["queries"] == (30, 64) and shapes["concat_1"] == (30, 128)
    assert shapes["permute_1"] == (1, 30) and shapes["weights"] == (30, 1)
    prelu = _by_type(a, "prelu")[0]
    # Keras PReLU(shared_axes=None): alpha of the input's shape, 30·10 = 300
    assert [(t.name, t.shape) for t in prelu.tensors] == [("alpha", (30, 10))]
    # 3·16·64 + 64 = 3,136; 4·64·128 + 256 = 33,024; 128·10 + 10 = 1,290; 300; 10 + 1 = 11; 64·5 + 5 = 325
    assert a.totals.params == 3_136 + 33_024 + 1_290 + 300 + 11 + 325 == 38_086


def test_instancenorm_generator_has_no_norm_parameters():
    a = _analysis("instancenorm-generator")
    norms = _by_type(a, "instancenorm")
    # nn.InstanceNorm2d(C): affine=False, track_running_stats=False: nothing at all; one after each of the
    # 10 convolutions but the last (1 + 2 down + 2 blocks × 2 + 2 up = 9)
    assert len(norms) == 9 and all(r.params == 0 and r.buffers == 0 and not r.tensors for r in norms)
    # 2,368 + 4,640 + 18,496 + 4·36,928 + 18,464 + 4,624 + 2,355
    assert a.totals.params == 2_368 + 4_640 + 18_496 + 4 * 36_928 + 18_464 + 4_624 + 2_355 == 198_659
    # the first instancenorm: 5 FLOPs per element (no affine) on 16·256·256
    assert norms[0].flops == 5 * 16 * 256 * 256


def test_c3d_small_counts_by_hand():
    """A C3D-style classifier on (C, D, H, W) = (3, 8, 32, 32) clips: conv3d weights (C_out, C_in, 3, 3, 3)."""
    a = _analysis("c3d-small")
    main = [r for r in a.rows if r.node.part_of is None]
    # padding 1 keeps each map; pool (1, 2, 2) halves H, W only; pool 2 halves every axis
    assert [r.out_shape for r in main] == [
        (16, 8, 32, 32), (16, 8, 16, 16), (32, 8, 16, 16), (32, 4, 8, 8), (64, 4, 8, 8), (64, 4, 8, 8),
        (64, 4, 8, 8), (64,), (64,), (128,), (128,), (10,),
    ]  # fmt: skip
    convs = _by_type(a, "conv3d")
    assert [r.tensors[0].shape for r in convs] == [(16, 3, 3, 3, 3), (32, 16, 3, 3, 3), (64, 32, 3, 3, 3)]
    # 16·3·27 + 16 = 1,312; 32·16·27 + 32 = 13,856; 64·32·27 = 55,296 (no bias); batchnorm γ, β 128;
    # dense 128·10 + 10 = 1,290: 71,882 parameters and PyTorch's 128 running-statistic buffers
    assert [r.params for r in convs] == [1312, 13856, 55296]
    assert a.totals.params == 71_882 and a.totals.buffers == 128
    # MACs: 8·32·32 positions × 16 × 81 = 10,616,832; 8·16·16 × 32 × 432 = 28,311,552;
    # 4·8·8 × 64 × 864 = 14,155,776; dense 1,280
    assert [r.macs for r in convs] == [10_616_832, 28_311_552, 14_155_776]
    assert a.totals.macs == 53_085_440
    # Keras counts the moving mean and variance as 128 non-trainable parameters
    keras = _analysis("c3d-small", convention="keras")
    assert keras.totals.params == 72_010 and keras.totals.non_trainable_params == 128
    assert _by_type(keras, "conv3d")[0].tensors[0].shape == (3, 3, 3, 3, 16)  # (kd, kh, kw, C_in, C_out)


def test_ecg_cnn1d_concat_pooling_to_8_bins_at_any_length():
    """fastai's concat pooling in 1-D: nn.AdaptiveMaxPool1d(8) and nn.AdaptiveAvgPool1d(8) of the same map."""
    for values in (None, {"L": 3001}):
        diags = Diagnostics()
        a = analyze(load(str(bundled.find("ecg-cnn1d")), diags, values=values), diags)
        assert a.ok, [d.format() for d in diags.items]
        # 2·64·8 = 1,024 features whatever L
        assert _by_type(a, "flatten")[0].out_shape == (1024,)
        # conv 12·32·7 = 2,688, 32·64·5 = 10,240, 64·64·5 = 20,480; batchnorm 2·(32 + 64 + 64) = 320;
        # dense 1,024·5 + 5 = 5,125
        assert a.totals.params == 2_688 + 10_240 + 20_480 + 320 + 5_125 == 38_853
        assert a.totals.buffers == 320
    a = _analysis("ecg-cnn1d")
    # L = 5,000: ⌊(5000 + 6 − 7)/2⌋ + 1 = 2,500; pool ⌊(2500 + 2 − 3)/2⌋ + 1 = 1,250; ⌊(1250 + 4 − 5)/2⌋ + 1 = 625
    (mx,), (av,) = _by_type(a, "adaptive_maxpool1d"), _by_type(a, "adaptive_avgpool1d")
    assert mx.in_shapes[0] == (64, 625) and mx.out_shape == av.out_shape == (64, 8)
    # 625 → 8: output i reads [⌊625i/8⌋, ⌈625(i + 1)/8⌉), eight windows of 79 (Σ 632 = 625 + 8 − gcd(625, 8));
    # max k − 1 per output: 64·(632 − 8) = 39,936; average k per output: 64·632 = 40,448
    assert (mx.flops, av.flops) == (39_936, 40_448)
    # MACs 2,500·32·84 + 625·64·160 + 625·64·320 + 5,120
    assert a.totals.macs == 6_720_000 + 6_400_000 + 12_800_000 + 5_120 == 25_925_120


def test_c3d_adaptive_concat_pooling_at_any_clip_size():
    """nn.AdaptiveMaxPool3d((1, 2, 2)) and nn.AdaptiveAvgPool3d((1, 2, 2)) keep the classifier's 512 inputs."""
    for values in (None, {"T": 12, "H": 50, "W": 70}):
        diags = Diagnostics()
        a = analyze(load(str(bundled.find("c3d-adaptive")), diags, values=values), diags)
        assert a.ok, [d.format() for d in diags.items]
        assert _by_type(a, "flatten")[0].out_shape == (512,)  # 2·64·1·2·2
        # conv 3·16·27 + 16 = 1,312, 16·32·27 + 32 = 13,856, 32·64·27 + 64 = 55,360; dense 512·101 + 101 = 51,813
        assert a.totals.params == 1_312 + 13_856 + 55_360 + 51_813 == 122_341
    a = _analysis("c3d-adaptive")
    (mx,), (av,) = _by_type(a, "adaptive_maxpool3d"), _by_type(a, "adaptive_avgpool3d")
    # 3×8×48×48 → pools (1, 2, 2) and 2: 64×4×12×12; (1, 2, 2) bins of 4×6×6 = 144 voxels, no overlap
    assert mx.in_shapes[0] == (64, 4, 12, 12) and mx.out_shape == av.out_shape == (64, 1, 2, 2)
    assert (mx.flops, av.flops) == (64 * 4 * 143, 64 * 4 * 144) == (36_608, 36_864)
    # MACs 8·48·48·16·81 + 8·24·24·32·432 + 4·12·12·64·864 + 512·101
    assert a.totals.macs == 23_887_872 + 63_700_992 + 31_850_496 + 51_712 == 119_491_072


def test_segnet_small_unpools_at_its_encoders_indices():
    """SegNet: each decoder stage's nn.MaxUnpool2d(2) reads the encoder's pool indices of its scale."""
    a = _analysis("segnet-small")
    pools, unpools = _by_type(a, "maxpool2d"), _by_type(a, "maxunpool2d")
    # 3×48×64 → 16×24×32 → 32×12×16 → 64×6×8, each pool's indices of its output's shape
    assert [r.out_shape for r in pools] == [(16, 24, 32), (32, 12, 16), (64, 6, 8)]
    assert [r.extra for r in pools] == [{"indices": r.out_shape} for r in pools]
    # the decoder reads them the other way round: enc3's, enc2's, enc1's
    assert [r.node.inputs[1] for r in unpools] == ["enc3.pool.indices", "enc2.pool.indices", "enc1.pool.indices"]
    # (n − 1)·2 + 2 = 2n: 64×12×16, 32×24×32, 16×48×64; no parameters, MACs or FLOPs
    assert [r.out_shape for r in unpools] == [(64, 12, 16), (32, 24, 32), (16, 48, 64)]
    assert all(r.params == r.macs == r.flops == 0 for r in unpools)
    # convolutions 432 + 2,304 + 4,608 + 9,216 + 18,432 + 36,864 down, 36,864 + 18,432 + 9,216 + 4,608 +
    # 2,304 + 2,304 up, the classifier 16·11·9 + 11 = 1,595; batchnorm γ, β 2·400 = 800 and 800 buffers
    assert a.totals.params == 71_856 + 73_728 + 1_595 + 800 == 147_979 and a.totals.buffers == 800
    # MACs: 48·64 positions × (27 + 144)·16 = 8,404,992; 24·32 × (144 + 288)·32 = 10,616,832; 12·16 × (288 +
    # 576)·64 = 10,616,832; the decoder 12·16 × (576·64 + 576·32), 24·32 × (288·32 + 288·16), 48·64 × (144·16
    # + 144·16 + 144·11)
    assert a.totals.macs == 8_404_992 + 4 * 10_616_832 + 19_021_824 == 69_894_144
    # at any multiple of 8 the parameters stay; elsewhere an unpool would misplace its values (E211)
    diags = Diagnostics()
    b = analyze(load(str(bundled.find("segnet-small")), diags, values={"H": 360, "W": 480}), diags)
    assert b.ok and b.totals.params == 147_979
    diags = Diagnostics()
    analyze(load(str(bundled.find("segnet-small")), diags, values={"H": 100}), diags)
    assert [d.code for d in diags.errors] == ["E211"]


def test_unet3d_small_counts_by_hand():
    """Keras convention, (D, H, W, C) channels last, symbolic D × H × W at the defaults 8 × 16 × 16."""
    a = _analysis("unet3d-small")
    # kernels (3, 3, 3, C_in, C_out) + bias: 27·1·8 + 8 = 224, 27·8·8 + 8 = 1,736, 27·8·16 + 16 = 3,472,
    # 27·16·16 + 16 = 6,928, the up-convolution (2, 2, 2, 8, 16) + 8 = 1,032, 27·16·8 + 8 = 3,464, 1·8·2 + 2 = 18
    assert [r.params for r in a.rows if r.params] == [224, 1736, 3472, 6928, 1032, 3464, 18]
    assert a.totals.params == 16_874
    up = _by_type(a, "conv3d_transpose")[0]
    assert up.tensors[0].shape == (2, 2, 2, 8, 16)  # Keras Conv3DTranspose kernel (k, k, k, filters, C_in)
    # MACs at 8 × 16 × 16 = 2,048 voxels: 2048·8·27 = 442,368; 2048·8·216 = 3,538,944; 256·16·216 = 884,736;
    # 256·16·432 = 1,769,472; the up-convolution 256 inputs × 16 × 8 × 8 = 262,144; 2048·8·432 = 7,077,888;
    # 2048·2·8 = 32,768: 14,008,320
    assert a.totals.macs == 14_008_320


def test_conv1d_autoencoder_counts_by_hand():
    a = _analysis("conv1d-autoencoder")
    main = [r for r in a.rows if r.node.part_of is None]
    # conv k7 s2 p3: ⌊(128 + 6 − 7)/2⌋ + 1 = 64; k5 s2 p2: 32; k3 s2 p1: 16; ConvTranspose1d(k4, s2, p1): 2n
    assert [r.out_shape for r in main] == [(16, 64), (32, 32), (8, 16), (32, 32), (16, 64), (1, 128)]
    # 16·7 + 16 = 128; 32·16·5 + 32 = 2,592; 8·32·3 + 8 = 776; transposed (C_in, C_out, 4): 8·32·4 + 32 = 1,056,
    # 32·16·4 + 16 = 2,064, 16·1·4 + 1 = 65
    assert [r.params for r in main] == [128, 2592, 776, 1056, 2064, 65]
    assert a.totals.params == 6_681
    # transposed MACs = input positions × C_in × C_out × k: 16·8·32·4 = 16,384; 32·32·16·4 = 65,536; 64·16·1·4 = 4,096
    assert [r.macs for r in _by_type(a, "conv1d_transpose")] == [16_384, 65_536, 4_096]
    assert a.totals.macs == 7_168 + 81_920 + 12_288 + 16_384 + 65_536 + 4_096 == 187_392


def test_densenet_bc_small_transitions_halve_what_they_are_given():
    """DenseNet-BC, L = 22, k = 12, θ = 0.5: the transitions' `${in.channels // 2}` read 60 and 66."""
    a = _analysis("densenet-bc-small")
    transitions = [r for r in a.rows if r.node.op == "conv2d" and r.node.name.startswith("trans")]
    # block 1: 24 + 3·12 = 60 channels → 60 // 2 = 30; block 2: 30 + 36 = 66 → 33; block 3: 33 + 36 = 69
    assert [r.node.args["filters"] for r in transitions] == [30, 33]
    assert [r.tensors[0].shape for r in transitions] == [(30, 60, 1, 1), (33, 66, 1, 1)]
    assert [a.groups[g].out_shape for g in ("dense1", "trans1", "dense2", "trans2", "dense3")] == [
        (60, 32, 32), (30, 16, 16), (66, 16, 16), (33, 8, 8), (69, 8, 8)
    ]  # fmt: skip
    # a bottleneck layer reading c channels: BN 2c + conv1×1 48c + BN 96 + conv3×3 12·48·9 = 5,184,
    # 50c + 5,280 parameters; the blocks read c = 24, 36, 48 | 30, 42, 54 | 33, 45, 57 (sums 108, 126,
    # 135): 50·108 + 3·5,280 = 21,240; 50·126 + 15,840 = 22,140; 50·135 + 15,840 = 22,590.
    # Transitions: 2·60 + 60·30 = 1,920 and 2·66 + 66·33 = 2,310. Stem 24·3·9 = 648, final BN 2·69 =
    # 138, dense 69·10 + 10 = 700.
    assert [a.groups[g].params for g in ("dense1", "trans1", "dense2", "trans2", "dense3")] == [
        21_240, 1_920, 22_140, 2_310, 22_590
    ]  # fmt: skip
    assert a.totals.params == 648 + 21_240 + 1_920 + 22_140 + 2_310 + 22_590 + 138 + 700 == 71_686
    # running statistics: 2 per BN channel, BN channels 108 + 3·48 + 60 + 126 + 144 + 66 + 135 + 144 + 69 = 996
    assert a.totals.buffers == 1_992
    # MACs: stem 1,024·648; blocks HW·(48·Σc + 3·5,184): 1,024·20,736, 256·21,600, 64·22,032;
    # transitions 1,024·1,800 and 256·2,178; dense 690
    assert a.totals.macs == (
        1024 * 648 + 1024 * 20_736 + 1024 * 1_800 + 256 * 21_600 + 256 * 2_178 + 64 * 22_032 + 690
    ) == 31_238_322  # fmt: skip
    # FLOPs: 2 per conv MAC (no bias) 62,475,264; dense 2·690 + 10; BN 2 and ReLU 1 per element
    # (427,776 elements: 252·1,024 + 60·1,024 + 270·256 + 66·256 + 279·64 + 69·64); avgpool 4 per output
    # (30·16·16 + 33·8·8 = 9,792 outputs); global pool 64 per channel · 69
    assert a.totals.flops == 62_475_264 + 1_390 + 3 * 427_776 + 4 * 9_792 + 4_416 == 63_803_566


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_vit_b16_embedding_counts_its_free_parameters_by_hand(convention):
    """ViT-B/16's front: patches, a class token concatenated first, a position table added."""
    a = _analysis("vit-b16-embedding", convention=convention)
    rows = {r.node.name: r for r in a.rows}
    # conv 16×16 stride 16 on 224: (224 − 16)/16 + 1 = 14; 14·14 = 196 tokens, + the class token = 197
    assert [rows[n].out_shape for n in ("conv_proj", "patches", "tokens", "embedded")] == [
        (768, 14, 14), (196, 768), (197, 768), (197, 768)
    ]  # fmt: skip
    # conv 768·3·16·16 + 768 = 590,592; class token 768; position table 197·768 = 151,296
    assert [rows[n].params for n in ("conv_proj", "class_token", "pos_embedding")] == [590_592, 768, 151_296]
    assert [(t.name, t.shape) for t in rows["pos_embedding"].tensors] == [("pos_embedding", (197, 768))]
    assert a.totals.params == a.totals.trainable_params == 590_592 + 768 + 151_296 == 742_656
    # MACs: 196 positions · 768 filters · 3·16·16 = 115,605,504; FLOPs 2 per MAC + 196·768 bias adds
    # (150,528) + the add's 197·768 = 151,296
    assert a.totals.macs == 196 * 768 * 768 == 115_605_504
    assert a.totals.flops == 2 * 115_605_504 + 150_528 + 151_296 == 231_512_832
    # activations: conv, reshape, permute 150,528 each; concat and add 151,296 each; the parameters none
    assert a.totals.activation_elements == 3 * 150_528 + 2 * 151_296 == 754_176


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_transformer_encoder_tiny_by_hand(convention):
    """The tiny pre-LN encoder: its parameters, and attention's linear and quadratic MACs, at T = 64."""
    a = _analysis("transformer-encoder-tiny", convention=convention)
    attn = _by_type(a, "attention")
    # each attention: Q, K, V, output 4·64·64 = 16,384 weights + 4·64 = 256 biases
    assert [r.params for r in attn] == [16_640, 16_640]
    # embedding 1,000·64; positions 64·64; per block 2 layernorms 2·(64 + 64), attention 16,640,
    # MLP 64·256 + 256 + 256·64 + 64 = 33,088; the final layernorm 128
    block = 2 * 128 + 16_640 + 33_088
    assert block == 49_984
    assert a.totals.params == a.totals.trainable_params == 64_000 + 4_096 + 2 * block + 128 == 168_192
    # attention's MACs at T = 64: projections 4·64·64·64 = 1,048,576; QKᵀ and A·V 4 heads·64·64·16
    # = 262,144 each
    assert [r.macs for r in attn] == [1_048_576 + 2 * 262_144] * 2
    assert attn[0].ltype.activation_products(attn[0].g) == {"qk": 262_144, "av": 262_144}
    # the MLPs 2·64·64·256 = 2,097,152 per block; the network's MACs: 2·(1,572,864 + 2,097,152)
    assert a.totals.macs == 2 * (1_572_864 + 2_097_152) == 7_340_032
