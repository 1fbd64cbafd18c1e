"""Argument kinds whose value is a list or a mapping of scalar ones (netcalc.kinds): a fixed number
of numbers, a number per channel, layer names, axes, and a layer's waived finding codes."""

from __future__ import annotations

import re

from .arg_symbols import AXIS_NOTE
from .codes import CODES, code_problem
from .diagnostics import clip
from .kinds import INVALID, Float, Int, Kind, Str, _wrong
from .yamlsrc import YMap, YScalar, YSeq


class Numbers(Kind):
    """A list of exactly `n` numbers (such as a [low, high] range)."""

    def __init__(self, n: int = 2) -> None:
        self.n = n

    def describe(self) -> str:
        return f"a list of {self.n} numbers"

    def coerce(self, node, diags, what):
        if not isinstance(node, YSeq) or len(node.items) != self.n:
            return _wrong(diags, node, what, self.describe())
        values = [Float().coerce(item, diags, f"{what}[{i}]") for i, item in enumerate(node.items)]
        return INVALID if INVALID in values else tuple(values)

    def json_schema(self):
        number = Float().json_schema()
        return {"type": "array", "items": number, "minItems": self.n, "maxItems": self.n}


class PerChannel(Kind):
    """A number, or one number per channel (a list)."""

    def __init__(self, min: float | None = None) -> None:
        self.min = min

    def describe(self) -> str:
        bound = f" ≥ {self.min:g}" if self.min is not None else ""
        return f"a number{bound} or a list of numbers, one per channel"

    def coerce(self, node, diags, what):
        if isinstance(node, YSeq):
            if not node.items:
                return _wrong(diags, node, what, self.describe())
            values = [Float(self.min).coerce(item, diags, f"{what}[{i}]") for i, item in enumerate(node.items)]
            return INVALID if INVALID in values else tuple(values)
        return Float(self.min).coerce(node, diags, what)

    def json_schema(self):
        number = Float().json_schema()
        return {"anyOf": [number, {"type": "array", "items": number, "minItems": 1}]}


class Suppressions(Kind):
    """A mapping from finding codes to the reason they do not apply here (`noqa: {W403: "..."}`)."""

    PATTERN = re.compile(r"^[EWB][0-9]{3}$")

    def describe(self) -> str:
        return "a mapping of finding codes to reasons, e.g. {W403: 'linear on purpose'}"

    def coerce(self, node, diags, what):
        if not isinstance(node, YMap) or not node.entries:
            return _wrong(diags, node, what, self.describe())
        out = {}
        for code, (knode, vnode) in node.entries.items():
            if not self.PATTERN.match(code):
                diags.error("E104", f"{what}: '{clip(code)}' is not a finding code such as W403", knode.loc)
                return INVALID
            if problem := code_problem(code, whole=True):
                diags.error("E104", f"{what}: {problem}", knode.loc)
                return INVALID
            if not code.startswith("W"):
                diags.error("E104", f"{what}: {code} cannot be waived on a layer: only warnings (W…) can; "
                            "errors always apply and budgets (B…) are the whole spec's", knode.loc)  # fmt: skip
                return INVALID
            if not isinstance(vnode, YScalar) or vnode.kind == "null" or not vnode.text.strip():
                diags.error("E106", f"{what}: {code} needs the reason it does not apply", vnode.loc)
                return INVALID
            out[code] = vnode.text
        return out

    def json_schema(self):
        warnings = sorted(c for c in CODES if c.startswith("W"))
        return {"type": "object", "propertyNames": {"enum": warnings},
                "additionalProperties": {"type": "string", "minLength": 1}}  # fmt: skip


class Names(Kind):
    """A name, or a list of names (the inputs of a merge); always coerced to a tuple."""

    def describe(self) -> str:
        return "a layer name or a list of names"

    def coerce(self, node, diags, what):
        items = node.items if isinstance(node, YSeq) else [node]
        if not items:
            return _wrong(diags, node, what, self.describe())
        names = [
            Str().coerce(item, diags, f"{what}[{i}]" if isinstance(node, YSeq) else what)
            for i, item in enumerate(items)
        ]
        return INVALID if INVALID in names else tuple(names)

    def json_schema(self):
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}


class IntList(Kind):
    """An integer or a list of integers (axes)."""

    def describe(self) -> str:
        return "an integer or a list of integers"

    def coerce(self, node, diags, what):
        if isinstance(node, YSeq):
            vals = [Int(refuse=AXIS_NOTE).coerce(item, diags, f"{what}[{i}]") for i, item in enumerate(node.items)]
            return INVALID if INVALID in vals or not vals else tuple(vals)
        v = Int(refuse=AXIS_NOTE).coerce(node, diags, what)
        return INVALID if v is INVALID else (v,)

    def json_schema(self):
        return {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
