"""Per-op test cases as data: tests/layer_cases/<op>.yaml, one file per registered layer type.

Each file holds `op:` (its stem) and `cases:`, a list of spec fragments with what a person worked
out by hand for them (format: DEVELOPERS.md, "Layer cases"): one layer, after the `before:` layers
it reads from where it needs them (a max unpool, a max pool's indices), whose figures are not
checked. For every case this runs:

1. the analytic engine (netcalc.spec.build + netcalc.analyze.analyze): output shape, extra outputs,
   tensors (name, shape, trainable, kind), params, trainable params, buffers, MACs, FLOPs and the
   warning codes, each against the file;
2. the NumPy executor (netcalc.executor.run.run, as `netcalc verify` runs a graph): the output shape,
   the tensors and the parameter counts of the arrays it really allocates and the MACs of the products
   it really computes, against the same hand figures (never against the engine's); and the gradients
   of its backward pass against central finite differences on a batch of 2;
3. PyTorch (marked `oracle`, skipped without torch): tests/torch_oracle.py builds the layer in torch;
   its output shape always, and for the PyTorch convention its parameter, trainable and buffer counts,
   MACs and final-state shapes against the file, and its output values (eval and, without random
   masks, train mode) against the executor's with the executor's weights copied in.

Meta-tests: every registered op has a case file and no file names an op that does not exist; every
file is well formed (no unknown keys, the tensors add up to `params`, `why:` states each figure);
and a file whose figures change with the convention has cases in both.
"""

from __future__ import annotations

import re
from math import prod
from pathlib import Path

import pytest
import yaml
from conftest import run_spec

from netcalc.diagnostics import Diagnostics
from netcalc.layers import ALIASES, REGISTRY
from netcalc.spec import build
from netcalc.yamlsrc import parse_yaml

CASES_DIR = Path(__file__).resolve().parent / "layer_cases"

CASE_KEYS = {"id", "convention", "input", "before", "layer", "expect", "why", "mode", "torch", "known_bug"}
CASE_REQUIRED = {"id", "convention", "input", "layer", "expect", "why"}
EXPECT_KEYS = {"shape", "extra", "tensors", "params", "trainable", "buffers", "macs", "flops", "warnings"}
EXPECT_REQUIRED = {"shape", "tensors", "params", "macs", "flops"}
TENSOR_KEYS = {"name", "shape", "trainable", "kind"}


# --------------------------------------------------------------------------- reading the files


def _load() -> tuple[dict[str, dict], dict[str, str]]:
    """({stem: file contents}, {stem: why it cannot be read})."""
    files, broken = {}, {}
    for path in sorted(CASES_DIR.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            broken[path.stem] = str(exc)
            continue
        if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
            broken[path.stem] = "a mapping with 'op:' and a list 'cases:' is expected"
            continue
        files[path.stem] = data
    return files, broken


FILES, BROKEN = _load()
CASES = [(stem, case) for stem, data in FILES.items() for case in data["cases"] if isinstance(case, dict)]
IDS = [f"{stem}-{case.get('id')}" for stem, case in CASES]
# a case whose hand figures netcalc is known to get wrong: its figure checks are expected to fail (strict:
# they fail the run once netcalc is fixed, so that the note is removed)
FIGURED = [
    pytest.param(stem, case, id=i, marks=pytest.mark.xfail(reason=str(case["known_bug"]), strict=True))
    if "known_bug" in case
    else pytest.param(stem, case, id=i)
    for (stem, case), i in zip(CASES, IDS, strict=True)
]


def _written(n: int, text: str) -> bool:
    """n appears in text as a whole number, plain (7224) or with thousands separators (7,224)."""
    return any(re.search(rf"(?<![\d.,]){re.escape(s)}(?![\d]|[.,]\d)", text) for s in {str(n), f"{n:,}"})


def _problems(stem: str, case: dict) -> list[str]:
    """What is wrong with one case as data (not as figures)."""
    out = []
    where = f"{stem}.yaml case {case.get('id')!r}"
    if unknown := set(case) - CASE_KEYS:
        out.append(f"{where}: unknown keys {sorted(unknown)}")
    if missing := CASE_REQUIRED - set(case):
        out.append(f"{where}: missing keys {sorted(missing)}")
        return out
    if case["convention"] not in ("pytorch", "keras"):
        out.append(f"{where}: convention must be pytorch or keras, got {case['convention']!r}")
    inputs = case["input"] if isinstance(case["input"], list) else [case["input"]]
    if not all(isinstance(i, dict) and "shape" in i and "layout" in i for i in inputs[:1]):
        out.append(f"{where}: input needs shape and layout")
    if not isinstance(case["layer"], dict) or "op" in case["layer"]:
        out.append(f"{where}: layer is the layer's arguments (the op is the file's)")
    before = case.get("before", [])
    if not isinstance(before, list) or not all(isinstance(b, dict) and "op" in b for b in before):
        out.append(f"{where}: before is a list of layers, each with its op")
    if case.get("mode", "train") not in ("train", "eval"):
        out.append(f"{where}: mode must be train or eval")
    exp = case["expect"]
    if not isinstance(exp, dict):
        return [*out, f"{where}: expect must be a mapping"]
    if unknown := set(exp) - EXPECT_KEYS:
        out.append(f"{where}: unknown expect keys {sorted(unknown)}")
    if missing := EXPECT_REQUIRED - set(exp):
        return [*out, f"{where}: expect lacks {sorted(missing)}"]
    for t in exp["tensors"]:
        if not isinstance(t, dict) or set(t) != TENSOR_KEYS or t["kind"] not in ("param", "buffer"):
            out.append(f"{where}: a tensor is {{name, shape, trainable, kind: param|buffer}}, got {t!r}")
            return out
    counted = sum(prod(t["shape"]) for t in exp["tensors"] if t["kind"] == "param")
    if counted != exp["params"]:
        out.append(f"{where}: the param tensors add up to {counted:,}, not params {exp['params']:,}")
    why = str(case["why"])
    for key in ("params", "macs", "flops"):
        if exp[key] and not _written(exp[key], why):
            out.append(f"{where}: why: does not state {key} {exp[key]:,} (write the derivation down to the figure)")
    return out


def _expected(case: dict) -> dict:
    """The expected figures, trainable and buffers derived from the tensors when not written."""
    exp = dict(case["expect"])
    tensors = exp["tensors"]
    exp.setdefault("trainable", sum(prod(t["shape"]) for t in tensors if t["kind"] == "param" and t["trainable"]))
    exp.setdefault("buffers", sum(prod(t["shape"]) for t in tensors if t["kind"] == "buffer"))
    exp.setdefault("extra", {})
    exp.setdefault("warnings", [])
    return exp


def _tensor_list(exp: dict) -> list:
    return [(t["name"], tuple(t["shape"]), t["trainable"], t["kind"]) for t in exp["tensors"]]


def spec_text(stem: str, case: dict, convention: str | None = None) -> str:
    """The case as a spec: its layer, after the layers it reads from (`before`) if any."""
    spec = {
        "netcalc": 1,
        "convention": convention or case["convention"],
        "input": case["input"],
        "layers": [*case.get("before", []), {"op": stem, **case["layer"]}],
    }
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)


def graph_of(stem: str, case: dict):
    diags = Diagnostics()
    graph = build(parse_yaml(spec_text(stem, case), "case.yaml", diags), "case.yaml", diags)
    assert graph is not None and not diags.has_errors(), [d.format() for d in diags.items]
    assert len(graph.nodes) == 1 + len(case.get("before", [])), "a case is one layer (after its `before` ones)"
    return graph


def _checked(stem: str, case: dict) -> dict:
    problems = _problems(stem, case)
    assert not problems, "\n".join(problems)
    return _expected(case)


# --------------------------------------------------------------------------- meta-tests


def test_every_registered_op_has_a_case_file_and_every_file_a_registered_op():
    stems = {p.stem for p in CASES_DIR.glob("*.yaml")}
    problems = [f"no tests/layer_cases/{op}.yaml for the registered op {op}" for op in sorted(set(REGISTRY) - stems)]
    for stem in sorted(stems - set(REGISTRY)):
        alias = (
            f" ({stem} is an alias of {ALIASES[stem]}: its cases go in {ALIASES[stem]}.yaml)" if stem in ALIASES else ""
        )
        problems.append(f"tests/layer_cases/{stem}.yaml names no registered op{alias}")
    assert not problems, "\n".join(problems)


def test_case_files_are_well_formed():
    problems = [f"{stem}.yaml: {why}" for stem, why in BROKEN.items()]
    for stem, data in FILES.items():
        if data.get("op") != stem:
            problems.append(f"{stem}.yaml: op is {data.get('op')!r}, not the file's name {stem!r}")
        if unknown := set(data) - {"op", "cases"}:
            problems.append(f"{stem}.yaml: unknown keys {sorted(unknown)}")
        if not data["cases"]:
            problems.append(f"{stem}.yaml: no cases")
        ids = [c.get("id") if isinstance(c, dict) else c for c in data["cases"]]
        if len(set(ids)) != len(ids):
            problems.append(f"{stem}.yaml: case ids repeat: {ids}")
        for case in data["cases"]:
            problems += _problems(stem, case) if isinstance(case, dict) else [f"{stem}.yaml: a case is a mapping"]
    assert not problems, "\n".join(problems)


def _figures(analysis) -> tuple | None:
    if analysis is None:
        return None
    r = analysis.rows[-1]
    return (r.out_shape, [(t.name, t.shape, t.trainable, t.kind) for t in r.tensors], r.macs, r.flops)


def test_cases_cover_both_conventions_where_they_differ():
    """A case whose engine figures change when only the convention is flipped (tensor names or counts,
    'same' padding, default slopes in the FLOPs...) needs a case of the other convention in its file:
    the frameworks count it differently, so both counts are written down by hand."""
    lacking = []
    for stem, data in FILES.items():
        conventions = {c.get("convention") for c in data["cases"] if isinstance(c, dict)}
        for case in data["cases"]:
            if not isinstance(case, dict) or case.get("convention") not in ("pytorch", "keras"):
                continue
            other = "keras" if case["convention"] == "pytorch" else "pytorch"
            if other in conventions:
                continue
            here = _figures(run_spec(spec_text(stem, case))[0])
            there = _figures(run_spec(spec_text(stem, case, other))[0])
            if here != there:
                lacking.append(f"{stem}.yaml case {case['id']!r}: differs under {other}, which has no case")
    assert not lacking, "\n".join(lacking)


# --------------------------------------------------------------------------- 1. the analytic engine


@pytest.mark.parametrize(("stem", "case"), FIGURED)
def test_engine(stem, case):
    exp = _checked(stem, case)
    analysis, diags = run_spec(spec_text(stem, case))
    assert analysis is not None, [d.format() for d in diags.items]
    row = analysis.rows[-1]  # the case's layer (after its `before` ones)
    assert len(analysis.rows) == 1 + len(case.get("before", []))
    assert row.out_shape == tuple(exp["shape"])
    assert row.extra == {k: tuple(v) for k, v in exp["extra"].items()}
    assert [(t.name, tuple(t.shape), t.trainable, t.kind) for t in row.tensors] == _tensor_list(exp)
    assert (row.params, row.trainable, row.buffers) == (exp["params"], exp["trainable"], exp["buffers"])
    assert row.macs == exp["macs"], "MACs"
    assert row.flops == exp["flops"], "FLOPs"
    before = {r.node.name for r in analysis.rows[:-1]}  # the `before` layers' own warnings are theirs
    warned = [d.code for d in diags.items if d.severity == "warning" and d.layer not in before]
    assert sorted(warned) == sorted(exp["warnings"])


# --------------------------------------------------------------------------- 2. the NumPy executor

# Central differences in float64 with a step of 1e-6 (as tests/test_executor_kernels.py): truncation
# O(h²·f''') ≈ 1e-12, rounding ≈ 2e-16·|L|/h = 2e-10·|L|, both far below a relative tolerance of 1e-5;
# the absolute floor 1e-7·(1 + Σ|y·g|) covers entries whose gradient is ~0 (ReLU's negative side, a
# max pool's losers, zero padding). Kinks (ReLU at 0, ties in a max) have probability ~0 with normal
# inputs in these seeded draws.
FD_STEP = 1e-6
FD_RTOL = 1e-5
FD_ENTRIES = 12  # entries checked per tensor (all of them when it has fewer)


@pytest.mark.parametrize(("stem", "case"), FIGURED)
def test_executor(stem, case):
    np = pytest.importorskip("numpy")
    from netcalc.executor.run import run

    exp = _checked(stem, case)
    graph = graph_of(stem, case)
    node = graph.nodes[-1]
    m = run(graph, batch=2, seed=0, dtype="float64", mode=case.get("mode", "train"))
    rec = m.nodes[node.name]
    assert rec.out_shape == tuple(exp["shape"])
    assert [(t["name"], tuple(t["shape"]), t["trainable"], t["kind"]) for t in rec.tensors] == _tensor_list(exp)
    assert (rec.params, rec.trainable, rec.buffers) == (exp["params"], exp["trainable"], exp["buffers"])
    assert rec.macs == exp["macs"], "MACs the executor computed"
    extras = {k.removeprefix(f"{node.name}."): r.out_shape for k, r in m.nodes.items() if r.extra_of == node.name}
    assert extras == {k: tuple(v) for k, v in exp["extra"].items()}
    for r in m.nodes.values():
        assert all(np.isfinite(v) for v in r.forward.values()), r.name


def _inputs(graph, layers: dict, n: int, rng):
    """A batch of n for each input the case's layer reads: the graph inputs drawn by the executor's
    own input sampler, run through the `before` layers' forward passes (their extra outputs, a max
    pool's indices, included)."""
    import numpy as np

    from netcalc.executor.run import sample_input

    node = graph.nodes[-1]
    vocab = node.args.get("vocab", 2) if node.op == "embedding" else None
    values = {i.name: sample_input(i, n, rng, np.float64, graph.channels_last, vocab) for i in graph.inputs}
    for before in graph.nodes[:-1]:
        y, extras = layers[before.name].forward([values[name] for name in before.inputs])
        values[before.name] = y
        values.update({f"{before.name}.{suffix}": e for suffix, e in extras.items()})
    return [values[name] for name in node.inputs]


def _built(graph, mode: str) -> dict:
    """Every layer of the case's graph, by name (the case's own is the last)."""
    import numpy as np

    from netcalc.executor.base import Env
    from netcalc.executor.run import build_layers

    env = Env(graph.convention, graph.channels_last, np.float64, np.random.default_rng(0), mode)
    return build_layers(graph, env)


def _perturb(layer, rng) -> None:
    """γ, β, biases and running statistics away from their 1/0 defaults (variances kept positive)."""
    for name, p in layer.params.items():
        if p.ndim == 1 or name.endswith(("bias", "beta", "gamma", "moving_mean", "running_mean")):
            p += 0.3 * rng.standard_normal(p.shape)
        if name.endswith(("running_var", "moving_variance")):
            p[...] = 0.5 + rng.random(p.shape)


@pytest.mark.parametrize(("stem", "case"), CASES, ids=IDS)
def test_executor_gradients_match_finite_differences(stem, case):
    np = pytest.importorskip("numpy")
    _checked(stem, case)
    graph = graph_of(stem, case)
    node = graph.nodes[-1]
    layers = _built(graph, case.get("mode", "train"))
    layer = layers[node.name]
    layer.batch = 2  # as the runner sets it: what a source (a free parameter) gives its output to
    rng = np.random.default_rng(7)
    _perturb(layer, rng)
    xs = _inputs(graph, layers, 2, rng)
    y, extras = layer.forward(xs)
    g = rng.standard_normal(y.shape)
    gx = {k: rng.standard_normal(e.shape) for k, e in extras.items()}

    def loss() -> float:
        if hasattr(layer, "rng"):  # dropout: the same mask at every evaluation
            layer.rng = np.random.default_rng(3)
        y, extras = layer.forward(xs)
        return float(np.sum(y * g) + sum(np.sum(extras[k] * w) for k, w in gx.items()))

    scale = float(np.sum(np.abs(y * g)))
    loss()
    dxs = layer.backward(g.copy(), {k: w.copy() for k, w in gx.items()})
    grads = {k: v.copy() for k, v in layer.grads.items()}
    trainable = {k for k in layer.params if layer.trainable[k]}
    assert set(grads) == trainable
    assert len(dxs) == len(xs)

    def check(what, arr, analytic):
        assert analytic is not None and np.shape(analytic) == arr.shape, (what, np.shape(analytic), arr.shape)
        idx = np.arange(arr.size) if arr.size <= FD_ENTRIES else rng.choice(arr.size, FD_ENTRIES, replace=False)
        numeric = []
        for i in idx:
            at = np.unravel_index(i, arr.shape)  # in place (a Keras orthogonal kernel is not C-contiguous)
            old = arr[at]
            arr[at] = old + FD_STEP
            up = loss()
            arr[at] = old - FD_STEP
            down = loss()
            arr[at] = old
            numeric.append((up - down) / (2 * FD_STEP))
        np.testing.assert_allclose(np.array(numeric), np.asarray(analytic).reshape(-1)[idx], rtol=FD_RTOL,
                                   atol=1e-7 * (1 + scale), err_msg=f"gradient of {what}")  # fmt: skip

    for i, (x, dx) in enumerate(zip(xs, dxs, strict=True)):
        if np.issubdtype(x.dtype, np.floating):  # token ids and a max pool's indices take no gradient
            check(f"input {i}", x, dx)
    for name in sorted(trainable):
        check(name, layer.params[name], grads[name])


# --------------------------------------------------------------------------- 3. PyTorch


def _torch_name(key: str, params: dict) -> str:
    """The executor's name for a torch tensor: wrappers' prefixes dropped ('body.' of the layout
    wrapper, 'rnn.' of the recurrent one), else the last component (a padded conv's '1.weight')."""
    name = key.removeprefix("body.").removeprefix("rnn.")
    return name if name in params else name.split(".")[-1]


@pytest.mark.oracle
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize(("stem", "case"), CASES, ids=IDS)
def test_pytorch(stem, case):
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    from torch_oracle import MERGE_OPS, build_merge, build_module, run_oracle

    exp = _checked(stem, case)
    graph = graph_of(stem, case)
    node = graph.nodes[-1]
    row = run_oracle(graph).rows[node.name]
    if "torch" in case:  # the note's claim: torch refuses the layer, or builds it with another shape
        assert not (row.ok and row.out_shape == tuple(exp["shape"])), "torch builds it as expected: drop `torch:`"
        pytest.skip(f"not comparable in torch: {case['torch']}")
    assert row.ok, row.error
    assert row.out_shape == tuple(exp["shape"])
    if case["convention"] != "pytorch":
        return  # torch counts as PyTorch does: the file's figures are Keras's
    assert (row.params, row.trainable, row.buffers) == (exp["params"], exp["trainable"], exp["buffers"])
    if row.macs is not None:
        assert row.macs == exp["macs"], "MACs from torch's weight shapes"
    assert row.extra == {k: tuple(v) for k, v in exp["extra"].items()}

    # the output values, with the executor's weights copied into the torch module (float64)
    for mode in ("eval", "train"):
        layers = _built(graph, mode)
        layer = layers[node.name]
        if mode == "train" and hasattr(layer, "rng"):
            continue  # dropout's masks are random: torch draws its own
        layer.batch = 3  # a source (a free parameter) reads no input: the batch is given to it
        rng = np.random.default_rng(11)
        _perturb(layer, rng)
        xs = _inputs(graph, layers, 3, rng)
        ts = [torch.from_numpy(x) for x in xs]
        merge = node.op in MERGE_OPS  # several inputs; a recurrent layer's after the first are its initial states
        if merge:
            module = build_merge(node, graph.channels_last)
        else:
            module, _ = build_module(node, ts[0] if ts else None, graph.channels_last, graph.layout,
                                     graph.convention == "keras", tuple(ts[1:]))  # fmt: skip
        module = module.double()
        named = dict(module.named_parameters())
        named.update({k: v for k, v in module.named_buffers() if not k.endswith("num_batches_tracked")})
        assert len(named) == len(layer.params), (sorted(named), sorted(layer.params))
        for key, tensor in named.items():
            src = layer.params[_torch_name(key, layer.params)]
            assert tuple(tensor.shape) == src.shape, key
            with torch.no_grad():
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(src)))
        module.train(mode == "train")
        with torch.no_grad():
            yt = module(ts) if merge else module(*ts) if ts else module(3)
        y, extras = layer.forward(xs)
        # float64 on both sides: the sums differ in order only, ~1e-15 relative; 1e-10 is far above that
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10, err_msg=mode)
        for suffix, e in extras.items():
            np.testing.assert_allclose(e, module.states[suffix].numpy(), rtol=0, atol=1e-10, err_msg=suffix)
