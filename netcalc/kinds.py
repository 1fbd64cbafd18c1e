"""Argument kinds: how a YAML value is checked and coerced into what a layer needs.

Each kind coerces a located YAML node by the schema, not by YAML 1.1's guesses: a float field
takes ``1e-3`` (which YAML 1.1 reads as a string), a string field takes ``no`` as the word "no",
and a boolean field refuses ``yes``/``no``/``on``/``off`` with a hint to write true or false.
A kind that cannot coerce reports an error quoting the value received and returns INVALID.
Each kind also describes itself as JSON Schema, so the schema is generated from these
declarations rather than written by hand.

Here the scalar kinds, window geometry (IntTuple, Padding) and shapes, `Arg` and `coerce_mapping`;
the kinds of lists and mappings of these are in compound_kinds.py, reading a scalar as a number in
scalars.py, and symbols written where a value goes (the spec's scope, `CURRENT`) in arg_symbols.py.
"""

from __future__ import annotations

import math
from typing import Any

from .arg_symbols import NAME_RE as NAME_RE  # cli.py reads it from here
from .arg_symbols import (
    NONE_WORDS,
    WINDOW_NOTE,
    _generic_symbolic,
    _is_name,
    _is_none,
    _symbol,
    _symbolic_int,
    _width_condition,
    refuse_symbol,
)
from .deferred import Deferred, deferred_leaf, refuse_deferred
from .diagnostics import Diagnostics, clip, did_you_mean
from .scalars import _FLOAT_RE, _float_of, _int_hint, _int_of, _too_large
from .yamlsrc import FAILED_TAG, YMap, YScalar, YSeq, YSymbolic, describe

INVALID = object()
REQUIRED = object()
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


class Kind:
    """Base of argument kinds."""

    def coerce(self, node, diags: Diagnostics, what: str):  # pragma: no cover - interface
        raise NotImplementedError

    def json_schema(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return "a value"


def _wrong(diags: Diagnostics, node, what: str, expected: str, hint: str = "") -> Any:
    received = describe(node)
    if isinstance(node, YScalar) and node.kind == "bool" and node.text.lower() in _YAML11_BOOLS:
        hint = hint or f" ('{node.text}' is a YAML 1.1 boolean)"
    diags.error("E103", f"{what} must be {expected}, got {received}{hint}", node.loc)
    return INVALID


class Int(Kind):
    """An integer; where `symbols`, also the name of a declared symbol (netcalc.symbols) or a size
    computed from one in a block (YSymbolic)."""

    def __init__(
        self,
        min: int | None = None,
        max: int | None = None,
        symbols: bool = True,
        window: bool = False,
        refuse: str | None = None,
    ) -> None:
        self.min = min
        self.max = max
        self.symbols = symbols and not window and refuse is None
        # window geometry (kernel, stride...), or another number a symbol cannot stand for (`refuse`:
        # why): a symbol given is refused, saying so
        self.refuse = WINDOW_NOTE if window else refuse

    def describe(self) -> str:
        if self.min is not None and self.min >= 1:
            return "a positive integer" if self.min == 1 else f"an integer ≥ {self.min}"
        if self.min == 0:
            return "an integer ≥ 0"
        return "an integer"

    def coerce(self, node, diags, what):
        value = _int_of(node) if isinstance(node, YScalar) else None
        if self.refuse and refuse_symbol(node, diags, what, self.describe(), self.refuse):
            return INVALID
        if value is None and self.symbols:
            value = _symbolic_int(node, diags, what)
            if value is INVALID:
                return INVALID
        if value is None:
            return _wrong(diags, node, what, self.describe(), _int_hint(node))
        if _too_large(value, node, diags, what):
            return INVALID
        if hasattr(value, "e") and self.min is not None:  # a symbolic width: at least min at every size
            _width_condition(value, self.min, what, node)
        if _generic_symbolic(value):  # a size taken at a generic point (netcalc sizes): the condition decides
            return value
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            rng = self.describe() if self.max is None else f"between {self.min} and {self.max}"
            shown = f"{value} = {value.v}" if hasattr(value, "e") else value
            diags.error("E104", f"{what} must be {rng}, got {shown}", node.loc)
            return INVALID
        return value

    def json_schema(self):
        s: dict = {"type": "integer"}
        if self.min is not None:
            s["minimum"] = self.min
        if self.max is not None:
            s["maximum"] = self.max
        return s


class Float(Kind):
    def __init__(self, min: float | None = None, max: float | None = None, max_exclusive: bool = False) -> None:
        self.min = min
        self.max = max
        self.max_exclusive = max_exclusive

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            close = ")" if self.max_exclusive else "]"
            return f"a number in [{self.min:g}, {self.max:g}{close}"
        if self.min is not None:
            return f"a number ≥ {self.min:g}"
        return "a number"

    def coerce(self, node, diags, what):
        value = _float_of(node) if isinstance(node, YScalar) else None
        if value is None or math.isnan(value):
            return _wrong(diags, node, what, self.describe())
        if math.isinf(value):
            diags.error("E104", f"{what} must be a finite number, got {clip(node.text)}", node.loc)
            return INVALID
        too_big = self.max is not None and (value >= self.max if self.max_exclusive else value > self.max)
        if (self.min is not None and value < self.min) or too_big:
            diags.error("E104", f"{what} must be {self.describe()}, got {clip(node.text)}", node.loc)
            return INVALID
        return value

    def json_schema(self):
        """The bounds hold for a number; a YAML 1.1 float written as text ('1e-3', which PyYAML reads as a
        string) is matched by its pattern only (its range is the parser's to check)."""
        number: dict = {"type": "number"}
        if self.min is not None:
            number["minimum"] = self.min
        if self.max is not None:
            number["exclusiveMaximum" if self.max_exclusive else "maximum"] = self.max
        return {"anyOf": [number, {"type": "string", "pattern": _FLOAT_RE.pattern}]}


class Bool(Kind):
    def describe(self) -> str:
        return "true or false"

    def coerce(self, node, diags, what):
        if isinstance(node, YScalar) and node.kind == "bool":
            low = node.text.lower()
            if low in ("true", "false"):
                return low == "true"
            diags.error(
                "E103",
                f"{what} must be true or false, got '{node.text}' "
                f"(YAML 1.1 reads it as {low in ('yes', 'on', 'y')}; write "
                f"{'true' if low in ('yes', 'on', 'y') else 'false'} to say so)",
                node.loc,
            )
            return INVALID
        return _wrong(diags, node, what, self.describe())

    def json_schema(self):
        return {"type": "boolean"}


class Str(Kind):
    """Any text; a YAML 1.1 boolean or number written plainly is taken as the text it is."""

    def describe(self) -> str:
        return "a string"

    def coerce(self, node, diags, what):
        if isinstance(node, YScalar) and node.kind != "null":
            return node.text
        return _wrong(diags, node, what, self.describe())

    def json_schema(self):
        return {"type": "string"}


class Choice(Kind):
    def __init__(self, choices: tuple = (), aliases: dict | None = None) -> None:
        self.choices = choices
        self.aliases = aliases or {}

    def describe(self) -> str:
        return "one of " + ", ".join(f"'{c}'" for c in self.choices)

    def coerce(self, node, diags, what):
        if not isinstance(node, YScalar) or node.kind == "null":
            return _wrong(diags, node, what, self.describe())
        text = node.text
        if text in self.choices:
            return text
        if text in self.aliases:
            return self.aliases[text]
        diags.error(
            "E105",
            f"{what} must be {self.describe()}, got '{clip(text)}'{did_you_mean(text, self.choices)}",
            node.loc,
        )
        return INVALID

    def json_schema(self):
        return {"enum": list(self.choices) + list(self.aliases)}


class IntTuple(Kind):
    """An integer, or one integer per spatial axis (a list of `n`)."""

    def __init__(self, n: int = 2, min: int = 1, window: bool = True) -> None:
        self.n = n
        self.min = min
        self.window = window  # window geometry: numbers only (WINDOW_NOTE)

    def describe(self) -> str:
        elem = Int(self.min).describe()
        return elem if self.n == 1 else f"{elem} or a list of {self.n} such integers"

    def coerce(self, node, diags, what):
        elem = Int(self.min, window=self.window)
        if isinstance(node, YSeq):
            if len(node.items) != self.n:
                return _wrong(diags, node, what, self.describe())
            values = [elem.coerce(item, diags, f"{what}[{i}]") for i, item in enumerate(node.items)]
            return INVALID if INVALID in values else tuple(values)
        if self.window and refuse_symbol(node, diags, what, self.describe()):
            return INVALID
        value = elem.coerce(node, diags, what) if isinstance(node, YScalar) else None
        if value is None:
            return _wrong(diags, node, what, self.describe())
        return INVALID if value is INVALID else (value,) * self.n

    def json_schema(self):
        elem = Int(self.min).json_schema()
        if self.n == 1:
            return elem
        return {"anyOf": [elem, {"type": "array", "items": elem, "minItems": self.n, "maxItems": self.n}]}


class Padding(Kind):
    """`valid`, `same`, an integer, one integer per axis, or (asymmetric) a [before, after] pair per axis.

    Coerced to either one of its words ('valid', 'same'; conv1d's 'causal') or a tuple of (before,
    after) pairs per axis.
    """

    def __init__(
        self, n: int = 2, words: tuple = ("valid", "same"), asymmetric: bool = False, pair: bool = False
    ) -> None:
        self.n = n
        self.words = words
        self.asymmetric = asymmetric
        # one axis: a list of two integers is its [before, after] pair (PyTorch's nn.ZeroPad1d((1, 2)),
        # Keras's Cropping1D((1, 2))), besides the list of one pair
        self.pair = pair and n == 1 and asymmetric

    def describe(self) -> str:
        words = " or ".join(f"'{w}'" for w in self.words)
        base = f"{words}, an integer ≥ 0" if words else "an integer ≥ 0"
        if self.n > 1:
            base += f", a list of {self.n} integers"
        if self.pair:
            base += ", a [before, after] pair"
        if self.asymmetric:
            base += f", or a list of {self.n} [before, after] pairs"
        return base

    def coerce(self, node, diags, what):
        if isinstance(node, YScalar) and node.kind == "str" and node.text in self.words:
            return node.text
        if refuse_symbol(node, diags, what, self.describe()):
            return INVALID
        if isinstance(node, YScalar) and node.kind == "str" and self.words:
            hint = did_you_mean(node.text, self.words)
            if node.text == "causal":  # a word of conv1d's only
                hint = (
                    ": 'causal' (Keras Conv1D's d·(k − 1) zeros before, none after) is conv1d's only; "
                    "here give the zeros per side as [before, after] pairs"
                )
            diags.error("E105", f"{what} must be {self.describe()}, got '{clip(node.text)}'{hint}", node.loc)
            return INVALID
        if isinstance(node, YScalar):
            value = (
                Int(0).coerce(node, diags, what) if node.kind == "int" else _wrong(diags, node, what, self.describe())
            )
            return INVALID if value is INVALID else ((value, value),) * self.n
        if (
            self.pair
            and isinstance(node, YSeq)
            and len(node.items) == 2
            and all(isinstance(i, YScalar) for i in node.items)
        ):
            pair = IntTuple(2, 0).coerce(node, diags, what)
            return INVALID if pair is INVALID else (pair,)
        if isinstance(node, YSeq) and len(node.items) == self.n:
            out = []
            for i, item in enumerate(node.items):
                if self.asymmetric and isinstance(item, YSeq):
                    pair = IntTuple(2, 0).coerce(item, diags, f"{what}[{i}]")
                    out.append(pair)
                else:
                    v = Int(0, window=True).coerce(item, diags, f"{what}[{i}]")
                    out.append(INVALID if v is INVALID else (v, v))
            return INVALID if INVALID in out else tuple(out)
        return _wrong(diags, node, what, self.describe())

    def json_schema(self):
        nonneg = {"type": "integer", "minimum": 0}
        item: dict = nonneg
        if self.asymmetric:
            item = {"anyOf": [nonneg, {"type": "array", "items": nonneg, "minItems": 2, "maxItems": 2}]}
        options: list = [nonneg]
        if self.words:
            options.insert(0, {"enum": list(self.words)})
        if self.n > 1 or self.asymmetric:
            options.append({"type": "array", "items": item, "minItems": self.n, "maxItems": self.n})
        if self.pair:
            options.append({"type": "array", "items": nonneg, "minItems": 2, "maxItems": 2})
        return {"anyOf": options}


class Shape(Kind):
    """A list of positive integers (one -1 allowed when `wildcard`)."""

    def __init__(self, wildcard: bool = False) -> None:
        self.wildcard = wildcard

    def describe(self) -> str:
        return "a list of positive integers" + (" (one may be -1)" if self.wildcard else "")

    def coerce(self, node, diags, what):
        if not isinstance(node, YSeq) or not node.items:
            return _wrong(diags, node, what, self.describe())
        out = []
        expected = "a positive integer" + (" or -1" if self.wildcard else "")
        for i, item in enumerate(node.items):
            if _is_none(item):  # Keras's (None, 28, 28, 1): never a size called None
                out.append(_wrong(diags, item, f"{what}[{i}]", expected, self._none_hint(node, i)))
                continue
            v = _int_of(item) if isinstance(item, YScalar) else None
            if isinstance(item, YSymbolic):
                v = item.value
            elif v is None and _is_name(item):  # a named size (netcalc.symbols)
                out.append(_symbol(item, diags, f"{what}[{i}]"))
                continue
            if v is None:
                out.append(_wrong(diags, item, f"{what}[{i}]", expected, _int_hint(item)))
            elif _too_large(v, item, diags, f"{what}[{i}]"):
                out.append(INVALID)
            elif not (v >= 1 or (self.wildcard and v == -1)):
                diags.error("E104", f"{what}[{i}] must be {expected}, got {v}", item.loc)
                out.append(INVALID)
            else:
                out.append(v)
        if self.wildcard and out.count(-1) > 1:
            diags.error("E104", f"{what} may hold at most one -1, got {out.count(-1)}", node.loc)
            return INVALID
        return INVALID if any(x is INVALID for x in out) else tuple(out)

    def _none_hint(self, node: YSeq, i: int) -> str:
        """Why a None (null) in a shape is refused: a leading one is taken for the batch axis."""
        rest = node.items[1:]
        if i == 0 and rest:
            if any(_is_none(r) or not isinstance(r, YScalar) for r in rest):
                return ": the batch axis is not part of the shape; drop it"
            return f": the batch axis is not part of the shape; write [{', '.join(r.text for r in rest)}]"
        return ": a size that is not fixed is a named symbol, e.g. T (with a default under symbols:)" + (
            ", or -1 for the one size that makes the count fit" if self.wildcard else ""
        )

    def json_schema(self):
        name = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "not": {"enum": list(NONE_WORDS)}}
        return {"type": "array", "items": {"anyOf": [{"type": "integer"}, name]}, "minItems": 1}


class Arg:
    """One keyword argument of a layer type: its kind, its default and what it means."""

    def __init__(self, kind: Kind, default: Any = REQUIRED, doc: str = "") -> None:
        self.kind = kind
        self.default = default
        self.doc = doc

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def coerce_mapping(
    node: YMap, schema: dict[str, Arg], diags: Diagnostics, what: str, ignore: tuple = (), deferrable=()
) -> tuple[dict, dict]:
    """Coerce a mapping by a schema: unknown keys (with a did-you-mean) and missing keys are errors.
    A value that reads the block's input (netcalc.deferred) is a `Deferred` for the keys in
    `deferrable`, checked by its kind in the analysis, and an error E103 for any other key.

    Returns (values, locations); an invalid value is left out of `values`.
    """
    values: dict = {}
    locs: dict = {}
    suggested: set = set()  # keys a did-you-mean named: reported once, not again as missing
    for key, (knode, vnode) in node.entries.items():
        if key in ignore:
            continue
        if key not in schema:
            hint = did_you_mean(key, schema)
            if hint:
                suggested.add(hint.split("'")[1])
            diags.error(
                "E102", f"unknown key '{clip(key)}' in {what}{hint}", knode.loc, "allowed: " + ", ".join(schema)
            )
            continue
        if isinstance(vnode, YScalar) and vnode.tag == FAILED_TAG:  # a failed `$` expression: reported
            continue
        locs[key] = vnode.loc
        leaf = deferred_leaf(vnode)
        if leaf is not None:
            if key in deferrable:
                values[key] = Deferred(vnode, schema[key].kind, f"{what}: '{key}'")
            else:
                refuse_deferred(leaf, diags, f"{what}: '{key}'")
            continue
        value = schema[key].kind.coerce(vnode, diags, f"{what}: '{key}'")
        if value is not INVALID:
            values[key] = value
    for key, arg in schema.items():
        if arg.required and key not in node.entries and key not in suggested and not node.incomplete:
            diags.error("E106", f"{what} needs '{key}' ({arg.kind.describe()})", node.loc)
    return values, locs
