"""Recurrent layers' initial states (`initial_state:`) and dropout (`dropout`, `recurrent_dropout`)
in the engine: the spec syntax, the rules it enforces, and the figures (which they do not change).

Counting by hand (tests/test_recurrent.py's notation: T steps, F features, u units, D directions):
Keras LSTM 4u(F + u) + 4u, PyTorch + 4u more; MACs 4u(F + u) per step and direction. A state given
changes neither (the recurrent product on h₀ is computed either way); dropout is the identity at
inference, so neither parameters nor FLOPs move.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from cli_run import netcalc
from conftest import run_spec


def found(diags):
    return [(d.severity, d.code) for d in diags.items]


def rows_of(text, convention=None):
    analysis, diags = run_spec(text, convention=convention)
    assert analysis is not None, [d.format() for d in diags.items]
    assert found(diags) == [], [d.format() for d in diags.items]
    return analysis, {r.node.name: r for r in analysis.rows}


def errors_of(text):
    analysis, diags = run_spec(text)
    assert analysis is None or not analysis.ok
    return [(d.code, d.message) for d in diags.items if d.severity == "error"]


SEQ2SEQ = """
netcalc: 1
convention: {convention}
input:
  - {{name: source, shape: [7, 3]}}
  - {{name: target, shape: [5, 2]}}
layers:
  - {{op: lstm, units: 4, return_state: true, id: enc}}
  - {{op: lstm, units: 4, in: target, return_sequences: true, initial_state: [enc.h, enc.c], id: dec{more}}}
"""


@pytest.mark.parametrize(
    ("convention", "state_shape", "params", "dropout"),
    [
        # Keras: each state (u) = (4); 4·4·(2 + 4) + 4·4 = 96 + 16 = 112
        ("keras", (4,), 112, ", dropout: 0.3, recurrent_dropout: 0.2"),
        # PyTorch: h_0, c_0 (num_layers·D, u) = (1, 4); 96 + 8·4 = 128 (dropout acts between stacked layers)
        ("pytorch", (1, 4), 128, ", dropout: 0.3"),
    ],
)
def test_a_decoder_starts_from_the_encoders_states(convention, state_shape, params, dropout):
    for more in ("", dropout):
        analysis, rows = rows_of(SEQ2SEQ.format(convention=convention, more=more))
        dec = rows["dec"]
        assert dec.node.inputs == ["target", "enc.h", "enc.c"]  # the sequence first, then the states
        assert dec.in_shapes == [(5, 2), state_shape, state_shape]
        assert dec.out_shape == (5, 4)
        assert dec.params == params
        assert dec.macs == 5 * 96  # 5 steps × 4·4·(2 + 4), the same as from zeros
        graph = analysis.graph
        assert [n.name for n in graph.readers("enc.h")] == ["dec"]
        assert graph.producer("enc.c") == "enc" and graph.suffix("enc.c") == "c"
        assert graph.ancestors(["dec"]) == {"dec", "enc"}


def test_states_and_dropout_change_no_figure():
    """The same decoder from zeros, from the encoder's states and with dropout: the same row figures."""
    plain = SEQ2SEQ.format(convention="keras", more="").replace(", initial_state: [enc.h, enc.c]", "")
    _, base = rows_of(plain + "outputs: [enc, dec]\n")
    _, given = rows_of(SEQ2SEQ.format(convention="keras", more=", dropout: 0.5, recurrent_dropout: 0.5"))
    for key in ("params", "macs", "flops", "out_shape"):
        assert getattr(base["dec"], key) == getattr(given["dec"], key), key
    # FLOPs: 5 × (2·96 + 16 bias adds + 9·4 gate work) = 5 × 244 = 1,220
    assert given["dec"].flops == 1220


def test_the_encoder_read_only_through_its_states_is_used():
    """No W203 for an encoder whose main output nothing reads: reading enc.h uses enc."""
    _, diags = run_spec(SEQ2SEQ.format(convention="keras", more=""))
    assert found(diags) == []


def test_pytorch_stacked_bidirectional_states_are_one_row_per_layer_and_direction():
    text = """
    netcalc: 1
    input: {shape: [7, 3], layout: tnf}
    layers:
      - {op: gru, units: 5, num_layers: 2, bidirectional: true, return_state: true, id: enc}
      - {op: gru, units: 5, in: input, num_layers: 2, bidirectional: true, initial_state: enc.h, id: dec}
    """
    _, rows = rows_of(text)
    assert rows["dec"].in_shapes == [(7, 3), (4, 5)]  # h_0 (num_layers·D, u) = (2·2, 5)


def test_keras_bidirectional_takes_forward_then_backward_states():
    text = """
    netcalc: 1
    convention: keras
    input: {shape: [7, 3], layout: ntf}
    layers:
      - {op: lstm, units: 5, bidirectional: true, return_state: true, id: enc}
      - {op: lstm, units: 5, in: input, bidirectional: true, id: dec,
         initial_state: [enc.h_forward, enc.c_forward, enc.h_backward, enc.c_backward]}
    """
    _, rows = rows_of(text)
    assert rows["dec"].in_shapes == [(7, 3), *[(5,)] * 4]
    # 2 × (4·5·(3 + 5) + 4·5) = 2 × 180 = 360
    assert rows["dec"].params == 360


def test_a_state_from_a_graph_input():
    """A state may be any earlier tensor: here a second input h0 of PyTorch's (1, u)."""
    text = """
    netcalc: 1
    input:
      - {name: x, shape: [7, 3]}
      - {name: h0, shape: [1, 5]}
    layers:
      - {op: rnn, units: 5, initial_state: h0}
    """
    analysis, rows = rows_of(text)
    assert rows["rnn_1"].in_shapes == [(7, 3), (1, 5)]
    assert [i.layout for i in analysis.graph.inputs] == ["tnf", "tnf"]  # both read by the rnn: sequences
    assert rows["rnn_1"].params == 5 * (3 + 5) + 2 * 5  # u(F + u) + 2u = 40 + 10 = 50


BLOCK = """
netcalc: 1
convention: keras
input:
  - {name: source, shape: [7, 3]}
  - {name: target, shape: [5, 3]}
blocks:
  encdec:
    params: {units: int}
    layers:
      - {op: lstm, units: $units, return_state: true, id: enc}
      - {op: lstm, units: $units, in: target, initial_state: [enc.h, enc.c], id: dec}
layers:
  - {use: encdec, units: 4, id: b}
  - {op: gru, units: 4, in: target, initial_state: b.enc.h, id: outside}
outputs: [b.dec, outside]
"""


def test_inside_a_block_states_are_named_locally_and_qualified_outside():
    analysis, rows = rows_of(BLOCK)
    assert rows["b.dec"].node.inputs == ["target", "b.enc.h", "b.enc.c"]
    assert rows["outside"].node.inputs == ["target", "b.enc.h"]
    assert analysis.graph.producer("b.enc.h") == "b.enc"


@pytest.mark.parametrize(
    ("layer", "code", "words"),
    [
        ("{op: gru, units: 4, in: input, initial_state: [enc.h, enc.c]}", "E208", "gru takes 1 state (h 4), got 2"),
        ("{op: lstm, units: 4, in: input, initial_state: [enc.h, enc.h, enc.c]}", "E208", "takes 2 states"),
        (
            "{op: rnn, units: 3, in: input, initial_state: enc.h}",
            "E208",
            "enc.h has shape 4; the state h of this rnn (3 units) has shape 3",
        ),
        ("{op: lstm, units: 4, in: input, initial_state: [enc, enc.c]}", "E208", "enc has shape 7×4"),
        ("{op: lstm, units: 4, initial_state: [enc.h, nothing]}", "E113", "'initial_state: nothing' names no earlier"),
        ("{op: lstm, units: 4, in: [input, enc.h, enc.c]}", "E115", "in: input, initial_state: [enc.h, enc.c]"),
        ("{op: lstm, units: 4, in: input, dropout: 1}", "E104", "'dropout' must be a number in [0, 1), got 1"),
        ("{op: lstm, units: 4, in: input, initial_state: {h: enc.h}}", "E103", "initial_state"),
    ],
)
def test_the_rules_quote_what_was_given(layer, code, words):
    text = f"""
    netcalc: 1
    convention: keras
    input: {{shape: [7, 3], layout: ntf}}
    layers:
      - {{op: lstm, units: 4, return_sequences: true, return_state: true, id: enc}}
      - {layer}
    """
    errors = errors_of(text)
    assert [c for c, _ in errors] == [code], errors
    assert words in errors[0][1], errors[0][1]


def test_several_inputs_to_a_dense_still_say_merge():
    text = """
    netcalc: 1
    input: {shape: [4]}
    layers:
      - {op: dense, units: 3, id: a}
      - {op: dense, units: 3, in: [input, a]}
    """
    ((code, message),) = errors_of(text)
    assert code == "E115" and message.endswith("merge them first with add, concat or multiply")


def test_explain_names_the_states_and_the_dropout(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SEQ2SEQ.format(convention="keras", more=", dropout: 0.25, recurrent_dropout: 0.1"))
    out = netcalc("explain", str(spec), "dec")
    assert out.returncode == 0, out.stderr
    assert "in: target 5×2, enc.h 4, enc.c 4 → out: 5×4" in out.stdout
    assert "starts from h ← enc.h, c ← enc.c instead of zeros: no parameters, the same MACs" in out.stdout
    assert (
        "dropout 0.25: in training 25% of the input's features are zeroed, one mask per gate and sequence" in out.stdout
    )
    assert "recurrent_dropout 0.1: in training 10% of the state's units" in out.stdout
    spec.write_text(SEQ2SEQ.format(convention="pytorch", more=", dropout: 0.25"))
    out = netcalc("explain", str(spec), "dec")
    assert "dropout 0.25: in training, PyTorch drops between stacked layers only: nowhere here" in out.stdout


def test_the_schema_declares_the_arguments():
    out = netcalc("schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    lstm = schema["$defs"]["layer.lstm"]["properties"]
    assert set(lstm) >= {"initial_state", "dropout", "recurrent_dropout"}
    names = lstm["initial_state"]
    text = json.dumps(names)
    assert '"type": "string"' in text and '"type": "array"' in text


def test_a_state_of_token_ids_is_refused():
    text = """
    netcalc: 1
    convention: keras
    input:
      - {name: x, shape: [5, 3]}
      - {name: h0, shape: [4], dtype: int64}
    layers:
      - {op: gru, units: 4, initial_state: h0}
    """
    ((code, message),) = errors_of(text)
    assert code == "E208" and "h0 (int64) holds integers (token ids)" in message


def test_symbolic_units_record_that_the_state_fits(tmp_path):
    """With symbols, the state's size equal to the units is a condition `netcalc sizes` solves."""
    text = """
    netcalc: 1
    convention: keras
    symbols: {U: 8, V: 8}
    input: {shape: [5, 3], layout: ntf}
    layers:
      - {op: gru, units: U, return_state: true, id: enc}
      - {op: gru, units: V, in: input, initial_state: enc.h, id: dec}
    """
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent(text))
    out = netcalc("sizes", str(spec))
    assert out.returncode == 0, out.stderr
    assert "U − V = 0 — dec: the initial state h from enc.h fits the units" in out.stdout
