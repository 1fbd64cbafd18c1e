"""Tied weights (`tie: NAME`): a layer whose tensor is another layer's, of another type, as the
frameworks tie them: a language model's output layer whose weight is the embedding's table (Press &
Wolf 2017; PyTorch `lm_head.weight = wte.weight`), a tied autoencoder's transposed convolution whose
weight is the encoder's. The tensor is counted once, at its owner (as `model.parameters()` yields a
tied Parameter once); the layer's other tensors (a bias) stay its own; MACs at every use. Figures
worked out by hand in the comments; PyTorch's own count of a model written in torch at the end."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cli_run import netcalc

from netcalc import bundled
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.layers import LAYER_TYPES, REGISTRY
from netcalc.layers.base import ParameterFree
from netcalc.spec import load


def _load(text: str, convention: str | None = None):
    path = Path(tempfile.mkdtemp()) / "tied.yaml"
    path.write_text(text, encoding="utf-8")
    diags = Diagnostics()
    return load(str(path), diags, convention=convention), diags


def _analysis(text: str, convention: str | None = None):
    graph, diags = _load(text, convention)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    return a


def _errors(text: str) -> list[str]:
    graph, diags = _load(text)
    if graph is not None and not diags.has_errors():
        analyze(graph, diags)
    return [d.format().splitlines()[0].split("/tied.yaml:", 1)[-1] for d in diags.errors]


def _rows(a) -> dict:
    return {r.node.name: r for r in a.rows}


def _lm():
    return bundled.find("lstm-lm-tied").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("convention", "head", "table", "lstm"),
    [("pytorch", ("weight", (10000, 256)), ("weight", (10000, 256)), 4 * 256 * 512 + 2 * 1024),
     ("keras", ("kernel", (256, 10000)), ("embeddings", (10000, 256)), 4 * 256 * 512 + 1024)],
)  # fmt: skip
def test_the_bundled_tied_language_model_counts_the_table_once(convention, head, table, lstm):
    a = _analysis(_lm(), convention)
    rows = _rows(a)
    # the table 10,000 × 256 = 2,560,000 at the embedding; the head's weight is it (PyTorch's Linear
    # weight (10,000, 256) as stored, Keras's kernel (256, 10,000) its transpose) and counts only its
    # 10,000 biases
    assert [(t.name, t.shape, t.kind) for t in rows["wte"].tensors] == [(*table, "param")]
    assert [(t.name, t.shape, t.kind) for t in rows["lm_head"].tensors] == [
        (*head, "tied"),
        ("bias", (10000,), "param"),
    ]
    assert (rows["wte"].params, rows["lm_head"].params, rows["lm_head"].trainable) == (2_560_000, 10_000, 10_000)
    assert rows["lm_head"].tied == (head[0], "wte", table[0], convention == "keras")
    # LSTM 256 → 256: 4·256·(256 + 256) = 524,288 weights, biases 2·4·256 (PyTorch) or 4·256 (Keras)
    assert rows["lstm_1"].params == lstm
    assert a.totals.params == a.totals.trainable_params == 2_560_000 + lstm + 10_000
    assert a.totals.params == {"pytorch": 3_096_336, "keras": 3_095_312}[convention]
    # MACs: the LSTM 35 steps × 4·256·512 = 18,350,080; the head 35·256·10,000 = 89,600,000 (the
    # tied table is multiplied at the head)
    assert (rows["lstm_1"].macs, rows["lm_head"].macs) == (18_350_080, 89_600_000)
    # parameter memory counts the table once: 3,096,336 float32 (PyTorch) = 12,385,344 bytes
    assert a.totals.param_bytes == 4 * a.totals.params


def test_untied_the_head_counts_its_own_weight():
    a = _analysis(_lm().replace(", tie: wte", ""))
    # 3,096,336 + the head's own 10,000 × 256 = 2,560,000: 5,656,336
    assert a.totals.params == 5_656_336


def test_every_tie_names_a_weighted_type_and_tensors_that_exist():
    for ltype in LAYER_TYPES:
        for op, rule in ltype.ties.items():
            assert op in REGISTRY and not isinstance(REGISTRY[op], ParameterFree), (ltype.op, op)
            assert ltype.parametric and rule.mine == 0 and rule.theirs == 0, ltype.op  # the kernels
            assert set(rule.transposed) <= {"pytorch", "keras"} and rule.example, ltype.op


def test_a_frozen_embedding_freezes_the_tied_weight_not_the_heads_bias():
    a = _analysis(_lm().replace("dim: 256}", "dim: 256, trainable: false}"))
    rows = _rows(a)
    assert [t.trainable for t in rows["lm_head"].tensors] == [False, True]
    t = a.totals
    # frozen: the table's 2,560,000; trainable: the LSTM's 526,336 and the head's 10,000 biases
    assert (t.params, t.trainable_params, t.frozen_params) == (3_096_336, 536_336, 2_560_000)


def test_a_layer_sharing_the_tied_head_uses_the_table_too():
    extra = "  - {id: again, op: dense, in: lstm_1, shares: lm_head}\noutputs: [lm_head, again]\n"
    text = _lm().replace("\ndescription:", extra + "\ndescription:")
    a = _analysis(text)
    rows = _rows(a)
    assert rows["again"].node.shares == "lm_head" and rows["again"].params == 0
    assert a.totals.params == 3_096_336 and a.totals.macs == 18_350_080 + 2 * 89_600_000


TIED_AE = """
netcalc: 1
convention: {convention}
input: {{shape: {shape}}}
layers:
  - {{id: enc, op: conv2d, filters: 16, kernel: 4, stride: 2, padding: {pad}, activation: relu}}
  - {{id: dec, op: conv2d_transpose, filters: 1, kernel: 4, stride: 2, padding: {pad}, tie: enc}}
"""


@pytest.mark.parametrize(
    ("convention", "shape", "pad", "weight"),
    [("pytorch", [1, 28, 28], 1, ("weight", (16, 1, 4, 4))), ("keras", [28, 28, 1], "same", ("kernel", (4, 4, 1, 16)))],
)  # fmt: skip
def test_a_tied_autoencoders_decoder_takes_the_encoders_kernel(convention, shape, pad, weight):
    a = _analysis(TIED_AE.format(convention=convention, shape=shape, pad=pad))
    rows = _rows(a)
    # enc: 16·1·4·4 = 256 + 16 = 272; dec's weight is enc's as stored (PyTorch ConvTranspose2d(16, 1)
    # weight (16, 1, 4, 4) = Conv2d(1, 16) weight; Keras Conv2DTranspose kernel (4, 4, 1, 16) =
    # Conv2D kernel): dec counts its 1 bias. 273 in all
    assert [(t.name, t.shape, t.kind) for t in rows["dec"].tensors] == [(*weight, "tied"), ("bias", (1,), "param")]
    assert a.totals.params == 273
    # MACs: enc 14·14·16·16 = 50,176; dec every input element (16·14·14 = 3,136) × 1·4·4 = 50,176
    assert (rows["enc"].macs, rows["dec"].macs) == (50_176, 50_176)
    assert rows["dec"].tied == (weight[0], "enc", weight[0], False)


# --------------------------------------------------------------------------- errors

HEAD = """
netcalc: 1
convention: pytorch
input: {shape: [5], dtype: int64}
layers:
  - {id: wte, op: embedding, vocab: 7, dim: 4}
  - {id: c, op: conv1d, filters: 3, kernel: 2}
"""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{id: head, op: dense, units: 7, in: wte, tie: nope}", "7:51: error E113: 'tie: nope' names no earlier"
         " layer"),
        ("{id: head, op: dense, units: 7, in: wte, tie: head}", "7:51: error E113: 'tie: head' is this layer itself;"
         " a layer ties to an earlier layer"),
        ("{id: head, op: dense, units: 7, in: wte, tie: input}", "7:51: error E113: 'tie: input' is an input or a"
         " state, not a layer with weights"),
        ("{id: head, op: dense, units: 7, in: wte, tie: c}", "7:51: error E122: 'tie: c' names a conv1d layer (line"
         " 6); a dense layer ties its tensor to an embedding layer's only"),
        ("{id: head, op: dense, units: 8, in: wte, tie: wte}", "7:51: error E209: head ties its weight to wte's"
         " weight 7×4 (line 5), but it needs weight 8×4 (its input is 5×4)"),
        ("{id: head, op: dense, units: 7, in: c, tie: wte}", "7:49: error E209: head ties its weight to wte's"
         " weight 7×4 (line 5), but it needs weight 7×3 (its input is 4×3)"),
        ("{id: head, op: dense, units: 7, in: wte, tie: wte, trainable: false}", "7:67: error E122: head is frozen"
         " but ties its tensor to wte's, trainable there (line 5): freezing it would freeze wte's; write trainable:"
         " false on wte too, or leave head trainable"),
        ("{id: head, op: relu, in: wte, tie: wte}", "7:35: error E102: unknown key 'tie' in relu layer"),
    ],
)  # fmt: skip
def test_what_cannot_be_tied_is_a_located_error(line, expected):
    text = HEAD.lstrip() + f"  - {line}\n"
    assert _errors(text)[:1] == [expected]


def test_a_tie_beside_shares_is_an_error():
    text = HEAD.lstrip() + "  - {id: h, op: dense, units: 7, in: wte}\n  - {op: dense, in: wte, shares: h, tie: wte}\n"
    assert _errors(text) == [
        "8:42: error E122: 'tie: wte' on a layer with 'shares:': its tensors are the shared layer's, tied as they "
        "are there; drop 'tie:'"
    ]


def test_keras_quotes_the_transposed_shape():
    text = HEAD.lstrip().replace("pytorch", "keras") + "  - {id: head, op: dense, units: 8, in: wte, tie: wte}\n"
    assert _errors(text) == [
        "7:51: error E209: head ties its kernel to wte's embeddings 7×4 (line 5), transposed: 4×7, but it needs "
        "kernel 4×8 (its input is 5×4)"
    ]


def test_with_symbolic_sizes_the_tie_is_a_condition():
    text = """
netcalc: 1
convention: pytorch
symbols: {V: 100, U: 100}
input: {shape: [5], dtype: int64}
layers:
  - {id: wte, op: embedding, vocab: V, dim: 8}
  - {id: head, op: dense, units: U, tie: wte}
"""
    path = Path(tempfile.mkdtemp()) / "tied.yaml"
    path.write_text(text, encoding="utf-8")
    r = netcalc("sizes", str(path))
    # the head's weight U × 8 must be the table V × 8 at every size: U = V
    assert "U = V" in r.stdout or "V = U" in r.stdout or "U − V = 0" in r.stdout or "V − U = 0" in r.stdout, r.stdout


# --------------------------------------------------------------------------- outputs


def test_summary_json_explain_and_diff_say_what_is_tied(tmp_path):
    out = netcalc("summary", "lstm-lm-tied").stdout
    assert "10,000 + weight tied with wte.weight" in out
    assert "kernel tied with wte.embeddings, transposed" in netcalc("summary", "lstm-lm-tied", "--convention",
                                                                    "keras").stdout  # fmt: skip
    doc = json.loads(netcalc("summary", "lstm-lm-tied", "--format", "json").stdout)
    layers = {la["name"]: la for la in doc["layers"]}
    assert layers["lm_head"]["tie"] == {"tensor": "weight", "layer": "wte", "of": "weight", "transposed": False}
    assert [t["kind"] for t in layers["lm_head"]["tensors"]] == ["tied", "param"]
    assert layers["wte"]["tie"] is None and doc["totals"]["params"] == 3_096_336
    explain = netcalc("explain", "lstm-lm-tied", "lm_head").stdout
    assert "weight 10000×256 = 2,560,000 (tied with wte.weight, counted there)" in explain
    assert "its weight is wte's weight (tie:), counted once there" in explain
    assert "its weight is also lm_head's weight (tie:)" in netcalc("explain", "lstm-lm-tied", "wte").stdout
    untied = tmp_path / "untied.yaml"
    untied.write_text(_lm().replace(", tie: wte", ""), encoding="utf-8")
    d = json.loads(netcalc("diff", str(untied), "lstm-lm-tied", "--format", "json").stdout)
    (head,) = d["layers"]
    assert (head["name"], head["old"]["weights"], head["new"]["weights"]) == (
        "lm_head", None, "weight tied with wte.weight")  # fmt: skip
    assert head["delta"]["params"] == -2_560_000
    assert "10,000 + weight tied with wte.weight" in netcalc("diff", str(untied), "lstm-lm-tied").stdout


def test_signal_draws_the_tied_weight_as_the_embedding_draws_it():
    """PyTorch's nn.Embedding draws N(0, 1): the tied head multiplies 256 inputs by weights of
    variance 1, so E[y²] = 256·E[h²] (its own init, Linear's U(±1/√256), would give 256·E[h²]/768)."""
    from netcalc.signal import propagate

    a = _analysis(_lm())
    layers = {s.row.node.name: s for s in propagate(a).layers}
    h = layers["lstm_1"].out.q.mean()
    head = layers["lm_head"].out.q.mean()
    # bias U(±1/16): E[b²] = 1/768
    assert head == pytest.approx(256 * h + 1 / 768, rel=1e-9)


# --------------------------------------------------------------------------- the executor


TINY = """
netcalc: 1
convention: {convention}
input: {{shape: [5], dtype: int64}}
layers:
  - {{id: wte, op: embedding, vocab: 7, dim: 4}}
  - {{op: tanh}}
  - {{id: head, op: dense, units: 7, tie: wte}}
"""


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_the_executor_uses_the_table_itself_and_computes_h_times_its_transpose(convention):
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers

    graph, _ = _load(TINY.format(convention=convention))
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    table = layers["wte"].params["embeddings" if convention == "keras" else "weight"]
    w = layers["head"].params["kernel" if convention == "keras" else "weight"]
    assert np.shares_memory(w, table) and (w is table) == (convention == "pytorch")
    assert layers["head"].kinds == {("kernel" if convention == "keras" else "weight"): "tied", "bias": "param"}
    ids = np.array([[0, 3, 6, 2, 2]])
    h = np.tanh(table[ids[0]])
    y, _ = layers["head"].forward([h[None]])
    # logits = h·Eᵀ + b, from the table directly
    np.testing.assert_allclose(y[0], h @ table.T + layers["head"].params["bias"], rtol=1e-12)


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_the_tables_gradient_is_the_sum_of_its_two_uses(convention):
    """loss = Σ logits·g: d loss / d E gets the lookup's rows and the head's product; the
    accumulated gradient (`weight_grads`) against central finite differences of the whole loss."""
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, weight_grads

    graph, _ = _load(TINY.format(convention=convention))
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    ids = np.array([[0, 3, 6, 2, 2], [1, 1, 4, 5, 0]])
    g = np.random.default_rng(2).standard_normal((2, 5, 7))

    def loss() -> float:
        v = ids
        for node in graph.nodes:
            v, _ = layers[node.name].forward([v])
        return float((v * g).sum())

    loss()
    dy = g
    for node in reversed(graph.nodes):
        (dy,) = layers[node.name].backward(dy, {})
        if dy is None:
            break
    grads = weight_grads(graph, layers)
    name = "embeddings" if convention == "keras" else "weight"
    assert set(grads) == {("wte", name), ("head", "bias")}  # the head's weight gradient went to the table
    table = layers["wte"].params[name]
    numeric = np.zeros_like(table)
    for idx in np.ndindex(table.shape):
        keep = table[idx]
        table[idx] = keep + 1e-6
        up = loss()
        table[idx] = keep - 1e-6
        down = loss()
        table[idx] = keep
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(grads[("wte", name)], numeric, rtol=1e-6, atol=1e-9)
    assert not np.allclose(layers["wte"].grads[name], numeric, rtol=1e-3)  # not the lookup's alone


@pytest.mark.parametrize("spec", ["lstm-lm-tied", "tied-ae-keras"])
def test_verify_agrees_on_tied_networks(spec, tmp_path):
    if spec == "tied-ae-keras":
        path = tmp_path / "ae.yaml"
        path.write_text(TIED_AE.format(convention="keras", shape=[28, 28, 1], pad="same"), encoding="utf-8")
        spec = str(path)
    r = netcalc("verify", spec, "--seeds", "2", "--batch", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "everything agrees" in r.stdout


# --------------------------------------------------------------------------- PyTorch


def test_torch_counts_a_tied_language_model_as_netcalc_does():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch_oracle import run_oracle

    class TiedLM(nn.Module):
        """lstm-lm-tied as PyTorch's word_language_model example writes it with --tied."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Embedding(10000, 256)
            self.rnn = nn.LSTM(256, 256)
            self.decoder = nn.Linear(256, 10000)
            self.decoder.weight = self.encoder.weight

        def forward(self, ids):
            out, _ = self.rnn(self.encoder(ids))
            return self.decoder(out)

    model = TiedLM()
    assert model(torch.zeros(35, 2, dtype=torch.long)).shape == (35, 2, 10000)
    a = _analysis(_lm())
    assert sum(p.numel() for p in model.parameters()) == a.totals.params == 3_096_336
    # the oracle, building the graph node by node, assigns the embedding's Parameter to the Linear
    oracle = run_oracle(a.graph)
    assert oracle.model["lm_head"].weight is oracle.model["wte"].weight
    assert oracle.total_params == 3_096_336 and oracle.rows["lm_head"].params == 10_000
    assert oracle.rows["lm_head"].macs == 89_600_000


def test_torch_counts_a_tied_autoencoder_as_netcalc_does():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch_oracle import run_oracle

    enc, dec = nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1)
    dec.weight = enc.weight  # (16, 1, 4, 4) both
    model = nn.Sequential(enc, nn.ReLU(), dec)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    a = _analysis(TIED_AE.format(convention="pytorch", shape=[1, 28, 28], pad=1))
    assert sum(p.numel() for p in model.parameters()) == a.totals.params == 273
    oracle = run_oracle(a.graph)
    assert next(oracle.model["dec"].parameters()) is next(oracle.model["enc"].parameters())
    assert oracle.total_params == 273 and oracle.rows["dec"].params == 1


def test_a_tie_inside_a_block_resolves_local_names_and_a_sharing_use_takes_it_too():
    text = """
netcalc: 1
convention: pytorch
input:
  - {name: a, shape: [6], dtype: int64}
  - {name: b, shape: [6], dtype: int64}
blocks:
  lm:
    layers:
      - {id: emb, op: embedding, vocab: 50, dim: 8}
      - {id: head, op: dense, units: 50, tie: emb}
layers:
  - {use: lm, id: x, in: a}
  - {use: lm, id: y, in: b, shares: x}
  - {op: concat, in: [x, y]}
"""
    a = _analysis(text)
    rows = _rows(a)
    # x's head ties x's own embedding (the block's local id); y's layers share x's
    assert rows["x.head"].tied == ("weight", "x.emb", "weight", False)
    assert (rows["y.head"].node.shares, rows["y.emb"].node.shares) == ("x.head", "x.emb")
    # the table 50·8 = 400 once, the head's 50 biases once: 450
    assert a.totals.params == 450
    # both heads multiply: 2 · 6·8·50 = 4,800 MACs
    assert a.totals.macs == 4800
    pytest.importorskip("torch")
    from torch_oracle import run_oracle

    assert run_oracle(a.graph).total_params == 450
