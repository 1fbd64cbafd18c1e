"""The executor's kernel table: op name -> Kernel, one explicit entry per op, each kernel declaring
what it needs beyond the node's arguments (its dimensionality, max or average) where it is
registered: no kernel reads it from the op's name.

The recurrent kernels (embedding, rnn, lstm, gru) live in `recurrent.py`, whose table is merged in;
a module that fails to import fails the executor (never a silently missing kernel).
"""

from __future__ import annotations

from .base import Kernel
from .k_attention import AttentionKernel
from .k_basic import (
    ActKernel,
    BatchNormKernel,
    DenseKernel,
    DropoutKernel,
    LayerNormKernel,
    MergeKernel,
    ReshapeKernel,
    UpsampleKernel,
)
from .k_conv import ConvKernel, ConvTransposeKernel
from .k_moves import PermuteKernel, RepeatVectorKernel
from .k_norm import GroupNormKernel, InstanceNormKernel
from .k_pad import CopyPadKernel, CropKernel, ZeroPadKernel
from .k_param import ParameterKernel
from .k_pool import AdaptivePoolKernel, GlobalPoolKernel, MaxUnpoolKernel, PoolKernel
from .k_prelu import PReLUKernel
from .k_shortcut import ShortcutKernel
from .recurrent import RECURRENT_KERNELS

_act = ActKernel()
_reshape = ReshapeKernel()
_pad = ZeroPadKernel()
_reflect = CopyPadKernel("reflect")
_replicate = CopyPadKernel("edge")
_crop = CropKernel()
_up = UpsampleKernel()
_merge = MergeKernel()

KERNELS: dict[str, Kernel] = {
    "conv1d": ConvKernel(nd=1),
    "conv2d": ConvKernel(nd=2),
    # Keras has no DepthwiseConv3D: a depthwise 3-D convolution is Conv3D(groups=C_in), kernel (*k, 1, C_out)
    "conv3d": ConvKernel(nd=3, keras_depthwise_layout=False),
    "conv1d_transpose": ConvTransposeKernel(nd=1),
    "conv2d_transpose": ConvTransposeKernel(nd=2),
    "conv3d_transpose": ConvTransposeKernel(nd=3),
    "maxpool1d": PoolKernel("max", nd=1),
    "maxpool2d": PoolKernel("max", nd=2),
    "maxpool3d": PoolKernel("max", nd=3),
    "avgpool1d": PoolKernel("avg", nd=1),
    "avgpool2d": PoolKernel("avg", nd=2),
    "avgpool3d": PoolKernel("avg", nd=3),
    "global_avgpool1d": GlobalPoolKernel("avg"),
    "global_avgpool2d": GlobalPoolKernel("avg"),
    "global_avgpool3d": GlobalPoolKernel("avg"),
    "global_maxpool1d": GlobalPoolKernel("max"),
    "global_maxpool2d": GlobalPoolKernel("max"),
    "global_maxpool3d": GlobalPoolKernel("max"),
    "adaptive_avgpool1d": AdaptivePoolKernel("avg"),
    "adaptive_avgpool2d": AdaptivePoolKernel("avg"),
    "adaptive_avgpool3d": AdaptivePoolKernel("avg"),
    "adaptive_maxpool1d": AdaptivePoolKernel("max"),
    "adaptive_maxpool2d": AdaptivePoolKernel("max"),
    "adaptive_maxpool3d": AdaptivePoolKernel("max"),
    "maxunpool2d": MaxUnpoolKernel(),
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
    "prelu": PReLUKernel(),
    "dropout": DropoutKernel(),
    "batchnorm": BatchNormKernel(),
    "layernorm": LayerNormKernel(),
    "groupnorm": GroupNormKernel(),
    "instancenorm": InstanceNormKernel(),
    "flatten": _reshape,
    "reshape": _reshape,
    "permute": PermuteKernel(),
    "repeat_vector": RepeatVectorKernel(),
    "zeropad1d": _pad,
    "zeropad2d": _pad,
    "reflectionpad1d": _reflect,
    "reflectionpad2d": _reflect,
    "replicationpad1d": _replicate,
    "replicationpad2d": _replicate,
    "cropping1d": _crop,
    "cropping2d": _crop,
    "upsample1d": _up,
    "upsample2d": _up,
    "add": _merge,
    "multiply": _merge,
    "concat": _merge,
    "shortcut": ShortcutKernel(),
    "parameter": ParameterKernel(),
    "attention": AttentionKernel(),
}

KERNELS.update(RECURRENT_KERNELS)
