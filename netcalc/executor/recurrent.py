"""Executor kernels for the sequence layers: embedding, rnn (tanh), lstm, gru; forward and full
backpropagation through time, in NumPy only.

Written from the frameworks' definitions, not from netcalc.layers: every figure (tensor names and
shapes, output shapes, MACs) follows from the arrays created and the products computed here.

Arrays are batch first, (N, T, F), whatever the spec's layout; shapes given to `build` exclude the
batch. The initial states are zeros unless the node reads them after its sequence (`initial_state`),
in the layout return_state gives them: Keras h (and c), (N, u) each, per direction, the forward
layer's first (one stacked layer only); PyTorch h_0 (and c_0), (N, num_layers·D, u), row k·D + d
for layer k, direction d. The backward pass returns the gradient at each of them.

Dropout, in train mode only (masks from the environment's mask generator, each kept = 1/(1 − rate),
dropped = 0): Keras `dropout` masks the input of each stacked layer and direction and
`recurrent_dropout` the state its recurrent product reads, one mask per sequence (the same at every
step), and with recurrent_dropout one per gate block (Keras then runs implementation 1); PyTorch
`dropout` masks the outputs of every stacked layer but the last, a fresh draw per element (nn.LSTM's
dropout between layers), and has no recurrent_dropout.

Weights, as the frameworks store them (gates fused along the gate axis):

    PyTorch  weight_ih_l{k}[_reverse] (n·u, n_in), weight_hh_l{k}[_reverse] (n·u, u),
             bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] (n·u each)
    Keras    [forward/|backward/][layer{k+1}/]kernel (n_in, n·u), .../recurrent_kernel (u, n·u),
             .../bias (n·u), or (2, n·u) for a GRU with reset_after (row 0 input, row 1 recurrent)

with n = 1 (rnn), 4 (lstm: i, f, g, o in PyTorch = i, f, c, o in Keras), 3 (gru: r, z, n in
PyTorch; z, r, h in Keras). The products are computed in the Keras orientation, x·W with
W (n_in, n·u): the PyTorch arrays are used through their transposes (views), so that the gate
blocks keep the framework's order and a gradient lands in the framework's layout.

Equations (σ the logistic sigmoid, ⊙ elementwise, a = x·W_x + b_x + h·W_h + b_h):

    rnn   h' = tanh(a)
    lstm  i, f, o = σ(a_i), σ(a_f), σ(a_o); g = tanh(a_g); c' = f⊙c + i⊙g; h' = o⊙tanh(c')
    gru   r, z = σ(a_r), σ(a_z); n = tanh(x·W_xn + b_xn + r⊙(h·W_hn + b_hn)); h' = (1 − z)⊙n + z⊙h
          (PyTorch, and Keras with reset_after: true); Keras reset_after: false has one bias (on
          the input side) and n = tanh(x·W_xn + b_xn + (r⊙h)·W_hn)

Keras LSTM and simple RNN have one bias vector (b_h absent); PyTorch always has two when bias.

Outputs. Stacked layers (num_layers) each read the previous layer's directions concatenated,
(T, D·u). The main output merges the two directions of the last layer (concat, sum, mul, ave):
with return_sequences the whole sequence (the backward direction realigned with time), else
  PyTorch: the last time step of that sequence, output[:, -1] (so the backward half is the
           backward direction's output at t = T−1, its first step — what nn.LSTM returns there);
  Keras:   each direction's final state (the backward one after reading the whole sequence
           backwards, i.e. its output at t = 0), as keras.layers.Bidirectional returns.
return_state adds the final states: PyTorch 'h' (and 'c') of shape (N, num_layers·D, u), the
batch first, row k·D + d for layer k, direction d (h_n, c_n moved batch first); Keras 'h' (and
'c') of shape (N, u), or per direction h_forward, c_forward, h_backward, c_backward, of the last
stacked layer.

MACs per sample: the input projection is one product (N·T, n_in)·(n_in, n·u) per layer and
direction, the recurrent one (N, u)·(u, n·u) per step (also at the first step, on the zero
state: it is computed); Keras GRU reset_after: false does (N, u)·(u, 2u) for z, r and
(N, u)·(u, u) on r⊙h for the candidate. Each product m×k by k×n counts m·k·n, divided by N.

Initialisers (`weights.sample`): `init` for the input kernel (replaced by env.init_override when
given), `recurrent_init` for the recurrent kernel, `bias_init` for the biases; the name 'default'
is the framework's default: PyTorch U(±1/√u) for every tensor (units=u), Keras glorot_uniform,
orthogonal, zeros, with an LSTM's forget slice of the bias set to 1 (unit_forget_bias) when the
bias initialiser is the default. Fans are those of the fused arrays, as the frameworks compute
them when an initialiser is applied to the whole tensor.

The cells (one direction of one stacked layer over the sequence) are in cells.py.

Embedding: integer ids of any shape → (*shape, dim) by lookup (no MACs). Its backward returns
None for the ids (integers have no gradient) and accumulates the rows of the table's gradient.
"""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer, Unrunnable
from .cells import _Counter, _GRUBeforeCell, _GRUCell, _LSTMCell, _RNNCell
from .weights import sample

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
STATES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}


# --------------------------------------------------------------------------- layers


def _merge(mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) / 2  # ave


def _merge_back(mode: str, a: np.ndarray, b: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if mode == "concat":
        u = a.shape[-1]
        return dy[..., :u], dy[..., u:]
    if mode == "sum":
        return dy, dy
    if mode == "mul":
        return dy * b, dy * a
    return dy / 2, dy / 2  # ave


class RecurrentLayer(Layer):
    """One rnn / lstm / gru node: num_layers × directions cells (module docstring)."""

    def __init__(self, cell: str, args: dict, in_shapes: list, env: Env) -> None:
        super().__init__()
        in_shape = tuple(in_shapes[0])
        if len(in_shape) != 2:
            raise ValueError(f"{cell} takes a sequence (steps, features), got shape {in_shape}")
        self.cell = cell
        self.keras = env.keras
        self.dtype = env.dtype
        u = self.units = int(args["units"])
        self.sequences = bool(args.get("return_sequences", False))
        self.state = bool(args.get("return_state", False))
        self.bias = bool(args.get("bias", True))
        self.dirs = 2 if args.get("bidirectional", False) else 1
        self.merge = args.get("merge_mode", "concat") if self.dirs == 2 else "concat"
        self.layers = int(args.get("num_layers", 1))
        self.reset_after = bool(args.get("reset_after", True)) if cell == "gru" else True
        if cell == "gru" and not self.reset_after and not self.keras:
            raise ValueError("reset_after: false is Keras-only; PyTorch's GRU applies the reset after")
        self.p_x = float(args.get("dropout") or 0.0)
        self.p_h = float(args.get("recurrent_dropout") or 0.0)
        if self.p_h and not self.keras:
            raise ValueError("recurrent_dropout is Keras-only; PyTorch's dropout acts between stacked layers")
        masked = (self.p_x or self.p_h) if self.keras else (self.p_x and self.layers > 1)
        if env.mode == "train" and masked:
            self.rng = env.mask_rng  # the masks' generator, only where masks are drawn (a test reseeds it)
        self._check_states([tuple(s) for s in in_shapes[1:]])
        steps, features = in_shape
        n = GATES[cell]
        width = u * (self.dirs if self.merge == "concat" else 1)
        self.out_shape = (steps, width) if self.sequences else (width,)
        if self.state:
            if self.keras:
                names = (
                    [f"{s}_{d}" for d in ("forward", "backward") for s in STATES[cell]]
                    if self.dirs == 2
                    else list(STATES[cell])
                )
                self.extra_shapes = {name: (u,) for name in names}
            else:
                self.extra_shapes = {s: (self.layers * self.dirs, u) for s in STATES[cell]}
        if cell == "rnn":
            self._cell = _RNNCell(u)
        elif cell == "lstm":
            self._cell = _LSTMCell(u)
        elif self.reset_after:
            self._cell = _GRUCell(u, self.keras)
        else:
            self._cell = _GRUBeforeCell(u)

        kinit = env.init_override if env.init_override is not None else args.get("init")
        rinit, binit = args.get("recurrent_init"), args.get("bias_init")
        self._names: dict[tuple[int, int], tuple] = {}
        for layer in range(self.layers):
            n_in = features if layer == 0 else u * self.dirs
            for d in range(self.dirs):
                if self.keras:
                    prefix = ("forward/" if d == 0 else "backward/") if self.dirs == 2 else ""
                    prefix += f"layer{layer + 1}/" if self.layers > 1 else ""
                    names = (prefix + "kernel", prefix + "recurrent_kernel", prefix + "bias" if self.bias else None)
                    self.add(names[0], sample(kinit, (n_in, n * u), "kernel", env, units=u))
                    self.add(names[1], sample(rinit, (u, n * u), "recurrent_kernel", env, units=u))
                    if self.bias:
                        shape = (2, n * u) if cell == "gru" and self.reset_after else (n * u,)
                        b = sample(binit, shape, "bias", env, units=u, weight_shape=(n_in, n * u))
                        if cell == "lstm" and (binit is None or binit.name == "default"):
                            b[u : 2 * u] = 1.0  # unit_forget_bias
                        self.add(names[2], b)
                else:
                    suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                    names = ("weight_ih" + suffix, "weight_hh" + suffix)
                    self.add(names[0], sample(kinit, (n * u, n_in), "kernel", env, units=u))
                    self.add(names[1], sample(rinit, (n * u, u), "recurrent_kernel", env, units=u))
                    if self.bias:
                        names += ("bias_ih" + suffix, "bias_hh" + suffix)
                        self.add(names[2], sample(binit, (n * u,), "bias", env, units=u, weight_shape=(n * u, n_in)))
                        self.add(names[3], sample(binit, (n * u,), "recurrent_bias", env, units=u, weight_shape=(n * u, u)))  # fmt: skip
                    else:
                        names += (None, None)
                self._names[(layer, d)] = names

    # the arrays in the computing orientation (views of self.params)
    def _weights(self, layer: int, d: int):
        names = self._names[(layer, d)]
        P = self.params
        if self.keras:
            Wx, Wh = P[names[0]], P[names[1]]
            if names[2] is None:
                return Wx, Wh, None, None
            b = P[names[2]]
            return (Wx, Wh, b[0], b[1]) if b.ndim == 2 else (Wx, Wh, b, None)
        Wx, Wh = P[names[0]].T, P[names[1]].T
        if names[2] is None:
            return Wx, Wh, None, None
        return Wx, Wh, P[names[2]], P[names[3]]

    def _set_grads(self, layer: int, d: int, dWx, dWh, dbx, dbh) -> None:
        names = self._names[(layer, d)]
        G = self.grads
        if self.keras:
            G[names[0]], G[names[1]] = dWx, dWh
            if names[2] is not None:
                G[names[2]] = np.stack([dbx, dbh]) if self.params[names[2]].ndim == 2 else dbx
        else:
            G[names[0]], G[names[1]] = dWx.T.copy(), dWh.T.copy()
            if names[2] is not None:
                G[names[2]], G[names[3]] = dbx, dbh

    def _slots(self) -> list[tuple[int, list[tuple[int, int]], int]]:
        """For each state tensor (initial, or final with return_state), in order: its index, the
        (layer, direction) of each of its rows, and which state of the cell (0 h, 1 c)."""
        S = len(STATES[self.cell])
        if self.keras:
            return [(d * S + k, [(self.layers - 1, d)], k) for d in range(self.dirs) for k in range(S)]
        rows = [(layer, d) for layer in range(self.layers) for d in range(self.dirs)]
        return [(k, rows, k) for k in range(S)]

    def _check_states(self, shapes: list) -> None:
        """Initial states as return_state gives them (module docstring), or none."""
        if not shapes:
            return
        u, rows = self.units, self.layers * self.dirs
        want = [(u,)] * (len(STATES[self.cell]) * self.dirs) if self.keras else [(rows, u)] * len(STATES[self.cell])
        if self.keras and self.layers > 1:
            raise ValueError("initial states with num_layers > 1 under Keras: stacked Keras layers each take their own")
        if shapes != want:
            raise ValueError(f"{self.cell} takes initial states of shapes {want}, got {shapes}")

    def _starts(self, states: list) -> dict:
        """(layer, d) -> [h₀, c₀] (N, u) each, from the initial-state arrays."""
        out: dict = {}
        for index, rows, k in self._slots():
            a = np.asarray(states[index], dtype=self.dtype)
            for i, key in enumerate(rows):
                out.setdefault(key, [None, None])[k] = a if a.ndim == 2 else a[:, i]
        return out

    def _masks(self, N: int, n_in: int) -> tuple:
        """Keras's masks of one layer and direction: on the input (N, n_in) and on the state (N, u),
        one per sequence, one per gate block with recurrent_dropout; (None, None) in eval mode."""
        if not hasattr(self, "rng") or not self.keras:
            return None, None
        n = GATES[self.cell] if self.p_h else 1

        def draw(p, width, count):
            keep = self.rng.random((count, N, width)) >= p
            return keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))

        mx = draw(self.p_x, n_in, n) if self.p_x else None
        mh = draw(self.p_h, self.units, GATES[self.cell]) if self.p_h else None
        return mx, mh

    def forward(self, xs):
        x = np.asarray(xs[0], dtype=self.dtype)
        N = x.shape[0]
        cnt = _Counter()
        self._caches: dict = {}
        self._between: dict = {}  # PyTorch: layer -> the dropout mask on its output (train mode)
        self._n_states = len(xs) - 1
        starts = self._starts(xs[1:]) if len(xs) > 1 else {}
        finals: dict = {}  # (layer, d) -> (h, c)
        inp = x
        seqs: list[np.ndarray] = []
        for layer in range(self.layers):
            seqs = []
            for d in range(self.dirs):
                xin = inp if d == 0 else inp[:, ::-1]
                h0, c0 = starts.get((layer, d), (None, None))
                mx, mh = self._masks(N, inp.shape[-1])
                H, h, c, cache = self._cell.forward(cnt, xin, *self._weights(layer, d), h0, c0, mx, mh)
                self._caches[(layer, d)] = cache
                finals[(layer, d)] = (h, c)
                seqs.append(H if d == 0 else H[:, ::-1])
            inp = np.concatenate(seqs, axis=-1) if self.dirs == 2 else seqs[0]
            if hasattr(self, "rng") and not self.keras and self.p_x and layer < self.layers - 1:
                keep = self.rng.random(inp.shape) >= self.p_x  # nn.LSTM's dropout between layers
                self._between[layer] = keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - self.p_x))
                inp = inp * self._between[layer]
        if self.dirs == 1:
            y = seqs[0] if self.sequences else seqs[0][:, -1]
            self._merged = None
        else:
            if self.sequences:
                a, b = seqs
            elif self.keras:
                a, b = finals[(self.layers - 1, 0)][0], finals[(self.layers - 1, 1)][0]
            else:
                a, b = seqs[0][:, -1], seqs[1][:, -1]
            self._merged = (a, b)
            y = _merge(self.merge, a, b)
        extras = {}
        if self.state:
            top = self.layers - 1
            if self.keras:
                tags = ("_forward", "_backward") if self.dirs == 2 else ("",)
                for d, tag in enumerate(tags):  # h_forward, c_forward, h_backward, c_backward
                    for s, k in zip(STATES[self.cell], (0, 1), strict=False):
                        extras[s + tag] = finals[(top, d)][k]
            else:
                keys = [(layer, d) for layer in range(self.layers) for d in range(self.dirs)]
                for s, k in zip(STATES[self.cell], (0, 1), strict=False):
                    extras[s] = np.stack([finals[key][k] for key in keys], axis=1)
        self.macs = cnt.macs // N
        self._n, self._T = N, x.shape[1]
        return y, extras

    def backward(self, dy, dextras):
        N, T, u, D, L = self._n, self._T, self.units, self.dirs, self.layers
        self.grads = {}
        dseq = [np.zeros((N, T, u), dtype=self.dtype) for _ in range(D)]  # top layer, time order
        dy = np.asarray(dy, dtype=self.dtype)
        if D == 1:
            if self.sequences:
                dseq[0] += dy
            else:
                dseq[0][:, -1] += dy
        else:
            da, db = _merge_back(self.merge, *self._merged, dy)
            if self.sequences:
                dseq[0] += da
                dseq[1] += db
            else:
                dseq[0][:, -1] += da
                dseq[1][:, 0 if self.keras else -1] += db
        # gradients into the final states: dh_final[(layer, d)], dc_final[(layer, d)]
        dh_fin: dict = {}
        dc_fin: dict = {}
        for s, store in (("h", dh_fin), ("c", dc_fin)):
            if self.keras:
                for d, tag in enumerate(("forward", "backward")[:D]):
                    g = dextras.get(f"{s}_{tag}" if D == 2 else s)
                    if g is not None:
                        store[(L - 1, d)] = np.asarray(g, dtype=self.dtype)
            else:
                g = dextras.get(s)
                if g is not None:
                    g = np.asarray(g, dtype=self.dtype)
                    for layer in range(L):
                        for d in range(D):
                            store[(layer, d)] = g[:, layer * D + d]
        dx = None
        at_start: dict = {}  # (layer, d) -> (dh₀, dc₀)
        for layer in range(L - 1, -1, -1):
            dx = None
            for d in range(D):
                dH = dseq[d] if d == 0 else dseq[d][:, ::-1]  # processing order
                if (layer, d) in dh_fin:
                    dH = dH.copy()
                    dH[:, -1] += dh_fin[(layer, d)]
                out = self._cell.backward(self._caches[(layer, d)], dH, dc_fin.get((layer, d)))
                dX, dWx, dWh, dbx, dbh, dh0, dc0 = out
                self._set_grads(layer, d, dWx, dWh, dbx, dbh)
                at_start[(layer, d)] = (dh0, dc0)
                dX = dX if d == 0 else dX[:, ::-1]
                dx = dX if dx is None else dx + dX
            if layer > 0:
                if layer - 1 in self._between:
                    dx = dx * self._between[layer - 1]
                dseq = [dx[..., :u], dx[..., u:]] if D == 2 else [dx]
        dstates = []
        for _, rows, k in self._slots()[: self._n_states]:
            parts = [at_start[key][k] for key in rows]
            dstates.append(parts[0] if self.keras else np.stack(parts, axis=1))
        return [np.ascontiguousarray(dx), *dstates]


class RecurrentKernel(Kernel):
    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.ops = (cell,)

    def build(self, node, in_shapes, env):
        return RecurrentLayer(self.cell, node.args, list(in_shapes), env)


class EmbeddingLayer(Layer):
    """A lookup table (vocab, dim): PyTorch `weight`, Keras `embeddings`."""

    def __init__(self, args: dict, in_shape: tuple, env: Env) -> None:
        super().__init__()
        self.vocab, self.dim = int(args["vocab"]), int(args["dim"])
        self.name = "embeddings" if env.keras else "weight"
        self.dtype = env.dtype
        spec = args.get("init")
        self.add(self.name, sample(spec, (self.vocab, self.dim), "embedding", env))
        self.out_shape = (*in_shape, self.dim)

    def forward(self, xs):
        ids = np.asarray(xs[0])
        if not np.issubdtype(ids.dtype, np.integer):
            if not np.all(ids == np.round(ids)):
                raise Unrunnable("token ids must be integers, and it reads real values")
            ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise Unrunnable(f"token ids must lie in [0, {self.vocab}), and it reads {ids.min():g}..{ids.max():g}")
        self._ids = ids
        self.macs = 0  # a lookup multiplies nothing
        return self.params[self.name][ids], {}

    def backward(self, dy, dextras):
        """The table's gradient (rows summed per id); None for the ids, which have no gradient."""
        grad = np.zeros_like(self.params[self.name])
        np.add.at(grad, self._ids.reshape(-1), np.asarray(dy, dtype=self.dtype).reshape(-1, self.dim))
        self.grads = {self.name: grad}
        return [None]


class EmbeddingKernel(Kernel):
    ops = ("embedding",)

    def build(self, node, in_shapes, env):
        return EmbeddingLayer(node.args, tuple(in_shapes[0]), env)


RECURRENT_KERNELS: dict[str, Kernel] = {
    "embedding": EmbeddingKernel(),
    "rnn": RecurrentKernel("rnn"),
    "lstm": RecurrentKernel("lstm"),
    "gru": RecurrentKernel("gru"),
}
