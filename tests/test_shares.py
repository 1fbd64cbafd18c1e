"""Weight sharing (`shares: NAME`): a layer that uses an earlier layer's weights counts them once,
at the owner, as PyTorch's model.parameters() (a reused module's tensors yielded once) and Keras's
model.summary() (a shared layer is one layer with several inbound nodes) count them; its MACs and
FLOPs count at each use. Figures worked out by hand in the comments; PyTorch's own deduplicated
count (the owner's module object called again) is checked at the end."""

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
from netcalc.spec import load


def _load(text: str, convention: str | None = None):
    path = Path(tempfile.mkdtemp()) / "shares.yaml"
    path.write_text(text, encoding="utf-8")
    diags = Diagnostics()
    graph = load(str(path), diags, convention=convention)
    return graph, diags


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
    return [d.format().splitlines()[0].split("/shares.yaml:", 1)[-1] for d in diags.errors]


def _rows(a) -> dict:
    return {r.node.name: r for r in a.rows}


SIAMESE = """
netcalc: 1
convention: {convention}
input:
  - {{name: left, shape: {shape}}}
  - {{name: right, shape: {shape}}}
layers:
  - {{id: a, op: conv2d, in: left, filters: 4, kernel: 3}}
  - {{op: relu}}
  - {{id: b, op: conv2d, in: right, shares: a}}
  - {{op: relu}}
  - {{op: concat, in: [relu_1, relu_2]}}
  - {{op: flatten}}
  - {{op: dense, units: 2}}
"""


@pytest.mark.parametrize(
    ("convention", "shape", "names"),
    [("pytorch", [3, 6, 6], [("weight", (4, 3, 3, 3)), ("bias", (4,))]),
     ("keras", [6, 6, 3], [("kernel", (3, 3, 3, 4)), ("bias", (4,))])],
)  # fmt: skip
def test_a_siamese_tower_counts_its_weights_once(convention, shape, names):
    a = _analysis(SIAMESE.format(convention=convention, shape=shape))
    rows = _rows(a)
    # conv 3→4, 3×3 valid on 6×6: weight 4·3·9 = 108 + 4 = 112 parameters, 4·4·4 = 64 outputs of
    # 27 MACs each = 1,728 MACs, FLOPs 2·1,728 + 64 bias adds = 3,520 — at each of the two uses
    assert (rows["a"].params, rows["a"].macs, rows["a"].flops) == (112, 1728, 3520)
    assert (rows["b"].params, rows["b"].trainable, rows["b"].macs, rows["b"].flops) == (0, 0, 1728, 3520)
    assert rows["b"].node.shares == "a"
    # the sharing layer lists the owner's tensors, kind "shared" (counted there)
    assert [(t.name, t.shape, t.kind) for t in rows["b"].tensors] == [(n, s, "shared") for n, s in names]
    assert [(t.name, t.shape, t.kind) for t in rows["a"].tensors] == [(n, s, "param") for n, s in names]
    # concat 2·64 = 128 → dense 2: 128·2 + 2 = 258. Total 112 + 258 = 370 (torchinfo: 482, twice the conv)
    assert a.totals.params == a.totals.trainable_params == 370
    # MACs 2·1,728 + 256 = 3,712
    assert a.totals.macs == 3712
    # parameter memory counts the weights once: 370 float32 = 1,480 bytes
    assert a.totals.param_bytes == 370 * 4


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_the_bundled_siamese_by_hand(convention):
    diags = Diagnostics()
    graph = load(str(bundled.find("siamese")), diags, convention=convention)
    a = analyze(graph, diags)
    assert a.ok
    # tower on 1×28×28, 3×3 convs padding 1: c1 32·1·9 + 32 = 320, 28·28·32·9 = 225,792 MACs;
    # pool → 32×14×14; c2 64·32·9 + 64 = 18,496, 14·14·64·288 = 3,612,672 MACs; pool → 64×7×7 = 3,136;
    # emb 3,136·128 + 128 = 401,536, 401,408 MACs. Tower 420,352 parameters, 4,239,872 MACs.
    # score: concat 256 → 1: 257 parameters, 256 MACs
    assert a.totals.params == a.totals.trainable_params == 420_352 + 257 == 420_609
    assert a.totals.macs == 2 * 4_239_872 + 256 == 8_480_000
    # FLOPs per tower: c1 2·225,792 + 25,088 bias = 476,672; relu 25,088; pool 3·6,272 = 18,816;
    # c2 2·3,612,672 + 12,544 = 7,237,888; relu 12,544; pool 3·3,136 = 9,408; emb 2·401,408 + 128 =
    # 802,944: 8,583,360. Twice, plus score 2·256 + 1 and the sigmoid 1
    assert a.totals.flops == 2 * 8_583_360 + 514 == 17_167_234
    # the tower is a block: its use on the right image shares the left use's weights, layer by layer
    shared = {r.node.name: r.node.shares for r in a.rows if r.node.shares}
    assert shared == {"right_tower.c1": "left_tower.c1", "right_tower.c2": "left_tower.c2",
                      "right_tower.emb": "left_tower.emb"}  # fmt: skip
    assert (a.groups["right_tower"].shares, a.groups["right_tower"].params) == ("left_tower", 0)
    assert a.groups["left_tower"].params == 420_352
    assert a.groups["left_tower"].macs == a.groups["right_tower"].macs == 4_239_872


REUSED_DENSE = """
netcalc: 1
convention: {convention}
input: {{shape: [16]}}
layers:
  - {{id: d, op: dense, units: 16, activation: tanh}}
  - {{op: dense, shares: d, id: again, activation: tanh}}
"""


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_a_dense_applied_twice_in_sequence(convention):
    a = _analysis(REUSED_DENSE.format(convention=convention))
    rows = _rows(a)
    # Linear(16, 16): 16·16 + 16 = 272 parameters once; 256 MACs per call, FLOPs 2·256 + 16 = 528
    assert (rows["d"].params, rows["again"].params) == (272, 0)
    assert a.totals.params == 272
    assert a.totals.macs == 2 * 256
    # the tanh after each: 1 FLOP per element (16): 2·(528 + 16) = 1,088
    assert a.totals.flops == 1088
    assert rows["again"].out_shape == (16,)


def test_the_sharing_layer_takes_the_owners_arguments_and_not_the_defaults():
    text = """
netcalc: 1
convention: pytorch
input: {shape: [2, 8]}
defaults: {conv1d: {padding: 1, kernel: 5}}
layers:
  - {id: c, op: conv1d, filters: 2, kernel: 3, padding: 0}
  - {op: conv1d, shares: c, id: s, kernel: 3}
  - {op: conv1d, shares: s, id: t}
"""
    a = _analysis(text)
    rows = _rows(a)
    # c: kernel 3, no padding: 8 → 6 → 4 → 2 (the defaults' padding 1 and kernel 5 do not apply)
    assert [rows[n].out_shape for n in ("c", "s", "t")] == [(2, 6), (2, 4), (2, 2)]
    assert rows["t"].node.shares == "c"  # sharing a sharer shares the first owner's weights
    # weight 2·2·3 = 12 + 2 = 14 once; MACs 2·3·2 = 12 per output position: 12·(6 + 4 + 2) = 144
    assert a.totals.params == 14 and a.totals.macs == 144


BLOCKS = """
netcalc: 1
convention: pytorch
input: {shape: [4, 8, 8]}
blocks:
  recursive:
    layers:
      - {id: c, op: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}
      - {op: conv2d, shares: c, activation: relu}
      - {op: conv2d, shares: stem}
layers:
  - {id: stem, op: conv2d, filters: 4, kernel: 3, padding: 1}
  - {use: recursive, id: r, repeat: 2}
"""


def test_in_a_block_shares_resolves_names_as_in_does():
    a = _analysis(BLOCKS)
    shares = {r.node.name: r.node.shares for r in a.rows if r.node.shares}
    # each repetition's second conv shares its own repetition's c; `stem` is the network's layer
    assert shares == {"r.1.conv2d_1": "r.1.c", "r.1.conv2d_2": "stem", "r.2.conv2d_1": "r.2.c", "r.2.conv2d_2": "stem"}
    # conv 4→4 3×3: 4·4·9 + 4 = 148; stem and r.1.c and r.2.c own weights: 3·148 = 444
    assert a.totals.params == 444
    # seven convolutions of 8·8·4·36 = 9,216 MACs each
    assert a.totals.macs == 7 * 9216
    assert (a.groups["r.1"].params, a.groups["r.1"].macs) == (148, 3 * 9216)


def test_a_frozen_owner_freezes_the_shared_weights():
    text = REUSED_DENSE.format(convention="pytorch").replace("units: 16,", "units: 16, trainable: false,")
    a = _analysis(text)
    rows = _rows(a)
    assert rows["again"].node.frozen and all(not t.trainable for t in rows["again"].tensors)
    t = a.totals
    assert (t.params, t.trainable_params, t.frozen_params) == (272, 0, 272)


HEAD = """
netcalc: 1
convention: pytorch
input:
  - {name: x, shape: [3, 8, 8]}
  - {name: y, shape: [5, 8, 8]}
layers:
  - {id: a, op: conv2d, in: x, filters: 4, kernel: 3, activation: relu}
"""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{id: b, op: conv2d, in: x, shares: nope}", "8:40: error E113: 'shares: nope' names no earlier layer"),
        ("{id: b, op: conv2d, in: x, shares: b}", "8:40: error E113: 'shares: b' is this layer itself; a layer shares"
         " an earlier layer's weights"),
        ("{id: b, op: conv2d, in: x, shares: x}", "8:40: error E113: 'shares: x' is an input or a state, not a layer"
         " with weights"),
        ("{id: b, op: dense, in: x, shares: a}", "8:39: error E122: 'shares: a' names a conv2d layer (line 7); a dense"
         " layer shares the weights of a dense layer only"),
        ("{id: b, op: relu, in: x, shares: a}", "8:38: error E122: 'shares: a': relu has no weights to share; a"
         " parameter-free layer computes the same written again: drop 'shares:'"),
        ("{id: b, op: conv2d, in: x, shares: a, kernel: 5}", "8:51: error E122: 'kernel: 5' differs from a's kernel"
         " [3, 3] (line 7): a conv2d layer sharing its weights takes its arguments; drop it or write the same value"),
        ("{id: b, op: conv2d, in: x, shares: a, trainable: false}", "8:54: error E122: 'trainable: false' on a layer"
         " sharing a's weights: they are a's, trainable there (line 7); write trainable: on a"),
        ("{id: b, op: conv2d, in: y, shares: a}", "8:40: error E209: b shares a's weights (weight 4×3×3×3, bias 4;"
         " line 7), but its input 5×8×8 needs weight 4×5×3×3, bias 4; a's input is 3×8×8"),
    ],
)  # fmt: skip
def test_what_cannot_be_shared_is_a_located_error(line, expected):
    text = HEAD.lstrip() + f"  - {line}\n"
    assert _errors(text) == [expected]


def test_writing_the_owners_own_value_is_allowed():
    a = _analysis(HEAD + "  - {id: b, op: conv2d, in: x, shares: a, filters: 4, kernel: [3, 3]}\n")
    assert _rows(a)["b"].params == 0


def test_json_and_summary_say_what_is_shared():
    path = bundled.find("siamese")
    doc = json.loads(netcalc("summary", str(path), "--format", "json").stdout)
    layers = {la["name"]: la for la in doc["layers"]}
    right, left = layers["right_tower.c1"], layers["left_tower.c1"]
    assert right["shares"] == "left_tower.c1" and left["shares"] is None
    assert right["params"] == 0 and {t["kind"] for t in right["tensors"]} == {"shared"}
    groups = {g["label"]: g for g in doc["groups"]}
    assert groups["right_tower"]["shares"] == "left_tower" and groups["left_tower"]["shares"] is None
    out = netcalc("summary", str(path)).stdout
    assert "shared with left_tower.c1" in out and "shared with left_tower.emb" in out
    assert "shared with left_tower " in out  # the use's group row


# --------------------------------------------------------------------------- the executor


def test_the_executor_uses_the_owners_arrays_and_counts_them_once():
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, run

    graph, _ = _load(SIAMESE.format(convention="pytorch", shape=[3, 6, 6]))
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    assert layers["b"].params["weight"] is layers["a"].params["weight"]
    assert layers["b"].params["bias"] is layers["a"].params["bias"]
    m = run(graph, batch=2, seed=0)
    assert m.nodes["b"].params == 0 and m.nodes["a"].params == 112
    assert m.params == 370
    assert {t["kind"] for t in m.nodes["b"].tensors} == {"shared"}


def test_the_shared_weights_gradient_is_the_sum_over_the_uses():
    """d loss / d W of a dense applied twice, loss = Σ y·g: the executor's accumulated gradient
    (`weight_grads`) against central finite differences of the whole network's loss."""
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, weight_grads

    graph, _ = _load(REUSED_DENSE.format(convention="pytorch").replace("units: 16", "units: 5").replace(
        "[16]", "[5]"))  # fmt: skip
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, 5))
    g = rng.standard_normal((3, 5))

    def loss() -> float:
        v = x0
        for node in graph.nodes:
            v, _ = layers[node.name].forward([v])
        return float((v * g).sum())

    loss()
    dy = g
    for node in reversed(graph.nodes):
        (dy,) = layers[node.name].backward(dy, {})
    grads = weight_grads(graph, layers)
    assert set(grads) == {("d", "weight"), ("d", "bias")}  # one gradient per array, at its owner
    w = layers["d"].params["weight"]
    numeric = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        keep = w[idx]
        w[idx] = keep + 1e-6
        up = loss()
        w[idx] = keep - 1e-6
        down = loss()
        w[idx] = keep
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(grads[("d", "weight")], numeric, rtol=1e-6, atol=1e-8)
    # and it is not one use's gradient alone
    assert not np.allclose(layers["d"].grads["weight"], numeric, rtol=1e-3)


def test_verify_agrees_on_the_bundled_siamese():
    r = netcalc("verify", str(bundled.find("siamese")), "--seeds", "2", "--batch", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "everything agrees" in r.stdout


# --------------------------------------------------------------------------- PyTorch's own count


def test_torch_counts_the_reused_module_once():
    pytest.importorskip("torch")
    from torch_oracle import run_oracle

    a = _analysis(bundled.find("siamese").read_text(encoding="utf-8"))
    oracle = run_oracle(a.graph)
    # the oracle calls c1's module object again for the right tower: torch's model.parameters()
    # deduplicates it
    assert oracle.model["right_tower__c1"] is oracle.model["left_tower__c1"]
    assert oracle.total_params == a.totals.params == 420_609
    assert oracle.rows["right_tower.c1"].params == 0 and oracle.rows["left_tower.c1"].params == 320
    # 64×14×14 outputs of 32·9 = 288 MACs: 3,612,672 at each call, torch's measured shapes too
    assert [oracle.rows[n].macs for n in ("left_tower.c2", "right_tower.c2")] == [3_612_672] * 2
