"""Attention's tensor layouts, signal rules and explain text (netcalc.layers.attention holds the type; NumPy only
inside the functions, so the summary path never loads it).

At initialisation the weights are zero-mean and independent of the input, and the logits are small
when the projections keep the scale: the softmax weights are then nearly uniform over the n visible
keys. The rules [A] (derived in Attention.sig_forward/sig_backward's docstrings):

    E[Q²] = Var(w_q)·d·q_x + E[b_q²]            (K, V alike on the memory, d_kv)
    v     = E[Q²]·E[K²]·(1 − f_K)               the logits' variance (f_K: K's part common to all keys)
    s(n)  = E[Σ_j a_j²] = n·E[p²]                the softmax op's Monte Carlo over n keys (≈ e^v/n)
    E[o²] = E[V²]·(f_V + (1 − f_V)·s(n))         a weighted average of the values
    q_y   = Var(w_o)·heads·hd·E[o²] + E[b_o²]

n is S, or i + 1 for query i under a causal mask (s interpolated over a grid of n in log n). The
default weight moments are each framework's: PyTorch nn.MultiheadAttention draws in_proj (and
q/k/v_proj_weight) xavier_uniform and its out_proj as nn.Linear (U(±1/√d)), biases 0; the Llama-style
nn.Linear layers U(±1/√fan_in) for weights and biases; Keras glorot_uniform with fans (in, heads·hd)
and (heads·hd, d) (EinsumDense's input and output axes), biases 0.
"""

from __future__ import annotations

from math import prod


def attention_layout(g, keras: bool) -> str:
    """Which framework layer holds it: 'mha' (nn.MultiheadAttention, fused in_proj), 'mha_kdim' (its
    separate q/k/v weights for d_kv ≠ d), 'linear' (four nn.Linear, Llama style), 'keras_mha'
    (MultiHeadAttention), 'keras_gqa' (GroupQueryAttention)."""
    if keras:
        return "keras_mha" if g.kv == g.heads else "keras_gqa"
    if g.kv != g.heads or g.heads * g.hd != g.d:
        return "linear"
    return "mha" if g.d_kv == g.d else "mha_kdim"


def _moments(g, env):
    """Var of each projection's weights and E[b²] of its bias: {'q': (wv, b2), 'k', 'v', 'o'}."""
    from .. import initializers as inits

    keras = env.keras
    layout = attention_layout(g, keras)
    qd, kvd = g.heads * g.hd, g.kv * g.hd
    shapes = {"q": (g.d, qd), "k": (g.d_kv, kvd), "v": (g.d_kv, kvd), "o": (qd, g.d)}  # (in, out)
    node = env.row.node
    default = node.args.get("init", inits.InitSpec("default")).name == "default" and env.override is None
    out = {}
    for key, (n_in, n_out) in shapes.items():
        shape = (n_in, n_out) if keras else (n_out, n_in)
        fan = (3 * g.d, g.d) if key != "o" and layout == "mha" else shape  # the fused in_proj is one tensor
        if key != "o" and layout in ("mha", "mha_kdim") and default:  # nn.MultiheadAttention's xavier
            wm, wv = inits.moments(inits.InitSpec("glorot_uniform", {"gain": 1.0}), fan, False)
        else:
            wm, wv = env.init("init", "kernel", fan)
        b2 = 0.0
        if g.bias and not (layout in ("mha", "mha_kdim") and node.args.get("bias_init").name == "default"):
            bm, bv = env.init("bias_init", "bias", shape)
            b2 = bv + bm * bm
        out[key] = (wv + wm * wm, b2)
    return out


def _sum_a2(n_values, v: float, env):
    """(E[Σ_j a_j²], the softmax's backward gain γ, P(max p > 0.9)) over n keys for each n given,
    from the softmax op's Monte Carlo at a grid of n (interpolated in log n)."""
    import numpy as np

    n_values = np.asarray(n_values, float)
    if n_values.min() == n_values.max():  # every query sees the same keys: one Monte Carlo
        p2, gam, sat = env.moments.softmax_moments(int(n_values[0]), 0.0, v)
        return np.full(n_values.shape, n_values[0] * p2), np.full(n_values.shape, gam), sat
    top = int(n_values.max())
    grid = np.unique(np.round(np.geomspace(1, top, min(top, 12))).astype(int)) if top > 1 else np.array([1])
    stats = [env.moments.softmax_moments(int(n), 0.0, v) for n in grid]
    s = np.array([n * p2 for n, (p2, _, _) in zip(grid, stats, strict=True)])
    gam = np.array([dg for _, dg, _ in stats])
    if len(grid) == 1:
        return np.full(n_values.shape, s[0]), np.full(n_values.shape, gam[0]), stats[0][2]
    lg = np.log(grid)
    return np.interp(np.log(n_values), lg, s), np.interp(np.log(n_values), lg, gam), stats[-1][2]


def _visible(g):
    """The number of keys each query sees: S, or i + 1 under a causal mask."""
    import numpy as np

    return np.arange(1, g.t + 1, dtype=float) if g.causal else np.full(int(g.t), float(g.s))


def forward(ltype, g, ins, env):
    """Attention.sig_forward: the output's Sig and the tag."""
    import math

    import numpy as np

    from ..signal_rules import Sig

    x, m = ins[0], ins[-1]
    w = _moments(g, env)
    qx, qm = x.mean, m.mean  # per-element second moments, averaged over the positions
    wq, bq = w["q"]
    wk, bk = w["k"]
    wv_, bv = w["v"]
    wo, bo = w["o"]
    q_q = wq * g.d * qx + bq
    q_k = wk * g.d_kv * qm + bk
    q_v = wv_ * g.d_kv * qm + bv
    f_k = (wk * g.d_kv * qm * m.mfrac + bk) / q_k if q_k > 0 else 0.0
    f_v = (wv_ * g.d_kv * qm * m.mfrac + bv) / q_v if q_v > 0 else 0.0
    logit_var = q_q * q_k * (1.0 - f_k)
    n = _visible(g)
    s, gam, sat = _sum_a2(n, logit_var, env)
    q_o = q_v * (f_v + (1.0 - f_v) * s)  # per query position
    q_y = wo * g.heads * g.hd * q_o + bo
    pos = env.positions(ltype.output_shape(g))
    qy = env.fit(q_y, pos) if np.shape(q_y) == tuple(pos) else np.full(pos, float(np.mean(q_y)))
    qym = float(qy.mean()) if qy.size else 0.0
    common = wo * g.heads * g.hd * q_v * f_v + bo  # the values' common part survives the average
    pair = wo * g.heads * g.hd * q_v * (f_v + (1.0 - f_v) / np.maximum(n, 1.0)).mean() + bo  # two queries
    info = env.info
    info.wv = wo
    info.fan_in = g.heads * g.hd
    info.logit_std = math.sqrt(max(logit_var, 0.0))
    info.softmax_saturation = sat
    info.dgain = float(np.mean(gam))
    info.bias_fraction = bo / qym if qym > 0 else 0.0
    info.attention = {"q": q_q, "k": q_k, "v": q_v, "s": s, "gamma": gam}
    out = Sig(qy, 0.0, common / qym if qym > 0 else 0.0, min(pair / qym, 1.0) if qym > 0 else 0.0, gauss=True)
    return out, "A"


def backward(ltype, g, ins, out, r, env):
    """Attention.sig_backward: r at each input and the tag."""
    import numpy as np

    a = env.info.attention
    w = _moments(g, env)
    wq, wk, wv_, wo = w["q"][0], w["k"][0], w["v"][0], w["o"][0]
    r_y = float(np.mean(r)) if np.size(r) else 0.0
    r_o = wo * g.d * r_y  # per element of the heads' outputs
    share = g.heads / g.kv  # query heads per key/value head: their gradients add at K and V
    s, gam = np.asarray(a["s"], float), np.asarray(a["gamma"], float)
    n = _visible(g)
    per_a2 = s / n  # E[a_ij²] for each query row
    if g.causal:  # key j is seen by the queries i ≥ j
        col_a2 = np.cumsum(per_a2[::-1])[::-1]
        col_gam = np.cumsum(gam[::-1])[::-1]
    else:
        col_a2 = np.full(int(g.s), float(per_a2.sum()))
        col_gam = np.full(int(g.s), float(gam.sum()))
    d_v = share * r_o * col_a2
    d_k = share * r_o * a["v"] * a["q"] * col_gam
    d_q = r_o * a["v"] * a["k"] * n * gam
    r_q = wq * g.heads * g.hd * d_q  # at the query positions
    r_kv = wk * g.kv * g.hd * d_k + wv_ * g.kv * g.hd * d_v  # at the memory positions
    pos_x = env.positions(env.row.in_shapes[0])
    pos_m = env.positions(env.row.in_shapes[-1])
    if not g.cross:
        return [env.fit(r_q + r_kv, pos_x)], "A"
    return [env.fit(r_q, pos_x), env.fit(r_kv, pos_m)], "A"


def explain_lines(ltype, g, ctx) -> list[str]:
    """Attention.explain: the heads, the tensors by convention, the MACs split, the FLOPs."""
    layout = attention_layout(g, ctx.keras_counting)
    qd, kvd = g.heads * g.hd, g.kv * g.hd
    kind = "cross-attention" if g.cross else "self-attention"
    grouped = (" (multi-query)" if g.kv == 1 else " (grouped-query)") if g.kv != g.heads else ""
    lines = [
        f"{kind}: {g.t} queries of width {g.d} over {g.s} keys/values of width {g.d_kv}; {g.heads} heads × "
        f"head_dim {g.hd} = {qd}, {g.kv} key/value heads{grouped}"
        + (f", each serving {g.heads // g.kv} query heads" if g.kv != g.heads else ""),
    ]
    held = {
        "mha": f"nn.MultiheadAttention({g.d}, {g.heads}, batch_first=True): the fused in_proj_weight (3d, d)",
        "mha_kdim": f"nn.MultiheadAttention({g.d}, {g.heads}, kdim={g.d_kv}, vdim={g.d_kv}): q/k/v_proj_weight",
        "linear": "four nn.Linear layers q_proj, k_proj, v_proj, o_proj (Llama style: nn.MultiheadAttention has "
        "no kv_heads and no head_dim of its own, so it cannot hold this layer)",
        "keras_mha": f"Keras MultiHeadAttention(num_heads={g.heads}, key_dim={g.hd})",
        "keras_gqa": f"Keras GroupQueryAttention(head_dim={g.hd}, num_query_heads={g.heads}, "
        f"num_key_value_heads={g.kv})" + ("; Keras 3.15 refuses a memory of another width" if g.d_kv != g.d else ""),
    }[layout]
    lines.append(f"held as {held}")
    weights = g.d * qd + 2 * g.d_kv * kvd + qd * g.d
    biases = qd + 2 * kvd + g.d if g.bias else 0
    lines.append(
        f"weights: Q {g.d}×{qd} + K, V 2 × {g.d_kv}×{kvd} + output {qd}×{g.d} = {weights:,}"
        + (f"; biases {qd} + 2 × {kvd} + {g.d} = {biases:,}" if g.bias else "; no biases")
        + f"; {weights + biases:,} parameters"
    )
    proj = ltype.projection_macs(g)
    lines.append(f"MACs of the projections: {g.t}·{g.d}·{qd} (Q) + 2 × {g.s}·{g.d_kv}·{kvd} (K, V) + "
                 f"{g.t}·{qd}·{g.d} (output) = {proj:,}")  # fmt: skip
    prods = ltype.activation_products(g)
    pairs = ltype.pairs(g)
    pair_text = f"{g.t}·{g.s}" if pairs == g.t * g.s else f"{g.t}·({g.t} + 1)/2 visible"
    lines.append(
        f"activation × activation products: QKᵀ {g.heads}·{pair_text}·{g.hd} = {prods['qk']:,} and A·V "
        f"{prods['av']:,} MACs (quadratic in the length: they grow as T·S)"
    )
    if g.causal:
        lines.append(
            "causal mask: "
            + (f"the masked pairs are counted ({g.t}·{g.t} per head, as fvcore counts and the dense kernels "
               "compute them); count_masked: false counts the T(T + 1)/2 visible ones"
               if g.count_masked else
               f"only the {pairs:,} visible pairs per head are counted (count_masked: false; fvcore and the "
               "dense kernels compute all T·T)")
        )  # fmt: skip
    lines.append(f"MACs: {proj:,} + {prods['qk']:,} + {prods['av']:,} = {ltype.macs(g):,}")
    adds = f" + bias adds {qd * g.t + 2 * kvd * g.s + g.t * g.d:,}" if g.bias else ""
    lines.append(
        f"FLOPs: 2 × {ltype.macs(g):,}{adds} + 1/√{g.hd} scale of q {g.t * qd:,} + softmax 3 × "
        f"{g.heads}·{pairs:,} = {ltype.flops(g):,}" + ("; dropout on the weights: 0 at inference" if g.dropout else "")
    )
    lines.append(f"activations kept per sample: the scores {g.heads}×{g.t}×{g.s} = {prod((g.heads, g.t, g.s)):,} "
                 "beside Q, K, V (a dense kernel holds them; a fused one does not)")  # fmt: skip
    return lines
