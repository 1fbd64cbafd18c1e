"""Mutations of a spec: structural (on the PyYAML reading, dumped back as YAML), line-level (on the
text) and byte-level (on the file's bytes). Every function takes a seeded random.Random, so that a
case is the same for the same seed and index."""

from __future__ import annotations

import copy
import random

import yaml

from netcalc.layers import REGISTRY

from .corpus import Corpus

# every registered type (a new one is fuzzed without an edit here) and a few aliases
OPS = [*REGISTRY, "linear", "deconv2d", "batchnorm2d", "crop2d", "reflection_pad2d"]
BAD_OPS = ["Conv2D", "conv4d", "dense ", "", "relu\t", "lstm2", "op", "use", "input", "Dense", "conv2d_", "гру"]


class Raw:
    """A scalar written into the YAML text exactly as given (plain): numbers PyYAML cannot dump (5,000
    digits), YAML 1.1 words (no, on, 0x1F, 1:30, .nan) and text that only looks like a number."""

    def __init__(self, text: str) -> None:
        self.text = text


HUGE_DIGITS = "9" * 5000
RAW_SCALARS = [
    HUGE_DIGITS, "1" + "0" * 400, "-" + "9" * 30, "1e309", "-1e309", ".nan", ".inf", "-.inf", "0x1F", "0o17", "017",
    "1_000", "+3", "1:30", "3.", ".5", "1e-3", "1E3", "no", "yes", "on", "off", "y", "n", "~", "Null", "NULL", "True",
    "0b101", "12e", "١٢", "１２", "3\u00a0", "2**10", "1/2", "-0", "0.0", "nan", "inf", "$H", "${x}", "!!int 3",
    "!!float 1", "!!str 3", "!!binary aGk=", "!!python/object:os.system", "&x 3", "*x", "? a", "[1, [2, [3]]]", "{}",
    "[]", "''", '""', "'$units * 2'", "$units ** 1000", "$filters // 0", "$(1", "$min()", "$__class__",
    "$[x for x in (1,)]", "$1 if 1 else 2", "$10**10**10", "$max(*[1])", "H", "T", "N", "H * 2", "C",
]  # fmt: skip
VALUES = [0, -1, 1, 2, 3, 7, 64, 1000, 2**31, 2**31 - 1, 2**53 + 1, 2**63, 2**64, 10**30, 10**15, -(2**63), 0.5,
          -0.0, 1.0, 1e-30, 1e308, 3.7, float("nan"), float("inf"), "", "abc", "3", "relu", "same", "valid", "chw",
          "hwc", "ntf", "tnf", None, True, False, [], {}, [1], [3, 3], [0, 0], [-1], [1, 2, 3], {"a": 1},
          "x" * 300, "é\u202e\u200b", "with space", "a.b", "input", "in", "$"]  # fmt: skip
KEYS = ["foo", "trainable", "initial_state", "indices", "return_indices", "cropping", "output_size", "alphas", "dims", "recurrent_dropout", "op ", "Op", "filter", "unit", "kernal", "strides", "paddings", "in_", "ids", "", "1", "repeat", "use",
        "shares", "shared", "tie",
        "first", "params", "layers", "blocks", "symbols", "input", "shape", "layout", "dtype", "activation", "init",
        "bias", "groups", "dilation", "return_sequences", "noqa", "lint", "outputs", "loss", "default", "min",
        "max", "divisible", "mean", "std", "range", "correlation", "units", "filters", "kernel", "stride",
        "padding", "axis", "mode", "scale", "rate", "vocab", "dim", "bidirectional", "layers_", "<<", "?"]  # fmt: skip


# --- structural ---------------------------------------------------------------------------------


def _slots(tree) -> list[tuple[object, object]]:
    """(container, key or index) of every value in the tree."""
    out, stack = [], [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > 40:
            continue
        if isinstance(node, dict):
            for k in list(node):
                out.append((node, k))
                stack.append((node[k], depth + 1))
        elif isinstance(node, list):
            for i in range(len(node)):
                out.append((node, i))
                stack.append((node[i], depth + 1))
    return out


def _containers(tree, kind) -> list:
    out, stack = [], [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > 40:
            continue
        if isinstance(node, kind):
            out.append(node)
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    return out


def _layer_lists(tree) -> list[list]:
    lists = [x for x in _containers(tree, list) if x and all(isinstance(i, dict) for i in x)]
    return lists or [x for x in _containers(tree, list)]


def _value(rng: random.Random, corpus: Corpus):
    r = rng.random()
    if r < 0.35:
        return Raw(rng.choice(RAW_SCALARS))
    if r < 0.8:
        return copy.deepcopy(rng.choice(VALUES))
    return copy.deepcopy(rng.choice(corpus.subtrees)) if corpus.subtrees else None


def _nest(value, depth: int, rng: random.Random):
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def m_list_edit(tree, rng, corpus):
    lists = _layer_lists(tree)
    if not lists:
        return "no list"
    xs = rng.choice(lists)
    what = rng.choice(["drop", "dup", "swap", "insert", "clear", "reverse", "many"])
    if what == "drop" and xs:
        del xs[rng.randrange(len(xs))]
    elif what == "dup" and xs:
        i = rng.randrange(len(xs))
        xs.insert(i, copy.deepcopy(xs[i]))
    elif what == "swap" and len(xs) > 1:
        i, j = rng.sample(range(len(xs)), 2)
        xs[i], xs[j] = xs[j], xs[i]
    elif what == "insert":
        item = copy.deepcopy(rng.choice(corpus.layers)) if corpus.layers else {"op": "relu"}
        xs.insert(rng.randrange(len(xs) + 1), item)
    elif what == "clear":
        xs.clear()
    elif what == "reverse":
        xs.reverse()
    elif what == "many" and xs:
        xs.extend(copy.deepcopy(rng.choice(xs)) for _ in range(rng.choice([10, 100, 1000])))
    return f"list {what}"


def m_scalar(tree, rng, corpus):
    slots = [(c, k) for c, k in _slots(tree) if not isinstance(c[k], dict | list)]
    if not slots:
        return "no scalar"
    c, k = rng.choice(slots)
    old = c[k]
    if isinstance(old, int) and not isinstance(old, bool) and rng.random() < 0.5:
        c[k] = rng.choice([old + 1, old - 1, old * 2, -old, 0, old * 1000, old**3, old + 0.5, str(old)])
    else:
        c[k] = _value(rng, corpus)
    return f"scalar {k!r}"


def m_op(tree, rng, corpus):
    layers = [d for d in _containers(tree, dict) if "op" in d]
    if not layers:
        return "no op"
    d = rng.choice(layers)
    d["op"] = rng.choice(OPS) if rng.random() < 0.75 else rng.choice(BAD_OPS)
    return f"op {d['op']!r}"


def m_key(tree, rng, corpus):
    maps = _containers(tree, dict)
    if not maps:
        return "no map"
    d = rng.choice(maps)
    what = rng.choice(["add", "add", "delete", "rename", "int-key"])
    if what == "add":
        key = rng.choice(KEYS + corpus.keys)
        d[key] = _value(rng, corpus)
    elif what == "delete" and d:
        del d[rng.choice(list(d))]
    elif what == "rename" and d:
        k = rng.choice(list(d))
        if isinstance(k, str) and k:
            i = rng.randrange(len(k))
            new = rng.choice([k[:i] + k[i + 1 :], k.upper(), k + "s", k[:i] + "_" + k[i:], k + " "])
            d[new] = d.pop(k)
    elif what == "int-key":
        d[rng.choice([1, 0.5, None, True])] = _value(rng, corpus)
    return f"key {what}"


def m_type(tree, rng, corpus):
    slots = _slots(tree)
    if not slots:
        return "no slot"
    c, k = rng.choice(slots)
    v = c[k]
    c[k] = rng.choice([[v], {"a": v}, str(v)[:200], None, [], {}, Raw("[" + str(v)[:50] + "]")])
    return f"type {k!r}"


def m_deep(tree, rng, corpus):
    slots = _slots(tree)
    if not slots:
        return "no slot"
    c, k = rng.choice(slots)
    depth = rng.choice([20, 60, 95, 100, 101, 200, 1000])
    c[k] = _nest(c[k], depth, rng)
    return f"nest {depth}"


def m_graft(tree, rng, corpus):
    slots = _slots(tree)
    if not slots or not corpus.subtrees:
        return "no slot"
    c, k = rng.choice(slots)
    c[k] = copy.deepcopy(rng.choice(corpus.subtrees))
    return f"graft {k!r}"


def m_blocks(tree, rng, corpus):
    """Wrap layers into blocks: one block, a chain of blocks nested with repeats (the use tree
    multiplies), a block that uses itself or another block, or a grafted block from another spec."""
    if not isinstance(tree, dict) or not isinstance(tree.get("layers"), list) or not tree["layers"]:
        return "no layers"
    layers = tree["layers"]
    blocks = tree.get("blocks") if isinstance(tree.get("blocks"), dict) else {}
    tree["blocks"] = blocks
    what = rng.choice(["wrap", "wrap", "chain", "self", "graft", "repeat"])
    if what == "wrap":
        i = rng.randrange(len(layers))
        j = rng.randrange(i, len(layers)) + 1
        name = f"b{len(blocks)}"
        blocks[name] = {"layers": layers[i:j]}
        use = {"use": name}
        if rng.random() < 0.6:
            use["repeat"] = rng.choice([0, 1, 2, 3, 10, -1, 1000, Raw(HUGE_DIGITS), 2.5, "2"])
        layers[i:j] = [use]
    elif what == "chain":
        depth = rng.choice([2, 3, 5, 8, 16])
        repeat = rng.choice([2, 3, 10])
        body = [rng.choice([x for x in layers if isinstance(x, dict)] or [{"op": "relu"}])]
        for n in range(depth):
            blocks[f"c{n}"] = {"layers": copy.deepcopy(body)}
            body = [{"use": f"c{n}", "repeat": repeat}]
        layers.append(body[0])
        what = f"chain {depth}x{repeat}"
    elif what == "self" and blocks:
        name = rng.choice(list(blocks))
        if isinstance(blocks[name], dict) and isinstance(blocks[name].get("layers"), list):
            other = rng.choice(list(blocks))
            blocks[name]["layers"].append({"use": other})
            layers.append({"use": name})
    elif what == "graft" and corpus.blocks:
        name, body = rng.choice(corpus.blocks)
        blocks[name] = copy.deepcopy(body)
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        use = {"use": name}
        for p in params:
            use[p] = rng.choice([8, 16, 1, 0, -2, "H", 2.5])
        layers.insert(rng.randrange(len(layers) + 1), use)
    elif what == "repeat":
        uses = [d for d in _containers(tree, dict) if "use" in d]
        if uses:
            d = rng.choice(uses)
            d[rng.choice(["repeat", "first", "in", "id"])] = _value(rng, corpus)
    if not blocks:
        tree.pop("blocks", None)
    return f"blocks {what}"


def m_wiring(tree, rng, corpus):
    layers = [d for d in _containers(tree, dict) if "op" in d or "use" in d]
    if not layers:
        return "no layer"
    d = rng.choice(layers)
    ids = [x.get("id") for x in layers if isinstance(x.get("id"), str)] + corpus.ids[:20] + ["input", "nope", ""]
    what = rng.choice(["in", "in-list", "id", "id-dup", "self"])
    if what == "in":
        d["in"] = rng.choice(ids)
    elif what == "in-list":
        d["in"] = [rng.choice(ids) for _ in range(rng.choice([0, 1, 2, 3, 50]))]
    elif what == "id":
        d["id"] = rng.choice(["input", "a.b", "1", "x" * 300, "é", "conv2d_1", "relu", "", "in"])
    elif what == "id-dup" and len(layers) > 1:
        d["id"] = rng.choice(layers).get("id", "dup")
    elif what == "self":
        d["id"] = "me"
        d["in"] = "me"
    return f"wiring {what}"


def m_input(tree, rng, corpus):
    if not isinstance(tree, dict):
        return "no top"
    inp = tree.get("input")
    if not isinstance(inp, dict):
        tree["input"] = inp = {"shape": [3, 8, 8]}
    shape = inp.get("shape")
    what = rng.choice(["rank+", "rank-", "axis", "symbol", "layout", "dtype", "stats", "none-batch", "symbols"])
    if what == "rank+" and isinstance(shape, list):
        shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 2, 7]))
    elif what == "rank-" and isinstance(shape, list) and shape:
        shape.pop(rng.randrange(len(shape)))
    elif what == "axis" and isinstance(shape, list) and shape:
        shape[rng.randrange(len(shape))] = _value(rng, corpus)
    elif what == "symbol" and isinstance(shape, list) and shape:
        shape[rng.randrange(len(shape))] = rng.choice(["H", "W", "T", "N", "None", "h", "H2", "_", "é"])
    elif what == "layout":
        inp["layout"] = rng.choice(["chw", "hwc", "ntf", "tnf", "channels_last", "nchw", "", None, 1])
    elif what == "dtype":
        inp["dtype"] = rng.choice(["int32", "int64", "float16", "int8", "bool", "float128", None])
    elif what == "stats":
        key = rng.choice(["mean", "std", "range", "correlation"])
        inp[key] = rng.choice(
            [0, -1, 1e308, float("nan"), [0, 255], [255, 0], [1, 2, 3], [0.5] * 100, "x", Raw("1e309")]
        )
    elif what == "none-batch" and isinstance(shape, list):
        shape.insert(0, None)
    elif what == "symbols":
        name = rng.choice(["H", "W", "T", "C", "N", "x"])
        decl = rng.choice([
            rng.choice([0, 1, 64, -3, 2.5, "a", None, Raw(HUGE_DIGITS)]),
            {"default": rng.choice([0, 8, 64, 10**12]), "min": rng.choice([0, 1, 100]),
             "max": rng.choice([2, 4000, 10**9]), "divisible": rng.choice([0, 1, 8, -4])},
        ])  # fmt: skip
        syms = tree.get("symbols") if isinstance(tree.get("symbols"), dict) else {}
        syms[name] = decl
        tree["symbols"] = syms
        if isinstance(shape, list) and shape and rng.random() < 0.7:
            shape[rng.randrange(len(shape))] = name
    return f"input {what}"


def m_top(tree, rng, corpus):
    if not isinstance(tree, dict):
        return "no top"
    key = rng.choice(["netcalc", "convention", "name", "outputs", "defaults", "lint", "loss", "description"])
    tree[key] = rng.choice({
        "netcalc": [1, 2, 0, "1", 1.0, None, Raw(HUGE_DIGITS)],
        "convention": ["pytorch", "keras", "tf", "", None],
        "name": ["", "x" * 5000, "a\nb", "é", None, 3],
        "outputs": [[], ["nope"], "input", [1], corpus.ids[:3] or ["x"]],
        "defaults": [{"conv2d": {"bias": False}}, {"init": "he_normal"}, {"init": "nope"}, {"dense": 3}, [], {"x": {}}],
        "lint": [{"max-params": "1k"}, {"select": ["W9"]}, {"band": 0}, {"strict": "yes"}, {"max-depth": -1}, []],
        "loss": ["cross_entropy", "mse", "nope", {"x": "mse"}, 3],
        "description": ["", "é" * 100, None],
    }[key])  # fmt: skip
    return f"top {key}"


GENTLE = {
    "padding": [0, 1, 2, "same", "valid", [1, 2], [0, 3]],
    "activation": ["relu", "tanh", "sigmoid", "softmax", "gelu", "leaky_relu", "identity", "linear", "selu"],
    "init": ["he_normal", "glorot_uniform", "orthogonal", "zeros", "normal", {"name": "normal", "std": 0.02}],
    "convention": ["pytorch", "keras"],
    "layout": ["chw", "hwc", "ntf", "tnf"],
    "mode": ["A", "B", "C"],
    "bias": [True, False],
    "return_sequences": [True, False],
    "bidirectional": [True, False],
    "ceil_mode": [True, False],
}


def m_tweak(tree, rng, corpus):
    """A change a user makes: a nearby number, another activation or padding, a flag flipped; the
    spec mostly stays valid, so that the analysis, the signal rules and the renderers see it."""
    slots = [(c, k) for c, k in _slots(tree) if not isinstance(c[k], dict | list) or k in GENTLE]
    if not slots:
        return "no scalar"
    c, k = rng.choice(slots)
    old = c[k]
    if k in GENTLE:
        c[k] = copy.deepcopy(rng.choice(GENTLE[k]))
    elif isinstance(old, bool):
        c[k] = not old
    elif isinstance(old, int):
        c[k] = max(1, rng.choice([old + 1, old - 1, old * 2, old // 2, old * 3, 1, 2, old + 7]))
    elif isinstance(old, float):
        c[k] = rng.choice([old / 2, old * 2, 0.0, 1.0])
    else:
        return "tweak none"
    return f"tweak {k!r}"


STRUCTURAL = [m_tweak, m_tweak, m_tweak, m_tweak, m_list_edit, m_list_edit, m_scalar, m_scalar, m_op, m_key, m_type, m_deep, m_graft, m_blocks, m_blocks, m_wiring,
              m_input, m_top]  # fmt: skip


class _Dumper(yaml.SafeDumper):
    pass


def dump(tree, rng: random.Random) -> bytes:
    """The tree as YAML text, with Raw scalars written as they are."""
    raws: list[str] = []

    def raw(dumper, data):
        raws.append(data.text)
        return dumper.represent_scalar("tag:yaml.org,2002:str", f"RAWFUZZ{len(raws) - 1}X")

    _Dumper.add_representer(Raw, raw)
    flow = rng.choice([None, None, False, True])
    try:
        text = yaml.dump(
            tree, Dumper=_Dumper, default_flow_style=flow, sort_keys=False, allow_unicode=True, width=10**6
        )
    except (RecursionError, ValueError, yaml.YAMLError):  # a nest too deep for the dumper
        text = yaml.dump({"netcalc": 1, "layers": []}, Dumper=_Dumper)
    for i in range(len(raws) - 1, -1, -1):
        text = text.replace(f"RAWFUZZ{i}X", raws[i])
    if rng.random() < 0.5:
        text = "netcalc: 1\n" + text.replace("netcalc: 1\n", "", 1) if "netcalc: 1\n" in text else text
    return text.encode("utf-8", "surrogatepass")


# the edits that mostly keep a spec valid: for the commands that only get going on a valid spec
GENTLE_EDITS = [m_tweak, m_tweak, m_tweak, m_tweak, m_list_edit]


def structural(tree, rng: random.Random, corpus: Corpus, gentle: bool = False) -> tuple[bytes, list[str]]:
    tree = copy.deepcopy(tree)
    pool = GENTLE_EDITS if gentle else STRUCTURAL
    done = [rng.choice(pool)(tree, rng, corpus) for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3]))]
    return dump(tree, rng), done


# --- line level ---------------------------------------------------------------------------------

LINE_INSERTS = ["\t", "  ", "- ", "---", "...", "%YAML 1.2", "%TAG ! tag:x,2002:", "&a", "*a", "<<: *a", "? x",
                "!!python/object/apply:os.system [ls]", "!!binary |", "#", "'", '"', "[", "{", "]", "}", ":", "|", ">",
                "- {op: relu}", "- {use: b0}", "  - {op: dense, units: 4}", "layers:", "input: {shape: [3]}",
                "a: " + "x" * 100_000, "\u2028", "\u0085", "\r", "\t- {op: relu}", "- \t{op: relu}"]  # fmt: skip


def lines(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    ls = data.split(b"\n")
    what = rng.choice(["drop", "dup", "swap", "indent", "dedent", "tab", "insert", "crlf", "join", "move"])
    i = rng.randrange(len(ls))
    if what == "drop":
        del ls[i]
    elif what == "dup":
        ls.insert(i, ls[i])
    elif what == "swap" and len(ls) > 1:
        j = rng.randrange(len(ls))
        ls[i], ls[j] = ls[j], ls[i]
    elif what == "indent":
        ls[i] = b" " * rng.choice([1, 2, 4]) + ls[i]
    elif what == "dedent":
        ls[i] = ls[i].lstrip(b" ")
    elif what == "tab":
        n = len(ls[i]) - len(ls[i].lstrip(b" "))
        pos = rng.choice([0, n, rng.randrange(len(ls[i]) + 1)])
        ls[i] = ls[i][:pos] + b"\t" + ls[i][pos:]
    elif what == "insert":
        ls.insert(i, rng.choice(LINE_INSERTS).encode("utf-8"))
    elif what == "crlf":
        return data.replace(b"\n", b"\r\n"), "line crlf"
    elif what == "join" and i + 1 < len(ls):
        ls[i : i + 2] = [ls[i] + b" " + ls[i + 1]]
    elif what == "move":
        line = ls.pop(i)
        ls.insert(rng.randrange(len(ls) + 1), line)
    return b"\n".join(ls), f"line {what}"


# --- byte level ---------------------------------------------------------------------------------

INSERTS = [b"\t", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff", b"\xc3",
           b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x1b[31m", b"\r", b"\x0b", b"\x0c", b"\x7f", b"\x85",
           "\u00a0".encode(), "\u200b".encode(), "\u202e".encode(), "\u2028".encode(), "\ufeff".encode(),
           "１２".encode(), "😀".encode(), "e\u0301".encode(), b"\\", b"%", b"@", b"`", b"!", b"&", b"*", b"|",
           b"9" * 5000, b"[" * 200, b"{" * 200]  # fmt: skip


def bytes_(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    what = rng.choice(["flip", "insert", "insert", "delete", "range", "dup", "truncate", "bom", "random", "utf16"])
    i = rng.randrange(len(b) + 1)
    if what == "flip" and b:
        i = min(i, len(b) - 1)
        b[i] ^= 1 << rng.randrange(8)
    elif what == "insert":
        b[i:i] = rng.choice(INSERTS)
    elif what == "delete" and b:
        del b[min(i, len(b) - 1)]
    elif what == "range" and b:
        del b[i : i + rng.choice([2, 10, 100, 1000])]
    elif what == "dup" and b:
        b[i:i] = b[i : i + rng.choice([1, 10, 100, 1000])] * rng.choice([1, 2, 50])
    elif what == "truncate":
        b = b[:i]
    elif what == "bom":
        b[0:0] = rng.choice([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])
    elif what == "random" and b:
        for _ in range(rng.choice([1, 3, 10])):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif what == "utf16":
        return data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1"]),
                                                      "replace"), "bytes utf16"  # fmt: skip
    return bytes(b), f"bytes {what}"


def _structural(seed_data: bytes, tree, rng: random.Random, corpus: Corpus, gentle: bool = False):
    """`structural`, or the seed as it is when its edits nest the tree deeper than copying or
    dumping it can follow (a RecursionError in the fuzzer, not in netcalc: it once ended a campaign)."""
    try:
        return structural(tree, rng, corpus, gentle=gentle)
    except RecursionError:
        return seed_data, ["structural: too deep to copy, the seed as it is"]


def mutate(seed_data: bytes, tree, rng: random.Random, corpus: Corpus, gentle: bool = False) -> tuple[bytes, list[str]]:
    """One mutated spec: mostly structural when the seed parses (sometimes followed by a line or
    byte edit), else line or byte edits; `gentle`: only the edits that mostly keep it valid."""
    if gentle and tree is not None:
        return _structural(seed_data, tree, rng, corpus, gentle=True)
    done: list[str] = []
    data = seed_data
    r = rng.random()
    if tree is not None and r < 0.75:
        data, done = _structural(seed_data, tree, rng, corpus)
        r = 0.75 + rng.random() * 1.25  # then a line edit (12 %), a byte edit (8 %) or nothing
    elif tree is None:
        r = 0.75 + r * 0.25
    if r < 0.9:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            data, what = lines(data, rng)
            done.append(what)
    elif r < 1.0:
        for _ in range(rng.choice([1, 1, 2, 4])):
            data, what = bytes_(data, rng)
            done.append(what)
    return data, done
