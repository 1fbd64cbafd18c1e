"""Sequence layers (embedding, rnn, lstm, gru) against numbers worked out by hand, in both conventions.

Each expected value is a literal with its derivation in a comment; nothing expected is computed by
netcalc. Notation: T steps, F input features, u units, D directions, n gates (rnn 1, lstm 4, gru 3).
Rules (netcalc/layers/recurrent.py, as PyTorch and Keras store the weights):
  PyTorch: weight_ih_l{k} (n·u, n_in), weight_hh_l{k} (n·u, u), bias_ih_l{k} (n·u), bias_hh_l{k} (n·u),
           `_reverse` for the backward direction; h_n, c_n of shape (num_layers·D, u)
  Keras:   kernel (n_in, n·u), recurrent_kernel (u, n·u), bias (n·u), a GRU with reset_after (2, n·u);
           final states (u) each, per direction when bidirectional
  MACs per step = Σ over stacked layers and directions of n·u·(n_in + u); for the sequence × T
  FLOPs per step = 2·MACs + bias adds (bias vectors × n·u) + gate work per unit (rnn 1, lstm 9, gru 8)
  per layer and direction; sequence = T × that + merging two directions (sum/mul 1, ave 2 per element)
Most cases use odd sizes T = 7, F = 3, u = 5 so that a swapped axis changes a number.
"""

from __future__ import annotations

import pytest
from cli_run import ROOT, netcalc
from conftest import one_layer, run_spec

SPECS = ROOT / "specs"


def tensors(row):
    """(name, shape, count) of every tensor of a row."""
    return [(t.name, t.shape, t.count) for t in row.tensors]


def found(diags):
    """(severity, code) of every finding."""
    return [(d.severity, d.code) for d in diags.items]


def ok(layer, shape, convention, layout="ntf"):
    """A row that must resolve without any finding; every tensor a trainable parameter."""
    row, diags = one_layer(layer, shape, layout=layout, convention=convention)
    assert row is not None and row.ok, [d.format() for d in diags.items]
    assert found(diags) == []
    assert all(t.trainable and t.kind == "param" for t in row.tensors)
    return row


def failing(layer, shape, code, convention, layout="ntf"):
    """The single error a layer must report; its row must be left unresolved."""
    row, diags = one_layer(layer, shape, layout=layout, convention=convention)
    assert found(diags) == [("error", code)], [d.format() for d in diags.items]
    assert row is None or not row.ok
    return diags.items[0]


def rows_of(text, convention=None):
    """Rows by name of a spec that must analyse without any finding."""
    analysis, diags = run_spec(text, convention=convention)
    assert analysis is not None, [d.format() for d in diags.items]
    assert found(diags) == []
    return analysis, {r.node.name: r for r in analysis.rows}


LOOK_BACK = """
netcalc: 1
convention: keras
input: {shape: [1, 1], layout: ntf}
layers:
  - {op: lstm, units: 4, id: lstm}
  - {op: dense, units: 1}
"""


# ---------------------------------------------------------------------------------------------
# the reference counts
# ---------------------------------------------------------------------------------------------


def test_keras_look_back_lstm_96_and_101_with_the_dense():
    analysis, rows = rows_of(LOOK_BACK)
    lstm, dense = rows["lstm"], rows["dense_1"]
    # F = 1, u = 4, 4 gates fused: kernel (1, 16), recurrent_kernel (4, 16), bias (16)
    assert tensors(lstm) == [("kernel", (1, 16), 16), ("recurrent_kernel", (4, 16), 64), ("bias", (16,), 16)]
    assert lstm.params == 96  # 16 + 64 + 16 = 4·4·(1 + 4) + 4·4
    assert lstm.trainable == 96
    assert lstm.out_shape == (4,)  # the last step's h
    assert lstm.extra == {}
    assert lstm.per_step == (80, 212)  # MACs 4·4·(1 + 4) = 80; FLOPs 2·80 + 16 bias + 9·4 gate work = 212
    assert (lstm.macs, lstm.flops) == (80, 212)  # T = 1
    # dense: kernel (4, 1) + bias 1 = 5; MACs 4, FLOPs 2·4 + 1 = 9
    assert tensors(dense) == [("kernel", (4, 1), 4), ("bias", (1,), 1)]
    assert dense.out_shape == (1,)
    assert analysis.totals.params == 101  # 96 + 5
    assert analysis.totals.macs == 84  # 80 + 4
    assert analysis.totals.flops == 221  # 212 + 9


@pytest.mark.parametrize(
    ("sequences", "out_shape"),
    [("false", (4,)), ("true", (20, 4))],  # the last step's h, or every step's
)
def test_keras_lstm_20_steps_3_features_128(sequences, out_shape):
    row = ok(f"{{op: lstm, units: 4, return_sequences: {sequences}}}", [20, 3], "keras")
    assert tensors(row) == [("kernel", (3, 16), 48), ("recurrent_kernel", (4, 16), 64), ("bias", (16,), 16)]
    assert row.params == 128  # 4·4·(3 + 4) + 4·4 = 112 + 16
    assert row.out_shape == out_shape
    assert row.per_step == (112, 276)  # 4·4·7 = 112; 2·112 + 16 + 9·4 = 224 + 16 + 36
    assert row.macs == 2_240  # 20 × 112
    assert row.flops == 5_520  # 20 × 276


def test_pytorch_lstm_input_1_hidden_4_is_112():
    row = ok("{op: lstm, units: 4}", [1, 1], "pytorch")
    # weight_ih (4·4, 1), weight_hh (16, 4), bias_ih 16, bias_hh 16
    assert tensors(row) == [
        ("weight_ih_l0", (16, 1), 16),
        ("weight_hh_l0", (16, 4), 64),
        ("bias_ih_l0", (16,), 16),
        ("bias_hh_l0", (16,), 16),
    ]
    assert row.params == 112  # 4·4·(1 + 4) + 8·4 = 80 + 32
    assert row.out_shape == (4,)
    assert row.per_step == (80, 228)  # 2·80 + 2·16 bias adds + 9·4 = 160 + 32 + 36
    assert (row.macs, row.flops) == (80, 228)


def test_time_first_layout_changes_nothing():
    # tnf only says the batch axis is second; the shape is still (T, F)
    for layout in ("ntf", "tnf"):
        row = ok("{op: lstm, units: 4, return_sequences: true}", [20, 3], "pytorch", layout=layout)
        assert row.out_shape == (20, 4)
        assert row.params == 144  # 4·4·(3 + 4) + 8·4 = 112 + 32
        assert row.macs == 2_240  # 20 × 4·4·7


# ---------------------------------------------------------------------------------------------
# every cell in both conventions: T = 7, F = 3, u = 5, so n_in + u = 8
# ---------------------------------------------------------------------------------------------

CELLS = [
    # rnn: 1 gate; MACs/step 5·8 = 40, × 7 = 280
    pytest.param(
        "{op: rnn, units: 5}",
        "keras",
        [("kernel", (3, 5), 15), ("recurrent_kernel", (5, 5), 25), ("bias", (5,), 5)],
        45,  # 15 + 25 + 5
        (40, 90),  # FLOPs 2·40 + 5 bias + 1·5 tanh
        (280, 630),  # 7 × 40, 7 × 90
        id="rnn-keras",
    ),
    pytest.param(
        "{op: rnn, units: 5}",
        "pytorch",
        [("weight_ih_l0", (5, 3), 15), ("weight_hh_l0", (5, 5), 25), ("bias_ih_l0", (5,), 5), ("bias_hh_l0", (5,), 5)],
        50,  # 15 + 25 + 5 + 5
        (40, 95),  # 2·40 + 2·5 bias + 5
        (280, 665),  # 7 × 95
        id="rnn-pytorch",
    ),
    pytest.param(
        "{op: rnn, units: 5, bias: false}",
        "keras",
        [("kernel", (3, 5), 15), ("recurrent_kernel", (5, 5), 25)],
        40,
        (40, 85),  # 2·40 + 5, no bias adds
        (280, 595),  # 7 × 85
        id="rnn-keras-nobias",
    ),
    pytest.param(
        "{op: rnn, units: 5, bias: false}",
        "pytorch",
        [("weight_ih_l0", (5, 3), 15), ("weight_hh_l0", (5, 5), 25)],
        40,
        (40, 85),
        (280, 595),
        id="rnn-pytorch-nobias",
    ),
    # lstm: 4 gates, 4u = 20; MACs/step 4·5·8 = 160, × 7 = 1120
    pytest.param(
        "{op: lstm, units: 5}",
        "keras",
        [("kernel", (3, 20), 60), ("recurrent_kernel", (5, 20), 100), ("bias", (20,), 20)],
        180,  # 60 + 100 + 20
        (160, 385),  # 2·160 + 20 + 9·5 = 320 + 20 + 45
        (1_120, 2_695),  # 7 × 385
        id="lstm-keras",
    ),
    pytest.param(
        "{op: lstm, units: 5}",
        "pytorch",
        [
            ("weight_ih_l0", (20, 3), 60),
            ("weight_hh_l0", (20, 5), 100),
            ("bias_ih_l0", (20,), 20),
            ("bias_hh_l0", (20,), 20),
        ],
        200,  # 60 + 100 + 40
        (160, 405),  # 320 + 40 + 45
        (1_120, 2_835),  # 7 × 405
        id="lstm-pytorch",
    ),
    pytest.param(
        "{op: lstm, units: 5, bias: false}",
        "pytorch",
        [("weight_ih_l0", (20, 3), 60), ("weight_hh_l0", (20, 5), 100)],
        160,
        (160, 365),  # 320 + 45
        (1_120, 2_555),  # 7 × 365
        id="lstm-pytorch-nobias",
    ),
    # gru: 3 gates, 3u = 15; MACs/step 3·5·8 = 120, × 7 = 840
    pytest.param(
        "{op: gru, units: 5}",
        "keras",
        [("kernel", (3, 15), 45), ("recurrent_kernel", (5, 15), 75), ("bias", (2, 15), 30)],
        150,  # 45 + 75 + 30 (reset_after, the default: input and recurrent biases)
        (120, 310),  # 2·120 + 2·15 + 8·5 = 240 + 30 + 40
        (840, 2_170),  # 7 × 310
        id="gru-keras-reset-after",
    ),
    pytest.param(
        "{op: gru, units: 5, reset_after: false}",
        "keras",
        [("kernel", (3, 15), 45), ("recurrent_kernel", (5, 15), 75), ("bias", (15,), 15)],
        135,  # 45 + 75 + 15
        (120, 295),  # 240 + 15 + 40
        (840, 2_065),  # 7 × 295
        id="gru-keras-reset-before",
    ),
    pytest.param(
        "{op: gru, units: 5, bias: false}",
        "keras",
        [("kernel", (3, 15), 45), ("recurrent_kernel", (5, 15), 75)],
        120,
        (120, 280),  # 240 + 40
        (840, 1_960),  # 7 × 280
        id="gru-keras-nobias",
    ),
    pytest.param(
        "{op: gru, units: 5}",
        "pytorch",
        [
            ("weight_ih_l0", (15, 3), 45),
            ("weight_hh_l0", (15, 5), 75),
            ("bias_ih_l0", (15,), 15),
            ("bias_hh_l0", (15,), 15),
        ],
        150,  # 45 + 75 + 30: the same count as Keras with reset_after
        (120, 310),
        (840, 2_170),
        id="gru-pytorch",
    ),
]


@pytest.mark.parametrize(("layer", "convention", "expected", "params", "per_step", "sequence"), CELLS)
def test_cell_counts(layer, convention, expected, params, per_step, sequence):
    row = ok(layer, [7, 3], convention)
    assert tensors(row) == expected
    assert row.params == params
    assert row.trainable == params
    assert row.out_shape == (5,)
    assert row.per_step == per_step
    assert (row.macs, row.flops) == sequence


def test_gru_reset_after_false_is_keras_only():
    err = failing("{op: gru, units: 5, reset_after: false}", [7, 3], "E204", "pytorch")
    assert "reset_after: false is Keras-only" in err.message
    # reported at the value: "  - {op: gru, units: 5, reset_after: false}" is line 6 of the text;
    # the value follows 4 + 1 + 9 + 10 + 13 = 37 characters → column 38
    assert (err.loc.line, err.loc.col) == (6, 38)


def test_reset_after_true_is_accepted_under_pytorch():
    row = ok("{op: gru, units: 5, reset_after: true}", [7, 3], "pytorch")
    assert row.params == 150  # 3·5·8 + 6·5


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_only_gru_takes_reset_after(cell):
    failing(f"{{op: {cell}, units: 5, reset_after: false}}", [7, 3], "E102", "keras")


# ---------------------------------------------------------------------------------------------
# return_sequences × return_state × bidirectional (lstm, T = 7, F = 3, u = 5)
# ---------------------------------------------------------------------------------------------

KERAS_HC = [("h", (5,)), ("c", (5,))]
KERAS_HC2 = [("h_forward", (5,)), ("c_forward", (5,)), ("h_backward", (5,)), ("c_backward", (5,))]
TORCH_HC1 = [("h", (1, 5)), ("c", (1, 5))]  # (num_layers·D, u) = (1·1, 5)
TORCH_HC2 = [("h", (2, 5)), ("c", (2, 5))]  # (1·2, 5)

COMBINATIONS = [
    # convention, sequences, state, bidirectional, output, states, params, MACs
    # Keras: 180 per direction; PyTorch 200; MACs 7 × 160 = 1120 per direction
    ("keras", False, False, False, (5,), [], 180, 1_120),
    ("keras", True, False, False, (7, 5), [], 180, 1_120),
    ("keras", False, True, False, (5,), KERAS_HC, 180, 1_120),
    ("keras", True, True, False, (7, 5), KERAS_HC, 180, 1_120),
    ("keras", False, False, True, (10,), [], 360, 2_240),  # concat: 2·5
    ("keras", True, False, True, (7, 10), [], 360, 2_240),
    ("keras", False, True, True, (10,), KERAS_HC2, 360, 2_240),
    ("keras", True, True, True, (7, 10), KERAS_HC2, 360, 2_240),
    ("pytorch", False, False, False, (5,), [], 200, 1_120),
    ("pytorch", True, False, False, (7, 5), [], 200, 1_120),
    ("pytorch", False, True, False, (5,), TORCH_HC1, 200, 1_120),
    ("pytorch", True, True, False, (7, 5), TORCH_HC1, 200, 1_120),
    ("pytorch", False, False, True, (10,), [], 400, 2_240),
    ("pytorch", True, False, True, (7, 10), [], 400, 2_240),
    ("pytorch", False, True, True, (10,), TORCH_HC2, 400, 2_240),
    ("pytorch", True, True, True, (7, 10), TORCH_HC2, 400, 2_240),
]


@pytest.mark.parametrize(
    ("convention", "sequences", "state", "bidirectional", "out_shape", "states", "params", "macs"), COMBINATIONS
)
def test_outputs_and_states(convention, sequences, state, bidirectional, out_shape, states, params, macs):
    layer = (
        f"{{op: lstm, units: 5, return_sequences: {str(sequences).lower()}, "
        f"return_state: {str(state).lower()}, bidirectional: {str(bidirectional).lower()}}}"
    )
    row = ok(layer, [7, 3], convention)
    assert row.out_shape == out_shape
    assert list(row.extra.items()) == states  # in the framework's order
    assert row.params == params
    assert row.macs == macs


@pytest.mark.parametrize(
    ("convention", "states"),
    [
        ("keras", [("h_forward", (5,)), ("h_backward", (5,))]),
        ("pytorch", [("h", (2, 5))]),  # a GRU has no cell state
    ],
)
def test_gru_bidirectional_state_is_h_only(convention, states):
    row = ok("{op: gru, units: 5, return_state: true, bidirectional: true}", [7, 3], convention)
    assert list(row.extra.items()) == states
    assert row.out_shape == (10,)


def test_rnn_state_is_h_only():
    assert list(ok("{op: rnn, units: 5, return_state: true}", [7, 3], "keras").extra.items()) == [("h", (5,))]
    assert list(ok("{op: rnn, units: 5, return_state: true}", [7, 3], "pytorch").extra.items()) == [("h", (1, 5))]


def _state_spec(convention, lstm_args, take):
    return f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [7, 3], layout: ntf}}
    layers:
      - {{op: lstm, units: 5, return_state: true, id: enc, {lstm_args}}}
      - {{op: dense, units: 2, in: {take}, id: head}}
    """


@pytest.mark.parametrize(
    ("convention", "lstm_args", "take", "in_shape", "out_shape", "macs"),
    [
        ("keras", "return_sequences: true", "enc.h", (5,), (2,), 10),  # 5·2
        ("keras", "return_sequences: true", "enc.c", (5,), (2,), 10),
        ("keras", "bidirectional: true", "enc.h_backward", (5,), (2,), 10),
        ("keras", "bidirectional: true", "enc.c_forward", (5,), (2,), 10),
        ("pytorch", "return_sequences: true", "enc.h", (1, 5), (1, 2), 10),  # 1 × 5·2
        ("pytorch", "bidirectional: true", "enc.c", (2, 5), (2, 2), 20),  # 2 rows × 5·2
        ("pytorch", "bidirectional: true, num_layers: 2", "enc.h", (4, 5), (4, 2), 40),  # (2·2, 5): 4 × 10
    ],
)
def test_a_later_layer_reads_a_state(convention, lstm_args, take, in_shape, out_shape, macs):
    _, rows = rows_of(_state_spec(convention, lstm_args, take))
    head = rows["head"]
    assert head.node.inputs == [take]
    assert head.in_shapes == [in_shape]
    assert head.out_shape == out_shape
    assert head.macs == macs


def test_a_bidirectional_keras_layer_has_no_plain_h():
    # Keras names the states per direction: enc.h_forward, enc.c_forward, enc.h_backward, ...
    analysis, diags = run_spec(_state_spec("keras", "bidirectional: true", "enc.h"))
    assert analysis is None
    assert found(diags) == [("error", "E113")]
    assert "'in: enc.h' names no earlier layer or input" in diags.items[0].message


def test_a_misspelt_state_is_e113_with_did_you_mean():
    analysis, diags = run_spec(_state_spec("pytorch", "return_sequences: true", "enc.hh"))
    assert analysis is None
    assert found(diags) == [("error", "E113")]
    assert "(did you mean 'enc.h'?)" in diags.items[0].message  # one letter away


def test_no_states_without_return_state():
    text = """
    netcalc: 1
    input: {shape: [7, 3], layout: ntf}
    layers:
      - {op: lstm, units: 5, id: enc}
      - {op: dense, units: 2, in: enc.h}
    """
    _, diags = run_spec(text)
    assert found(diags) == [("error", "E113")]


# ---------------------------------------------------------------------------------------------
# merge modes (bidirectional lstm, T = 7, F = 3, u = 5)
# per step, both directions: MACs 2 × 160 = 320; Keras FLOPs 2·320 + 2·(20 bias + 45 gate work) = 770
# sequence FLOPs before merging 7 × 770 = 5390
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "sequences", "out_shape", "flops"),
    [
        ("concat", False, (10,), 5_390),  # concatenation is free
        ("sum", False, (5,), 5_395),  # + 1 × 5 elements
        ("mul", False, (5,), 5_395),
        ("ave", False, (5,), 5_400),  # + 2 × 5
        ("concat", True, (7, 10), 5_390),
        ("sum", True, (7, 5), 5_425),  # + 1 × 7·5
        ("mul", True, (7, 5), 5_425),
        ("ave", True, (7, 5), 5_460),  # + 2 × 35
    ],
)
def test_keras_merge_modes(mode, sequences, out_shape, flops):
    layer = (
        f"{{op: lstm, units: 5, bidirectional: true, merge_mode: {mode}, return_sequences: {str(sequences).lower()}}}"
    )
    row = ok(layer, [7, 3], "keras")
    assert row.out_shape == out_shape
    assert row.params == 360  # 2 × 180, whatever the merge
    assert row.per_step == (320, 770)  # one step excludes the merge
    assert row.macs == 2_240  # 7 × 320
    assert row.flops == flops


def test_pytorch_bidirectional_sum():
    row = ok("{op: lstm, units: 5, bidirectional: true, merge_mode: sum}", [7, 3], "pytorch")
    assert row.out_shape == (5,)
    # per step 2·320 + 2·(40 bias + 45) = 640 + 170 = 810; 7 × 810 + 5 = 5675
    assert row.per_step == (320, 810)
    assert row.flops == 5_675


def test_rnn_bidirectional_ave_sequences():
    row = ok("{op: rnn, units: 5, bidirectional: true, merge_mode: ave, return_sequences: true}", [7, 3], "keras")
    assert row.out_shape == (7, 5)
    # per step 2 × (2·40 + 5 bias + 5 tanh) = 2 × 90 = 180; 7 × 180 + 2·7·5 = 1260 + 70
    assert row.per_step == (80, 180)
    assert row.flops == 1_330


def test_merge_mode_without_bidirectional_merges_nothing():
    row = ok("{op: lstm, units: 5, merge_mode: ave, return_sequences: true}", [7, 3], "keras")
    assert row.out_shape == (7, 5)
    assert row.flops == 2_695  # 7 × 385 as for a plain lstm: no merge


# ---------------------------------------------------------------------------------------------
# stacked layers (num_layers)
# ---------------------------------------------------------------------------------------------


def test_two_stacked_lstm_keras():
    row = ok("{op: lstm, units: 5, num_layers: 2, return_state: true}", [7, 3], "keras")
    # layer 1 reads F = 3, layer 2 reads u = 5 (one direction)
    assert tensors(row) == [
        ("layer1/kernel", (3, 20), 60),
        ("layer1/recurrent_kernel", (5, 20), 100),
        ("layer1/bias", (20,), 20),
        ("layer2/kernel", (5, 20), 100),
        ("layer2/recurrent_kernel", (5, 20), 100),
        ("layer2/bias", (20,), 20),
    ]
    assert row.params == 400  # 180 + 220
    # MACs/step 4·5·(3 + 5) + 4·5·(5 + 5) = 160 + 200; FLOPs/step 2·360 + 2·(20 + 45) = 720 + 130
    assert row.per_step == (360, 850)
    assert (row.macs, row.flops) == (2_520, 5_950)  # × 7
    assert list(row.extra.items()) == [("h", (5,)), ("c", (5,))]
    assert row.out_shape == (5,)


def test_two_stacked_lstm_pytorch():
    row = ok("{op: lstm, units: 5, num_layers: 2, return_state: true}", [7, 3], "pytorch")
    assert tensors(row) == [
        ("weight_ih_l0", (20, 3), 60),
        ("weight_hh_l0", (20, 5), 100),
        ("bias_ih_l0", (20,), 20),
        ("bias_hh_l0", (20,), 20),
        ("weight_ih_l1", (20, 5), 100),
        ("weight_hh_l1", (20, 5), 100),
        ("bias_ih_l1", (20,), 20),
        ("bias_hh_l1", (20,), 20),
    ]
    assert row.params == 440  # 200 + 240
    assert row.per_step == (360, 890)  # 720 + 2·(40 + 45)
    assert (row.macs, row.flops) == (2_520, 6_230)  # × 7
    assert list(row.extra.items()) == [("h", (2, 5)), ("c", (2, 5))]  # (num_layers·D, u) = (2·1, 5)


# three stacked bidirectional GRUs, T = 5, F = 6, u = 4 (3u = 12); layers 2 and 3 read D·u = 8
# per direction: layer 1 weights 12·6 + 12·4 = 72 + 48, layers 2, 3: 12·8 + 12·4 = 96 + 48
# MACs/step: 2·3·4·(6 + 4) + 2 × 2·3·4·(8 + 4) = 240 + 576 = 816; × 5 = 4080
GRU3 = "{op: gru, units: 4, num_layers: 3, bidirectional: true, return_state: true, return_sequences: true}"


def test_three_stacked_bidirectional_gru_pytorch():
    row = ok(GRU3, [5, 6], "pytorch")
    names = []
    for k in range(3):
        for d in ("", "_reverse"):
            names += [f"weight_ih_l{k}{d}", f"weight_hh_l{k}{d}", f"bias_ih_l{k}{d}", f"bias_hh_l{k}{d}"]
    assert [t.name for t in row.tensors] == names  # PyTorch's order: layer, direction, ih, hh, biases
    shapes = [t.shape for t in row.tensors]
    assert shapes[:8] == [(12, 6), (12, 4), (12,), (12,)] * 2
    assert shapes[8:] == [(12, 8), (12, 4), (12,), (12,)] * 4
    assert row.params == 960  # 2·(72 + 48 + 24) + 4·(96 + 48 + 24) = 288 + 672
    # FLOPs/step 2·816 + 3 layers · 2 dirs · (24 bias + 8·4) = 1632 + 336
    assert row.per_step == (816, 1_968)
    assert (row.macs, row.flops) == (4_080, 9_840)  # × 5
    assert row.out_shape == (5, 8)  # every step, both directions
    assert list(row.extra.items()) == [("h", (6, 4))]  # (3·2, 4)


def test_three_stacked_bidirectional_gru_keras():
    row = ok(GRU3, [5, 6], "keras")
    names = []
    for k in (1, 2, 3):
        for d in ("forward", "backward"):
            names += [f"{d}/layer{k}/kernel", f"{d}/layer{k}/recurrent_kernel", f"{d}/layer{k}/bias"]
    assert [t.name for t in row.tensors] == names
    shapes = [t.shape for t in row.tensors]
    assert shapes[:6] == [(6, 12), (4, 12), (2, 12)] * 2  # reset_after: bias (2, 3u)
    assert shapes[6:] == [(8, 12), (4, 12), (2, 12)] * 4
    assert row.params == 960  # as PyTorch: 288 + 672
    assert row.per_step == (816, 1_968)  # two bias vectors as in PyTorch
    assert (row.macs, row.flops) == (4_080, 9_840)
    assert row.out_shape == (5, 8)
    assert list(row.extra.items()) == [("h_forward", (4,)), ("h_backward", (4,))]


def test_three_stacked_bidirectional_gru_keras_reset_before():
    row = ok(GRU3[:-1] + ", reset_after: false}", [5, 6], "keras")
    assert {t.shape for t in row.tensors if t.name.endswith("bias")} == {(12,)}
    assert row.params == 888  # 960 − 6 layer-directions × 12
    assert row.per_step == (816, 1_896)  # 1632 + 6·(12 + 32)
    assert row.flops == 9_480  # 5 × 1896


def test_bidirectional_single_layer_keras_names():
    row = ok("{op: rnn, units: 5, bidirectional: true}", [7, 3], "keras")
    assert [t.name for t in row.tensors] == [
        "forward/kernel",
        "forward/recurrent_kernel",
        "forward/bias",
        "backward/kernel",
        "backward/recurrent_kernel",
        "backward/bias",
    ]
    assert row.params == 90  # 2 × 45


# ---------------------------------------------------------------------------------------------
# embedding, and a dense layer per time step
# ---------------------------------------------------------------------------------------------


def embedding_row(shape, convention, dtype="int64", layer="{op: embedding, vocab: 1000, dim: 16}"):
    """The row of an embedding reading token ids of the given shape."""
    text = f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: {list(shape)}, layout: ntf, dtype: {dtype}}}
    layers:
      - {layer}
    """
    _, rows = rows_of(text)
    return rows["embedding_1"]


@pytest.mark.parametrize(("convention", "name"), [("keras", "embeddings"), ("pytorch", "weight")])
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_embedding(convention, name, dtype):
    row = embedding_row([12], convention, dtype)
    assert tensors(row) == [(name, (1000, 16), 16_000)]  # vocab × dim
    assert row.params == 16_000
    assert row.trainable == 16_000
    assert row.out_shape == (12, 16)  # (T,) → (T, dim)
    assert (row.macs, row.flops) == (0, 0)  # a lookup
    assert row.per_step is None


def test_embedding_keeps_every_id_axis():
    row = embedding_row([3, 12], "pytorch", layer="{op: embedding, vocab: 50, dim: 8}")
    assert row.out_shape == (3, 12, 8)
    assert row.params == 400  # 50 · 8


@pytest.mark.parametrize(("convention", "lstm_params"), [("keras", 800), ("pytorch", 832)])
def test_embedding_then_lstm(convention, lstm_params):
    text = f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [12], layout: ntf, dtype: int64}}
    layers:
      - {{op: embedding, vocab: 1000, dim: 16, id: emb}}
      - {{op: lstm, units: 8, id: enc}}
    """
    analysis, rows = rows_of(text)
    assert rows["enc"].in_shapes == [(12, 16)]
    # 4·8·(16 + 8) = 768, + 4·8 = 32 (Keras) or 8·8 = 64 (PyTorch)
    assert rows["enc"].params == lstm_params
    assert rows["enc"].macs == 9_216  # 12 × 768
    assert analysis.totals.params == 16_000 + lstm_params
    assert analysis.totals.input_bytes == 96  # 12 int64 ids × 8 bytes


@pytest.mark.parametrize(
    ("convention", "dense_tensors"),
    [
        ("keras", [("kernel", (5, 2), 10), ("bias", (2,), 2)]),
        ("pytorch", [("weight", (2, 5), 10), ("bias", (2,), 2)]),
    ],
)
def test_dense_after_return_sequences_applies_per_step(convention, dense_tensors):
    text = f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: [7, 3], layout: ntf}}
    layers:
      - {{op: lstm, units: 5, return_sequences: true, id: enc}}
      - {{op: dense, units: 2, id: head}}
    """
    _, rows = rows_of(text)
    head = rows["head"]
    assert head.in_shapes == [(7, 5)]
    assert head.out_shape == (7, 2)  # one dense per step
    assert tensors(head) == dense_tensors
    assert head.params == 12  # 5·2 + 2: shared by the steps
    assert head.macs == 70  # 7 steps × 5·2
    assert head.flops == 154  # 2·70 + 7·2 bias adds


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("convention", ["keras", "pytorch"])
def test_rank_1_input_is_e202(cell, convention):
    err = failing(f"{{op: {cell}, units: 4}}", [20], "E202", convention)
    assert f"{cell} takes a sequence (steps, features)" in err.message
    assert "got an input of shape 20 (1 axis)" in err.message


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rank_3_input_is_e202(cell):
    err = failing(f"{{op: {cell}, units: 4}}", [20, 3, 2], "E202", "keras")
    assert "got an input of shape 20×3×2 (3 axes)" in err.message


def test_embedding_of_a_2d_id_array_then_lstm_is_e202():
    text = """
    netcalc: 1
    input: {shape: [3, 12], layout: ntf, dtype: int64}
    layers:
      - {op: embedding, vocab: 50, dim: 8}
      - {op: lstm, units: 4}
    """
    analysis, diags = run_spec(text)
    assert not analysis.ok
    assert analysis.rows[0].out_shape == (3, 12, 8)  # the embedding resolves
    assert analysis.rows[1].out_shape is None
    assert found(diags) == [("error", "E202")]
    assert "lstm_1: lstm takes a sequence" in diags.items[0].message
    assert "got an input of shape 3×12×8 (3 axes)" in diags.items[0].message  # (3, 12) ids → (3, 12, 8)


def test_units_must_be_positive():
    failing("{op: lstm, units: 0}", [7, 3], "E104", "keras")


# ---------------------------------------------------------------------------------------------
# netcalc explain through the command line
# ---------------------------------------------------------------------------------------------


def test_explain_keras_look_back_lstm():
    result = netcalc("explain", str(SPECS / "lstm-look-back.yaml"), "lstm")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "in: input 1×1 → out: 4" in lines
    assert "units = 4: the state h and the cell state c have 4 numbers per step" in lines
    assert (
        "4 gates (input (i), forget (f), cell (c), output (o)), each with an input kernel, "
        "a recurrent kernel and 1 bias vector"
    ) in lines
    # per gate: F × u = 1 × 4, u × u = 4 × 4, one bias of 4: 4 + 16 + 4 = 24
    assert "per gate: input kernel 1 × 4 = 4, recurrent kernel 4 × 4 = 16, bias 1 × 4 = 4 → 24" in lines
    assert "4 gates × 24 = 96 = 4·4·(1 + 4) + 1·4·4" in lines
    assert "stored fused as kernel 1 × 16, recurrent_kernel 4 × 16" in lines
    assert "MACs per step: 80; for the sequence of 1 step: 80" in lines
    assert "FLOPs per step: 212; for the sequence: 212" in lines  # 2·80 + 16 + 36
    assert "parameters: 96 (96 trainable)" in lines


def test_explain_with_the_pytorch_override():
    result = netcalc("explain", str(SPECS / "lstm-look-back.yaml"), "lstm", "--convention", "pytorch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "in: input 1×1 → out: 4" in lines  # the shapes stay
    assert (
        "4 gates (input (i), forget (f), cell (g), output (o)), each with an input kernel, "
        "a recurrent kernel and 2 bias vectors"
    ) in lines
    assert "per gate: input kernel 1 × 4 = 4, recurrent kernel 4 × 4 = 16, bias 2 × 4 = 8 → 28" in lines
    assert "4 gates × 28 = 112 = 4·4·(1 + 4) + 2·4·4" in lines
    assert "stored fused as weight_ih 16 × 1, weight_hh 16 × 4" in lines
    assert "FLOPs per step: 228; for the sequence: 228" in lines  # 160 + 32 + 36
    assert "parameters: 112 (112 trainable)" in lines


def test_explain_stacked_bidirectional_gru(tmp_path):
    spec = tmp_path / "gru.yaml"
    spec.write_text(
        "netcalc: 1\n"
        "convention: keras\n"
        "input: {shape: [5, 6], layout: ntf}\n"
        "layers:\n"
        "  - {op: gru, units: 4, bidirectional: true, num_layers: 2, return_state: true, id: enc}\n",
        encoding="utf-8",
    )
    result = netcalc("explain", str(spec), "enc")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "also output enc.h_forward: 4" in lines
    assert "also output enc.h_backward: 4" in lines
    assert "units = 4: the state h has 4 numbers per step and direction (2 directions)" in lines
    assert (
        "3 gates (update (z), reset (r), candidate (h)), each with an input kernel, "
        "a recurrent kernel and 2 bias vectors"
    ) in lines
    # layer 1 reads F = 6: 24 + 16 + 8 = 48 per gate, × 3 = 144, × 2 directions = 288
    assert "layer 1: per gate: input kernel 6 × 4 = 24, recurrent kernel 4 × 4 = 16, bias 2 × 4 = 8 → 48" in lines
    assert "layer 1: 3 gates × 48 = 144 = 3·4·(6 + 4) + 2·3·4; × 2 directions = 288" in lines
    assert "layer 1: stored fused as kernel 6 × 12, recurrent_kernel 4 × 12" in lines
    # layer 2 reads D·u = 8: 32 + 16 + 8 = 56, × 3 = 168, × 2 = 336
    assert "layer 2: per gate: input kernel 8 × 4 = 32, recurrent kernel 4 × 4 = 16, bias 2 × 4 = 8 → 56" in lines
    assert "layer 2: 3 gates × 56 = 168 = 3·4·(8 + 4) + 2·3·4; × 2 directions = 336" in lines
    assert "layer 2: stored fused as kernel 8 × 12, recurrent_kernel 4 × 12" in lines
    # MACs/step 2·3·4·10 + 2·3·4·12 = 240 + 288 = 528, × 5 = 2640
    assert "MACs per step: 528; for the sequence of 5 steps: 2,640" in lines
    # FLOPs/step 2·528 + 2 layers · 2 dirs · (2·12 bias + 8·4) = 1056 + 224 = 1280, × 5 = 6400
    assert "FLOPs per step: 1,280; for the sequence: 6,400" in lines
    assert "parameters: 624 (624 trainable)" in lines  # 288 + 336


def test_explain_rnn_without_bias(tmp_path):
    spec = tmp_path / "rnn.yaml"
    spec.write_text(
        "netcalc: 1\ninput: {shape: [7, 3], layout: tnf}\nlayers:\n  - {op: rnn, units: 5, bias: false}\n",
        encoding="utf-8",
    )
    result = netcalc("explain", str(spec), "rnn_1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "units = 5: the state h has 5 numbers per step" in lines
    assert "1 gate (hidden), each with an input kernel, a recurrent kernel and no bias" in lines
    assert "per gate: input kernel 3 × 5 = 15, recurrent kernel 5 × 5 = 25 → 40" in lines
    assert "1 gates × 40 = 40 = 1·5·(3 + 5)" in lines
    assert "stored fused as weight_ih 5 × 3, weight_hh 5 × 5" in lines
    assert "MACs per step: 40; for the sequence of 7 steps: 280" in lines
    assert "FLOPs per step: 85; for the sequence: 595" in lines  # 2·40 + 5 tanh; × 7


def test_explain_unknown_layer_is_e114_with_did_you_mean():
    result = netcalc("explain", str(SPECS / "lstm-look-back.yaml"), "lstmm")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error E114: no layer named 'lstmm' in lstm-look-back (did you mean 'lstm'?)" in result.stderr
    assert "layers: lstm, dense_1" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# --convention: the counts change, the network does not
# ---------------------------------------------------------------------------------------------


def test_pytorch_override_on_the_keras_look_back_spec():
    analysis, rows = rows_of(LOOK_BACK, convention="pytorch")
    lstm, dense = rows["lstm"], rows["dense_1"]
    assert [t.name for t in lstm.tensors] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert lstm.params == 112  # 96 + a second bias vector of 16
    assert lstm.out_shape == (4,)  # unchanged
    assert dense.out_shape == (1,)
    assert tensors(dense) == [("weight", (1, 4), 4), ("bias", (1,), 1)]
    assert analysis.totals.params == 117  # 112 + 5
    assert lstm.per_step == (80, 228)  # MACs unchanged; 16 more bias adds
    assert analysis.totals.macs == 84


def test_override_keeps_the_specs_state_outputs():
    text = """
    netcalc: 1
    convention: keras
    input: {shape: [7, 3], layout: ntf}
    layers:
      - {op: lstm, units: 5, bidirectional: true, return_state: true, return_sequences: true, id: enc}
      - {op: dense, units: 2, in: enc.c_backward, id: head}
    """
    _, keras_rows = rows_of(text)
    _, torch_rows = rows_of(text, convention="pytorch")
    assert keras_rows["enc"].params == 360  # 2 × 180
    assert torch_rows["enc"].params == 400  # 2 × 200
    for rows in (keras_rows, torch_rows):
        assert rows["enc"].out_shape == (7, 10)
        assert list(rows["enc"].extra.items()) == KERAS_HC2  # the network is the Keras one
        assert rows["head"].out_shape == (2,)


def test_keras_override_on_a_pytorch_spec():
    text = """
    netcalc: 1
    input: {shape: [1, 1], layout: tnf}
    layers:
      - {op: lstm, units: 4, return_state: true, id: lstm}
    """
    _, rows = rows_of(text, convention="keras")
    assert tensors(rows["lstm"]) == [("kernel", (1, 16), 16), ("recurrent_kernel", (4, 16), 64), ("bias", (16,), 16)]
    assert rows["lstm"].params == 96  # 112 − 16
    assert list(rows["lstm"].extra.items()) == [("h", (1, 4)), ("c", (1, 4))]  # PyTorch's h_n, c_n stay


def test_cli_summary_override_totals():
    import json

    for convention, params, flops in (("keras", 101, 221), ("pytorch", 117, 237)):  # 212 + 9, 228 + 9
        result = netcalc("summary", str(SPECS / "lstm-look-back.yaml"), "--convention", convention, "-f", "json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["totals"]["params"] == params
        assert data["totals"]["flops"] == flops
        lstm = data["layers"][0]
        assert lstm["output_shape"] == [4]
        assert lstm["per_step"] == {"macs": 80, "flops": flops - 9}
