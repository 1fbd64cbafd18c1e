"""Activations (as layers, and behind the `activation:` shorthand) and dropout.

FLOPs convention for activations: 1 per element for each elementwise function (ReLU, ReLU6, leaky
ReLU, ELU, GELU, SELU, sigmoid, tanh: one evaluation each, as Netscope counts activations),
0 for identity, and 3 per element for softmax (exponential, sum, divide).
"""

from __future__ import annotations

from math import prod

from ..schema import Arg, Choice, Float, Int
from .base import Geometry, LayerType


class Activation(LayerType):
    """An elementwise nonlinearity: the shape is kept and there are no parameters."""

    category = "activation"
    per_element = 1

    def __init__(
        self, op: str, summary: str, args: dict | None = None, per_element: int = 1, aliases: tuple = ()
    ) -> None:
        self.op = op
        self.summary = summary
        self.args = args or {}
        self.per_element = per_element
        self.aliases = aliases

    def resolve(self, a, shapes, ctx):
        """Elementwise: any shape."""
        g = Geometry(shape=shapes[0])
        if self.op == "leaky_relu":
            # PyTorch LeakyReLU: 0.01; Keras LeakyReLU: 0.3
            slope = a.get("negative_slope")
            g["negative_slope"] = slope if slope is not None else (0.3 if ctx.keras else 0.01)
        if self.op == "softmax":
            axis = a.get("axis", -1)
            if not -len(shapes[0]) <= axis < len(shapes[0]):
                ctx.error("E202", f"softmax axis {axis} is outside an input of {len(shapes[0])} axes", "axis")
                return None
        return g

    def flops(self, g):
        """per_element × elements (1 for most, 0 for identity, 3 for softmax)."""
        return self.per_element * prod(g.shape)


def activation_types() -> list[LayerType]:
    slope = Float(0.0)
    return [
        Activation("relu", "rectified linear unit max(0, x)"),
        Activation("relu6", "ReLU clipped at 6, min(max(0, x), 6) (MobileNets)"),
        Activation(
            "leaky_relu",
            "leaky ReLU: x, or slope·x below 0",
            {"negative_slope": Arg(slope, None, "slope below 0 (PyTorch 0.01, Keras 0.3)")},
        ),
        Activation("elu", "exponential linear unit", {"alpha": Arg(Float(0.0), 1.0, "saturation value −α")}),
        Activation(
            "gelu",
            "Gaussian error linear unit",
            {"approximate": Arg(Choice(("none", "tanh")), "none", "the tanh approximation or exact")},
        ),
        Activation("selu", "scaled ELU (self-normalising)"),
        Activation("sigmoid", "logistic sigmoid 1/(1 + e^−x)"),
        Activation("tanh", "hyperbolic tangent"),
        Activation(
            "softmax", "softmax along an axis", {"axis": Arg(Int(), -1, "the axis that sums to 1")}, per_element=3
        ),
        Activation("identity", "no-op (Keras 'linear')", per_element=0, aliases=("linear_activation",)),
    ]


ACTIVATION_NAMES = ("relu", "relu6", "leaky_relu", "elu", "gelu", "selu", "sigmoid", "tanh", "softmax", "identity")
# words users write in `activation:` that mean one of the above
ACTIVATION_ALIASES = {"linear": "identity"}


class Dropout(LayerType):
    """Inverted dropout: zeroes a fraction `rate` of elements in training and scales the rest by
    1/(1 − rate); the identity at inference, so 0 FLOPs in the inference count."""

    op = "dropout"
    category = "regularisation"
    summary = "dropout (identity at inference)"
    args = {"rate": Arg(Float(0.0, 1.0, max_exclusive=True), 0.5, "fraction dropped in training")}
