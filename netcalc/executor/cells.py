"""The recurrent cells of the executor's sequence kernels (recurrent.py): rnn (tanh), lstm, gru (reset
after, the default, and before), each one direction of one stacked layer over a sequence, forward
and full backpropagation through time, in NumPy only. Products are computed in the Keras
orientation, x·W with W (n_in, n·u), and counted (`_Counter`) for the MACs.
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
