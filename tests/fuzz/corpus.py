"""The seed corpus: the bundled specs and every spec under tests/, as bytes and (where PyYAML reads
them) as Python objects, with the pieces the mutators recombine (layers, blocks, ids, keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
TESTS = ROOT / "tests"

# Bundled specs whose signal, lint or verify run takes seconds (measured on the 2-core machine,
# in-process: signal resnet1202-cifar 12 s of CPU, the recurrent specs 2–5 s for signal and lint,
# verify of the VGGs, U-Net and the large ResNets 10–35 s even at --batch 2 --seeds 1). They are
# fuzzed with summary, explain, sizes and diff; the expensive commands take them rarely
# (HEAVY_RATE), so that a bounded run is not spent on a few legitimate long runs.
HEAVY = {
    "resnet1202-cifar", "resnet152", "resnet101", "resnet110-cifar", "mobilenet-v2", "unet-small",
    "lstm-classifier-t", "recurrent-cells", "stacked-gru", "text-bilstm", "lstm-look-back",
    "lstm-look-back-pytorch",
}  # fmt: skip
# verify runs the executor: only on these (and mutations of them) without --seeds 1 --batch 1
VERIFY_LIGHT = {
    "alexnet-lite", "alexnet-lite-he", "alexnet-lite-n01", "conv-autoencoder", "flatten-vs-gap", "keras-mobile",
    "mnist-cnn", "plain30-he", "plain30-xavier", "residual-blocks", "residual-unnormalised", "residual-zero-init",
    "resnet20-cifar", "resnet32-cifar", "signal-autoencoder", "text-cnn",
}  # fmt: skip


@dataclass
class Seed:
    name: str  # bundled name (stem) or path relative to ROOT
    path: Path
    data: bytes
    tree: object = None  # the PyYAML reading, or None when it does not parse
    bundled: bool = False
    symbols: tuple[str, ...] = ()  # the names of its sizes (declared, or written in the input's shape)

    @property
    def symbolic(self) -> bool:  # for `netcalc sizes`
        return bool(self.symbols)

    @property
    def broken(self) -> bool:  # broken on purpose
        return self.name.startswith("tests/errors/")

    @property
    def heavy(self) -> bool:
        return self.path.stem in HEAVY

    @property
    def light(self) -> bool:
        return self.path.stem in VERIFY_LIGHT or (not self.bundled and len(self.data) < 1500)


@dataclass
class Corpus:
    seeds: list[Seed]
    layers: list[dict] = field(default_factory=list)  # every mapping with an `op`, from every seed
    blocks: list[tuple[str, dict]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # every mapping key seen
    ids: list[str] = field(default_factory=list)
    subtrees: list[object] = field(default_factory=list)  # values to graft (crossover)

    def bundled(self) -> list[Seed]:
        return [s for s in self.seeds if s.bundled]


def seed_files() -> list[tuple[Path, bool]]:
    out = [(p, True) for p in sorted(SPECS.glob("*.yaml"))]
    for p in sorted(TESTS.rglob("*.y*ml")):
        rel = p.relative_to(TESTS)
        if rel.parts[0] in ("fuzz", "golden") or p.suffix not in (".yaml", ".yml"):
            continue
        out.append((p, False))
    return out


def _walk(node, corpus: Corpus, depth: int = 0) -> None:
    if depth > 30:
        return
    if isinstance(node, dict):
        if "op" in node:
            corpus.layers.append(node)
        for k, v in node.items():
            if isinstance(k, str):
                corpus.keys.append(k)
            if k == "id" and isinstance(v, str):
                corpus.ids.append(v)
            if k == "blocks" and isinstance(v, dict):
                corpus.blocks += [(n, b) for n, b in v.items() if isinstance(n, str) and isinstance(b, dict)]
            corpus.subtrees.append(v)
            _walk(v, corpus, depth + 1)
    elif isinstance(node, list):
        for v in node:
            _walk(v, corpus, depth + 1)


def _symbols(tree) -> tuple[str, ...]:
    if not isinstance(tree, dict):
        return ()
    names = list(tree["symbols"]) if isinstance(tree.get("symbols"), dict) else []
    given = tree.get("input")
    for inp in given if isinstance(given, list) else [given]:
        shape = inp.get("shape") if isinstance(inp, dict) else None
        names += [a for a in shape if isinstance(a, str) and a.isidentifier()] if isinstance(shape, list) else []
    return tuple(dict.fromkeys(n for n in names if isinstance(n, str)))


def load() -> Corpus:
    seeds = []
    for path, bundled in seed_files():
        data = path.read_bytes()
        try:
            tree = yaml.safe_load(data)
        except Exception:  # a seed that is broken on purpose (tests/errors): byte mutations only
            tree = None
        name = path.stem if bundled else str(path.relative_to(ROOT))
        seeds.append(Seed(name, path, data, tree, bundled, _symbols(tree)))
    corpus = Corpus(seeds)
    for s in seeds:
        _walk(s.tree, corpus)
    corpus.keys = sorted(set(corpus.keys))
    corpus.ids = sorted(set(corpus.ids))
    # keep the graft pool small and varied: scalars, short lists and small mappings
    corpus.subtrees = [t for t in corpus.subtrees if len(repr(t)) < 400]
    return corpus
