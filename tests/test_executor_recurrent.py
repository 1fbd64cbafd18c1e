"""The executor's sequence kernels (netcalc/executor/recurrent.py): embedding, rnn, lstm, gru.

1. Gradients (full BPTT) against central finite differences, element by element, for the input
   and every parameter, over a table of cells × conventions × directions × stacking × outputs.
2. Forward values and gradients against PyTorch (nn.RNN / LSTM / GRU / Embedding, float64) with
   the executor's weights copied in; the Keras convention by mapping its gate order onto torch's
   (and a small hand-written NumPy reference for Keras' GRU with reset_after: false, which torch
   does not have).
3. Tensor names, shapes, counts, output shapes and MACs per sample against netcalc.analyze for the
   bundled recurrent specs (the only place netcalc's figures are read: the executor never does).
4. The sampled weights: PyTorch's default U(±1/√u) variance, Keras' orthogonal recurrent kernel
   and unit_forget_bias.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.executor.base import Env
from netcalc.executor.recurrent import RECURRENT_KERNELS
from netcalc.spec import load

SPECS = Path(__file__).resolve().parent.parent / "specs"


def graph_of(tmp_path, text: str, convention: str = "pytorch", shape=(3, 2), dtype: str = "float32"):
    """Load a one-input spec (layers given as YAML lines) written to tmp_path."""
    layers = "\n".join(f"  - {line}" for line in text.strip().splitlines())
    spec = (
        f"netcalc: 1\nconvention: {convention}\n"
        f"input: {{shape: {list(shape)}, layout: ntf, dtype: {dtype}}}\nlayers:\n{layers}\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(spec)
    diags = Diagnostics()
    g = load(str(path), diags)
    assert g is not None and not diags.has_errors(), [d.format() for d in diags.items]
    return g


def build_one(tmp_path, layer: str, convention: str, shape=(3, 2), seed: int = 0, dtype: str = "float32"):
    g = graph_of(tmp_path, layer, convention, shape, dtype)
    node = g.nodes[0]
    env = Env(convention=convention, dtype=np.float64, rng=np.random.default_rng(seed))
    return RECURRENT_KERNELS[node.op].build(node, [tuple(shape)], env), node


def layer_yaml(cell, bidir=False, layers=1, seq=False, state=False, merge="concat", reset_after=True, bias=True, extra=""):  # fmt: skip
    parts = [f"op: {cell}", "units: 2", f"bidirectional: {str(bidir).lower()}", f"num_layers: {layers}",
             f"return_sequences: {str(seq).lower()}", f"return_state: {str(state).lower()}",
             f"merge_mode: {merge}", f"bias: {str(bias).lower()}"]  # fmt: skip
    if cell == "gru":
        parts.append(f"reset_after: {str(reset_after).lower()}")
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


# --------------------------------------------------------------------------- 1. finite differences
# Central differences in float64 with eps = 1e-6: the truncation error is O(eps²·f''') ≈ 1e-12 and
# the rounding error about 1e-16·|L|/eps ≈ 1e-10 for a loss of order 1, so the numerical gradient is
# good to ~1e-9 absolute; a relative tolerance of 1e-5 (with an absolute floor of 1e-8 for entries
# that are nearly zero) is far above that noise and far below any real mistake (a wrong sign, a
# missing term or a swapped gate changes entries at the 1e-2..1 level).
EPS = 1e-6
RTOL, ATOL = 1e-5, 1e-8


def linear_loss(layer, x, weights_y, weights_extra):
    y, extras = layer.forward([x])
    total = float((y * weights_y).sum())
    for k, w in weights_extra.items():
        total += float((extras[k] * w).sum())
    return total


def numeric_grad(f, array: np.ndarray) -> np.ndarray:
    """Central differences of f() with respect to every entry of `array` (perturbed in place)."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]
        array[i] = old + EPS
        up = f()
        array[i] = old - EPS
        down = f()
        array[i] = old
        grad[i] = (up - down) / (2 * EPS)
    return grad


def check_gradients(layer, x: np.ndarray, state_keys=None, seed: int = 1):
    """Analytic dx and parameter gradients against finite differences for the loss
    Σ y·R + Σ_k state_k·R_k (R random), so that dy = R and d state_k = R_k."""
    rng = np.random.default_rng(seed)
    y, extras = layer.forward([x])
    assert y.shape == (x.shape[0], *layer.out_shape)
    assert [(k, v.shape[1:]) for k, v in extras.items()] == list(layer.extra_shapes.items())
    wy = rng.standard_normal(y.shape)
    keys = list(extras) if state_keys is None else state_keys
    wex = {k: rng.standard_normal(extras[k].shape) for k in keys}
    layer.forward([x])
    (dx,) = layer.backward(wy, wex)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert set(grads) == set(layer.params)

    def f():
        return linear_loss(layer, x, wy, wex)

    np.testing.assert_allclose(numeric_grad(f, x), dx, rtol=RTOL, atol=ATOL, err_msg="dx")
    for name, array in layer.params.items():
        assert grads[name].shape == array.shape, name
        np.testing.assert_allclose(numeric_grad(f, array), grads[name], rtol=RTOL, atol=ATOL, err_msg=name)


# biases drawn away from zero so that every bias gradient path is exercised in Keras too
BIAS = "bias_init: {name: normal, std: 0.5}"
CASES = [
    (cell, conv, bidir, layers, seq, state, True, "concat")
    for cell, conv, bidir, layers, seq, state in itertools.product(
        ("rnn", "lstm", "gru"), ("pytorch", "keras"), (False, True), (1, 2), (False, True), (False, True)
    )
]
CASES += [  # Keras GRU with the reset gate before the recurrent product
    ("gru", "keras", bidir, layers, seq, state, False, "concat")
    for bidir, layers, seq, state in itertools.product((False, True), (1, 2), (False, True), (False, True))
]
CASES += [  # merge modes other than concat (with and without sequences; states on)
    (cell, conv, True, 1, seq, True, True, merge)
    for cell, conv, seq, merge in itertools.product(
        ("rnn", "lstm", "gru"), ("pytorch", "keras"), (False, True), ("sum", "mul", "ave")
    )
]
CASES += [("gru", "keras", True, 2, True, True, False, "mul"), ("gru", "keras", True, 1, False, True, False, "ave")]


def _case_id(c):
    cell, conv, bidir, layers, seq, state, reset_after, merge = c
    return "-".join(
        [cell, conv, "bi" if bidir else "uni", f"L{layers}", "seq" if seq else "last", "state" if state else "nostate"]
        + ([] if reset_after else ["reset_before"])
        + ([] if merge == "concat" else [merge])
    )


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradients_match_finite_differences(tmp_path, case):
    cell, conv, bidir, layers, seq, state, reset_after, merge = case
    text = layer_yaml(cell, bidir, layers, seq, state, merge, reset_after, extra=BIAS)
    layer, _ = build_one(tmp_path, text, conv, shape=(3, 2))
    x = np.random.default_rng(2).standard_normal((2, 3, 2))
    check_gradients(layer, x)


@pytest.mark.parametrize("conv", ["pytorch", "keras"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradients_without_bias_and_with_some_states(tmp_path, cell, conv):
    """bias: false (no bias tensors at all), and a gradient into only one of the final states
    (a missing dextras entry means no gradient flows there)."""
    layer, _ = build_one(tmp_path, layer_yaml(cell, True, 2, False, True, bias=False), conv, shape=(3, 2))
    assert not any("bias" in name for name in layer.params)
    x = np.random.default_rng(3).standard_normal((2, 3, 2))
    keys = ["c_backward"] if cell == "lstm" and conv == "keras" else (["c"] if cell == "lstm" else [])
    check_gradients(layer, x, state_keys=keys)


def test_keras_lstm_default_bias_gradients(tmp_path):
    """The default Keras inits (glorot, orthogonal, zeros with the forget slice at 1)."""
    layer, _ = build_one(tmp_path, layer_yaml("lstm", True, 1, True, True), "keras", shape=(4, 3))
    check_gradients(layer, np.random.default_rng(4).standard_normal((3, 4, 3)))


@pytest.mark.parametrize("conv", ["pytorch", "keras"])
def test_embedding_gradient(tmp_path, conv):
    """Repeated ids accumulate into the same row; the ids themselves get None."""
    g = graph_of(tmp_path, "{op: embedding, vocab: 5, dim: 3}", conv, shape=(2, 3), dtype="int64")
    layer = RECURRENT_KERNELS["embedding"].build(g.nodes[0], [(2, 3)], Env(conv, rng=np.random.default_rng(0)))
    assert layer.out_shape == (2, 3, 3)
    ids = np.array([[[0, 1, 1], [4, 0, 1]], [[2, 2, 2], [1, 0, 4]]])
    y, extras = layer.forward([ids])
    name = "embeddings" if conv == "keras" else "weight"
    assert y.shape == (2, 2, 3, 3) and extras == {} and layer.macs == 0
    np.testing.assert_array_equal(y, layer.params[name][ids])
    w = np.random.default_rng(5).standard_normal(y.shape)
    assert layer.backward(w, {}) == [None]

    def f():
        return float((layer.forward([ids])[0] * w).sum())

    np.testing.assert_allclose(numeric_grad(f, layer.params[name]), layer.grads[name], rtol=RTOL, atol=ATOL)
    assert np.all(layer.grads[name][3] == 0)  # id 3 never appears
    with pytest.raises(ValueError):
        layer.forward([np.array([[5]])])


# --------------------------------------------------------------------------- 2. PyTorch oracle
TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_module(torch, cell, n_in, u, layers, bidir, bias):
    kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    cls = getattr(torch.nn, TORCH_CLASSES[cell])
    return cls(n_in, u, num_layers=layers, bias=bias, batch_first=True, bidirectional=bidir, **kwargs).double()


def keras_to_torch(cell: str, params: dict, u: int, layers: int, dirs: int, bias: bool) -> dict:
    """Torch state_dict from Keras arrays: transposed; GRU blocks z, r, h → r, z, n; Keras' one
    bias vector (rnn, lstm) as bias_ih with bias_hh = 0, a GRU's (2, 3u) bias as bias_ih, bias_hh."""
    perm = np.r_[u : 2 * u, 0:u, 2 * u : 3 * u] if cell == "gru" else slice(None)
    out = {}
    for layer in range(layers):
        for d in range(dirs):
            prefix = (("forward/", "backward/")[d] if dirs == 2 else "") + (f"layer{layer + 1}/" if layers > 1 else "")
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            out["weight_ih" + suffix] = params[prefix + "kernel"][:, perm].T
            out["weight_hh" + suffix] = params[prefix + "recurrent_kernel"][:, perm].T
            if bias:
                b = params[prefix + "bias"]
                if b.ndim == 2:
                    out["bias_ih" + suffix], out["bias_hh" + suffix] = b[0][perm], b[1][perm]
                else:
                    out["bias_ih" + suffix], out["bias_hh" + suffix] = b[perm], np.zeros_like(b)
    return out


def merge_torch(torch, mode, a, b):
    if mode == "concat":
        return torch.cat([a, b], -1)
    return {"sum": a + b, "mul": a * b, "ave": (a + b) / 2}[mode]


ORACLE_CASES = [
    (cell, conv, bidir, layers, seq, merge, bias)
    for cell, conv, bidir, layers, seq in itertools.product(
        ("rnn", "lstm", "gru"), ("pytorch", "keras"), (False, True), (1, 2), (False, True)
    )
    for merge in (("concat", "mul") if bidir else ("concat",))
    for bias in ((True, False) if layers == 2 and not bidir else (True,))
]


@pytest.mark.oracle
@pytest.mark.parametrize("case", ORACLE_CASES, ids=lambda c: "-".join(map(str, c)))
def test_against_torch(tmp_path, case):
    """Output, final states and all gradients against torch autograd, float64, at 1e-10."""
    torch = pytest.importorskip("torch")
    cell, conv, bidir, layers, seq, merge, bias = case
    T, F, u, N = 5, 3, 4, 3
    D = 2 if bidir else 1
    keras = conv == "keras"
    text = layer_yaml(cell, bidir, layers, seq, True, merge, bias=bias, extra=BIAS if bias else "").replace(
        "units: 2", f"units: {u}"
    )
    layer, _ = build_one(tmp_path, text, conv, shape=(T, F), seed=7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((N, T, F))
    y, extras = layer.forward([x])

    mod = torch_module(torch, cell, F, u, layers, bidir, bias)
    state = keras_to_torch(cell, layer.params, u, layers, D, bias) if keras else layer.params
    with torch.no_grad():
        for name, p in mod.named_parameters():
            p.copy_(torch.from_numpy(np.ascontiguousarray(state[name])))
    xt = torch.from_numpy(x).requires_grad_(True)
    out, st = mod(xt)
    h_n, c_n = st if cell == "lstm" else (st, None)
    if D == 2:
        fwd, bwd = out[..., :u], out[..., u:]
        if seq:
            yt = merge_torch(torch, merge, fwd, bwd)
        elif keras:  # each direction's final state
            yt = merge_torch(torch, merge, h_n[-2], h_n[-1])
        else:  # output[:, -1]
            yt = merge_torch(torch, merge, fwd[:, -1], bwd[:, -1])
    else:
        yt = out if seq else out[:, -1]
    states = {"h": h_n.transpose(0, 1)} | ({"c": c_n.transpose(0, 1)} if c_n is not None else {})
    if keras:  # the last stacked layer's, per direction
        names = [s + ("_forward", "_backward")[d] if D == 2 else s for d in range(D) for s in states]
        ext_t = {s + ("_forward", "_backward")[d] if D == 2 else s: states[s][:, (layers - 1) * D + d] for d in range(D) for s in states}  # fmt: skip
        assert sorted(names) == sorted(extras)
    else:
        ext_t = states
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    assert set(ext_t) == set(extras)
    for k in extras:
        np.testing.assert_allclose(extras[k], ext_t[k].detach().numpy(), rtol=0, atol=1e-10, err_msg=k)

    wy = rng.standard_normal(y.shape)
    wex = {k: rng.standard_normal(v.shape) for k, v in extras.items()}
    loss = (yt * torch.from_numpy(wy)).sum() + sum((ext_t[k] * torch.from_numpy(w)).sum() for k, w in wex.items())
    loss.backward()
    (dx,) = layer.backward(wy, wex)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    tgrad = {name: p.grad.numpy() for name, p in mod.named_parameters()}
    if not keras:
        assert set(tgrad) == set(layer.grads)
        for name, g in layer.grads.items():
            np.testing.assert_allclose(g, tgrad[name], rtol=0, atol=1e-10, err_msg=name)
    else:  # map the Keras gradients the same way as the weights (bias_hh of rnn/lstm has no Keras twin)
        mapped = keras_to_torch(cell, layer.grads, u, layers, D, bias)
        for name, g in mapped.items():
            if name.startswith("bias_hh") and cell != "gru":
                continue
            np.testing.assert_allclose(g, tgrad[name], rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.oracle
@pytest.mark.parametrize("conv", ["pytorch", "keras"])
def test_embedding_against_torch(tmp_path, conv):
    torch = pytest.importorskip("torch")
    g = graph_of(tmp_path, "{op: embedding, vocab: 7, dim: 4}", conv, shape=(5,), dtype="int64")
    layer = RECURRENT_KERNELS["embedding"].build(g.nodes[0], [(5,)], Env(conv, rng=np.random.default_rng(0)))
    name = "embeddings" if conv == "keras" else "weight"
    ids = np.random.default_rng(1).integers(0, 7, size=(3, 5))
    y, _ = layer.forward([ids])
    emb = torch.nn.Embedding(7, 4).double()
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(layer.params[name]))
    yt = emb(torch.from_numpy(ids))
    w = np.random.default_rng(2).standard_normal(y.shape)
    (yt * torch.from_numpy(w)).sum().backward()
    layer.backward(w, {})
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads[name], emb.weight.grad.numpy(), rtol=0, atol=1e-10)


def keras_gru_reset_before_reference(x, kernel, recurrent, bias):
    """Keras GRUCell (reset_after=False), written out gate by gate from the Keras source:
    x_z = x·W_z + b_z, x_r = x·W_r + b_r, x_h = x·W_h + b_h; z = σ(x_z + h·U_z), r = σ(x_r + h·U_r),
    hh = tanh(x_h + (r·h)·U_h); h = z·h + (1 − z)·hh. Returns the sequence of h."""
    u = recurrent.shape[0]
    W = [kernel[:, k * u : (k + 1) * u] for k in range(3)]
    U = [recurrent[:, k * u : (k + 1) * u] for k in range(3)]
    b = [bias[k * u : (k + 1) * u] for k in range(3)]
    h = np.zeros((x.shape[0], u))
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = 1 / (1 + np.exp(-(xt @ W[0] + b[0] + h @ U[0])))
        r = 1 / (1 + np.exp(-(xt @ W[1] + b[1] + h @ U[1])))
        hh = np.tanh(xt @ W[2] + b[2] + (r * h) @ U[2])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("bidir", [False, True])
def test_keras_gru_reset_before_against_reference(tmp_path, bidir):
    text = layer_yaml("gru", bidir, 1, True, True, reset_after=False, extra=BIAS).replace("units: 2", "units: 3")
    layer, _ = build_one(tmp_path, text, "keras", shape=(6, 4), seed=3)
    assert layer.params[("forward/" if bidir else "") + "bias"].shape == (9,)
    x = np.random.default_rng(4).standard_normal((2, 6, 4))
    y, extras = layer.forward([x])
    p = layer.params
    if not bidir:
        ref = keras_gru_reset_before_reference(x, p["kernel"], p["recurrent_kernel"], p["bias"])
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(extras["h"], ref[:, -1], rtol=0, atol=1e-12)
        return
    f = keras_gru_reset_before_reference(x, p["forward/kernel"], p["forward/recurrent_kernel"], p["forward/bias"])
    b = keras_gru_reset_before_reference(
        x[:, ::-1], p["backward/kernel"], p["backward/recurrent_kernel"], p["backward/bias"]
    )
    np.testing.assert_allclose(y, np.concatenate([f, b[:, ::-1]], -1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(extras["h_forward"], f[:, -1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(extras["h_backward"], b[:, -1], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- 3. against netcalc.analyze
BUNDLED = [
    ("lstm-look-back.yaml", None),
    ("lstm-look-back-pytorch.yaml", None),
    ("recurrent-cells.yaml", None),
    ("recurrent-cells.yaml", "pytorch"),  # --convention pytorch: PyTorch tensors on a Keras spec
    ("text-bilstm.yaml", None),
    ("text-bilstm.yaml", "pytorch"),
    ("stacked-gru.yaml", None),
    ("stacked-gru.yaml", "keras"),
]


def compare_with_analysis(g, check_shapes: bool = True) -> int:
    """Build every sequence node with Env(convention=g.counting) on the analysed input shapes and
    compare tensors, outputs and MACs per sample with the analysis rows; returns the nodes checked."""
    diags = Diagnostics()
    analysis = analyze(g, diags)
    assert not diags.has_errors()
    env = Env(convention=g.counting, rng=np.random.default_rng(0))
    checked = 0
    for row in analysis.rows:
        if row.node.op not in RECURRENT_KERNELS:
            continue
        shape = tuple(row.in_shapes[0])
        layer = RECURRENT_KERNELS[row.node.op].build(row.node, [shape], env)
        mine = [(k, tuple(a.shape), layer.trainable[k], layer.kinds[k]) for k, a in layer.params.items()]
        theirs = [(t.name, tuple(t.shape), t.trainable, t.kind) for t in row.tensors]
        assert mine == theirs, row.node.name
        assert sum(a.size for a in layer.params.values()) == row.params, row.node.name
        if check_shapes:
            assert layer.out_shape == tuple(row.out_shape), row.node.name
            assert list(layer.extra_shapes.items()) == [(k, tuple(v)) for k, v in row.extra.items()], row.node.name
        rng = np.random.default_rng(1)
        x = (
            rng.integers(0, row.node.args["vocab"], (2, *shape))
            if row.node.op == "embedding"
            else rng.random((2, *shape))
        )
        layer.forward([x])
        assert layer.macs == row.macs, (row.node.name, layer.macs, row.macs)
        checked += 1
    return checked


@pytest.mark.parametrize(("spec", "counting"), BUNDLED, ids=lambda v: str(v))
def test_bundled_specs_agree_with_analysis(spec, counting):
    diags = Diagnostics()
    g = load(str(SPECS / spec), diags, convention=counting)
    assert g is not None
    # with --convention the outputs still follow the spec's framework; the executor has one convention
    assert compare_with_analysis(g, check_shapes=counting is None or counting == g.convention) >= 1


INLINE = [
    ("keras", "{op: gru, units: 5, reset_after: false, bidirectional: true, return_state: true, num_layers: 2}"),
    ("keras", "{op: lstm, units: 3, bidirectional: true, merge_mode: sum, num_layers: 3, return_state: true}"),
    ("keras", "{op: rnn, units: 4, bias: false, return_sequences: true, return_state: true}"),
    ("pytorch", "{op: gru, units: 5, bidirectional: true, return_state: true, num_layers: 3, merge_mode: ave}"),
    ("pytorch", "{op: lstm, units: 6, bias: false, num_layers: 2, return_sequences: true, return_state: true}"),
    ("pytorch", "{op: rnn, units: 2, bidirectional: true, merge_mode: mul, return_sequences: true}"),
]


@pytest.mark.parametrize(("conv", "layer"), INLINE)
def test_inline_specs_agree_with_analysis(tmp_path, conv, layer):
    assert compare_with_analysis(graph_of(tmp_path, layer, conv, shape=(7, 3))) == 1


# --------------------------------------------------------------------------- 4. sampled weights


def test_pytorch_default_variance(tmp_path):
    """U(±1/√u): variance 1/(3u). 1024×64 draws: the sampling error of the variance is ~0.4 %."""
    layer, _ = build_one(tmp_path, "{op: lstm, units: 256}", "pytorch", shape=(2, 64))
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        a = layer.params[name]
        assert np.abs(a).max() <= 1 / 16
        if name == "weight_ih_l0":
            assert a.shape == (1024, 64)
            assert abs(a.var() / (1 / (3 * 256)) - 1) < 0.05


def test_keras_default_weights(tmp_path):
    """Orthogonal recurrent kernel (u, 4u): R Rᵀ = I_u; glorot_uniform kernel; bias 0 with the
    forget slice at 1 (unit_forget_bias); an explicit bias_init leaves the forget slice alone."""
    u, F = 256, 32
    layer, _ = build_one(tmp_path, f"{{op: lstm, units: {u}}}", "keras", shape=(2, F))
    R = layer.params["recurrent_kernel"]
    assert R.shape == (u, 4 * u)
    np.testing.assert_allclose(R @ R.T, np.eye(u), rtol=0, atol=1e-10)
    K = layer.params["kernel"]
    bound = np.sqrt(6 / (F + 4 * u))
    assert np.abs(K).max() <= bound and abs(K.var() / (bound**2 / 3) - 1) < 0.05
    b = layer.params["bias"]
    np.testing.assert_array_equal(b, np.r_[np.zeros(u), np.ones(u), np.zeros(2 * u)])
    layer, _ = build_one(tmp_path, "{op: lstm, units: 4, bias_init: zeros}", "keras", shape=(2, 3))
    np.testing.assert_array_equal(layer.params["bias"], np.zeros(16))
    layer, _ = build_one(tmp_path, "{op: gru, units: 4, recurrent_init: orthogonal}", "pytorch", shape=(2, 3))
    W = layer.params["weight_hh_l0"]  # (3u, u): columns orthonormal
    np.testing.assert_allclose(W.T @ W, np.eye(4), rtol=0, atol=1e-10)


def test_pytorch_gru_reset_before_is_refused(tmp_path):
    g = graph_of(tmp_path, "{op: gru, units: 2}", "keras")
    node = g.nodes[0]
    node.args = {**node.args, "reset_after": False}
    with pytest.raises(ValueError, match="Keras-only"):
        RECURRENT_KERNELS["gru"].build(node, [(3, 2)], Env("pytorch"))


def test_a_broken_kernel_module_fails_the_kernel_table(monkeypatch):
    """kernels.py once swallowed an ImportError of recurrent.py, leaving lstm/gru/rnn/embedding
    without a kernel and no word said. A recurrent module that cannot be imported (here: marked as
    failed in sys.modules, which makes `from .recurrent import …` raise ImportError) must fail the
    import of the kernel table itself."""
    import importlib
    import sys

    import netcalc.executor.kernels as kernels

    monkeypatch.setitem(sys.modules, "netcalc.executor.recurrent", None)
    monkeypatch.delitem(sys.modules, "netcalc.executor.kernels")
    with pytest.raises(ImportError):
        importlib.import_module("netcalc.executor.kernels")
    monkeypatch.undo()
    sys.modules["netcalc.executor.kernels"] = kernels  # the table every other test uses
    assert {"lstm", "gru", "rnn", "embedding"} <= set(kernels.KERNELS)


# --------------------------------------------------------------------------- 5. initial states, dropout
# A node reads its initial states after the sequence, in return_state's layout: Keras h (and c) (N, u)
# per direction, forward first; PyTorch h_0 (and c_0) (N, num_layers·D, u). Dropout (train mode):
# Keras masks fixed over the sequence (per gate with recurrent_dropout), PyTorch between layers.


def build_with_states(tmp_path, text: str, conv: str, shape=(3, 2), seed: int = 0, mode: str = "train"):
    """A recurrent layer built for a sequence and its initial states (shapes from the convention)."""
    g = graph_of(tmp_path, text, conv, shape)
    node = g.nodes[0]
    a = node.args
    n_states = 2 if node.op == "lstm" else 1
    D = 2 if a["bidirectional"] else 1
    u = a["units"]
    states = [(u,)] * (n_states * D) if conv == "keras" else [(a["num_layers"] * D, u)] * n_states
    env = Env(convention=conv, dtype=np.float64, rng=np.random.default_rng(seed), mode=mode)
    layer = RECURRENT_KERNELS[node.op].build(node, [tuple(shape), *states], env)
    return layer, states


def check_all_gradients(layer, xs: list, seed: int = 1):
    """Analytic gradients at every input (the sequence and the states) and parameter against central
    differences of Σ y·R + Σ_k state_k·R_k, with the same dropout masks at every evaluation."""
    rng = np.random.default_rng(seed)

    def forward():
        if hasattr(layer, "rng"):
            layer.rng = np.random.default_rng(99)  # the same masks each time
        return layer.forward(xs)

    y, extras = forward()
    wy = rng.standard_normal(y.shape)
    wex = {k: rng.standard_normal(v.shape) for k, v in extras.items()}

    def f():
        y, extras = forward()
        return float((y * wy).sum() + sum((extras[k] * w).sum() for k, w in wex.items()))

    forward()
    dxs = layer.backward(wy, wex)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert len(dxs) == len(xs)
    for i, (x, dx) in enumerate(zip(xs, dxs, strict=True)):
        assert dx.shape == x.shape, i
        np.testing.assert_allclose(numeric_grad(f, x), dx, rtol=RTOL, atol=ATOL, err_msg=f"input {i}")
    for name, array in layer.params.items():
        np.testing.assert_allclose(numeric_grad(f, array), grads[name], rtol=RTOL, atol=ATOL, err_msg=name)


KERAS_DROPOUT = ("", "dropout: 0.4", "recurrent_dropout: 0.5", "dropout: 0.3, recurrent_dropout: 0.4")
STATE_CASES = [
    (cell, "keras", bidir, 1, drop, True)
    for cell, bidir, drop in itertools.product(("rnn", "lstm", "gru"), (False, True), KERAS_DROPOUT)
]
STATE_CASES += [
    (cell, "pytorch", bidir, layers, drop, True)
    for cell, bidir, layers in itertools.product(("rnn", "lstm", "gru"), (False, True), (1, 2))
    for drop in (("", "dropout: 0.4") if layers == 2 else ("",))
]
STATE_CASES += [("gru", "keras", bidir, 1, drop, False) for bidir in (False, True) for drop in KERAS_DROPOUT]


@pytest.mark.parametrize("case", STATE_CASES, ids=lambda c: "-".join(map(str, c)).replace(": ", "").replace(", ", "+"))
def test_gradients_reach_the_initial_states(tmp_path, case):
    """The gradient at h₀ (and c₀) by finite differences, with dropout masks in train mode too."""
    cell, conv, bidir, layers, drop, reset_after = case
    extra = ", ".join(p for p in (BIAS, drop) if p)
    text = layer_yaml(cell, bidir, layers, True, True, reset_after=reset_after, extra=extra)
    layer, states = build_with_states(tmp_path, text, conv)
    assert hasattr(layer, "rng") == bool(drop)
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((2, 3, 2))] + [rng.standard_normal((2, *s)) for s in states]
    check_all_gradients(layer, xs)


def test_dropout_is_the_identity_in_eval_mode(tmp_path):
    for conv, drop in (("keras", "dropout: 0.5, recurrent_dropout: 0.5"), ("pytorch", "dropout: 0.5")):
        text = layer_yaml("lstm", True, 1 if conv == "keras" else 2, True, True, extra=drop)
        plain = layer_yaml("lstm", True, 1 if conv == "keras" else 2, True, True)
        a, states = build_with_states(tmp_path, text, conv, mode="eval")
        b, _ = build_with_states(tmp_path, plain, conv, mode="eval")
        assert not hasattr(a, "rng")
        xs = [np.random.default_rng(1).standard_normal((3, 3, 2))] + [np.ones((3, *s)) for s in states]
        np.testing.assert_array_equal(a.forward(xs)[0], b.forward(xs)[0])


def test_keras_dropout_masks_are_fixed_over_the_sequence_and_per_gate_with_recurrent_dropout(tmp_path):
    """One input mask (N, F) per sequence without recurrent_dropout; with it, one per gate (4 for an
    LSTM) on the input and on the state; kept entries are 1/(1 − rate)."""
    for drop, n_x, n_h in (("dropout: 0.5", 1, 0), ("dropout: 0.5, recurrent_dropout: 0.25", 4, 4)):
        layer, _ = build_one(tmp_path, layer_yaml("lstm", extra=drop), "keras", shape=(3, 2))
        layer.forward([np.ones((200, 3, 2))])
        cache = layer._caches[(0, 0)]
        mx, mh = cache[-2], cache[-1]
        assert mx.shape == (n_x, 200, 2)
        assert set(np.unique(mx)) <= {0.0, 2.0}  # 1/(1 − 0.5)
        if n_h:
            assert mh.shape == (n_h, 200, 2) and set(np.unique(mh)) <= {0.0, 4 / 3}
        else:
            assert mh is None


@pytest.mark.oracle
@pytest.mark.parametrize(
    "case",
    [(cell, conv, bidir, layers) for cell in ("rnn", "lstm", "gru") for conv in ("pytorch", "keras")
     for bidir in (False, True) for layers in ((1, 2) if conv == "pytorch" else (1,))],
    ids=lambda c: "-".join(map(str, c)),
)  # fmt: skip
def test_initial_states_against_torch(tmp_path, case):
    """nn.LSTM(x, (h0, c0)) (nn.GRU/RNN(x, h0)) with the executor's weights copied in: outputs,
    final states and the gradients at x, h0, c0 and every weight, float64, at 1e-10."""
    torch = pytest.importorskip("torch")
    cell, conv, bidir, layers = case
    T, F, u, N = 5, 3, 4, 3
    D = 2 if bidir else 1
    keras = conv == "keras"
    text = layer_yaml(cell, bidir, layers, True, True, extra=BIAS).replace("units: 2", f"units: {u}")
    layer, states = build_with_states(tmp_path, text, conv, shape=(T, F), seed=7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((N, T, F))
    ss = [rng.standard_normal((N, *s)) for s in states]
    y, extras = layer.forward([x, *ss])

    mod = torch_module(torch, cell, F, u, layers, bidir, True)
    params = keras_to_torch(cell, layer.params, u, layers, D, True) if keras else layer.params
    with torch.no_grad():
        for name, p in mod.named_parameters():
            p.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))
    xt = torch.from_numpy(x).requires_grad_(True)
    st = [torch.from_numpy(s).requires_grad_(True) for s in ss]
    S = 2 if cell == "lstm" else 1
    if keras:  # [h_f, c_f, h_b, c_b] → h0 = (h_f, h_b) stacked on the first axis, c0 alike
        hx = [torch.stack([st[d * S + k] for d in range(D)]) for k in range(S)]
    else:  # (N, L·D, u) → (L·D, N, u)
        hx = [s.transpose(0, 1) for s in st]
    out, fin = mod(xt, tuple(hx) if cell == "lstm" else hx[0])
    yt = out  # return_sequences; the directions concatenated
    h_n, c_n = fin if cell == "lstm" else (fin, None)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    finals = {"h": h_n.transpose(0, 1)} | ({"c": c_n.transpose(0, 1)} if c_n is not None else {})
    if keras:
        tags = ("_forward", "_backward") if D == 2 else ("",)
        finals = {s + tags[d]: finals[s][:, d] for d in range(D) for s in finals}
    assert set(finals) == set(extras)
    for k in extras:
        np.testing.assert_allclose(extras[k], finals[k].detach().numpy(), rtol=0, atol=1e-10, err_msg=k)
    wy = rng.standard_normal(y.shape)
    wex = {k: rng.standard_normal(v.shape) for k, v in extras.items()}
    loss = (yt * torch.from_numpy(wy)).sum() + sum((finals[k] * torch.from_numpy(w)).sum() for k, w in wex.items())
    loss.backward()
    dx, *dss = layer.backward(wy, wex)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10, err_msg="x")
    for i, (mine, theirs) in enumerate(zip(dss, st, strict=True)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=0, atol=1e-10, err_msg=f"state {i}")
    tgrad = {name: p.grad.numpy() for name, p in mod.named_parameters()}
    mapped = keras_to_torch(cell, layer.grads, u, layers, D, True) if keras else layer.grads
    for name, g in mapped.items():
        if keras and name.startswith("bias_hh") and cell != "gru":
            continue  # Keras's rnn/lstm have one bias vector
        np.testing.assert_allclose(g, tgrad[name], rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.oracle
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_pytorch_dropout_between_layers_against_torch(tmp_path, cell):
    """nn.LSTM(num_layers=2, dropout=p) in training is layer 1, dropout, layer 2: the executor's
    output equals two one-layer torch modules with its own mask applied between them."""
    torch = pytest.importorskip("torch")
    T, F, u, N = 4, 3, 5, 6
    text = layer_yaml(cell, True, 2, True, False, extra="dropout: 0.5").replace("units: 2", f"units: {u}")
    layer, _ = build_one(tmp_path, text, "pytorch", shape=(T, F), seed=3)
    layer.rng = np.random.default_rng(4)
    x = np.random.default_rng(5).standard_normal((N, T, F))
    y, _ = layer.forward([x])
    mask = layer._between[0]
    assert mask.shape == (N, T, 2 * u) and set(np.unique(mask)) <= {0.0, 2.0}
    first = torch_module(torch, cell, F, u, 1, True, True)
    second = torch_module(torch, cell, 2 * u, u, 1, True, True)
    with torch.no_grad():
        for mod, k in ((first, 0), (second, 1)):
            for name, p in mod.named_parameters():
                p.copy_(torch.from_numpy(layer.params[name.replace("_l0", f"_l{k}")]))
        mid, _ = first(torch.from_numpy(x))
        out, _ = second(mid * torch.from_numpy(mask))
    np.testing.assert_allclose(y, out.numpy(), rtol=0, atol=1e-10)


@pytest.mark.oracle
def test_keras_lstm_per_gate_dropout_against_a_torch_reference(tmp_path):
    """Keras's LSTM with dropout and recurrent_dropout (implementation 1): gate k reads x⊙m_k and
    h⊙r_k, the masks fixed over the sequence; written out in torch step by step from Keras's
    equations (i, f, c, o blocks, one bias), its autograd gradients against the executor's."""
    torch = pytest.importorskip("torch")
    T, F, u, N = 4, 3, 5, 6
    text = layer_yaml("lstm", False, 1, True, False, extra=f"{BIAS}, dropout: 0.3, recurrent_dropout: 0.4").replace(
        "units: 2", f"units: {u}"
    )
    layer, _ = build_with_states(tmp_path, text, "keras", shape=(T, F), seed=3)
    layer.rng = np.random.default_rng(4)
    rng = np.random.default_rng(5)
    x, h0, c0 = rng.standard_normal((N, T, F)), rng.standard_normal((N, u)), rng.standard_normal((N, u))
    y, _ = layer.forward([x, h0, c0])
    *_, mx, mh = layer._caches[(0, 0)]
    P = {k: torch.from_numpy(v).requires_grad_(True) for k, v in layer.params.items()}
    xt, ht, ct = (torch.from_numpy(a).requires_grad_(True) for a in (x, h0, c0))
    h, c, outs = ht, ct, []
    K, R, b = P["kernel"], P["recurrent_kernel"], P["bias"]
    for t in range(T):
        a = [xt[:, t] * torch.from_numpy(mx[k]) @ K[:, k * u : (k + 1) * u]
             + (h * torch.from_numpy(mh[k])) @ R[:, k * u : (k + 1) * u] + b[k * u : (k + 1) * u] for k in range(4)]  # fmt: skip
        i, f, g, o = torch.sigmoid(a[0]), torch.sigmoid(a[1]), torch.tanh(a[2]), torch.sigmoid(a[3])
        c = f * c + i * g
        h = o * torch.tanh(c)
        outs.append(h)
    yt = torch.stack(outs, dim=1)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-12)
    w = rng.standard_normal(y.shape)
    (yt * torch.from_numpy(w)).sum().backward()
    dx, dh0, dc0 = layer.backward(w, {})
    for mine, theirs, what in ((dx, xt, "x"), (dh0, ht, "h0"), (dc0, ct, "c0")):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=0, atol=1e-12, err_msg=what)
    for name, g in layer.grads.items():
        np.testing.assert_allclose(g, P[name].grad.numpy(), rtol=0, atol=1e-12, err_msg=name)
