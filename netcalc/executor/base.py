"""The kernel interface every executor layer follows (NumPy only).

A `Kernel` is registered per op name (the canonical op of `netcalc.graph.Node.op`). For each
node the runner calls `kernel.build(node, in_shapes, env)`, which returns a `Layer`: an object
holding the node's weight arrays (sampled by `weights.sample`) and its output shapes, with
`forward` and `backward` methods. Shapes never include the batch; arrays always have the batch
first: (N, *shape), with the spec's layout for the rest (channels first or last, (T, F) sequences).
"""

from __future__ import annotations

import numpy as np


class Env:
    """What a kernel may know besides the node: the framework convention, the layout, the dtype,
    the random generator for weights, and train/eval mode (dropout masks, batch statistics)."""

    def __init__(self, convention: str = "pytorch", channels_last: bool = False, dtype=np.float64,
                 rng: np.random.Generator | None = None, mode: str = "train", init_override=None) -> None:  # fmt: skip
        self.convention = convention  # "pytorch" | "keras"
        self.channels_last = channels_last
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.mode = mode  # "train" | "eval"
        self.init_override = init_override  # an InitSpec replacing every weight kernel's init, or None
        # (additions) a generator for what is random in the forward pass itself (dropout masks), kept
        # apart from the weights' so that a mask never shifts the weights drawn after it; and `dry`:
        # build shapes only (weights as lazily allocated zeros, nothing sampled), for memory estimates
        self.mask_rng = np.random.default_rng(1)
        self.dry = False

    @property
    def keras(self) -> bool:
        return self.convention == "keras"


class Unrunnable(ValueError):
    """A network the executor cannot run as written (an embedding fed values that are not token
    ids): the reason, and after `run` the node it happened at (`node`)."""

    node = None


class Layer:
    """One built node.

    params: name -> array, named as the framework names them (PyTorch `weight`, `bias`,
        `weight_ih_l0`...; Keras `kernel`, `bias`, `recurrent_kernel`, `gamma`, `moving_mean`...),
        in the framework's layout (PyTorch conv (out, in/groups, kh, kw); Keras (kh, kw, in, out)).
    kinds: name -> "param" | "buffer" (PyTorch BN running statistics are buffers);
    trainable: name -> bool (Keras BN moving statistics are non-trainable params).
    out_shape: the main output's shape without the batch; extra_shapes: suffix -> shape for the
        extra outputs (a recurrent layer's final states 'h', 'c', ...).
    macs: multiply-accumulates per sample of the last forward, counted from the shapes of the
        products actually computed (bias adds excluded; padded positions of a conv included).
    grads: name -> gradient of the loss with respect to each param, set by `backward`.
    scratch: elements per sample of the largest work array a pass allocates beside its output (a
        convolution's column matrix); the runner's memory estimate reads it.
    batch: the samples in the pass being run, set by the runner before each forward: a source that
        reads no input (a free parameter) gives its output that many times.
    tied: the arrays that are another layer's (`tie:`), set by the runner: whose, and transposed or not.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.kinds: dict[str, str] = {}
        self.trainable: dict[str, bool] = {}
        self.out_shape: tuple = ()
        self.extra_shapes: dict[str, tuple] = {}
        self.macs = 0
        self.grads: dict[str, np.ndarray] = {}
        self.scratch = 0
        self.batch = 1
        self.tied: dict = {}  # `tie:` (set by the runner): name -> (owner node, its tensor, stored transposed)

    def add(self, name: str, array: np.ndarray, trainable: bool = True, kind: str = "param") -> np.ndarray:
        self.params[name] = array
        self.trainable[name] = trainable
        self.kinds[name] = kind
        return array

    def forward(self, xs: list[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The main output and the extra outputs by suffix; keeps what backward needs."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray, dextras: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Gradients with respect to each input (same order as forward's xs); a missing entry of
        dextras means no gradient flows into that extra output. Sets self.grads."""
        raise NotImplementedError


class Kernel:
    ops: tuple[str, ...] = ()

    def build(self, node, in_shapes: list[tuple], env: Env) -> Layer:
        raise NotImplementedError


# --------------------------------------------------------------------------- additions: helpers


def draw(spec, shape, role: str, env: Env, *, kernel: bool = False, **kw) -> np.ndarray:
    """A weight array of `shape` sampled by `weights.sample`; `kernel` marks a weight kernel, whose
    initialiser `env.init_override` replaces. In a dry build, a placeholder of that shape that
    holds one element (weights.placeholder)."""
    shape = tuple(int(d) for d in shape)
    from .weights import placeholder, sample

    if env.dry:
        return placeholder(shape, env.dtype)

    if kernel and env.init_override is not None:
        spec = env.init_override
    return sample(spec, shape, role, env, **kw)


def channel_axis(rank: int, channels_last: bool) -> int:
    """The channel (feature) axis of a batched array of `rank` axes (batch included): 1 for channels
    first (or a batch of vectors), the last for channels last."""
    return rank - 1 if channels_last or rank <= 2 else 1


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes along which an array of `shape` was broadcast (same rank)."""
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape, strict=True)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g
