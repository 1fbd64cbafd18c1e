"""Lint settings: what `netcalc lint` checks and how strictly, from wherever they are written.

Besides the built-in defaults, settings come from three places, and each setting is taken from the
first of them that gives it:

    a command-line option  >  the spec's own `lint:` mapping  >  [tool.netcalc.lint] in pyproject.toml

The keys are the same in the spec and in pyproject.toml (`SPEC_KEYS`: select, ignore, strict, band,
max-params, max-macs, max-memory, max-depth, max-activation-memory); `per-file-ignores = {glob = [codes]}` lives only in
pyproject.toml and adds its codes to whichever `ignore` applies. A spec's `lint:` is checked as the
rest of the spec is, by the kinds of `kinds.py` (an unknown key with a did-you-mean, a wrong type or
range, each at its line); commands other than `lint` read it and apply none of it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from .amounts import budget_pattern, parse_budget
from .codes import CODES, code_problem
from .diagnostics import clip, did_you_mean
from .kinds import INVALID, Arg, Bool, Choice, Float, Int, Kind, _wrong, coerce_mapping
from .yamlsrc import YMap, YScalar, YSeq

CODE = re.compile(r"^[EWB][0-9]{0,3}$")


class Codes(Kind):
    """Finding codes or prefixes, ruff style (W4 is every W4xx): a list, or one alone."""

    def describe(self) -> str:
        return "a finding code or prefix such as W4 or W403, or a list of them"

    def coerce(self, node, diags, what):
        items = node.items if isinstance(node, YSeq) else [node]
        out = []
        for i, item in enumerate(items):
            where = f"{what}[{i}]" if isinstance(node, YSeq) else what
            if not isinstance(item, YScalar) or item.kind == "null":
                return _wrong(diags, item, where, "a finding code or prefix such as W4 or W403")
            if not CODE.match(item.text):
                diags.error(
                    "E105", f"{where} must be a finding code or prefix such as W4 or W403, got '{clip(item.text)}'",
                    item.loc,
                )  # fmt: skip
                return INVALID
            problem = _code_problems([item.text])
            if problem:
                diags.error("E105", f"{where}: {problem[0]}", item.loc)
                return INVALID
            out.append(item.text)
        return tuple(out)

    def json_schema(self):
        code = {"enum": sorted({c[:i] for c in CODES for i in range(1, len(c) + 1)})}  # codes and their prefixes
        return {"anyOf": [code, {"type": "array", "items": code}]}


class Budget(Kind):
    """A positive whole number written plainly or with a suffix: 25M, 4G, 1.5e6 (memory: 512MB, 2GiB)."""

    def __init__(self, memory: bool = False) -> None:
        self.memory = memory

    def describe(self) -> str:
        if self.memory:
            return "a positive whole number of bytes such as 512MB or 2GiB"
        return "a positive whole number such as 25M, 4G or 1.5e6"

    def coerce(self, node, diags, what):
        if not isinstance(node, YScalar) or node.kind in ("null", "bool"):
            return _wrong(diags, node, what, self.describe())
        value = parse_budget(node.text, self.memory)
        if value is None:
            return _wrong(diags, node, what, self.describe())
        if value < 1:
            diags.error("E104", f"{what} must be at least 1, got {clip(node.text)}", node.loc)
            return INVALID
        return value

    def json_schema(self):
        text = {"type": "string", "pattern": budget_pattern(self.memory)}
        return {"anyOf": [{"type": "integer", "minimum": 1}, text]}


# What each loss expects of the output it reads (W405): logits, or the probabilities of a softmax or
# a sigmoid, or log-probabilities; "any" for a regression loss (a bounded output may be intended).
LOSSES = {
    "cross_entropy": ("logits", "softmax cross-entropy on logits: PyTorch nn.CrossEntropyLoss, Keras "
                      "categorical_crossentropy(from_logits=True)"),
    "bce_with_logits": ("logits", "binary cross-entropy on logits: PyTorch nn.BCEWithLogitsLoss, Keras "
                        "binary_crossentropy(from_logits=True)"),
    "categorical_crossentropy": ("softmax", "Keras categorical_crossentropy on probabilities (from_logits=False)"),
    "sparse_categorical_crossentropy": ("softmax", "Keras sparse_categorical_crossentropy on probabilities"),
    "binary_crossentropy": ("sigmoid", "binary cross-entropy on probabilities: Keras binary_crossentropy, "
                            "PyTorch nn.BCELoss"),
    "nll": ("log_probabilities", "PyTorch nn.NLLLoss, on log-probabilities (log_softmax)"),
    "mse": ("any", "mean squared error"),
    "l1": ("any", "mean absolute error"),
    "huber": ("any", "Huber / smooth L1"),
    "none": ("any", "no loss reads this output (features, or a loss netcalc does not know)"),
}  # fmt: skip
LOSS_ALIASES = {"bce": "binary_crossentropy", "nll_loss": "nll", "mae": "l1", "smooth_l1": "huber"}


class Loss(Kind):
    """`loss:` the loss that reads the output (one name), or one per output ({head: cross_entropy})."""

    def describe(self) -> str:
        return "a loss name (" + ", ".join(LOSSES) + "), or a mapping of output names to them"

    def _one(self, node, diags, what):
        return Choice(tuple(LOSSES), LOSS_ALIASES).coerce(node, diags, what)

    def coerce(self, node, diags, what):
        if isinstance(node, YMap):
            out = {}
            for name, (_, vnode) in node.entries.items():
                got = self._one(vnode, diags, f"'loss' of {clip(name)}")
                if got is INVALID:
                    return INVALID
                out[name] = (got, vnode.loc)
            return out
        got = self._one(node, diags, what)
        return got if got is INVALID else {"*": (got, node.loc)}

    def json_schema(self):
        one = Choice(tuple(LOSSES), LOSS_ALIASES).json_schema()
        return {"anyOf": [one, {"type": "object", "additionalProperties": one}]}


SPEC_KEYS = {
    "select": Arg(Codes(), (), "only these finding codes or prefixes (default: all)"),
    "ignore": Arg(Codes(), (), "skip these finding codes or prefixes"),
    "strict": Arg(Bool(), False, "fail (exit 1) on warnings too"),
    "band": Arg(Float(1.0), 10.0, "the signal report's band: growth outside [1/band, band] is a finding"),
    "max-params": Arg(Budget(), None, "budget: parameters (B501)"),
    "max-macs": Arg(Budget(), None, "budget: multiply-accumulates per sample (B502)"),
    "max-memory": Arg(Budget(memory=True), None, "budget: total memory at batch 1, in bytes (B503)"),
    "max-depth": Arg(Int(1), None, "budget: weighted layers, i.e. conv, dense and recurrent (B504)"),
    "max-activation-memory": Arg(Budget(memory=True), None, "budget: activation memory at batch 1, in bytes (B505)"),
}
DEFAULTS = {key: arg.default for key, arg in SPEC_KEYS.items()}
LIMITS = {"max-params": "params", "max-macs": "macs", "max-memory": "memory", "max-depth": "depth",
          "max-activation-memory": "activations"}  # fmt: skip


class Settings(Kind):
    """A spec's `lint:` mapping: the keys of SPEC_KEYS, each coerced by its kind."""

    def describe(self) -> str:
        return "a mapping of lint settings (" + ", ".join(SPEC_KEYS) + ")"

    def coerce(self, node, diags, what):
        if not isinstance(node, YMap):
            return _wrong(diags, node, what, "a mapping such as {strict: true, max-params: 25M}")
        values, _ = coerce_mapping(node, SPEC_KEYS, diags, "lint")
        return values

    def json_schema(self):
        properties = {}
        for key, arg in SPEC_KEYS.items():
            properties[key] = {"description": arg.doc, **arg.kind.json_schema()}
            if arg.default not in (None, ()):
                properties[key]["default"] = arg.default
        return {"type": "object", "properties": properties, "additionalProperties": False}


def resolve(*sources: dict) -> dict:
    """Every setting, from the first source that gives it (command line, spec, pyproject), else its default."""
    return {
        key: next((source[key] for source in sources if source.get(key) is not None), default)
        for key, default in DEFAULTS.items()
    }


def limits(settings: dict) -> dict:
    """The budgets of resolved settings as lint.budgets takes them: {'params': 25_000_000, ...}."""
    return {name: settings[key] for key, name in LIMITS.items()}


def find_pyproject(start: Path) -> tuple[Path | None, dict, list[str]]:
    """(the nearest pyproject.toml at or above `start`, its [tool.netcalc.lint] table, what is wrong
    with the file or the tables around it); (None, {}, []) when there is none. A file that is not
    TOML, a `tool` or `netcalc` that is not a table, or a key of [tool.netcalc] other than `lint`, is a
    problem: a setting written there must never be dropped in silence."""
    import tomllib

    for folder in [start, *start.parents]:
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return path, {}, [f"not readable as TOML: {exc}"]
        table, where = data, ""
        for key in ("tool", "netcalc", "lint"):
            if key not in table:
                return path, {}, []
            table, where = table[key], f"{where}.{key}" if where else key
            if not isinstance(table, dict):
                return path, {}, [f"'{where}' must be a table, got {clip(repr(table))}"]
            if key == "netcalc":
                problems = [
                    f"[tool.netcalc]: unknown key '{clip(k)}'"
                    + (" (lint settings go in [tool.netcalc.lint])" if k in SPEC_KEYS else did_you_mean(k, ["lint"]))
                    for k in table
                    if k != "lint"
                ]
                if problems:
                    return path, {}, problems
        return path, table, []
    return None, {}, []


def project_settings(table: dict) -> tuple[dict, list[str]]:
    """[tool.netcalc.lint] in the terms of SPEC_KEYS, and what is wrong in it (one message each).

    A value that is wrong is left out (so its default or another source applies) and reported."""
    out: dict = {}
    problems: list[str] = []
    for key, value in table.items():
        if key == "per-file-ignores":
            ok = isinstance(value, dict) and all(
                isinstance(codes, list) and all(isinstance(c, str) and CODE.match(c) for c in codes)
                for codes in value.values()
            )
            if ok:
                out[key] = value
                problems += [f"'{key}' \"{glob}\": {p}" for glob, codes in value.items() for p in _code_problems(codes)]
            else:
                problems.append(f'\'{key}\' must be a table of glob = [codes], e.g. "experiments/*.yaml" = ["W3"]')
            continue
        if key not in SPEC_KEYS:
            problems.append(f"unknown key '{clip(key)}'{did_you_mean(key, [*SPEC_KEYS, 'per-file-ignores'])}")
            continue
        got = _project_value(key, value)
        if got is None:
            problems.append(f"'{key}' must be {SPEC_KEYS[key].kind.describe()}, got {clip(repr(value))}")
        else:
            out[key] = got
            if isinstance(SPEC_KEYS[key].kind, Codes):
                problems += [f"'{key}': {p}" for p in _code_problems(got)]
    return out, problems


def _code_problems(codes) -> list[str]:
    return [p for c in codes if (p := code_problem(c))]


def _project_value(key: str, value):
    """A pyproject value coerced as the spec's kind would coerce it; None when it is not valid."""
    kind = SPEC_KEYS[key].kind
    if isinstance(kind, Codes):
        items = [value] if isinstance(value, str) else value
        ok = isinstance(items, list) and all(isinstance(c, str) and CODE.match(c) for c in items)
        return tuple(items) if ok else None
    if isinstance(kind, Bool):
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):  # TOML's true is not the number 1
        return None
    if isinstance(kind, Float):
        ok = isinstance(value, int | float) and math.isfinite(value) and value >= kind.min
        return float(value) if ok else None
    if isinstance(kind, Int):
        return value if isinstance(value, int) and value >= kind.min else None
    if isinstance(value, int | float | str):  # a budget: 25000000 or "25M"
        got = parse_budget(str(value), kind.memory)
        return got if got is not None and got >= 1 else None
    return None


def cli_budget(key: str, text: str | None) -> tuple[int | None, str | None]:
    """A budget option as typed (`--max-params 25M`): (its value, or an error message)."""
    if text is None:
        return None, None
    got = parse_budget(text, SPEC_KEYS[key].kind.memory)
    if got is None or got < 1:
        return (
            None,
            f"--{key} takes a positive whole number such as {'512MB' if SPEC_KEYS[key].kind.memory else '25M'}, got '{text}'",
        )
    return got, None


__all__ = ["DEFAULTS", "LOSSES", "SPEC_KEYS", "Loss", "Settings", "find_pyproject", "project_settings", "resolve"]
