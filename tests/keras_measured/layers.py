"""Measure real Keras on the layers and patterns of the catalogue issue (3-D, transposed 1-D/3-D,
cropping, causal padding, RepeatVector, Permute, PReLU, GroupNormalization, recurrent dropout and
initial states, frozen and shared layers): what tests/keras_measured/layers.json records, and
tests/test_keras_layers.py checks netcalc's Keras convention against.

Keras is not a test dependency: run this in a separate environment (Keras 3 on the torch backend),

    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras torch==2.13.0
    KERAS_BACKEND=torch /tmp/kvenv/bin/python tests/keras_measured/layers.py > tests/keras_measured/layers.json

Each case is a netcalc spec's `input` and `layers` (written here, beside the Keras code that builds
the same network) and what Keras reports: the model's total, trainable and non-trainable counts
(`count_params()` over model.weights, model.trainable_weights, model.non_trainable_weights), the
output shape without the batch and every weight's shape, in Keras's order.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from keras import layers as L


def one(layer_fn):
    """A network of one layer on one input."""
    return lambda x: layer_fn()(x)


def shared_dense(x):
    # one Dense applied twice (a Siamese pair on two halves): counted once
    dense = L.Dense(8, name="tower")
    a, b = L.Cropping1D((0, 3))(x), L.Cropping1D((3, 0))(x)
    return L.Add()([dense(L.Flatten()(a)), dense(L.Flatten()(b))])


def frozen(x):
    y = L.Conv2D(4, 3, name="c1", trainable=False)(x)
    y = L.BatchNormalization(name="bn", trainable=False)(y)
    return L.Dense(2, name="head")(L.GlobalAveragePooling2D()(y))


def seq2seq(x):
    # an encoder's final h and c as the decoder's initial state
    _, h, c = L.LSTM(8, return_state=True, name="enc")(x)
    return L.LSTM(8, return_sequences=True, name="dec")(x, initial_state=[h, c])


def self_attention(layer_fn):
    """A network of one attention layer reading its input as queries, keys and values."""
    return lambda x: layer_fn()(x, x)


def cross_attention(x):
    # keys and values from a 12-wide projection of the input: d_kv = 12 ≠ d = 16
    memory = L.Dense(12, name="memory")(x)
    return L.MultiHeadAttention(4, 4, name="attn")(x, memory)


def pre_ln_block(x):
    # layernorm → causal self-attention → add (a decoder block's first half)
    h = L.LayerNormalization(name="ln")(x)
    return L.Add()([x, L.MultiHeadAttention(2, 8, name="attn")(h, h, use_causal_mask=True)])


CASES = [
    # id, input shape (channels last), netcalc layers, the Keras network
    ("conv3d", [6, 7, 8, 2], [{"op": "conv3d", "filters": 4, "kernel": 3}], one(lambda: L.Conv3D(4, 3))),
    (
        "conv3d-same-stride2",
        [6, 7, 8, 2],
        [{"op": "conv3d", "filters": 3, "kernel": [3, 2, 3], "stride": 2, "padding": "same"}],
        one(lambda: L.Conv3D(3, (3, 2, 3), strides=2, padding="same")),
    ),
    (
        "conv3d-transpose",
        [3, 4, 5, 2],
        [{"op": "conv3d_transpose", "filters": 4, "kernel": 3, "stride": 2}],
        one(lambda: L.Conv3DTranspose(4, 3, strides=2)),
    ),
    (
        "conv1d-transpose",
        [10, 3],
        [{"op": "conv1d_transpose", "filters": 4, "kernel": 3, "stride": 2}],
        one(lambda: L.Conv1DTranspose(4, 3, strides=2)),
    ),
    (
        "conv1d-transpose-same",
        [10, 3],
        [{"op": "conv1d_transpose", "filters": 5, "kernel": 4, "stride": 3, "padding": "same"}],
        one(lambda: L.Conv1DTranspose(5, 4, strides=3, padding="same")),
    ),
    (
        "conv1d-causal",
        [10, 3],
        [{"op": "conv1d", "filters": 4, "kernel": 3, "dilation": 2, "padding": "causal"}],
        one(lambda: L.Conv1D(4, 3, dilation_rate=2, padding="causal")),
    ),
    ("maxpool3d", [6, 7, 8, 2], [{"op": "maxpool3d", "kernel": 2}], one(lambda: L.MaxPooling3D(2))),
    (
        "avgpool3d-same",
        [5, 7, 8, 2],
        [{"op": "avgpool3d", "kernel": 2, "padding": "same"}],
        one(lambda: L.AveragePooling3D(2, padding="same")),
    ),
    ("global-avgpool3d", [5, 7, 8, 2], [{"op": "global_avgpool3d"}], one(lambda: L.GlobalAveragePooling3D())),
    ("global-maxpool3d", [5, 7, 8, 2], [{"op": "global_maxpool3d"}], one(lambda: L.GlobalMaxPooling3D())),
    ("cropping1d", [10, 3], [{"op": "cropping1d", "cropping": [1, 2]}], one(lambda: L.Cropping1D((1, 2)))),
    (
        "cropping2d",
        [8, 9, 3],
        [{"op": "cropping2d", "cropping": [[1, 2], [0, 3]]}],
        one(lambda: L.Cropping2D(((1, 2), (0, 3)))),
    ),
    ("repeat-vector", [7], [{"op": "repeat_vector", "n": 5}], one(lambda: L.RepeatVector(5))),
    ("permute", [10, 3], [{"op": "permute", "dims": [2, 1]}], one(lambda: L.Permute((2, 1)))),
    ("permute-3d", [4, 5, 6], [{"op": "permute", "dims": [3, 1, 2]}], one(lambda: L.Permute((3, 1, 2)))),
    ("prelu", [5, 6, 4], [{"op": "prelu"}], one(lambda: L.PReLU())),
    ("prelu-channel", [5, 6, 4], [{"op": "prelu", "alphas": "channel"}], one(lambda: L.PReLU(shared_axes=[1, 2]))),
    ("groupnorm", [5, 6, 8], [{"op": "groupnorm", "groups": 4}], one(lambda: L.GroupNormalization(groups=4))),
    (
        "lstm-dropout",
        [5, 3],
        [{"op": "lstm", "units": 8, "dropout": 0.2, "recurrent_dropout": 0.1}],
        one(lambda: L.LSTM(8, dropout=0.2, recurrent_dropout=0.1)),
    ),
    (
        "gru-dropout-sequences",
        [5, 3],
        [{"op": "gru", "units": 6, "dropout": 0.3, "return_sequences": True}],
        one(lambda: L.GRU(6, dropout=0.3, return_sequences=True)),
    ),
    (
        "shared-dense",
        [6, 2],
        [
            {"op": "cropping1d", "cropping": [0, 3], "id": "a"},
            {"op": "cropping1d", "cropping": [3, 0], "in": "input", "id": "b"},
            {"op": "flatten", "in": "a", "id": "fa"},
            {"op": "flatten", "in": "b", "id": "fb"},
            {"op": "dense", "units": 8, "in": "fa", "id": "tower"},
            {"op": "dense", "units": 8, "in": "fb", "shares": "tower", "id": "tower_b"},
            {"op": "add", "in": ["tower", "tower_b"]},
        ],
        shared_dense,
    ),
    (
        "frozen-conv-bn",
        [8, 8, 3],
        [
            {"op": "conv2d", "filters": 4, "kernel": 3, "trainable": False},
            {"op": "batchnorm", "trainable": False},
            {"op": "global_avgpool2d"},
            {"op": "dense", "units": 2},
        ],
        frozen,
    ),
    (
        "seq2seq-initial-state",
        [5, 3],
        [
            {"op": "lstm", "units": 8, "return_state": True, "id": "enc"},
            {"op": "lstm", "units": 8, "return_sequences": True, "in": "input", "initial_state": ["enc.h", "enc.c"]},
        ],
        seq2seq,
    ),
    ("attention-self", [10, 16], [{"op": "attention", "heads": 4}], self_attention(lambda: L.MultiHeadAttention(4, 4))),
    (
        "attention-head-dim-no-bias",
        [4, 12],
        [{"op": "attention", "heads": 2, "head_dim": 8, "bias": False}],
        self_attention(lambda: L.MultiHeadAttention(2, 8, use_bias=False)),
    ),
    (
        "attention-grouped-query",
        [5, 16],
        [{"op": "attention", "heads": 4, "kv_heads": 2}],
        self_attention(lambda: L.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)),
    ),
    (
        "attention-multi-query",
        [5, 16],
        [{"op": "attention", "heads": 4, "kv_heads": 1, "head_dim": 8}],
        self_attention(lambda: L.GroupQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=1)),
    ),
    (
        "attention-cross",
        [6, 16],
        [{"op": "dense", "units": 12, "id": "memory"}, {"op": "attention", "heads": 4, "in": ["input", "memory"]}],
        cross_attention,
    ),
    (
        "attention-pre-ln-causal",
        [6, 16],
        [
            {"op": "layernorm", "id": "ln"},
            {"op": "attention", "heads": 2, "head_dim": 8, "causal": True},
            {"op": "add", "in": ["input", "attention_1"]},
        ],
        pre_ln_block,
    ),
]


def measure(shape, build) -> dict:
    x = keras.Input(shape=tuple(shape))
    model = keras.Model(x, build(x))

    def count(weights):
        return sum(int(w.numpy().size) for w in weights)

    return {
        "params": count(model.weights),
        "trainable": count(model.trainable_weights),
        "non_trainable": count(model.non_trainable_weights),
        "output_shape": list(model.output.shape[1:]),
        "weights": [list(w.shape) for w in model.weights],
    }


def main() -> None:
    cases = [{"id": id_, "input": shape, "layers": layers, "keras": measure(shape, build)}
             for id_, shape, layers, build in CASES]  # fmt: skip
    doc = {"keras": keras.__version__, "backend": keras.backend.backend(), "cases": cases}
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
