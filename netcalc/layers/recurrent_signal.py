"""The recurrent layers' signal rules (netcalc.layers.recurrent's `sig_forward`/`sig_backward`
call them): the mean-field recursion over the steps of each direction and stacked layer, forward
in second moments (`run`, `forward`), where it settles for a long sequence (`stationary`), and
back-propagation through time in second moments (`back`, `backward`).

Initial states (`initial_state`) start the recursion from their second moments and channel-mean
fractions instead of zero; back-propagation returns the gradient's second moment at h₀ (and c₀)
to them. Dropout in training (what `netcalc verify` runs, as the dropout layer's rule assumes)
divides the second moment of what it drops by keep = 1 − rate and keeps its mean: the input of
every layer (Keras `dropout`, one mask per sequence) or of every stacked layer after the first
(PyTorch `dropout`, between layers), and the state before the recurrent product (Keras
`recurrent_dropout`; the carried state keeps its units); a gradient through a mask is divided by
keep as well. One mask for all the gates or one per gate (Keras with recurrent_dropout) gives
the same second moments.

`lt` is the Recurrent layer type (its `cell`, `gates` and `_inputs`); this module imports
nothing of it, and is itself imported only inside the signal rules, so the summary path never
loads it (nor NumPy).
"""

from __future__ import annotations

_SETTLED: dict = {}  # stationary()'s results by their inputs


def weights(lt, g, env, layer: int, n_in: int) -> dict:
    """Variances of the input kernel, the recurrent kernel, and the gates' bias moments."""
    n, u = lt.gates, g.units
    keras = env.keras
    wx_shape = (n_in, n * u) if keras else (n * u, n_in)
    wh_shape = (u, n * u) if keras else (n * u, u)
    _, vx = env.init("init", "kernel", wx_shape, units=u)
    _, vh = env.init("recurrent_init", "recurrent_kernel", wh_shape, units=u)
    means = [0.0] * n
    b2_in = b2_h = 0.0
    bvar = 0.0  # the bias's variance over units (a fixed offset per unit, not a mean)
    if g.bias:
        spec = env.row.node.args.get("bias_init")
        bm, bv = env.init("bias_init", "bias", wx_shape, units=u)
        if keras:
            b2_in = bv + bm * bm
            means = [bm] * n
            if lt.cell == "lstm" and (spec is None or spec.name == "default"):
                means[1] = 1.0  # unit_forget_bias
            if lt.cell == "gru" and g.reset_after:
                b2_h = bv + bm * bm
            bvar = bv
        else:  # two bias vectors, b_ih and b_hh, from the same initialiser
            b2_in = b2_h = bv + bm * bm
            means = [2 * bm] * n
            bvar = 2 * bv
    # what survives dropout in training: the layer's input (Keras: every layer's; PyTorch: between
    # stacked layers only) and the state the recurrent product reads (Keras recurrent_dropout)
    kx = 1.0 - g.dropout if (keras or layer > 0) else 1.0
    kh = 1.0 - g.recurrent_dropout
    # the input's covariance between steps through its dropout mask: Keras's one mask per sequence
    # scales it by 1/keep as it does E[x²]; PyTorch's, a draw per element, leaves it (E[m_t·m_s] = keep²)
    kc = kx if keras else 1.0
    return {"vx": vx, "vh": vh, "b2_in": b2_in, "b2_h": b2_h, "means": means, "n_in": n_in, "bvar": bvar,
            "kx": kx, "kh": kh, "kc": kc}  # fmt: skip


def run(lt, g, env, w, qx, mx=None, settle: bool = False, start=None, rho: float = 0.0) -> dict:
    """The mean-field recursion over the steps of one direction: per step the gates' moments and
    E[h²], E[c²] (module docstring of netcalc.signal; [MF] at step 1, [A] after).

    Beside the second moments, each unit's own mean is followed (E[h̄²], E[c̄²]): a unit's bias
    and the input's per-feature means give every gate a fixed offset per unit, and the state
    accumulates it step after step (h̄ = (1 − z̄)·n̄ + z̄·h̄ for a GRU, c̄ = f̄·c̄ + ī·ḡ for an
    LSTM), so the products f·c, z·h, (1 − z)·n have a mean part E[f]·E[i]·c̄·ḡ that independent
    fluctuations would miss [A: the offsets taken as fully aligned]. mx: the input's per-feature
    mean² per step. With `settle`, the run stops at the step where the state (E[h²], E[c²] and
    their mean parts) no longer changes (relative 1e−12): a fixed point, as the later steps would be.
    `start`: (E[h₀²], E[c₀²], E[h̄₀²], E[c̄₀²]) of the initial states (default zeros).

    `rho`: the input's AR(1) coefficient beyond the units' means (recurrent_lags): the input part of
    each gate's pre-activation has covariance cx = n_x·Var(W_x)·(E[x²] − E[x̄²])·ρ with the step
    before, the drive of the cell (LSTM i·g, GRU n, through the gates' pair moments) a lag-1
    covariance beyond its unit-constant part, and the state sums it coherently: the cross term
    2·E[f]·β·ρ·Z (GRU 2·E[(1 − z)·z]·β·ρ·Z) of recurrent_lags [A]. ρ = 0 adds nothing. Each step
    also gives E[h_t·h_{t−1}] ("hh"): E[o_t·o_{t−1}]·E[tanh(c_t)·tanh(c_{t−1})] with E[c_t·c_{t−1}] =
    E[f]·E[c_{t−1}²] + E[i·g·c_{t−1}] (GRU (1 − E[z])·E[n_t·h_{t−1}] + E[z]·E[h_{t−1}²]; rnn the pair
    moment of tanh at the input's and the units' constant covariance), the recurrent kernel's share
    taken as uncorrelated over time [A]."""
    import math

    import numpy as np

    from . import recurrent_lags as lags

    m = env.moments
    u = g.units
    qh, qc, hbar2, cbar2 = start if start is not None else (0.0, 0.0, 0.0, 0.0)
    mx = mx if mx is not None else [0.0] * len(qx)
    steps = []
    previous = ()
    zproj = 0.0  # the state's projection on the input's AR(1) component (recurrent_lags' Z)

    def unit_mean2(fn, mu, v, vc):
        """E over units of (a unit's mean of φ(a))², a ~ N(μ, v) with vc of v fixed per unit."""
        if vc <= 0 or v <= 0:
            return float(m.activation_moments(fn, {}, mu, v + mu * mu)[0]) ** 2
        phi = m.function(fn, {})[0]
        return m.pair_moment(phi, mu, v, min(vc, v))

    for t in range(len(qx)):
        base = w["n_in"] * w["vx"] * qx[t] / w["kx"]  # a dropped input's E[x²] grows by 1/keep, its mean stays
        rec = u * w["vh"] * qh / w["kh"]
        const = w["n_in"] * w["vx"] * mx[t] + u * w["vh"] * hbar2 + w["bvar"]  # fixed per unit
        cx = w["n_in"] * w["vx"] * max(qx[t] - mx[t], 0.0) * rho / w["kc"]  # the input's, with the step before
        st = {"qh_prev": qh, "qc_prev": qc}
        if lt.cell == "lstm":
            v = base + rec + w["b2_in"] + w["b2_h"]
            gates = []
            for k, fn in enumerate(("sigmoid", "sigmoid", "tanh", "sigmoid")):
                mu = w["means"][k]
                e1, e2, d2 = m.activation_moments(fn, {}, mu, v + mu * mu)
                gates.append((float(e1), float(e2), float(d2), v, mu))
            (i1, i2, _, _, _), (f1, f2, _, _, _), (_, g2, _, _, _), (o1, o2, _, _, _) = gates
            gbar2 = unit_mean2("tanh", w["means"][2], v, const)
            pair = [lambda c, k=k, fn=fn, v=v: m.pair_moment(m.function(fn, {})[0], w["means"][k], v, min(c, v))
                    for k, fn in enumerate(("sigmoid", "sigmoid", "tanh", "sigmoid"))]  # fmt: skip
            b = 0.0
            if rho > 0 and cx > 0:  # the drive i·g's lag-1 covariance beyond its units' constants
                pi0, pg0 = pair[0](const), pair[2](const)
                cu1 = pair[0](const + cx) * pair[2](const + cx) - pi0 * pg0
                b = lags.beta(cu1, rho, i2 * g2 - pi0 * pg0)
            coherent, zproj = lags.step(zproj, b, f1, rho)
            mean_ug = i1 * math.sqrt(max(cbar2 * gbar2, 0.0))  # E[i·g·c_{t−1}]'s unit-constant part
            cross = 2 * f1 * mean_ug + 2 * f1 * coherent
            qc_prev, qh_prev = qc, qh
            cc = f1 * qc_prev + mean_ug + coherent  # E[c_t·c_{t−1}]
            qc = f2 * qc + i2 * g2 + cross
            cbar2 = (f1 * math.sqrt(max(cbar2, 0.0)) + i1 * math.sqrt(max(gbar2, 0.0))) ** 2
            _, tc2, dtc2 = m.activation_moments("tanh", {}, 0.0, qc)
            qh = o2 * float(tc2)
            hbar2 = o1 * o1 * (m.pair_moment(np.tanh, 0.0, qc, min(cbar2, qc)) if qc > 0 else 0.0)
            hh = tt = 0.0
            oo = pair[3](const + cx)  # E[o_t·o_{t−1}]
            if qc_prev > 0 and qc > 0:
                rc = min(cc / math.sqrt(qc * qc_prev), 1.0)
                tt = m.pair_moment(np.tanh, 0.0, qc, rc * qc)
                hh = oo * tt
            # the lag-1 products the backward's correlation reads (lags.dx_lag1)
            ii, gg = (pair[0](const + cx), pair[2](const + cx)) if cx > 0 else (i1 * i1, gbar2)
            st.update(gates=gates, qc=qc, tc2=float(tc2), dtc2=float(dtc2), cbar2=min(cbar2, qc),
                      lag={"ii": ii, "gg": gg, "oo": oo, "cc": cc, "tt": tt})  # fmt: skip
        elif lt.cell == "gru":
            v = base + rec + w["b2_in"] + w["b2_h"]
            rz = [m.activation_moments("sigmoid", {}, w["means"][k], v + w["means"][k] ** 2) for k in (0, 1)]
            if env.keras:  # Keras order z, r, h
                (z1, z2, zd), (_, r2, rd) = rz
            else:  # PyTorch order r, z, n
                (_, r2, rd), (z1, z2, zd) = rz
            rec_n = (rec + w["b2_h"]) if g.reset_after else rec
            vn = base + w["b2_in"] + float(r2) * rec_n
            _, n2, nd = m.activation_moments("tanh", {}, 0.0, vn)
            nconst = min(const * float(r2) + w["n_in"] * w["vx"] * mx[t], vn)
            nbar2 = unit_mean2("tanh", 0.0, vn, nconst)
            b = 0.0
            if rho > 0 and cx > 0:  # the drive n's lag-1 covariance beyond its units' constants
                pn0 = m.pair_moment(np.tanh, 0.0, vn, nconst)
                b = lags.beta(m.pair_moment(np.tanh, 0.0, vn, min(nconst + cx, vn)) - pn0, rho, float(n2) - pn0)
            coherent, zproj = lags.step(zproj, b, float(z1), rho, 1 - float(z1))
            one_minus_z2 = 1 - 2 * float(z1) + float(z2)
            mean_nh = math.sqrt(max(nbar2 * hbar2, 0.0))  # E[n̄·h̄]
            cross = 2 * (float(z1) - float(z2)) * (mean_nh + coherent)  # 2·E[(1 − z)·z]·E[n·h_{t−1}]
            qh_prev = qh
            hh = (1 - float(z1)) * (mean_nh + coherent) + float(z1) * qh_prev  # E[h_t·h_{t−1}]
            qh = one_minus_z2 * float(n2) + float(z2) * qh + cross
            hbar2 = ((1 - float(z1)) * math.sqrt(max(nbar2, 0.0)) + float(z1) * math.sqrt(max(hbar2, 0.0))) ** 2
            st.update(r2=float(r2), rd=float(rd), z2=float(z2), zd=float(zd), z1=float(z1), n2=float(n2),
                      nd=float(nd), omz2=one_minus_z2, rec_n=rec_n, v=v, vn=vn, lag={"hh": hh})  # fmt: skip
        else:
            v = base + rec + w["b2_in"] + w["b2_h"]
            _, h2, hd = m.activation_moments("tanh", {}, 0.0, v)
            qh_prev = qh
            qh = float(h2)
            hbar2 = unit_mean2("tanh", 0.0, v, const)
            hh = m.pair_moment(np.tanh, 0.0, v, min(const + cx, v)) if t > 0 and v > 0 else 0.0
            st.update(hd=float(hd), v=v, lag={})
        st["qh"] = qh
        st["hbar2"] = min(hbar2, qh)
        st["hh"] = hh if t > 0 else 0.0
        st["hh_norm"] = math.sqrt(max(qh * qh_prev, 0.0)) if t > 0 else 0.0
        steps.append(st)
        state = (qh, qc, hbar2, cbar2)
        if settle and previous and all(abs(a - b) <= 1e-12 * abs(a) for a, b in zip(state, previous, strict=True)):
            break
        previous = state
    return {"steps": steps, "qh": np.array([s["qh"] for s in steps]),
            "hbar2": np.array([s["hbar2"] for s in steps])}  # fmt: skip


def stationary(lt, g, env, w, qx: float) -> dict:
    """Where the recursion settles for a long sequence of inputs with second moment qx. A pure
    function of the numbers in the key, kept for the run (lint over many specs, diff of two)."""
    numbers = tuple(tuple(v) if isinstance(v, list) else v for v in w.values())
    key = (lt.cell, g.units, g.reset_after, env.keras, qx, numbers)
    out = _SETTLED.get(key)
    if out is None:
        settled = run(lt, g, env, w, [qx] * 200, settle=True)
        last = settled["steps"][-1]
        out = {"qh": last["qh"]}
        if lt.cell == "lstm":
            out["qc"] = last["qc"]
            out["f2"] = last["gates"][1][1]
        if len(_SETTLED) >= 1024:
            _SETTLED.clear()
        _SETTLED[key] = out
    return dict(out)


def forward(lt, g, ins, env):
    """The output's statistics and the tag (Recurrent.sig_forward's rule); ins[1:] are the initial
    states. Leaves the runs for `backward` and the final states' statistics (env.info)."""
    import numpy as np

    from ..signal_rules import Sig
    from . import recurrent_lags as lags

    x = ins[0]
    qx = np.atleast_1d(env.fit(x.q, (g.steps,)))
    starts = _starts(lt, g, ins[1:])
    runs = []
    layer_in = qx
    mean_in = qx * x.mfrac  # the input's per-feature mean² per step
    # the input's neighbours are its steps when its map is over them (features last)
    rho = lags.ar1(x.corr, x.mfrac) if np.ndim(x.q) == 1 and np.size(x.q) == g.steps else 0.0
    for layer, n_in in enumerate(lt._inputs(g)):
        w = weights(lt, g, env, layer, n_in)
        fwd = run(lt, g, env, w, layer_in, mean_in, start=starts.get((layer, 0)), rho=rho)
        dirs = [fwd]
        if g.dirs == 2:
            bwd = run(lt, g, env, w, layer_in[::-1], mean_in[::-1], start=starts.get((layer, 1)), rho=rho)
            bwd["qh_time"] = bwd["qh"][::-1]
            bwd["hbar2_time"] = bwd["hbar2"][::-1]
            dirs.append(bwd)
        fwd["qh_time"] = fwd["qh"]
        fwd["hbar2_time"] = fwd["hbar2"]
        runs.append((w, dirs))
        layer_in = sum(d["qh_time"] for d in dirs) / len(dirs)
        mean_in = sum(d["hbar2_time"] for d in dirs) / len(dirs)
        corr = lag1(dirs)
        rho = lags.ar1(corr, float(np.sum(mean_in)) / max(float(np.sum(layer_in)), 1e-300))
    w, dirs = runs[-1]
    seq = merge([d["qh_time"] for d in dirs], g.merge)
    if g.sequences:
        q = seq
    else:
        last = [dirs[0]["qh"][-1]]
        if len(dirs) == 2:
            last.append(dirs[1]["qh"][-1] if env.keras else dirs[1]["qh_time"][-1])
        q = np.asarray(merge([np.asarray(v) for v in last], g.merge))
    env.info.runs = runs
    first = runs[0][1][0]["steps"][0]
    if lt.cell == "lstm":
        env.info.gates_step1 = first["gates"]
    env.info.stationary = stationary(lt, g, env, runs[-1][0], float(np.mean(layer_in)))
    env.info.extra = _final_states(lt, g, env, runs)
    qm = float(np.mean(q)) if np.size(q) else 0.0
    hb = float(np.mean(mean_in)) if g.sequences else float(dirs[0]["hbar2"][-1])
    mfrac = min(hb / qm, 1.0) if qm > 0 else 0.0
    # the positions of (T, width) are the steps when features come last (a sequence layout); in a
    # channels-first graph they are not the steps, and the map is then its mean everywhere. A
    # sequence's neighbours are its steps: their correlation E[h_t·h_{t−1}]/E[h²] (run's "hh")
    pos = env.positions(lt.output_shape(g))
    corr = max(lag1(dirs), mfrac) if g.sequences and len(pos) == 1 and pos[0] == g.steps else mfrac
    return Sig(env.fit(q, pos), 0.0, mfrac, corr, gauss=False), (
        "MF" if g.steps == 1 and g.layers == 1 and qm >= 0 else "A"
    )


def lag1(dirs) -> float:
    """The output's uncentred lag-1 correlation, Σ_t E[h_t·h_{t−1}] / Σ_t √(E[h_t²]·E[h_{t−1}²]) over
    the steps and directions (a merge of two directions taken as their average)."""
    num = sum(s["hh"] for d in dirs for s in d["steps"])
    den = sum(s["hh_norm"] for d in dirs for s in d["steps"])
    return min(num / den, 1.0) if den > 0 else 0.0


def _state_slots(lt, g) -> list[tuple[int, list[tuple[int, int]], str]]:
    """Where each state tensor (the initial ones read after the sequence, the final ones of
    return_state, in the same order) sits: (index among the states, the (stacked layer, direction)
    of each of its rows, the cell's state 'h' or 'c'). Keras: one tensor per state and direction, of
    the last stacked layer (the only one when initial states are given); PyTorch: one tensor per
    state, a row per layer and direction (row layer·D + d)."""
    states = lt.state_kinds
    if g.keras:
        return [(d * len(states) + k, [(g.layers - 1, d)], s) for d in range(g.dirs) for k, s in enumerate(states)]
    rows = [(layer, d) for layer in range(g.layers) for d in range(g.dirs)]
    return [(k, rows, s) for k, s in enumerate(states)]


def _row(q, i: int, n: int) -> float:
    """Row i of a map with n rows (a state's rows, features last), else the map's mean."""
    import numpy as np

    q = np.asarray(q, float)
    return float(q[i]) if q.shape == (n,) else (float(np.mean(q)) if q.size else 0.0)


def _starts(lt, g, states) -> dict:
    """The initial state of each (stacked layer, direction) as `run` takes it: (E[h₀²], E[c₀²],
    E[h̄₀²], E[c̄₀²]), the mean parts from the states' channel-mean fractions."""
    if not states:
        return {}
    found: dict = {}
    for index, rows, s in _state_slots(lt, g):
        sig = states[index]
        for i, key in enumerate(rows):
            q = _row(sig.q, i, len(rows))
            cur = found.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            at = 0 if s == "h" else 1
            cur[at], cur[at + 2] = q, q * sig.mfrac
    return {key: tuple(v) for key, v in found.items()}


def _final_states(lt, g, env, runs) -> dict:
    """The statistics of the named extra outputs (return_state), each row its own layer and
    direction's final state."""
    import numpy as np

    from ..signal_rules import Sig

    shapes = lt.extra_outputs(g)
    if not shapes:
        return {}
    out = {}
    for (suffix, shape), (_, rows, s) in zip(shapes.items(), _state_slots(lt, g), strict=True):
        q, mean2 = [], []
        for layer, d in rows:
            last = runs[layer][1][d]["steps"][-1]
            q.append(last["qh" if s == "h" else "qc"])
            mean2.append(last["hbar2" if s == "h" else "cbar2"])
        qm = float(np.mean(q))
        mfrac = min(float(np.mean(mean2)) / qm, 1.0) if qm > 0 else 0.0
        out[suffix] = Sig(env.fit(np.asarray(q), env.positions(shape)), 0.0, mfrac, 0.0)
    return out


def merge(maps, mode):
    if len(maps) == 1:
        return maps[0]
    a, b = maps
    return {"concat": (a + b) / 2, "sum": a + b, "mul": a * b, "ave": (a + b) / 4}[mode]


def back(lt, g, env, w, run, r_h, r_c: float = 0.0, rho: float = 0.0):
    """Back-propagation through time in second moments for one direction (steps in run order):
    (E[dx²] per step, E[dh₀²], E[dc₀²], the gradient's correlation between neighbouring steps at
    the input), the second and third the gradient at the initial states; r_c is the gradient at the
    final cell state (return_state's c). Rests on gradient independence [A].

    `rho`: the correlation of r_h between neighbouring steps (a recurrent layer above: Info.rcorr),
    taken as AR(1) backwards in time. The state that carries the gradient back (an LSTM's dc_t =
    dh_t·o_t·tanh'(c_t) + f_{t+1}·dc_{t+1}, a GRU's dh_{t−1} ∋ z_t·dh_t) then sums a correlated drive
    coherently, recurrent_lags' algebra run backwards: + 2·E[f]·β·ρ·Z with β² = E[dh²]·E[o_t·o_{t+1}]·E[tanh'²]
    (GRU + 2·E[z]·β·ρ·Z with β² the gradient r_h itself) [A]. The input's gradient correlation is
    `lags.dx_lag1`'s."""
    import math

    import numpy as np

    from . import recurrent_lags as lags

    u = g.units
    kx, kh = w["kx"], w["kh"]  # a gradient through a dropout mask: ÷ keep
    carry_h, carry_c = 0.0, r_c
    rc = rh_next = 0.0
    rx = np.zeros(len(run["steps"]))
    zb, nxt = 0.0, None  # the carried gradient's projection (lags.step), the step after
    cov_sum = norm_sum = 0.0  # Σ E[dx_t·dx_{t+1}], Σ √(E[dx_t²]·E[dx_{t+1}²])
    for t in range(len(run["steps"]) - 1, -1, -1):
        st = run["steps"][t]
        rh = r_h[t] + carry_h
        c_h = rho * math.sqrt(max(r_h[t] * r_h[t + 1], 0.0)) if nxt is not None else 0.0  # E[dh_t·dh_{t+1}]
        if lt.cell == "lstm":
            (_, i2, id2, _, _), (f1, f2, fd2, _, _), (_, g2, gd2, _, _), (_, o2, od2, _, _) = st["gates"]
            f_next = nxt["gates"][1][0] if nxt is not None else f1
            b = math.sqrt(max(r_h[t] * st["lag"]["oo"] * st["dtc2"], 0.0)) if rho > 0 else 0.0
            coherent, zb = lags.step(zb, b, f_next, rho)
            c_c = f_next * rc + coherent if nxt is not None else 0.0  # E[dc_t·dc_{t+1}], rc still dc_{t+1}'s
            rc = rh * o2 * st["dtc2"] + carry_c + 2 * f_next * coherent
            da = [rc * g2 * id2, rc * st["qc_prev"] * fd2, rc * i2 * gd2, rh * st["tc2"] * od2]
            carry_c = rc * f2
            lag_d = (c_c, c_h)
        elif lt.cell == "gru":
            z_next = nxt["z1"] if nxt is not None else 0.0
            coherent, zb = lags.step(zb, math.sqrt(max(r_h[t], 0.0)) if rho > 0 else 0.0, z_next, rho)
            rh += 2 * z_next * coherent
            lag_d = ((z_next * rh_next + coherent) if nxt is not None else 0.0,)
            dn = rh * st["omz2"] * st["nd"]
            dz = rh * (st["qh_prev"] + st["n2"]) * st["zd"]
            dr = dn * st["rec_n"] * st["rd"]
            da = [dn, dz, dr]
            carry_h_direct = rh * st["z2"] + u * w["vh"] * st["r2"] * dn / kh
            da_rec = dz + dr
        else:
            da = [rh * st["hd"]]
            lag_d = (c_h,)
        carry_h = carry_h_direct + u * w["vh"] * da_rec / kh if lt.cell == "gru" else u * w["vh"] * sum(da) / kh
        rx[t] = u * w["vx"] * sum(da) / kx
        if nxt is not None:
            cov_sum += u * w["vx"] * lags.dx_lag1(lt.cell, st, lag_d) / w["kc"]
            norm_sum += math.sqrt(max(rx[t] * rx[t + 1], 0.0))
        nxt, rh_next = st, rh
    corr = min(max(cov_sum / norm_sum, 0.0), 1.0) if norm_sum > 0 else 0.0
    return rx, carry_h, (carry_c if lt.cell == "lstm" else 0.0), corr


def backward(lt, g, ins, out, r, env):
    """The gradient's second moment at the sequence and at each initial state, and the tag
    (Recurrent.sig_backward's rule). The gradient at the final states (return_state's outputs, read
    by later layers: env.info.r_extra) enters each layer and direction's last step."""
    import numpy as np

    from . import recurrent_lags as lags

    runs = env.info.runs
    T = g.steps
    r = np.asarray(r, float)
    if g.sequences:
        r_seq = np.broadcast_to(env.fit(r, (T,)), (T,)).astype(float)
        per_dir = [r_seq, r_seq]
        rho = lags.ar1(env.info.rcorr, 0.0)  # the gradient's correlation between steps (a recurrent layer above)
    else:
        rm = float(np.mean(r))
        fwd = np.zeros(T)
        fwd[-1] = rm
        bwd_time = np.zeros(T)
        if env.keras:
            bwd_time[0] = rm
        else:
            bwd_time[-1] = rm
        per_dir = [fwd, bwd_time]
        rho = 0.0
    factor = {"concat": 1.0, "sum": 1.0, "ave": 0.25, "mul": 1.0}[g.merge]
    finals: dict = {}  # (layer, direction) -> [r at the final h, r at the final c]
    extra = env.info.r_extra or {}
    for suffix, (_, rows, s) in zip(
        lt.extra_outputs(g), _state_slots(lt, g), strict=False
    ):  # none without return_state
        if suffix in extra:
            for i, key in enumerate(rows):
                finals.setdefault(key, [0.0, 0.0])[0 if s == "h" else 1] += _row(extra[suffix], i, len(rows))
    at_start: dict = {}  # (layer, direction) -> (r at h₀, r at c₀)
    for layer in range(len(runs) - 1, -1, -1):
        w, dirs = runs[layer]
        rx_time = np.zeros(T)
        corrs = []
        for d, one in enumerate(dirs):
            r_proc = (per_dir[d] * factor)[::-1] if d == 1 else per_dir[d] * factor  # processing order
            r_hn, r_cn = finals.get((layer, d), (0.0, 0.0))
            if r_hn:
                r_proc = r_proc.copy()
                r_proc[-1] += r_hn
            rx, r_h0, r_c0, corr = back(lt, g, env, w, one, r_proc, r_cn, rho)
            corrs.append(corr)
            at_start[(layer, d)] = (r_h0, r_c0)
            rx_time = rx_time + (rx[::-1] if d == 1 else rx)
        per_dir = [rx_time, rx_time]
        rho = lags.ar1(sum(corrs) / len(corrs), 0.0)
        factor = 1.0
    to_states = []
    for _, rows, s in _state_slots(lt, g)[: len(ins) - 1]:
        vals = [at_start[key][0 if s == "h" else 1] for key in rows]
        to_states.append(np.asarray(vals) if len(vals) > 1 else np.asarray(vals[0]))
    env.info.rcorr_in = [rho] + [0.0] * len(to_states)
    return [per_dir[0], *to_states], "A"
