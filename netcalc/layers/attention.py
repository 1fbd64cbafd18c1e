"""Multi-head attention (Vaswani et al. 2017) on sequences (T, d), features last: self-attention on
one input, cross-attention with a second input (S, d_kv) of keys and values (`in: [x, memory]`);
grouped-query and multi-query attention by `kv_heads` (Ainslie et al. 2023; Shazeer 2019).

Tensors, by counting convention (`attention_layout`):
- PyTorch `nn.MultiheadAttention(d, heads, batch_first=True)` where it can hold the layer (kv_heads =
  heads, heads·head_dim = d): `in_proj_weight` (3d, d) and `in_proj_bias` (3d), or with d_kv ≠ d
  (its `kdim`/`vdim`) `q_proj_weight` (d, d), `k_proj_weight` (d, d_kv), `v_proj_weight` (d, d_kv) and
  `in_proj_bias` (3d); then `out_proj.weight` (d, d) and `out_proj.bias` (d).
- PyTorch otherwise (it has no kv_heads, and no head_dim of its own): four `nn.Linear` layers as
  Llama's attention writes them, `q_proj` (heads·hd, d), `k_proj`, `v_proj` (kv_heads·hd, d_kv),
  `o_proj` (d, heads·hd), each `.weight` and (with bias) `.bias`.
- Keras `MultiHeadAttention(num_heads, key_dim)`: `query/kernel` (d, heads, hd), `query/bias`
  (heads, hd), `key/…` and `value/…` (d_kv, heads, hd), `attention_output/kernel` (heads, hd, d),
  `attention_output/bias` (d); with kv_heads ≠ heads `GroupQueryAttention` (key and value with
  kv_heads heads; Keras 3.15 refuses d_kv ≠ d there).

MACs: the four projections, plus the two products of activations, QKᵀ and A·V, heads·hd per visible
(query, key) pair each (`activation_products`). A causal mask hides the pairs j > i: they are
counted (the frameworks' dense kernels compute the whole T×T product and fvcore counts it) unless
`count_masked: false`, which counts the T(T + 1)/2 visible pairs only (what a FlashAttention-style
kernel computes). FLOPs: 2 per MAC, 1 per bias add, 1 per query element for the 1/√hd scale (both
frameworks scale q), 3 per attention score for the softmax (exponential, sum, divide: the softmax
op's count), 0 for the mask (a select) and for the dropout (the identity at inference).
"""

from __future__ import annotations

from ..kinds import Arg, Bool, Float, Int
from .attention_signal import attention_layout
from .base import Geometry, LayerType, Tensor
from .conv import INIT_ARGS

SEQUENCE = "a sequence (steps, features)"


class Attention(LayerType):
    """Multi-head scaled dot-product attention, y = concat_h(softmax(Q_h K_hᵀ/√hd) V_h)·W_o + b_o, with
    Q = x W_q + b_q, K = m W_k + b_k, V = m W_v + b_v (m = x for self-attention). Output (T, d)."""

    op = "attention"
    aliases = ("multihead_attention", "multi_head_attention", "mha")
    summary = "multi-head attention: self, or cross with in: [x, memory]; grouped-query by kv_heads"
    counting = ("MACs the 4 projections + QKᵀ and A·V (activation × activation: heads·head_dim per visible "
                "pair each, a causal mask's hidden pairs counted unless count_masked: false); FLOPs 2 per MAC "
                "+ 1 per bias add + 1 per query element (1/√head_dim) + 3 per score (softmax)")  # fmt: skip
    parametric = weighted = True
    reads_sequence = True
    optional_inputs = 1  # the keys' and values' sequence: cross-attention
    args = {
        "heads": Arg(Int(1, window=True), doc="attention heads (query heads)"),
        "head_dim": Arg(Int(1, window=True), None, "size of each head's query, key and value (default d/heads)"),
        "kv_heads": Arg(Int(1, window=True), None, "key/value heads (default heads; 1: multi-query; must divide heads)"),
        "causal": Arg(Bool(), False, "query i sees keys j ≤ i only (self-attention, or S = T)"),
        "count_masked": Arg(Bool(), True, "with causal: count the masked pairs' products (as fvcore); false: the visible T(T + 1)/2 only"),
        "bias": Arg(Bool(), True, "biases on the four projections (PyTorch bias=, Keras use_bias=)"),
        "dropout": Arg(Float(0.0, 1.0, max_exclusive=True), 0.0, "dropout on the attention weights in training (no parameters)"),
        **INIT_ARGS,
    }  # fmt: skip

    def several_inputs(self, written):
        """E115's advice: attention reads a query sequence and at most one key/value sequence."""
        return "attention reads the queries and at most one sequence of keys and values: in: [x, memory]"

    def resolve(self, a, shapes, ctx):
        """Both inputs (T, d) and (S, d_kv); heads·head_dim need not be d when head_dim is given (the
        output projection maps it back to d); kv_heads divides heads; causal needs S = T."""
        if not all(ctx.need_rank(shape, 2, SEQUENCE) for shape in shapes):
            return None
        (t, d), (s, d_kv) = shapes[0], shapes[-1]
        heads, kv = a["heads"], a["kv_heads"] or a["heads"]
        hd = a["head_dim"]
        if hd is None:
            ctx.condition("equal", d % heads, f"the width {d} divisible by the heads {heads}", "heads")
            if d % heads:
                ctx.error("E212", f"heads {heads} does not divide the query's width {d}; give head_dim or "
                          f"heads dividing {d}", "heads")  # fmt: skip
                return None
            hd = d // heads
        if heads % kv:
            ctx.error("E213", f"kv_heads {kv} does not divide heads {heads}: each key/value head serves "
                      "heads/kv_heads query heads", "kv_heads")  # fmt: skip
            return None
        cross = len(shapes) > 1
        if a["causal"] and cross:
            ctx.same([t, s], f"a causal mask's {t} queries and {s} keys equal", "causal")
            if s != t:
                ctx.error("E214", f"causal with {t} queries and {s} keys: a causal mask pairs query i with "
                          "keys j ≤ i of the same sequence (frameworks align a T×S mask differently); "
                          "drop causal or give a memory of the queries' length", "causal")  # fmt: skip
                return None
        return Geometry(t=t, d=d, s=s, d_kv=d_kv, heads=heads, hd=hd, kv=kv, cross=cross, causal=a["causal"],
                        count_masked=a["count_masked"], bias=a["bias"], dropout=a["dropout"])  # fmt: skip

    def output_shape(self, g):
        """(T, d): one vector of the query's width per query."""
        return (g.t, g.d)

    def params(self, g, ctx):
        """The convention's tensors (module docstring); biases only with bias."""
        d, d_kv, qd, kvd = g.d, g.d_kv, g.heads * g.hd, g.kv * g.hd
        layout = attention_layout(g, ctx.keras_counting)
        b = g.bias
        if layout == "mha":
            out = [Tensor("in_proj_weight", (3 * d, d))] + ([Tensor("in_proj_bias", (3 * d,))] if b else [])
        elif layout == "mha_kdim":
            out = [Tensor("q_proj_weight", (d, d)), Tensor("k_proj_weight", (d, d_kv)),
                   Tensor("v_proj_weight", (d, d_kv))] + ([Tensor("in_proj_bias", (3 * d,))] if b else [])  # fmt: skip
        elif layout == "linear":
            out = []
            for name, shape in (("q_proj", (qd, d)), ("k_proj", (kvd, d_kv)), ("v_proj", (kvd, d_kv)),
                                ("o_proj", (d, qd))):  # fmt: skip
                out.append(Tensor(f"{name}.weight", shape))
                if b:
                    out.append(Tensor(f"{name}.bias", shape[:1]))
            return out
        else:
            out = []
            for name, n_in, h in (("query", d, g.heads), ("key", d_kv, g.kv), ("value", d_kv, g.kv)):
                out.append(Tensor(f"{name}/kernel", (n_in, h, g.hd)))
                if b:
                    out.append(Tensor(f"{name}/bias", (h, g.hd)))
            out.append(Tensor("attention_output/kernel", (g.heads, g.hd, d)))
            return out + ([Tensor("attention_output/bias", (d,))] if b else [])
        return out + [Tensor("out_proj.weight", (d, d))] + ([Tensor("out_proj.bias", (d,))] if b else [])

    def pairs(self, g):
        """The (query, key) pairs counted per head: T·S, or T(T + 1)/2 with a causal mask not counted."""
        if g.causal and not g.count_masked:
            return g.t * (g.t + 1) // 2
        return g.t * g.s

    def projection_macs(self, g):
        """T·d·heads·hd (Q) + 2·S·d_kv·kv_heads·hd (K, V) + T·heads·hd·d (output)."""
        return g.t * g.d * g.heads * g.hd * 2 + 2 * g.s * g.d_kv * g.kv * g.hd

    def activation_products(self, g):
        """The MACs of products of two activations, by name: QKᵀ and A·V, heads·pairs·hd each."""
        n = g.heads * self.pairs(g) * g.hd
        return {"qk": n, "av": n}

    def macs(self, g):
        """The four projections plus QKᵀ and A·V (`activation_products`), bias excluded."""
        return self.projection_macs(g) + 2 * g.heads * self.pairs(g) * g.hd

    def flops(self, g):
        """2 per MAC; with bias, T·heads·hd + 2·S·kv_heads·hd + T·d adds; T·heads·hd for the 1/√hd scale
        of q; 3·heads·pairs for the softmax."""
        adds = g.t * g.heads * g.hd + 2 * g.s * g.kv * g.hd + g.t * g.d if g.bias else 0
        return 2 * self.macs(g) + adds + g.t * g.heads * g.hd + 3 * g.heads * self.pairs(g)

    def receptive(self, g, rf):
        """Every query reads every key: no window."""
        return None

    def explain(self, g, ctx):
        """The heads, the tensors by convention, the MACs split into projections and activation products."""
        from .attention_signal import explain_lines

        return explain_lines(self, g, ctx)

    def sig_forward(self, g, ins, env):
        """[A] at initialisation, with zero-mean independent weights: E[Q²] = Var(w_q)·d·q_x + E[b_q²]
        (K and V alike on the memory); the logits s = q·k/√hd have variance E[Q²]·E[K²]·(1 − f_K)
        (f_K: the part of K common to every position, which the softmax cancels); over n visible keys
        the weights' E[Σ_j a_j²] comes from the softmax op's Monte Carlo (≈ e^v/n for small logits,
        1/n when uniform); the head output o = Σ_j a_j v_j has E[o²] = E[V²]·(f_V + (1 − f_V)·E[Σa²])
        (the weights taken independent of V); y = o·W_o + b_o as a dense layer. W303's softmax
        saturation is reported on the logit std (netcalc.layers.attention_signal)."""
        from .attention_signal import forward

        return forward(self, g, ins, env)

    def sig_backward(self, g, ins, out, r, env):
        """[A] r_o = Var(w_o)·d·r_y; the V path E[dV_j²] = (heads/kv)·r_o·Σ_i E[a_ij²]; the Q and K paths
        through the softmax's Jacobian (its Monte Carlo gain γ): E[dQ²] = n·γ·r_o·E[V²]·E[K²], E[dK²] =
        (heads/kv)·Σ_i γ·r_o·E[V²]·E[Q²]; each input's r the three paths' sums through their weights
        (the paths taken independent); self-attention gets all three, cross-attention Q's at the queries
        and K's and V's at the memory."""
        from .attention_signal import backward

        return backward(self, g, ins, out, r, env)
