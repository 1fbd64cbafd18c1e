"""Executor kernels for the sequence layers: embedding, rnn (tanh), lstm, gru; forward and full
backpropagation through time, in NumPy only.

Written from the frameworks' definitions, not from netcalc.layers: every figure (tensor names and
shapes, output shapes, MACs) follows from the arrays created and the products computed here.

Arrays are batch first, (N, T, F), whatever the spec's layout; shapes given to `build` exclude the
batch. The initial states are zeros.

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

Embedding: integer ids of any shape → (*shape, dim) by lookup (no MACs). Its backward returns
None for the ids (integers have no gradient) and accumulates the rows of the table's gradient.
"""

from __future__ import annotations

import numpy as np

from .base import Env, Kernel, Layer
from .weights import sample

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
STATES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = (1 + tanh(x/2))/2: exact, and no overflow for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _Counter:
    """Multiply-accumulates of the products computed (all samples of the batch)."""

    def __init__(self) -> None:
        self.macs = 0

    def mm(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        m, k = a.shape
        self.macs += m * k * b.shape[1]
        return a @ b


# --------------------------------------------------------------------------- cells
# Each cell runs one direction of one stacked layer over a sequence in processing order.
# forward(x (N, T, F), Wx (F, n·u), Wh (u, n·u), bx, bh) → (H (N, T, u), final h, final c, cache)
# backward(cache, dH (N, T, u), dc_final or None) → (dX, dWx, dWh, dbx, dbh)


def _project(cnt: _Counter, x: np.ndarray, Wx: np.ndarray, bx, bh) -> np.ndarray:
    """x·W_x for every step in one product, plus the biases that add to every step."""
    N, T, F = x.shape
    p = cnt.mm(x.reshape(N * T, F), Wx).reshape(N, T, Wx.shape[1])
    if bx is not None:
        p += bx
    if bh is not None:
        p += bh
    return p


def _input_grads(x, Wx, dA, with_bias):
    """dX, dWx and the bias gradient from the gradient of the input projection dA (N, T, n·u)."""
    N, T, F = x.shape
    flat = dA.reshape(N * T, -1)
    dWx = x.reshape(N * T, F).T @ flat
    dX = (flat @ Wx.T).reshape(N, T, F)
    return dX, dWx, (flat.sum(0) if with_bias else None)


class _RNNCell:
    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, bh)
        H = np.empty((N, T, u), dtype=p.dtype)
        Hprev = np.empty_like(H)
        h = np.zeros((N, u), dtype=p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            h = np.tanh(p[:, t] + cnt.mm(h, Wh))
            H[:, t] = h
        return H, h, None, (x, Wx, Wh, bx, bh, H, Hprev)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, H, Hprev = cache
        N, T, u = H.shape
        dA = np.empty_like(H)
        dh = np.zeros((N, u), dtype=H.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            da = dh * (1 - H[:, t] ** 2)
            dA[:, t] = da
            dh = da @ Wh.T
        dX, dWx, db = _input_grads(x, Wx, dA, True)
        dWh = Hprev.reshape(N * T, u).T @ dA.reshape(N * T, u)
        return dX, dWx, dWh, (db if bx is not None else None), (db.copy() if bh is not None else None)


class _LSTMCell:
    """Gate blocks i, f, g, o (PyTorch) = i, f, c, o (Keras): the same order."""

    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, bh)
        G = np.empty((N, T, 4 * u), dtype=p.dtype)  # i, f, g, o after their activations
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        Cprev = np.empty_like(Hprev)
        Tc = np.empty_like(Hprev)  # tanh(c') per step
        H = np.empty_like(Hprev)
        h = np.zeros((N, u), dtype=p.dtype)
        c = np.zeros_like(h)
        for t in range(T):
            Hprev[:, t] = h
            Cprev[:, t] = c
            a = p[:, t] + cnt.mm(h, Wh)
            i = _sigmoid(a[:, :u])
            f = _sigmoid(a[:, u : 2 * u])
            g = np.tanh(a[:, 2 * u : 3 * u])
            o = _sigmoid(a[:, 3 * u :])
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u : 3 * u], G[:, t, 3 * u :] = i, f, g, o
            Tc[:, t] = tc
            H[:, t] = h
        return H, h, c, (x, Wx, Wh, bx, bh, G, Hprev, Cprev, Tc)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, G, Hprev, Cprev, Tc = cache
        N, T, u = Hprev.shape
        dA = np.empty_like(G)
        dh = np.zeros((N, u), dtype=G.dtype)
        dc = np.zeros_like(dh) if dc_final is None else dc_final.astype(G.dtype, copy=True)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            i, f, g, o = G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u : 3 * u], G[:, t, 3 * u :]
            tc = Tc[:, t]
            dc = dc + dh * o * (1 - tc * tc)
            da = dA[:, t]
            da[:, :u] = dc * g * i * (1 - i)
            da[:, u : 2 * u] = dc * Cprev[:, t] * f * (1 - f)
            da[:, 2 * u : 3 * u] = dc * i * (1 - g * g)
            da[:, 3 * u :] = dh * tc * o * (1 - o)
            dc = dc * f
            dh = da @ Wh.T
        dX, dWx, db = _input_grads(x, Wx, dA, True)
        dWh = Hprev.reshape(N * T, u).T @ dA.reshape(N * T, 4 * u)
        return dX, dWx, dWh, (db if bx is not None else None), (db.copy() if bh is not None else None)


class _GRUCell:
    """reset_after (PyTorch; Keras by default): n = tanh(x·W_xn + b_xn + r⊙(h·W_hn + b_hn)).
    Gate blocks r, z, n (PyTorch) or z, r, h (Keras): `order` gives the block of r, z, n."""

    def __init__(self, u: int, keras: bool) -> None:
        self.u = u
        ri, zi, ni = (1, 0, 2) if keras else (0, 1, 2)
        self.r, self.z, self.n = (slice(k * u, (k + 1) * u) for k in (ri, zi, ni))

    def forward(self, cnt, x, Wx, Wh, bx, bh):
        N, T, _ = x.shape
        u = self.u
        R, Z, Nn = self.r, self.z, self.n
        p = _project(cnt, x, Wx, bx, None)  # b_h is added inside: its n block is reset by r
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        G = np.empty((N, T, 3 * u), dtype=p.dtype)  # r, z, n after their activations, in block order
        Ahn = np.empty_like(Hprev)  # h·W_hn + b_hn per step
        H = np.empty_like(Hprev)
        h = np.zeros((N, u), dtype=p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            ah = cnt.mm(h, Wh)
            if bh is not None:
                ah += bh
            ax = p[:, t]
            r = _sigmoid(ax[:, R] + ah[:, R])
            z = _sigmoid(ax[:, Z] + ah[:, Z])
            n = np.tanh(ax[:, Nn] + r * ah[:, Nn])
            h = (1 - z) * n + z * h
            G[:, t, R], G[:, t, Z], G[:, t, Nn] = r, z, n
            Ahn[:, t] = ah[:, Nn]
            H[:, t] = h
        return H, h, None, (x, Wx, Wh, bx, bh, G, Hprev, Ahn)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, G, Hprev, Ahn = cache
        N, T, u = Hprev.shape
        R, Z, Nn = self.r, self.z, self.n
        dAx = np.empty_like(G)
        dAh = np.empty_like(G)
        dh = np.zeros((N, u), dtype=G.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            r, z, n = G[:, t, R], G[:, t, Z], G[:, t, Nn]
            dan = dh * (1 - z) * (1 - n * n)
            daz = dh * (Hprev[:, t] - n) * z * (1 - z)
            dar = dan * Ahn[:, t] * r * (1 - r)
            dAx[:, t, R], dAx[:, t, Z], dAx[:, t, Nn] = dar, daz, dan
            dAh[:, t, R], dAh[:, t, Z], dAh[:, t, Nn] = dar, daz, dan * r
            dh = dh * z + dAh[:, t] @ Wh.T
        dX, dWx, dbx = _input_grads(x, Wx, dAx, bx is not None)
        flat = dAh.reshape(N * T, 3 * u)
        dWh = Hprev.reshape(N * T, u).T @ flat
        return dX, dWx, dWh, dbx, (flat.sum(0) if bh is not None else None)


class _GRUBeforeCell:
    """Keras GRU with reset_after: false; blocks z, r, h; one bias, on the input side:
    z, r = σ(x·W_xz + b_z + h·W_hz), σ(...); ĥ = tanh(x·W_xh + b_h + (r⊙h)·W_hh); h' = z⊙h + (1 − z)⊙ĥ."""

    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, None)
        Whzr, Whh = Wh[:, : 2 * u], Wh[:, 2 * u :]
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        G = np.empty((N, T, 3 * u), dtype=p.dtype)  # z, r, ĥ
        RH = np.empty_like(Hprev)
        H = np.empty_like(Hprev)
        h = np.zeros((N, u), dtype=p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            ax = p[:, t]
            azr = ax[:, : 2 * u] + cnt.mm(h, Whzr)
            z = _sigmoid(azr[:, :u])
            r = _sigmoid(azr[:, u:])
            rh = r * h
            hh = np.tanh(ax[:, 2 * u :] + cnt.mm(rh, Whh))
            h = z * h + (1 - z) * hh
            G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u :] = z, r, hh
            RH[:, t] = rh
            H[:, t] = h
        return H, h, None, (x, Wx, Wh, bx, G, Hprev, RH)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, G, Hprev, RH = cache
        N, T, u = Hprev.shape
        Whzr, Whh = Wh[:, : 2 * u], Wh[:, 2 * u :]
        dA = np.empty_like(G)
        dh = np.zeros((N, u), dtype=G.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            z, r, hh = G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u :]
            hp = Hprev[:, t]
            dah = dh * (1 - z) * (1 - hh * hh)
            drh = dah @ Whh.T
            daz = dh * (hp - hh) * z * (1 - z)
            dar = drh * hp * r * (1 - r)
            da = dA[:, t]
            da[:, :u], da[:, u : 2 * u], da[:, 2 * u :] = daz, dar, dah
            dh = dh * z + drh * r + da[:, : 2 * u] @ Whzr.T
        dX, dWx, dbx = _input_grads(x, Wx, dA, bx is not None)
        flat = dA.reshape(N * T, 3 * u)
        dWh = np.empty_like(Wh)
        dWh[:, : 2 * u] = Hprev.reshape(N * T, u).T @ flat[:, : 2 * u]
        dWh[:, 2 * u :] = RH.reshape(N * T, u).T @ flat[:, 2 * u :]
        return dX, dWx, dWh, dbx, None


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

    def __init__(self, cell: str, args: dict, in_shape: tuple, env: Env) -> None:
        super().__init__()
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

    def forward(self, xs):
        x = np.asarray(xs[0], dtype=self.dtype)
        N = x.shape[0]
        cnt = _Counter()
        self._caches: dict = {}
        finals: dict = {}  # (layer, d) -> (h, c)
        inp = x
        seqs: list[np.ndarray] = []
        for layer in range(self.layers):
            seqs = []
            for d in range(self.dirs):
                xin = inp if d == 0 else inp[:, ::-1]
                H, h, c, cache = self._cell.forward(cnt, xin, *self._weights(layer, d))
                self._caches[(layer, d)] = cache
                finals[(layer, d)] = (h, c)
                seqs.append(H if d == 0 else H[:, ::-1])
            inp = np.concatenate(seqs, axis=-1) if self.dirs == 2 else seqs[0]
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
        for layer in range(L - 1, -1, -1):
            dx = None
            for d in range(D):
                dH = dseq[d] if d == 0 else dseq[d][:, ::-1]  # processing order
                if (layer, d) in dh_fin:
                    dH = dH.copy()
                    dH[:, -1] += dh_fin[(layer, d)]
                dX, dWx, dWh, dbx, dbh = self._cell.backward(self._caches[(layer, d)], dH, dc_fin.get((layer, d)))
                self._set_grads(layer, d, dWx, dWh, dbx, dbh)
                dX = dX if d == 0 else dX[:, ::-1]
                dx = dX if dx is None else dx + dX
            if layer > 0:
                dseq = [dx[..., :u], dx[..., u:]] if D == 2 else [dx]
        return [np.ascontiguousarray(dx)]


class RecurrentKernel(Kernel):
    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.ops = (cell,)

    def build(self, node, in_shapes, env):
        return RecurrentLayer(self.cell, node.args, tuple(in_shapes[0]), env)


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
                raise ValueError("embedding: token ids must be integers")
            ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise ValueError(f"embedding: token ids must lie in [0, {self.vocab}), got {ids.min()}..{ids.max()}")
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
