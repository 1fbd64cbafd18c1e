"""Measure Keras's own ResNet50 layer by layer: what tests/keras_measured/resnet50.json records, the
independent figures tests/test_keras_resnet50.py checks specs/keras-resnet50.yaml against.

Keras is not a test dependency: run this in a separate environment (Keras 3 on the torch backend),

    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras torch
    KERAS_BACKEND=torch /tmp/kvenv/bin/python tests/keras_measured/measure.py > tests/keras_measured/resnet50.json

It builds keras.applications.ResNet50(weights=None) (no download) and writes, for every layer, its
name, class, count_params() and output shape without the batch, and the model's totals.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras


def main() -> None:
    model = keras.applications.ResNet50(weights=None)
    layers = [
        {"name": layer.name, "class": type(layer).__name__, "params": layer.count_params(),
         "output_shape": list(layer.output.shape[1:])}
        for layer in model.layers
    ]  # fmt: skip
    doc = {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "model": "keras.applications.ResNet50(weights=None)",
        "total": model.count_params(),
        "trainable": sum(int(keras.ops.size(w)) for w in model.trainable_weights),
        "non_trainable": sum(int(keras.ops.size(w)) for w in model.non_trainable_weights),
        "layers": layers,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
