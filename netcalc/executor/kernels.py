"""The executor's kernel table: op name -> Kernel, one explicit entry per op.

The recurrent kernels (embedding, rnn, lstm, gru) live in `recurrent.py`, whose table is merged in;
a module that fails to import fails the executor (never a silently missing kernel).
"""

from __future__ import annotations

from .base import Kernel
from .k_basic import (
    ActKernel,
    BatchNormKernel,
    DenseKernel,
    DropoutKernel,
    LayerNormKernel,
    MergeKernel,
    ReshapeKernel,
    UpsampleKernel,
    ZeroPadKernel,
)
from .k_conv import ConvKernel, ConvTransposeKernel, ShortcutKernel
from .k_pool import GlobalPoolKernel, PoolKernel
from .recurrent import RECURRENT_KERNELS

_conv = ConvKernel()
_pool = PoolKernel()
_global = GlobalPoolKernel()
_act = ActKernel()
_reshape = ReshapeKernel()
_pad = ZeroPadKernel()
_up = UpsampleKernel()
_merge = MergeKernel()

KERNELS: dict[str, Kernel] = {
    "conv1d": _conv,
    "conv2d": _conv,
    "conv2d_transpose": ConvTransposeKernel(),
    "maxpool1d": _pool,
    "maxpool2d": _pool,
    "avgpool1d": _pool,
    "avgpool2d": _pool,
    "global_avgpool1d": _global,
    "global_avgpool2d": _global,
    "global_maxpool1d": _global,
    "global_maxpool2d": _global,
    "dense": DenseKernel(),
    "relu": _act,
    "relu6": _act,
    "leaky_relu": _act,
    "elu": _act,
    "gelu": _act,
    "selu": _act,
    "sigmoid": _act,
    "tanh": _act,
    "softmax": _act,
    "identity": _act,
    "dropout": DropoutKernel(),
    "batchnorm": BatchNormKernel(),
    "layernorm": LayerNormKernel(),
    "flatten": _reshape,
    "reshape": _reshape,
    "zeropad1d": _pad,
    "zeropad2d": _pad,
    "upsample1d": _up,
    "upsample2d": _up,
    "add": _merge,
    "multiply": _merge,
    "concat": _merge,
    "shortcut": ShortcutKernel(),
}

KERNELS.update(RECURRENT_KERNELS)
