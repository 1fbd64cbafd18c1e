"""Reusable blocks: definitions with typed parameters, and `$` expressions evaluated safely.

    blocks:
      basic:
        params: {filters: int, stride: 1}        # a type word: required; a value: the default
        layers:
          - {op: conv2d, filters: $filters, kernel: 3, stride: $stride, padding: 1}
          - {op: conv2d, filters: $filters * 4, kernel: 1}
    layers:
      - {use: basic, filters: 64, repeat: 3, first: {stride: 2}}

A scalar that starts with `$` is an expression over the block's parameters: numbers, parameter
names, + − * / // % **, parentheses, comparisons and `a if c else b`, and the functions min, max,
abs, int, round. It is parsed with Python's `ast` and evaluated by walking a whitelist of node
types — never `eval`. The result replaces the scalar (keeping its location) before the layer's
schema checks it, so a bad value is reported exactly as if it had been written there.
"""

from __future__ import annotations

import ast
import operator

from .diagnostics import Diagnostics, Loc, clip, did_you_mean
from .yamlsrc import FAILED_TAG, YMap, YScalar, YSeq, YSymbolic, describe

TYPES = {"int": int, "float": float, "bool": bool, "str": str}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "int": lambda x: x if hasattr(x, "e") else int(x), "round": round}


class BlockDef:
    __slots__ = ("layers", "loc", "name", "params")

    def __init__(self, name: str, loc: Loc, params: dict, layers: YSeq) -> None:
        self.name = name
        self.loc = loc
        self.params = params  # name -> (python type, default value or None when required)
        self.layers = layers


class ExprError(Exception):
    pass


def evaluate(text: str, env: dict):
    """The value of a `$` expression over `env`; ExprError with a reason when it is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot read the expression ({exc.msg})") from None
    return _eval(tree.body, env)


def _eval(node, env: dict):
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise ExprError(f"'{node.id}' is not a parameter of this block{did_you_mean(node.id, env)}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ExprError("an exponent above 64 is not a size")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except TypeError:
            raise ExprError(f"cannot combine {left!r} and {right!r}") from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        value = _eval(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else (not value if isinstance(node.op, ast.Not) else value)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _COMPARE[type(node.ops[0])](_eval(node.left, env), _eval(node.comparators[0], env))
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval(a, env) for a in node.args))
    raise ExprError(f"'{ast.unparse(node)}' is not allowed (numbers, parameters, arithmetic, min, max only)")


def substitute(node, env: dict, diags: Diagnostics):
    """A copy of a YAML node with every `$` expression replaced by its value (as a plain scalar)."""
    if isinstance(node, YScalar):
        if node.kind != "str" or not node.text.startswith("$"):
            return node
        text = node.text[1:]
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        try:
            value = evaluate(text, env)
        except ExprError as exc:
            diags.error("E120", f"'{clip(node.text)}': {exc}", node.loc)
            return YScalar(node.text, FAILED_TAG, True, node.loc)
        return to_scalar(value, node.loc)
    if isinstance(node, YSeq):
        return YSeq([substitute(item, env, diags) for item in node.items], node.loc)
    entries = {k: (knode, substitute(v, env, diags)) for k, (knode, v) in node.entries.items()}
    return YMap(entries, node.loc, node.incomplete)


def to_scalar(value, loc: Loc) -> YScalar:
    """A Python value as the plain YAML scalar that would have given it (a symbolic size: YSymbolic)."""
    if hasattr(value, "e"):
        return YSymbolic(value, loc)
    if isinstance(value, bool):
        return YScalar("true" if value else "false", "tag:yaml.org,2002:bool", True, loc)
    if isinstance(value, int):
        return YScalar(str(value), "tag:yaml.org,2002:int", True, loc)
    if isinstance(value, float):
        return YScalar(repr(value), "tag:yaml.org,2002:float", True, loc)
    return YScalar(str(value), "tag:yaml.org,2002:str", True, loc)


def parse_blocks(node, diags: Diagnostics) -> dict:
    """`blocks:` → {name: BlockDef}; every problem reported, the readable blocks kept."""
    out: dict = {}
    if not isinstance(node, YMap):
        diags.error("E103", f"'blocks' must be a mapping of block names to definitions, got {describe(node)}", node.loc)
        return out
    for name, (knode, body) in node.entries.items():
        if not isinstance(body, YMap):
            diags.error("E103", f"block '{clip(name)}' must be a mapping with params and layers, got {describe(body)}",
                        body.loc)  # fmt: skip
            continue
        for key, (k2, _) in body.entries.items():
            if key not in ("params", "layers", "description"):
                diags.error("E102", f"unknown key '{clip(key)}' in block '{clip(name)}'"
                            f"{did_you_mean(key, ('params', 'layers', 'description'))}", k2.loc)  # fmt: skip
        layers = body.get("layers")
        if not isinstance(layers, YSeq) or not layers.items:
            diags.error("E106", f"block '{clip(name)}' needs 'layers:', a non-empty list", body.loc)
            continue
        params = _params(body.get("params"), name, diags)
        out[name] = BlockDef(name, knode.loc, params, layers)
    return out


def _params(node, block: str, diags: Diagnostics) -> dict:
    params: dict = {}
    if node is None:
        return params
    if not isinstance(node, YMap):
        diags.error("E103", f"block '{block}': 'params' must be a mapping such as {{filters: int, stride: 1}}, "
                    f"got {describe(node)}", node.loc)  # fmt: skip
        return params
    for pname, (_, value) in node.entries.items():
        if isinstance(value, YScalar) and value.kind == "str" and value.text in TYPES:
            params[pname] = (TYPES[value.text], None)
        elif isinstance(value, YScalar) and value.kind in ("int", "float", "bool", "str"):
            kind = {"int": int, "float": float, "bool": bool, "str": str}[value.kind]
            params[pname] = (kind, scalar_value(value))
        else:
            diags.error("E103", f"block '{block}': parameter '{clip(pname)}' must be a type (int, float, bool, str) "
                        f"or a default value, got {describe(value)}", value.loc)  # fmt: skip
    return params


def scalar_value(node: YScalar):
    """A plain scalar's value by its YAML type (numbers in decimal)."""
    if node.kind == "bool":
        return node.text.lower() in ("true", "yes", "on", "y")
    if node.kind == "int":
        try:
            return int(node.text.replace("_", ""))
        except ValueError:
            return node.text
    if node.kind == "float":
        try:
            return float(node.text.replace("_", ""))
        except ValueError:
            return node.text
    return node.text
