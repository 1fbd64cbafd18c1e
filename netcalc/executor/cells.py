"""The recurrent cells of the executor's sequence kernels (recurrent.py): rnn (tanh), lstm, gru (reset
after, the default, and before), each one direction of one stacked layer over a sequence, forward
and full backpropagation through time, in NumPy only. Products are computed in the Keras
orientation, x·W with W (n_in, n·u), and counted (`_Counter`) for the MACs.

A cell starts from given states h₀ (and c₀), or zeros, and its backward pass returns the gradient
at them. Dropout masks (Keras's `dropout` and `recurrent_dropout`, drawn by the layer) are fixed
over the sequence: `mx` (m, N, n_in) on the input and `mh` (m, N, u) on the state the recurrent
product reads, m = 1 (one mask for every gate) or n (one per gate block, in the blocks' order); the
state carried to the next step (c, and a GRU's z⊙h) keeps its units. A masked product is computed
per gate block, the same multiply-accumulates as the fused one.
"""

from __future__ import annotations

import numpy as np


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


# --------------------------------------------------------------------------- masked products
# A mask array holds one mask (applied to every gate block) or one per block; block k of a weight
# (n_in, n·u) is its columns k·u … (k + 1)·u.


def _blocks(W: np.ndarray, masks: np.ndarray):
    """(columns of block k, the mask of block k) for each gate block."""
    n = masks.shape[0]
    width = W.shape[1] // n
    return [(slice(k * width, (k + 1) * width), masks[k]) for k in range(n)]


def _project(cnt: _Counter, x: np.ndarray, Wx: np.ndarray, bx, bh, mx=None) -> np.ndarray:
    """x·W_x for every step in one product (per gate block when masked), plus the biases that add
    to every step."""
    N, T, F = x.shape
    if mx is None or mx.shape[0] == 1:
        xin = x if mx is None else x * mx[0][:, None, :]
        p = cnt.mm(xin.reshape(N * T, F), Wx).reshape(N, T, Wx.shape[1])
    else:
        p = np.empty((N, T, Wx.shape[1]), dtype=np.result_type(x, Wx))
        for cols, m in _blocks(Wx, mx):
            p[:, :, cols] = cnt.mm((x * m[:, None, :]).reshape(N * T, F), Wx[:, cols]).reshape(N, T, -1)
    if bx is not None:
        p += bx
    if bh is not None:
        p += bh
    return p


def _input_grads(x, Wx, dA, with_bias, mx=None):
    """dX, dWx and the bias gradient from the gradient of the input projection dA (N, T, n·u)."""
    N, T, F = x.shape
    flat = dA.reshape(N * T, -1)
    if mx is None:
        dWx = x.reshape(N * T, F).T @ flat
        dX = (flat @ Wx.T).reshape(N, T, F)
    else:
        blocks = _blocks(Wx, mx) if mx.shape[0] > 1 else [(slice(None), mx[0])]
        dWx = np.empty_like(Wx)
        dX = np.zeros((N, T, F), dtype=flat.dtype)
        for cols, m in blocks:
            dWx[:, cols] = (x * m[:, None, :]).reshape(N * T, F).T @ flat[:, cols]
            dX += (flat[:, cols] @ Wx[:, cols].T).reshape(N, T, F) * m[:, None, :]
    return dX, dWx, (flat.sum(0) if with_bias else None)


def _recur(cnt: _Counter, h: np.ndarray, Wh: np.ndarray, mh=None) -> np.ndarray:
    """h·W_h, the state masked per gate block when mh is given."""
    if mh is None:
        return cnt.mm(h, Wh)
    return np.concatenate([cnt.mm(h * m, Wh[:, cols]) for cols, m in _blocks(Wh, mh)], axis=1)


def _recur_back(da: np.ndarray, Wh: np.ndarray, mh=None) -> np.ndarray:
    """The gradient at h of h·W_h (masked as in `_recur`) from the gradient da of the product."""
    if mh is None:
        return da @ Wh.T
    return sum((da[:, cols] @ Wh[:, cols].T) * m for cols, m in _blocks(Wh, mh))


def _recur_dW(Hprev: np.ndarray, dA: np.ndarray, Wh: np.ndarray, mh=None) -> np.ndarray:
    """dW_h = Σ over samples and steps of h_{t−1}ᵀ·da_t (the masked state per block)."""
    N, T, u = Hprev.shape
    flat = dA.reshape(N * T, -1)
    if mh is None:
        return Hprev.reshape(N * T, u).T @ flat
    dW = np.empty_like(Wh)
    for cols, m in _blocks(Wh, mh):
        dW[:, cols] = (Hprev * m[:, None, :]).reshape(N * T, u).T @ flat[:, cols]
    return dW


def _start(h0, N: int, u: int, dtype) -> np.ndarray:
    return np.zeros((N, u), dtype=dtype) if h0 is None else np.array(h0, dtype=dtype)


# --------------------------------------------------------------------------- cells
# Each cell runs one direction of one stacked layer over a sequence in processing order.
# forward(x (N, T, F), Wx (F, n·u), Wh (u, n·u), bx, bh, h0, c0, mx, mh) → (H (N, T, u), final h,
#   final c, cache); h0, c0 (N, u) or None (zeros), mx, mh the masks or None
# backward(cache, dH (N, T, u), dc_final or None) → (dX, dWx, dWh, dbx, dbh, dh0, dc0)


class _RNNCell:
    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh, h0=None, c0=None, mx=None, mh=None):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, bh, mx)
        H = np.empty((N, T, u), dtype=p.dtype)
        Hprev = np.empty_like(H)
        h = _start(h0, N, u, p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            h = np.tanh(p[:, t] + _recur(cnt, h, Wh, mh))
            H[:, t] = h
        return H, h, None, (x, Wx, Wh, bx, bh, H, Hprev, mx, mh)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, H, Hprev, mx, mh = cache
        N, T, u = H.shape
        dA = np.empty_like(H)
        dh = np.zeros((N, u), dtype=H.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            da = dh * (1 - H[:, t] ** 2)
            dA[:, t] = da
            dh = _recur_back(da, Wh, mh)
        dX, dWx, db = _input_grads(x, Wx, dA, True, mx)
        dWh = _recur_dW(Hprev, dA, Wh, mh)
        return dX, dWx, dWh, (db if bx is not None else None), (db.copy() if bh is not None else None), dh, None


class _LSTMCell:
    """Gate blocks i, f, g, o (PyTorch) = i, f, c, o (Keras): the same order."""

    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh, h0=None, c0=None, mx=None, mh=None):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, bh, mx)
        G = np.empty((N, T, 4 * u), dtype=p.dtype)  # i, f, g, o after their activations
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        Cprev = np.empty_like(Hprev)
        Tc = np.empty_like(Hprev)  # tanh(c') per step
        H = np.empty_like(Hprev)
        h = _start(h0, N, u, p.dtype)
        c = _start(c0, N, u, p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            Cprev[:, t] = c
            a = p[:, t] + _recur(cnt, h, Wh, mh)
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
        return H, h, c, (x, Wx, Wh, bx, bh, G, Hprev, Cprev, Tc, mx, mh)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, G, Hprev, Cprev, Tc, mx, mh = cache
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
            dh = _recur_back(da, Wh, mh)
        dX, dWx, db = _input_grads(x, Wx, dA, True, mx)
        dWh = _recur_dW(Hprev, dA, Wh, mh)
        return dX, dWx, dWh, (db if bx is not None else None), (db.copy() if bh is not None else None), dh, dc


class _GRUCell:
    """reset_after (PyTorch; Keras by default): n = tanh(x·W_xn + b_xn + r⊙(h·W_hn + b_hn)).
    Gate blocks r, z, n (PyTorch) or z, r, h (Keras): `order` gives the block of r, z, n."""

    def __init__(self, u: int, keras: bool) -> None:
        self.u = u
        ri, zi, ni = (1, 0, 2) if keras else (0, 1, 2)
        self.r, self.z, self.n = (slice(k * u, (k + 1) * u) for k in (ri, zi, ni))

    def forward(self, cnt, x, Wx, Wh, bx, bh, h0=None, c0=None, mx=None, mh=None):
        N, T, _ = x.shape
        u = self.u
        R, Z, Nn = self.r, self.z, self.n
        p = _project(cnt, x, Wx, bx, None, mx)  # b_h is added inside: its n block is reset by r
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        G = np.empty((N, T, 3 * u), dtype=p.dtype)  # r, z, n after their activations, in block order
        Ahn = np.empty_like(Hprev)  # h·W_hn + b_hn per step
        H = np.empty_like(Hprev)
        h = _start(h0, N, u, p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            ah = _recur(cnt, h, Wh, mh)
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
        return H, h, None, (x, Wx, Wh, bx, bh, G, Hprev, Ahn, mx, mh)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, bh, G, Hprev, Ahn, mx, mh = cache
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
            dh = dh * z + _recur_back(dAh[:, t], Wh, mh)
        dX, dWx, dbx = _input_grads(x, Wx, dAx, bx is not None, mx)
        dWh = _recur_dW(Hprev, dAh, Wh, mh)
        return dX, dWx, dWh, dbx, (dAh.reshape(N * T, 3 * u).sum(0) if bh is not None else None), dh, None


class _GRUBeforeCell:
    """Keras GRU with reset_after: false; blocks z, r, h; one bias, on the input side:
    z, r = σ(x·W_xz + b_z + h·W_hz), σ(...); ĥ = tanh(x·W_xh + b_h + (r⊙h)·W_hh); h' = z⊙h + (1 − z)⊙ĥ.
    With recurrent dropout, block k's product reads h⊙mh[k] (ĥ reads r⊙(h⊙mh[2]))."""

    def __init__(self, u: int) -> None:
        self.u = u

    def forward(self, cnt, x, Wx, Wh, bx, bh, h0=None, c0=None, mx=None, mh=None):
        N, T, _ = x.shape
        u = self.u
        p = _project(cnt, x, Wx, bx, None, mx)
        Whzr, Whh = Wh[:, : 2 * u], Wh[:, 2 * u :]
        mzr, mhh = (None, None) if mh is None else (mh[:2], mh[2])
        Hprev = np.empty((N, T, u), dtype=p.dtype)
        G = np.empty((N, T, 3 * u), dtype=p.dtype)  # z, r, ĥ
        RH = np.empty_like(Hprev)
        H = np.empty_like(Hprev)
        h = _start(h0, N, u, p.dtype)
        for t in range(T):
            Hprev[:, t] = h
            ax = p[:, t]
            azr = ax[:, : 2 * u] + _recur(cnt, h, Whzr, mzr)
            z = _sigmoid(azr[:, :u])
            r = _sigmoid(azr[:, u:])
            rh = r * (h if mhh is None else h * mhh)
            hh = np.tanh(ax[:, 2 * u :] + cnt.mm(rh, Whh))
            h = z * h + (1 - z) * hh
            G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u :] = z, r, hh
            RH[:, t] = rh
            H[:, t] = h
        return H, h, None, (x, Wx, Wh, bx, G, Hprev, RH, mx, mh)

    def backward(self, cache, dH, dc_final):
        x, Wx, Wh, bx, G, Hprev, RH, mx, mh = cache
        N, T, u = Hprev.shape
        Whzr, Whh = Wh[:, : 2 * u], Wh[:, 2 * u :]
        mzr, mhh = (None, None) if mh is None else (mh[:2], mh[2])
        dA = np.empty_like(G)
        dh = np.zeros((N, u), dtype=G.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dH[:, t]
            z, r, hh = G[:, t, :u], G[:, t, u : 2 * u], G[:, t, 2 * u :]
            hp = Hprev[:, t]
            hm = hp if mhh is None else hp * mhh  # the state ĥ's product reads
            dah = dh * (1 - z) * (1 - hh * hh)
            drh = dah @ Whh.T
            daz = dh * (hp - hh) * z * (1 - z)
            dar = drh * hm * r * (1 - r)
            da = dA[:, t]
            da[:, :u], da[:, u : 2 * u], da[:, 2 * u :] = daz, dar, dah
            back_h = drh * r if mhh is None else drh * r * mhh
            dh = dh * z + back_h + _recur_back(da[:, : 2 * u], Whzr, mzr)
        dX, dWx, dbx = _input_grads(x, Wx, dA, bx is not None, mx)
        dWh = np.empty_like(Wh)
        dWh[:, : 2 * u] = _recur_dW(Hprev, dA[:, :, : 2 * u], Whzr, mzr)
        dWh[:, 2 * u :] = RH.reshape(N * T, u).T @ dA[:, :, 2 * u :].reshape(N * T, u)
        return dX, dWx, dWh, dbx, None, dh, None
