"""Block-level weight sharing: `shares: USE` on a block use (a Siamese tower written as a block and
used twice) and `shared: true` on a repeated use (a recursive block unrolled, ALBERT's cross-layer
sharing): every weighted layer of the sharing use (or repetition) uses the weights of the layer at
the same place in the owner's, counted once, as PyTorch's model.parameters() (a module called again
yields its tensors once) and Keras's summary (a shared layer listed once) count them; MACs and FLOPs
at every use. Figures worked out by hand in the comments; PyTorch's own count (a tower module
written in torch, called twice) checked at the end."""

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


def _load(text: str, convention: str | None = None, **options):
    path = Path(tempfile.mkdtemp()) / "blocks.yaml"
    path.write_text(text, encoding="utf-8")
    diags = Diagnostics()
    graph = load(str(path), diags, convention=convention, **options)
    return graph, diags


def _analysis(text: str, convention: str | None = None):
    graph, diags = _load(text, convention)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    return a


def _errors(text: str, **options) -> list[str]:
    graph, diags = _load(text, **options)
    if graph is not None and not diags.has_errors():
        analyze(graph, diags)
    return [d.format().splitlines()[0].split("/blocks.yaml:", 1)[-1] for d in diags.errors]


def _rows(a) -> dict:
    return {r.node.name: r for r in a.rows}


TOWER = """
netcalc: 1
convention: {convention}
input:
  - {{name: a, shape: {shape}}}
  - {{name: b, shape: {shape}}}
blocks:
  tower:
    params: {{f: int, units: 5}}
    layers:
      - {{id: conv, op: conv2d, filters: $f, kernel: 3, activation: relu}}
      - {{op: flatten}}
      - {{id: fc, op: dense, units: $units}}
layers:
  - {{use: tower, id: ta, in: a, f: 4}}
  - {{use: tower, id: tb, in: b, shares: ta}}
  - {{op: concat, in: [ta, tb]}}
"""


@pytest.mark.parametrize(
    ("convention", "shape", "conv", "fc"),
    [("pytorch", [3, 6, 6], [("weight", (4, 3, 3, 3)), ("bias", (4,))], [("weight", (5, 64)), ("bias", (5,))]),
     ("keras", [6, 6, 3], [("kernel", (3, 3, 3, 4)), ("bias", (4,))], [("kernel", (64, 5)), ("bias", (5,))])],
)  # fmt: skip
def test_a_tower_block_used_twice_counts_its_weights_once(convention, shape, conv, fc):
    a = _analysis(TOWER.format(convention=convention, shape=shape))
    rows = _rows(a)
    # conv 3→4, 3×3 valid on 6×6: 4·3·9 = 108 + 4 = 112 parameters, 4·4·4 = 64 outputs × 27 = 1,728
    # MACs; flatten 64; dense 64→5: 320 + 5 = 325 parameters, 320 MACs. The tower: 437, 2,048 MACs
    assert (rows["ta.conv"].params, rows["ta.fc"].params) == (112, 325)
    assert (rows["tb.conv"].params, rows["tb.fc"].params) == (0, 0)
    assert (rows["tb.conv"].macs, rows["tb.fc"].macs) == (1728, 320)
    assert {n: rows[n].node.shares for n in ("tb.conv", "tb.fc")} == {"tb.conv": "ta.conv", "tb.fc": "ta.fc"}
    # the parameter-free layers (relu, flatten) share nothing
    assert rows["tb.conv.relu"].node.shares is None and rows["tb.flatten_1"].node.shares is None
    assert [(t.name, t.shape, t.kind) for t in rows["tb.conv"].tensors] == [(n, s, "shared") for n, s in conv]
    assert [(t.name, t.shape, t.kind) for t in rows["tb.fc"].tensors] == [(n, s, "shared") for n, s in fc]
    assert a.totals.params == a.totals.trainable_params == 437
    assert a.totals.macs == 2 * 2048
    # FLOPs per tower: conv 2·1,728 + 64 = 3,520; relu 64; dense 2·320 + 5 = 645: 4,229, twice
    assert a.totals.flops == 2 * 4229
    # the groups: the owner's use counts the weights, the sharing use none, both their MACs
    assert (a.groups["ta"].params, a.groups["ta"].shares) == (437, None)
    assert (a.groups["tb"].params, a.groups["tb"].shares, a.groups["tb"].macs) == (0, "ta", 2048)
    # the sharing use took the owner's parameter values (f: 4, and units' default 5)
    assert rows["tb.conv"].node.args["filters"] == 4


def test_the_sharing_use_takes_the_owners_parameters_not_their_defaults():
    text = TOWER.format(convention="pytorch", shape=[3, 6, 6]).replace("f: 4}", "f: 4, units: 7}")
    a = _analysis(text)
    # units 7 on the owner: the sharer's dense has 7 units too (not the default 5): 64·7 + 7 = 455
    assert _rows(a)["tb.fc"].out_shape == (7,)
    assert a.totals.params == 112 + 455


def test_writing_the_owners_own_values_is_allowed():
    text = TOWER.format(convention="pytorch", shape=[3, 6, 6]).replace("shares: ta}", "shares: ta, f: 4, units: 5}")
    assert _analysis(text).totals.params == 437


def test_the_bundled_siamese_is_a_block_used_twice():
    a = _analysis(bundled.find("siamese").read_text(encoding="utf-8"))
    # the figures of the tower are worked out in test_shares.test_the_bundled_siamese_by_hand
    assert a.totals.params == 420_609 and a.totals.macs == 8_480_000
    assert a.groups["right_tower"].shares == "left_tower"


# --------------------------------------------------------------------------- repetitions


RECURSIVE = """
netcalc: 1
convention: pytorch
input: {shape: [2, 5, 5]}
defaults: {conv2d: {kernel: 3, padding: 1}}
blocks:
  unit:
    layers:
      - {op: relu}
      - {op: conv2d, filters: 2}
      - {op: relu}
      - {id: branch, op: conv2d, filters: 2}
      - {op: add, in: [branch, h0]}
layers:
  - {id: h0, op: conv2d, filters: 2}
  - {use: unit, id: u, repeat: 3, shared: true}
"""


def test_shared_repetitions_use_the_first_ones_weights():
    a = _analysis(RECURSIVE)
    rows = _rows(a)
    # conv 2→2 3×3 'same' on 5×5: 2·2·9 = 36 + 2 = 38 parameters, 25·2·18 = 900 MACs
    # h0 and repetition 1's two convolutions own weights: 3·38 = 114; repetitions 2 and 3 share them
    assert a.totals.params == 114
    assert (a.groups["u.1"].params, a.groups["u.2"].params, a.groups["u.3"].params) == (76, 0, 0)
    assert (a.groups["u.2"].shares, a.groups["u.3"].shares, a.groups["u.1"].shares) == ("u.1", "u.1", None)
    assert a.groups["u"].params == 76
    # seven convolutions compute: 7·900 = 6,300 MACs
    assert a.totals.macs == 6300
    assert rows["u.3.conv2d_1"].node.shares == "u.1.conv2d_1" and rows["u.3.branch"].node.shares == "u.1.branch"
    # unshared, the same spec counts 7·38 = 266
    assert _analysis(RECURSIVE.replace(", shared: true", "")).totals.params == 266


def test_the_bundled_drrn_counts_one_recursive_units_weights():
    a = _analysis(bundled.find("drrn-b1u9").read_text(encoding="utf-8"))
    # h0 conv 1→128 3×3: 1,152 + 128 = 1,280; the unit's two convs 128→128 3×3: 2·(147,456 + 128) =
    # 295,168, once for the nine repetitions; recon conv 128→1: 1,152 + 1 = 1,153. 297,601 in all;
    # without biases 1,152 + 294,912 + 1,152 = 297,216 (the paper's "297K" for B1U9)
    assert a.totals.params == 1280 + 295_168 + 1153 == 297_601
    # MACs on 31×31: each 128→128 conv 961·147,456 = 141,705,216, 18 of them; h0 and recon
    # 961·1,152 = 1,107,072 each
    assert a.totals.macs == 18 * 141_705_216 + 2 * 1_107_072 == 2_552_908_032
    # depth: 1 + 2·9 + 1 = 20 weighted layers (the paper's d = (1 + 2U)·B + 1)
    assert sum(1 for r in a.rows if r.ltype.weighted) == 20
    assert [a.groups[f"units.{r}"].shares for r in range(1, 10)] == [None] + ["units.1"] * 8


def test_a_use_sharing_a_repeated_use_shares_repetition_by_repetition():
    text = RECURSIVE.replace(", shared: true", "") + "  - {use: unit, id: v, repeat: 3, shares: u}\n"
    a = _analysis(text)
    rows = _rows(a)
    assert [rows[f"v.{r}.branch"].node.shares for r in (1, 2, 3)] == ["u.1.branch", "u.2.branch", "u.3.branch"]
    assert [a.groups[f"v.{r}"].shares for r in (1, 2, 3)] == ["u.1", "u.2", "u.3"]
    assert a.groups["v"].shares == "u"
    assert a.totals.params == 266  # 7·38, the same as without v; MACs 13·900
    assert a.totals.macs == 13 * 900


def test_a_use_sharing_one_set_of_weights_may_repeat_it():
    # u's three repetitions share one set: a use sharing u may run it any number of times
    text = RECURSIVE + "  - {use: unit, id: v, repeat: 5, shares: u}\n"
    a = _analysis(text)
    assert {_rows(a)[f"v.{r}.branch"].node.shares for r in range(1, 6)} == {"u.1.branch"}
    assert a.totals.params == 114 and a.totals.macs == (1 + 6 + 10) * 900


NESTED = """
netcalc: 1
convention: pytorch
input: {shape: [4, 8, 8]}
blocks:
  unit:
    layers:
      - {id: c, op: conv2d, filters: 4, kernel: 3, padding: 1, activation: relu}
      - {op: batchnorm}
  pair:
    layers:
      - {use: unit, id: a, repeat: 2}
      - {use: unit, id: b, repeat: 2, shares: a}
layers:
  - {use: pair, id: p, repeat: 2}
  - {use: pair, id: q, repeat: 2, shares: p}
"""


def test_sharing_nests():
    a = _analysis(NESTED)
    rows = _rows(a)
    # unit: conv 4→4 3×3: 144 + 4 = 148, batchnorm 4 + 4 = 8 (and 8 buffers): 156. Only p's a
    # uses own weights: 2 pairs × 2 repetitions × 156 = 624; buffers 4 × 8 = 32
    assert (a.totals.params, a.totals.buffers) == (624, 32)
    assert rows["p.1.b.2.c"].node.shares == "p.1.a.2.c"
    assert rows["q.2.a.1.c"].node.shares == "p.2.a.1.c"
    assert rows["q.2.b.1.batchnorm_1"].node.shares == "p.2.a.1.batchnorm_1"  # the first owner
    # 16 convolutions of 64·36·4 = 9,216 MACs
    assert a.totals.macs == 16 * 9216
    assert a.groups["q.1.a"].shares == "p.1.a" and a.groups["q"].shares == "p"


def test_a_frozen_owner_use_freezes_the_sharing_use():
    a = _analysis(TOWER.format(convention="pytorch", shape=[3, 6, 6]).replace("f: 4}", "f: 4, trainable: false}"))
    rows = _rows(a)
    assert rows["tb.conv"].node.frozen and all(not t.trainable for t in rows["tb.fc"].tensors)
    t = a.totals
    assert (t.params, t.trainable_params, t.frozen_params) == (437, 0, 437)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        ("{use: tower, id: tb, in: b, shares: nope}", "19:41: error E113: 'shares: nope' names no earlier use of a"
         " block"),
        ("{use: tower, id: tb, in: b, shares: ta.fc}", "19:41: error E122: 'shares: ta.fc' names a dense layer"
         " (line 16); a block use shares the weights of an earlier use of the same block (its id)"),
        ("{use: other, id: tb, in: b, shares: ta}", "19:41: error E122: 'shares: ta' names a use of block 'tower'"
         " (line 18); a use of block 'other' shares the weights of a use of 'other' only"),
        ("{use: tower, id: tb, in: b, shares: ta, f: 8}", "19:48: error E122: 'f: 8' differs from ta's f 4 (line 18):"
         " a use sharing its weights takes its parameters; drop it or write the same value"),
        ("{use: tower, id: tb, in: b, shares: ta, first: {f: 8}}", "19:52: error E122: 'first: {f: 8}' differs"
         " from ta's first: {} (line 18): a use sharing its weights takes its parameters; drop it or write the same"
         " value"),
        ("{use: tower, id: tb, in: b, shares: ta, trainable: false}", "19:56: error E122: 'trainable: false' on a"
         " use sharing ta's weights: they are ta's, trainable there (line 18); write trainable: on ta"),
        ("{use: tower, id: tb, in: b, shares: ta, shared: true}", "19:53: error E122: 'shared: true' on a use"
         " sharing ta's weights: how its repetitions share them is ta's (line 18); drop it"),
        ("{use: tower, id: tb, in: c, shares: ta}", "14:9: error E209: tb.conv shares ta.conv's weights (weight"
         " 4×3×3×3, bias 4; line 14), but its input 5×6×6 needs weight 4×5×3×3, bias 4; ta.conv's input is 3×6×6"),
    ],
)  # fmt: skip
def test_what_a_use_cannot_share_is_a_located_error(use, expected):
    text = (
        TOWER.format(convention="pytorch", shape=[3, 6, 6])
        .replace("  - {name: b, shape: [3, 6, 6]}", "  - {name: b, shape: [3, 6, 6]}\n  - {name: c, shape: [5, 6, 6]}")
        .replace("  tower:\n", "  other:\n    layers:\n      - {op: flatten}\n  tower:\n")
        .replace("  - {use: tower, id: tb, in: b, shares: ta}", f"  - {use}")
        .replace("  - {op: concat, in: [ta, tb]}", "  - {op: concat, in: [ta, tb]}\noutputs: [concat_1]")
    )  # fmt: skip
    got = _errors(text.lstrip())
    assert got[:1] == [expected], got


def test_repeat_must_match_an_owner_whose_repetitions_own_weights():
    text = RECURSIVE.replace(", shared: true", "") + "  - {use: unit, id: v, repeat: 2, shares: u}\n"
    assert _errors(text.lstrip()) == [
        "16:32: error E122: 'repeat: 2' on a use sharing u's weights, whose 3 repetitions each have their own "
        "(line 15): repetition r shares repetition r's, so write repeat: 3 (or give u 'shared: true')"
    ]


def test_shared_repetitions_with_another_first_repetition_is_an_error():
    text = RECURSIVE.replace("  unit:\n", "  unit:\n    params: {f: 2}\n").replace(
        "      - {op: conv2d, filters: 2}", "      - {op: conv2d, filters: $f}"
    )
    text = text.replace("shared: true}", "shared: true, first: {f: 3}}")
    assert _errors(text.lstrip())[0].startswith(
        "16:56: error E122: 'shared: true' with 'first: {f: 3}': the first repetition takes other parameters"
    )
    # a first: that changes nothing is allowed
    assert _analysis(text.replace("first: {f: 3}", "first: {f: 2}")).totals.params == 114


def test_the_layer_limit_counts_the_sharing_uses_layers():
    # the step is two layers (dense, tanh): the owner's one repetition and five of the sharing use's
    # are 2 + 5·2 = 12 layers
    text = DENSE_LOOP.format(convention="pytorch").replace(
        "units: 3, activation: tanh}", "units: 3}\n      - {op: tanh}"
    )
    text = text.replace("repeat: 3, shared: true}", "repeat: 1}\n  - {use: step, id: t, repeat: 5, shares: s}")
    assert _analysis(text).totals.params == 12  # 3·3 + 3, once
    errors = _errors(text.lstrip(), max_layers=11)
    assert len(errors) == 1 and "error E118: the spec expands to 12 layers, more than the limit of 11" in errors[0]


# --------------------------------------------------------------------------- outputs


def test_json_explain_and_schema_say_what_is_shared():
    path = Path(tempfile.mkdtemp()) / "tower.yaml"
    path.write_text(RECURSIVE, encoding="utf-8")
    doc = json.loads(netcalc("summary", str(path), "--format", "json").stdout)
    groups = {g["label"]: g for g in doc["groups"]}
    assert (groups["u.2"]["shares"], groups["u.2"]["params"], groups["u.1"]["shares"]) == ("u.1", 0, None)
    layers = {la["name"]: la for la in doc["layers"]}
    assert layers["u.2.branch"]["shares"] == "u.1.branch"
    out = netcalc("explain", str(path), "u.2.branch").stdout
    assert "the weights are u.1.branch's (its use u.2 uses u.1's weights), counted once there" in out
    assert "shared with u.1" in netcalc("summary", str(path)).stdout
    schema = json.loads(netcalc("schema").stdout)
    use = schema["$defs"]["use"]["properties"]
    assert use["shares"]["type"] == "string" and use["shared"]["type"] == "boolean"


# --------------------------------------------------------------------------- the executor


def _forward(graph, layers, inputs: dict) -> dict:
    values = dict(inputs)
    for node in graph.nodes:
        values[node.name], _ = layers[node.name].forward([values[n] for n in node.inputs])
    return values


def _backward(graph, layers, values: dict, out: str, g) -> None:
    grads = {out: g}
    for node in reversed(graph.nodes):
        dy = grads.pop(node.name, None)
        if dy is None:
            dy = np.zeros_like(values[node.name])
        for name, dx in zip(node.inputs, layers[node.name].backward(dy, {}), strict=False):
            if dx is not None:
                grads[name] = dx if name not in grads else grads[name] + dx


def test_the_executor_gives_the_sharing_use_the_owners_arrays():
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, run

    graph, _ = _load(TOWER.format(convention="pytorch", shape=[3, 6, 6]))
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    for name in ("conv", "fc"):
        for tensor in ("weight", "bias"):
            assert layers[f"tb.{name}"].params[tensor] is layers[f"ta.{name}"].params[tensor]
    m = run(graph, batch=2, seed=0)
    assert m.params == 437 and m.nodes["tb.fc"].params == 0


DENSE_LOOP = """
netcalc: 1
convention: {convention}
input: {{shape: [3]}}
blocks:
  step:
    layers:
      - {{op: dense, units: 3, activation: tanh}}
layers:
  - {{use: step, id: s, repeat: 3, shared: true}}
"""


@pytest.mark.parametrize("convention", ["pytorch", "keras"])
def test_the_gradient_of_shared_repetitions_is_the_sum_over_them(convention):
    """A dense applied three times with one weight matrix: the accumulated gradient (`weight_grads`)
    against central finite differences of the whole network's loss Σ y·g."""
    from netcalc.executor.run import _env as env_of
    from netcalc.executor.run import build_layers, weight_grads

    graph, _ = _load(DENSE_LOOP.format(convention=convention))
    layers = build_layers(graph, env_of(graph, "float64", 0, "train", None))
    rng = np.random.default_rng(3)
    x0, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out = graph.nodes[-1].name

    def loss() -> float:
        return float((_forward(graph, layers, {"input": x0})[out] * g).sum())

    _backward(graph, layers, _forward(graph, layers, {"input": x0}), out, g)
    grads = weight_grads(graph, layers)
    wname = "kernel" if convention == "keras" else "weight"
    owner = "s.1.dense_1"
    assert set(grads) == {(owner, wname), (owner, "bias")}
    for tensor in (wname, "bias"):
        w = layers[owner].params[tensor]
        numeric = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            keep = w[idx]
            w[idx] = keep + 1e-6
            up = loss()
            w[idx] = keep - 1e-6
            down = loss()
            w[idx] = keep
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(grads[(owner, tensor)], numeric, rtol=1e-6, atol=1e-9)
        assert not np.allclose(layers[owner].grads[tensor], numeric, rtol=1e-3)  # not one use's alone


def test_verify_agrees_on_a_shared_tower_and_shared_repetitions():
    for text in (TOWER.format(convention="pytorch", shape=[3, 6, 6]), RECURSIVE):
        path = Path(tempfile.mkdtemp()) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        r = netcalc("verify", str(path), "--seeds", "2", "--batch", "4")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "everything agrees" in r.stdout


# --------------------------------------------------------------------------- PyTorch


def test_torch_counts_a_tower_module_called_twice_as_netcalc_does():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch_oracle import run_oracle

    class Siamese(nn.Module):
        """The TOWER spec written in PyTorch: one tower module, called on both inputs."""

        def __init__(self) -> None:
            super().__init__()
            self.tower = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))

        def forward(self, a, b):
            return torch.cat([self.tower(a), self.tower(b)], dim=1)

    model = Siamese()
    assert model(torch.zeros(2, 3, 6, 6), torch.zeros(2, 3, 6, 6)).shape == (2, 10)
    torch_count = sum(p.numel() for p in model.parameters())
    a = _analysis(TOWER.format(convention="pytorch", shape=[3, 6, 6]))
    assert torch_count == a.totals.params == 437
    # the oracle, building the graph node by node, calls the owner's module objects again
    oracle = run_oracle(a.graph)
    assert oracle.model["tb__conv"] is oracle.model["ta__conv"] and oracle.model["tb__fc"] is oracle.model["ta__fc"]
    assert oracle.total_params == 437 and oracle.rows["tb.fc"].macs == 320


def test_torch_counts_a_recursive_unit_as_netcalc_does():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch_oracle import run_oracle

    class Recursive(nn.Module):
        """RECURSIVE in PyTorch: the unit's two convolutions applied three times (DRRN's recursion)."""

        def __init__(self) -> None:
            super().__init__()
            self.h0 = nn.Conv2d(2, 2, 3, padding=1)
            self.conv1, self.conv2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            h0 = h = self.h0(x)
            for _ in range(3):
                h = self.conv2(torch.relu(self.conv1(torch.relu(h)))) + h0
            return h

    model = Recursive()
    assert model(torch.zeros(2, 2, 5, 5)).shape == (2, 2, 5, 5)
    a = _analysis(RECURSIVE)
    assert sum(p.numel() for p in model.parameters()) == a.totals.params == 114
    assert run_oracle(a.graph).total_params == 114


def test_diff_shows_a_tower_that_now_shares(tmp_path):
    shared = tmp_path / "shared.yaml"
    shared.write_text(TOWER.format(convention="pytorch", shape=[3, 6, 6]), encoding="utf-8")
    unshared = tmp_path / "unshared.yaml"
    unshared.write_text(
        TOWER.format(convention="pytorch", shape=[3, 6, 6]).replace("shares: ta}", "f: 4}"), encoding="utf-8"
    )
    d = json.loads(netcalc("diff", str(unshared), str(shared), "--format", "json").stdout)
    changed = {c["name"]: c for c in d["layers"]}
    assert set(changed) == {"tb.conv", "tb.fc"}
    assert (changed["tb.conv"]["old"]["weights"], changed["tb.conv"]["new"]["weights"]) == (None, "shared with ta.conv")
    # the sharing tower drops its 437 parameters
    assert d["totals"]["params"]["delta"] == -437
    assert "112 → shared with ta.conv" in netcalc("diff", str(unshared), str(shared)).stdout
