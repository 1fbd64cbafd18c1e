"""The layer registry: one explicit table from op name to its definition.

Adding a layer type means one class in one of these modules and one line here (plus its
executor kernel and an example spec, when those exist).
"""

from __future__ import annotations

from .adaptive import AdaptivePool
from .attention import Attention
from .base import LayerType
from .conv import Conv
from .conv_transpose import ConvTranspose
from .dense import Dense
from .elementwise import Dropout, PReLU, activation_types
from .merge import merge_types
from .norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from .padding import padding_types
from .parameter import Parameter
from .pool import GlobalPool, Pool
from .recurrent import recurrent_types
from .reshape import Flatten, Permute, RepeatVector, Reshape, Upsample
from .unpool import MaxUnpool

LAYER_TYPES: list[LayerType] = [
    Conv(1),
    Conv(2),
    Conv(3),
    ConvTranspose(1),
    ConvTranspose(2),
    ConvTranspose(3),
    Pool("max", 1),
    Pool("max", 2),
    Pool("max", 3),
    Pool("avg", 1),
    Pool("avg", 2),
    Pool("avg", 3),
    GlobalPool("avg", 1),
    GlobalPool("avg", 2),
    GlobalPool("avg", 3),
    GlobalPool("max", 1),
    GlobalPool("max", 2),
    GlobalPool("max", 3),
    AdaptivePool("avg", 1),
    AdaptivePool("avg", 2),
    AdaptivePool("avg", 3),
    AdaptivePool("max", 1),
    AdaptivePool("max", 2),
    AdaptivePool("max", 3),
    MaxUnpool(),
    Dense(),
    *activation_types(),
    PReLU(),
    Dropout(),
    BatchNorm(),
    LayerNorm(),
    GroupNorm(),
    InstanceNorm(),
    Flatten(),
    Reshape(),
    *padding_types(),
    Permute(),
    RepeatVector(),
    Upsample(1),
    Upsample(2),
    *recurrent_types(),
    *merge_types(),
    Parameter(),
    Attention(),
]

REGISTRY: dict[str, LayerType] = {t.op: t for t in LAYER_TYPES}
ALIASES: dict[str, str] = {alias: t.op for t in LAYER_TYPES for alias in t.aliases}
# the layer types `activation:` may name (the `activation` trait), in the table's order
ACTIVATION_NAMES: tuple[str, ...] = tuple(t.op for t in LAYER_TYPES if t.activation)

__all__ = ["ACTIVATION_NAMES", "ALIASES", "LAYER_TYPES", "REGISTRY", "LayerType"]
