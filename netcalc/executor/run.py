"""Run a graph forward and backward with the NumPy kernels and measure every node.

`run(graph, ...)` samples the inputs, builds every node's layer (weights drawn from `seed`), runs
the forward pass in graph order and the backward pass in reverse with the loss
L = Σ over the graph outputs of Σ y·g, g ~ N(0, 1) drawn once per output element (so that dL/dy
has a unit second moment at every output), and records per node: the output shape, the weight
tensors, the multiply-accumulates per sample, and moments of the forward activation and of the
gradient arriving at it. Batches larger than `chunk` run in chunks whose statistics are pooled
(with batch statistics, each chunk's batchnorm normalises over its own samples).

`estimate_memory(graph, batch, dtype)` builds the layers without sampling or running anything and
adds up what a run would hold, for a memory guard.

Random streams, all from `seed`: weights `default_rng(seed)`, dropout masks `[seed, 1]`, inputs
`[seed, 2]`, output gradients `[seed, 3]`.
"""

from __future__ import annotations

from math import prod, sqrt

import numpy as np

from .base import Env, Unrunnable, channel_axis
from .kernels import KERNELS

DEFAULT_CHUNK_BYTES = 2 << 30  # default chunk: what one chunk holds stays near 2 GiB
INT_DTYPES = ("int8", "int32", "int64")


class Moments:
    """Pooled moments of a batch array over chunks: the second moment mean(a²) over everything;
    per channel the mean m_c and variance v_c over the batch and the other axes, summarised as
    mean_c(m_c²) and mean_c(v_c). Sums are taken in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.s1: np.ndarray | None = None
        self.s2: np.ndarray | None = None

    def add(self, a: np.ndarray | None, shape: tuple, n: int, channels_last: bool) -> None:
        """Add a batch of n samples (a None array counts as zeros of `shape`)."""
        rank = len(shape) + 1
        ax = channel_axis(rank, channels_last) if rank > 1 else 0
        c = shape[ax - 1] if rank > 1 else 1
        if self.s1 is None:
            self.s1 = np.zeros(c)
            self.s2 = np.zeros(c)
        self.n += n * prod(shape)
        if a is None or a.size == 0:
            return
        sq = np.square(a) if np.issubdtype(a.dtype, np.floating) else np.square(a.astype(np.float64))
        f64 = np.float64
        if rank == 1:
            self.s1 += a.sum(dtype=f64)
            self.s2 += sq.sum(dtype=f64)
        elif ax == rank - 1:  # channels last: one column per channel
            self.s1 += np.add.reduce(a.reshape(-1, c), axis=0, dtype=f64)
            self.s2 += np.add.reduce(sq.reshape(-1, c), axis=0, dtype=f64)
        else:  # channels first: contiguous rows per sample and channel
            n_ = a.shape[0]
            self.s1 += np.add.reduce(a.reshape(n_ * c, -1), axis=1, dtype=f64).reshape(n_, c).sum(axis=0)
            self.s2 += np.add.reduce(sq.reshape(n_ * c, -1), axis=1, dtype=f64).reshape(n_, c).sum(axis=0)

    def result(self) -> dict:
        if self.s1 is None or self.n == 0:
            return {"second_moment": 0.0, "channel_mean_sq": 0.0, "channel_var": 0.0}
        per = self.n / len(self.s1)
        m = self.s1 / per
        v = np.maximum(self.s2 / per - m * m, 0.0)
        return {
            "second_moment": float(self.s2.sum() / self.n),
            "channel_mean_sq": float(np.mean(m * m)),
            "channel_var": float(np.mean(v)),
        }


class Record:
    """What was measured for one node (or one extra output `NODE.suffix`, or one graph input)."""

    def __init__(self, name: str, op: str, out_shape: tuple, macs: int = 0, tensors: list | None = None,
                 extra_of: str | None = None) -> None:  # fmt: skip
        self.name = name
        self.op = op
        self.out_shape = tuple(out_shape)
        self.macs = macs
        self.tensors = tensors or []  # [{name, shape, count, trainable, kind}]
        self.extra_of = extra_of
        self.fwd = Moments()
        self.bwd = Moments()

    @property
    def params(self) -> int:
        return sum(t["count"] for t in self.tensors if t["kind"] == "param")

    @property
    def trainable(self) -> int:
        return sum(t["count"] for t in self.tensors if t["kind"] == "param" and t["trainable"])

    @property
    def buffers(self) -> int:
        return sum(t["count"] for t in self.tensors if t["kind"] == "buffer")

    @property
    def forward(self) -> dict:
        return self.fwd.result()

    @property
    def backward(self) -> dict:
        return self.bwd.result()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "extra_of": self.extra_of,
            "out_shape": list(self.out_shape),
            "tensors": [{**t, "shape": list(t["shape"])} for t in self.tensors],
            "params": self.params,
            "trainable_params": self.trainable,
            "buffers": self.buffers,
            "macs": self.macs,
            "forward": self.forward,
            "backward": self.backward,
        }


class Measured:
    """The records of a run: `inputs` and `nodes` by name (extra outputs as `NODE.suffix`, in
    `nodes` after their node), in graph order."""

    def __init__(self, graph, batch: int, seed: int, dtype: str, mode: str, chunk: int) -> None:
        self.graph_name = graph.name
        self.convention = graph.convention
        self.batch, self.seed, self.dtype, self.mode, self.chunk = batch, seed, dtype, mode, chunk
        self.inputs: dict[str, Record] = {}
        self.nodes: dict[str, Record] = {}

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.nodes.values())

    @property
    def params(self) -> int:
        return sum(r.params for r in self.nodes.values())

    def to_dict(self) -> dict:
        return {
            "graph": self.graph_name,
            "convention": self.convention,
            "batch": self.batch,
            "seed": self.seed,
            "dtype": self.dtype,
            "mode": self.mode,
            "chunk": self.chunk,
            "params": self.params,
            "macs": self.macs,
            "inputs": [r.to_dict() for r in self.inputs.values()],
            "nodes": [r.to_dict() for r in self.nodes.values()],
        }


# --------------------------------------------------------------------------- building


def _env(graph, dtype, seed: int, mode: str, init_override) -> Env:
    env = Env(graph.convention, graph.channels_last, np.dtype(dtype), np.random.default_rng(seed), mode, init_override)
    env.mask_rng = np.random.default_rng([seed, 1])
    return env


def build_layers(graph, env: Env) -> dict:
    """Every node's layer, built in graph order from the shapes the kernels themselves derive."""
    shapes = {inp.name: tuple(inp.shape) for inp in graph.inputs}
    layers = {}
    for node in graph.nodes:
        kernel = KERNELS.get(node.op)
        if kernel is None:
            raise ValueError(f"executor: no kernel for op {node.op!r} (node {node.name})")
        if any(node.args.get(key) is value for key, value in node.deferred.items()):
            raise ValueError(f"executor: node {node.name} has arguments that read its block's input "
                             "(${in.channels …}): the analysis works them out; analyse the graph first")  # fmt: skip
        missing = [name for name in node.inputs if name not in shapes]
        if missing:
            raise ValueError(f"executor: node {node.name} reads {missing[0]!r}, which has no value")
        owner = layers.get(node.shares) if getattr(node, "shares", None) is not None else None
        if owner is not None:  # `shares:`: built dry (nothing drawn), then given the owner's very arrays
            dry, env.dry = env.dry, True
            try:
                layer = kernel.build(node, [shapes[name] for name in node.inputs], env)
            finally:
                env.dry = dry
            _share(node, layer, owner)
        else:
            layer = kernel.build(node, [shapes[name] for name in node.inputs], env)
        if node.frozen:  # `trainable: false`: every weight it allocated is non-trainable
            layer.trainable = dict.fromkeys(layer.trainable, False)
        if getattr(node, "tie", None) is not None:  # `tie:`: one of its arrays is the owner's (a view)
            _tie(node, layer, layers[node.tie], env.convention)
        layers[node.name] = layer
        shapes[node.name] = tuple(layer.out_shape)
        for suffix, shape in layer.extra_shapes.items():
            shapes[f"{node.name}.{suffix}"] = tuple(shape)
    return layers


def _share(node, layer, owner) -> None:
    """Give `layer` the owner's arrays themselves (not copies), kind "shared": a forward reads them,
    a backward's gradients are added into the owner's tensors by `weight_grads`, and the records
    count them once, at the owner. ValueError when the layer needs arrays the owner lacks."""
    if set(layer.params) != set(owner.params) or any(
        tuple(a.shape) != tuple(owner.params[name].shape) for name, a in layer.params.items()
    ):
        mine = ", ".join(f"{k} {tuple(a.shape)}" for k, a in layer.params.items())
        theirs = ", ".join(f"{k} {tuple(a.shape)}" for k, a in owner.params.items())
        raise ValueError(f"executor: node {node.name} shares {node.shares}'s weights ({theirs}) but needs {mine}")
    for name in layer.params:
        layer.params[name] = owner.params[name]
        layer.kinds[name] = "shared"
        layer.trainable[name] = owner.trainable[name]


def _tie(node, layer, owner, convention: str) -> None:
    """`tie:`: the layer's array at the rule's index becomes the owner's array at its index (a view,
    its transpose where the rule says so for this convention: a Keras Dense kernel (in, units) of an
    Embedding's (vocab, dim) table), kind "tied", trainable as the owner's; `layer.tied` records
    whose it is for `weight_grads`. ValueError when the shapes differ."""
    rule = node.tie_rule
    mine, theirs = list(layer.params)[rule.mine], list(owner.params)[rule.theirs]
    transposed = convention in rule.transposed
    array = owner.params[theirs].T if transposed else owner.params[theirs]
    if tuple(array.shape) != tuple(layer.params[mine].shape):
        raise ValueError(f"executor: node {node.name} ties {mine} {tuple(layer.params[mine].shape)} to "
                         f"{node.tie}'s {theirs} {tuple(owner.params[theirs].shape)}")  # fmt: skip
    layer.params[mine] = array
    layer.kinds[mine] = "tied"
    layer.trainable[mine] = owner.trainable[theirs]
    layer.tied = {mine: (node.tie, theirs, transposed)}


def weight_grads(graph, layers: dict) -> dict:
    """The gradient of the loss with respect to each weight array after a backward pass, by
    (owning node, tensor name): a layer's own `grads`, with those of every layer sharing its arrays
    (`shares:`) added, as a framework accumulates a reused module's gradients into its tensors; a
    tied array's (`tie:`) is added into the owner's tensor (transposed back where it is a transpose)."""
    out: dict = {}
    for node in graph.nodes:
        layer = layers[node.name]
        owner = getattr(node, "shares", None) or node.name
        for name, g in layer.grads.items():
            key = (owner, name)
            out[key] = g.copy() if key not in out else out[key] + g
    for node in graph.nodes:  # then every use of a tied array (its sharers' included) goes to its owner
        for mine, (owner, theirs, transposed) in layers[node.name].tied.items():
            if (node.name, mine) in out:
                g = out.pop((node.name, mine))
                g = g.T if transposed else g
                out[(owner, theirs)] = g.copy() if (owner, theirs) not in out else out[(owner, theirs)] + g
    return out


def _tensors(layer) -> list:
    out = []
    for name, a in layer.params.items():
        trainable, kind = bool(layer.trainable[name]), layer.kinds[name]
        out.append({"name": name, "shape": tuple(a.shape), "count": int(a.size), "trainable": trainable, "kind": kind})
    return out


def footprint(graph, dtype="float32") -> tuple[int, int]:
    """(bytes per sample, fixed bytes) of a run; see `estimate_memory`."""
    env = _env(graph, dtype, 0, "train", None)
    env.dry = True
    layers = build_layers(graph, env)
    size = env.dtype.itemsize
    acts = sum(prod(inp.shape) for inp in graph.inputs)
    for layer in layers.values():
        acts += prod(layer.out_shape) + sum(prod(s) for s in layer.extra_shapes.values())
    weights = sum(a.size for layer in layers.values() for k, a in layer.params.items()
                  if layer.kinds[k] not in ("shared", "tied"))  # fmt: skip
    from .windows import BLOCK_BYTES

    columns = max([BLOCK_BYTES] + [layer.scratch * size for layer in layers.values()])
    return ACTS_FACTOR * acts * size, 2 * weights * size + 2 * columns


ACTS_FACTOR = 3  # bytes held per byte of activations: measured 2.4–2.9 (benchmarks/memory.py)


def estimate_memory(graph, batch: int, dtype="float32") -> int:
    """Bytes a run of `batch` samples would hold, roughly: the inputs and every output (kept for
    the backward pass), what the layers cache (normalised values, masks, indices) and the gradients
    in flight, ACTS_FACTOR times the activations in all; plus the weights and their gradients; plus
    a column matrix and its gradient (a block of samples holds at most BLOCK_BYTES of columns, but
    one sample's may be larger). Built dry: no weight is sampled and nothing runs."""
    per_sample, fixed = footprint(graph, dtype)
    return int(per_sample * batch + fixed)


# --------------------------------------------------------------------------- inputs


def _embedding_vocab(graph, name: str) -> int | None:
    """The smallest vocabulary of the embeddings reading graph input `name`, or None if none reads it."""
    vocabs = [n.args["vocab"] for n in graph.nodes if n.op == "embedding" and n.inputs and n.inputs[0] == name]
    return min(vocabs) if vocabs else None


def sample_input(inp, n: int, rng: np.random.Generator, dtype, channels_last: bool,
                 vocab: int | None = None) -> np.ndarray:  # fmt: skip
    """A batch for one graph input, from its stats: integer dtypes → token ids uniform in
    [0, vocab) (0 or 1, as floats of the run's dtype, when no embedding reads it); an input of a float dtype that an embedding
    reads (W202) → the same ids as floats, as Keras's Embedding casts them (PyTorch's refuses
    floats: the warning says so); else mean/std (std a number or one per channel) → normal; range [lo, hi] (and no
    mean/std) → uniform; nothing → N(0, 1). 'correlation' ρ: the noise is made an AR(1) process
    along each spatial axis (neighbours correlated by ρ, the variance kept)."""
    shape = (n, *inp.shape)
    if inp.dtype in INT_DTYPES and vocab is None:  # integers that no embedding reads: a conv or dense
        return rng.integers(0, 2, size=shape).astype(dtype)  # computes in floats (Keras casts them)
    if inp.dtype in INT_DTYPES:
        return rng.integers(0, vocab, size=shape, dtype=np.int64)
    if vocab is not None:
        return rng.integers(0, vocab, size=shape).astype(dtype)
    st = inp.stats or {}
    rank = len(shape)
    ax = channel_axis(rank, channels_last) if rank > 1 else 0
    if ("mean" in st or "std" in st) or "range" not in st:
        z = rng.standard_normal(shape)
        uniform = None
    else:
        lo, hi = st["range"]
        z = rng.uniform(-sqrt(3.0), sqrt(3.0), size=shape)  # unit variance, then scaled
        uniform = (lo, hi)
    rho = st.get("correlation")
    if rho:
        spatial = [i for i in range(1, rank) if i != ax] if rank > 2 else []
        for axis in spatial:
            z = np.moveaxis(z, axis, 0)
            for t in range(1, z.shape[0]):
                z[t] = rho * z[t - 1] + sqrt(1 - rho * rho) * z[t]
            z = np.moveaxis(z, 0, axis)
    if uniform is not None:
        lo, hi = uniform
        x = (lo + hi) / 2 + z * (hi - lo) / (2 * sqrt(3.0))
    else:
        mean, std = st.get("mean", 0.0), st.get("std", 1.0)
        bshape = [1] * rank
        if np.ndim(mean) or np.ndim(std):
            bshape[ax] = shape[ax]
        x = np.reshape(mean, bshape if np.ndim(mean) else ()) + z * np.reshape(std, bshape if np.ndim(std) else ())
    return np.ascontiguousarray(x, dtype=dtype)


# --------------------------------------------------------------------------- the run


def default_chunk(graph, batch: int, dtype) -> int:
    """Chunks whose share of `estimate_memory` stays within DEFAULT_CHUNK_BYTES (at least 1 sample),
    of equal sizes (8 in chunks of at most 6 → 4 + 4: batch statistics over as many samples each)."""
    per_sample = max(1, footprint(graph, dtype)[0])
    most = max(1, min(batch, DEFAULT_CHUNK_BYTES // per_sample))
    pieces = -(-batch // most)
    return -(-batch // pieces)


def run(graph, *, batch: int = 8, seed: int = 0, dtype="float64", mode: str = "train", chunk: int | None = None,
        init_override=None, on_progress=None) -> Measured:  # fmt: skip
    """Forward and backward over `batch` samples; see the module docstring."""
    dtype = np.dtype(dtype)
    env = _env(graph, dtype, seed, mode, init_override)
    layers = build_layers(graph, env)
    if chunk is None:
        chunk = default_chunk(graph, batch, dtype)
    chunk = max(1, min(chunk, batch))
    m = Measured(graph, batch, seed, dtype.name, mode, chunk)
    cl = graph.channels_last
    for inp in graph.inputs:
        m.inputs[inp.name] = Record(inp.name, "input", inp.shape)
    for node in graph.nodes:
        layer = layers[node.name]
        m.nodes[node.name] = Record(node.name, node.op, layer.out_shape, layer.macs, _tensors(layer))
        for suffix, shape in layer.extra_shapes.items():
            key = f"{node.name}.{suffix}"
            m.nodes[key] = Record(key, node.op, shape, extra_of=node.name)
    in_rng = np.random.default_rng([seed, 2])
    g_rng = np.random.default_rng([seed, 3])
    vocab = {inp.name: _embedding_vocab(graph, inp.name) for inp in graph.inputs}
    outputs = list(dict.fromkeys(graph.outputs))
    chunks = list(range(0, batch, chunk))
    total = len(chunks) * 2 * len(graph.nodes)
    done = 0
    for start in chunks:
        n = min(chunk, batch - start)
        values: dict = {}
        for inp in graph.inputs:
            x = sample_input(inp, n, in_rng, dtype, cl, vocab[inp.name])
            values[inp.name] = x
            m.inputs[inp.name].fwd.add(x, inp.shape, n, cl)
        for node in graph.nodes:
            layer = layers[node.name]
            layer.batch = n  # what a source (a free parameter) broadcasts its array to
            try:
                y, extras = layer.forward([values[name] for name in node.inputs])
            except Unrunnable as exc:
                exc.node = node
                raise
            values[node.name] = y
            m.nodes[node.name].fwd.add(y, layer.out_shape, n, cl)
            for suffix, e in extras.items():
                key = f"{node.name}.{suffix}"
                values[key] = e
                if key in m.nodes:
                    m.nodes[key].fwd.add(e, m.nodes[key].out_shape, n, cl)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
        grads: dict = {}
        for name in outputs:
            grads[name] = g_rng.standard_normal(values[name].shape).astype(dtype, copy=False)
        for node in reversed(graph.nodes):
            layer = layers[node.name]
            dy = grads.pop(node.name, None)
            dextras = {}
            for suffix, shape in layer.extra_shapes.items():
                key = f"{node.name}.{suffix}"
                d = grads.pop(key, None)
                m.nodes[key].bwd.add(d, shape, n, cl)
                if d is not None:
                    dextras[suffix] = d
            m.nodes[node.name].bwd.add(dy, layer.out_shape, n, cl)
            if dy is not None or dextras:
                if dy is None:
                    dy = np.zeros_like(values[node.name])
                dxs = layer.backward(dy, dextras)
                for name, dx in zip(node.inputs, dxs, strict=False):
                    if dx is None or not np.issubdtype(values[name].dtype, np.floating):
                        continue
                    grads[name] = dx if name not in grads else grads[name] + dx
            values.pop(node.name, None)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
        for inp in graph.inputs:
            m.inputs[inp.name].bwd.add(grads.get(inp.name), inp.shape, n, cl)
        del values, grads
    for node in graph.nodes:  # a layer's MACs are those of its last forward pass
        m.nodes[node.name].macs = int(layers[node.name].macs)
    return m
