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

A parameter given a symbol (`{use: stage, width: C}`) is a size that holds for every value of the
symbol: a symbolic size (netcalc.formulas.Dual) in summary and sizes, the symbol's value
(netcalc.symbols.SymbolValue) in a concrete run, treated alike so that both runs accept the same
expressions. With such an operand, + − * // % and ** by a whole number ≥ 0 give exact formulas,
min and max symbolic ones (sympy's Min, Max); anything else (/, round, abs, comparisons, if-else,
and/or/not, a float operand, a symbol as exponent) would give a figure right at one value of the
symbol only, and is an error E120 saying which operation cannot take it.
"""

from __future__ import annotations

import ast
import operator
import re

from .diagnostics import Diagnostics, Loc, clip, did_you_mean
from .yamlsrc import FAILED_TAG, YDeferred, YMap, YScalar, YSeq, YSymbolic, describe

TYPES = {"int": int, "float": float, "bool": bool, "str": str}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "int": lambda x: x if hasattr(x, "e") else int(x), "round": round,
              "len": len}  # fmt: skip
# `in` is a Python keyword: an expression is read with this name where `in` stands as an operand
INPUT_NAME = "__in__"
_OPERAND_END = {")", "]"}
_VALUE_WORDS = {"True", "False", "None"}


class BlockInput:
    """`in` in a `$` expression: what the block was given, its channel count and its shape."""

    __slots__ = ("channels", "shape")
    ATTRS = ("channels", "shape")

    def __init__(self, channels, shape: tuple) -> None:
        self.channels = channels
        self.shape = tuple(shape)

    def attr(self, name: str):
        if name not in self.ATTRS:
            hint = did_you_mean(f"in.{name}", [f"in.{a}" for a in self.ATTRS])
            raise ExprError(f"in.{clip(name)} is not an attribute of the block's input (in.channels, in.shape){hint}")
        return getattr(self, name)

    def __repr__(self) -> str:
        return "in"


class BlockDef:
    __slots__ = ("layers", "loc", "name", "params")

    def __init__(self, name: str, loc: Loc, params: dict, layers: YSeq) -> None:
        self.name = name
        self.loc = loc
        self.params = params  # name -> (python type, default value or None when required)
        self.layers = layers


class ExprError(Exception):
    pass


def _symbolic(x) -> bool:
    """A size from a symbol: a Dual (formula and value) or a SymbolValue (a concrete run's value)."""
    return hasattr(x, "e") or hasattr(x, "names")


def _names(values) -> list:
    names: set = set()
    for x in values:
        if hasattr(x, "e"):
            names |= {s.name for s in x.e.free_symbols}
        elif hasattr(x, "names"):
            names |= set(x.names)
    return sorted(names)


def _refuse(what: str, values, why: str) -> ExprError:
    names = _names(values)
    return ExprError(f"{what} cannot take a size from the symbol{'s' if len(names) > 1 else ''} "
                     f"{', '.join(names)}: {why}")  # fmt: skip


def _mark(result, values):
    """An int computed from a symbol's value in a concrete run keeps the mark (SymbolValue)."""
    fresh = isinstance(result, int) and not isinstance(result, bool) and not hasattr(result, "names")
    if fresh and any(hasattr(x, "names") for x in values):
        from .symbols import SymbolValue

        return SymbolValue(result, _names(values))
    return result


_ONE_VALUE = "the result would be right at one value of the symbol only"
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


def _binary(op, left, right):
    """left op right, where an operand is a size from a symbol: exact, or ExprError."""
    sym = _OP_TEXT[type(op)]
    if isinstance(op, ast.Div):
        raise _refuse("'/'", (left, right), f"{_ONE_VALUE}; use // (floor division), which stays exact")
    for x in (left, right):
        if not _symbolic(x) and (not isinstance(x, int) or isinstance(x, bool)):
            raise _refuse(f"'{sym}'", (left, right), f"a symbol combines with whole numbers only, got {_show(x)}")
    if isinstance(op, ast.Pow):
        if _symbolic(right):
            raise _refuse("'**'", (left, right), f"an exponent must be a number ({_ONE_VALUE})")
        if right < 0:
            raise _refuse("'**'", (left, right), f"the exponent must be a whole number ≥ 0, got {right}")
    if isinstance(op, ast.FloorDiv | ast.Mod) and right == 0:
        raise ExprError("division by zero")
    return _mark(_BINARY[type(op)](left, right), (left, right))


def _show(x) -> str:
    """A value as a message quotes it: a symbolic size as its formula, never the internal repr."""
    if isinstance(x, tuple):
        return "(" + ", ".join(map(_show, x)) + ("," if len(x) == 1 else "") + ")"
    return str(x) if hasattr(x, "e") else repr(x)


def _source(text: str) -> str:
    """The expression as Python reads it: `in` where it stands as an operand (not after one, where
    it would be Python's `in` operator, which is not allowed anyway) becomes INPUT_NAME."""
    if not re.search(r"\bin\b", text):
        return text
    import io
    import keyword
    import tokenize

    out, previous = [], None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            string = tok.string
            word = previous is not None and previous.type == tokenize.NAME
            operand_end = previous is not None and (
                previous.type in (tokenize.NUMBER, tokenize.STRING)
                or previous.string in _OPERAND_END
                or (word and (previous.string in _VALUE_WORDS or not keyword.iskeyword(previous.string)))
            )
            if tok.type == tokenize.NAME and string == "in" and not operand_end:
                string = INPUT_NAME
            out.append((tok.type, string))
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                previous = tok
        return tokenize.untokenize(out)
    except (tokenize.TokenError, SyntaxError):
        return text


def _parse(text: str):
    try:
        return ast.parse(_source(text.strip()).strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot read the expression ({exc.msg})") from None


def evaluate(text: str, env: dict):
    """The value of a `$` expression over `env`; ExprError with a reason when it is not allowed."""
    return _eval(_parse(text).body, env)


def reads_input(text: str) -> bool:
    """Whether a `$` expression reads `in` (the block's input); False when it cannot be read."""
    if not re.search(r"\bin\b", text):
        return False
    try:
        tree = _parse(text)
    except ExprError:
        return False
    return any(isinstance(n, ast.Name) and n.id == INPUT_NAME for n in ast.walk(tree))


def _shown(node) -> str:
    return ast.unparse(node).replace(INPUT_NAME, "in")


def _no_tuple(*values) -> None:
    for x in values:
        if isinstance(x, tuple):
            raise ExprError(f"in.shape {_show(x)} is a list of sizes: take one with in.shape[i]")


def _eval(node, env: dict):
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id == INPUT_NAME:
            raise ExprError("'in' (the block's input) is read inside a block only")
        names = [n for n in env if n != INPUT_NAME]
        raise ExprError(f"'{node.id}' is not a parameter of this block{did_you_mean(node.id, names)}")
    if isinstance(node, ast.Attribute):
        value = _eval(node.value, env)
        if isinstance(value, BlockInput):
            return value.attr(node.attr)
        raise ExprError(f"'{_shown(node)}' is not allowed: only in (the block's input) has attributes")
    if isinstance(node, ast.Subscript):
        return _index(node, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, env), _eval(node.right, env)
        _no_tuple(left, right)
        if _symbolic(left) or _symbolic(right):
            if isinstance(node.op, ast.Pow) and not _symbolic(right) and isinstance(right, int) and right > 64:
                raise ExprError("an exponent above 64 is not a size")
            return _binary(node.op, left, right)
        if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > 64:
            raise ExprError("an exponent above 64 is not a size")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except TypeError:
            raise ExprError(f"cannot combine {_show(left)} and {_show(right)}") from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        value = _eval(node.operand, env)
        _no_tuple(value)
        if isinstance(node.op, ast.Not):
            if _symbolic(value):
                raise _refuse("'not'", (value,), _ONE_VALUE)
            return not value
        if isinstance(node.op, ast.USub):
            try:
                return _mark(-value, (value,))
            except TypeError:
                raise ExprError(f"cannot negate {_show(value)}") from None
        return value
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _eval(node.left, env), _eval(node.comparators[0], env)
        _no_tuple(left, right)
        if _symbolic(left) or _symbolic(right):
            what = f"a comparison ('{_CMP_TEXT[type(node.ops[0])]}')"
            raise _refuse(what, (left, right), f"{_ONE_VALUE}; use min or max")
        try:
            return _COMPARE[type(node.ops[0])](left, right)
        except TypeError:
            raise ExprError(f"cannot compare {_show(left)} and {_show(right)}") from None
    if isinstance(node, ast.IfExp):
        test = _eval(node.test, env)
        if _symbolic(test):
            raise _refuse("the condition of an if-else", (test,), _ONE_VALUE)
        return _eval(node.body, env) if test else _eval(node.orelse, env)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env) for v in node.values]
        if any(_symbolic(v) for v in values):
            raise _refuse(f"'{'and' if isinstance(node.op, ast.And) else 'or'}'", values, _ONE_VALUE)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(a, env) for a in node.args]
        if node.func.id == "len":
            if len(args) != 1 or not isinstance(args[0], tuple):
                raise ExprError("len() takes in.shape (the number of its axes)")
            return len(args[0])
        _no_tuple(*args)
        if any(_symbolic(a) for a in args):
            return _call_symbolic(node.func.id, args)
        try:
            return _FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"{node.func.id}() cannot take {', '.join(map(_show, args))} ({exc})") from None
    raise ExprError(f"'{_shown(node)}' is not allowed (numbers, parameters, arithmetic, min, max only)")


def _index(node: ast.Subscript, env: dict):
    """in.shape[i] (negative from the end) or a slice of it, in.shape[1:]."""
    value = _eval(node.value, env)
    if not isinstance(value, tuple):
        raise ExprError(f"'{_shown(node)}' is not allowed: only in.shape can be indexed")

    def whole(n, what: str):
        x = _eval(n, env)
        if _symbolic(x) or not isinstance(x, int) or isinstance(x, bool):
            raise ExprError(f"{what} of in.shape must be a whole number, got {_show(x)}")
        return x

    if isinstance(node.slice, ast.Slice):
        parts = [None if n is None else whole(n, "a slice bound") for n in (node.slice.lower, node.slice.upper,
                                                                            node.slice.step)]  # fmt: skip
        if parts[2] == 0:
            raise ExprError("a slice step of in.shape cannot be 0")
        return value[slice(*parts)]
    i = whole(node.slice, "an index")
    if not -len(value) <= i < len(value):
        raise ExprError(f"index {i} is out of range for in.shape {_show(value)} ({len(value)} axes)")
    return value[i]


_CMP_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _call_symbolic(name: str, args: list):
    """min, max (symbolic: sympy's Min and Max) and int (the size itself) of sizes from a symbol;
    round and abs would give a figure right at one value only."""
    if name == "int" and len(args) == 1:
        return args[0]
    if name in ("min", "max") and len(args) >= 2:
        for x in args:
            if not _symbolic(x) and (not isinstance(x, int) or isinstance(x, bool)):
                raise _refuse(f"{name}()", args, f"a symbol combines with whole numbers only, got {_show(x)}")
        if any(hasattr(x, "e") for x in args):
            from .formulas import smax, smin

            pick = smin if name == "min" else smax
            out = args[0]
            for x in args[1:]:
                out = pick(out, x)
            return out
        return _mark((min if name == "min" else max)(args), args)
    if name in ("min", "max"):
        raise _refuse(f"{name}()", args, "it takes two or more sizes")
    raise _refuse(f"{name}()", args, _ONE_VALUE)


def substitute(node, env: dict, diags: Diagnostics, block_input: str | None = None):
    """A copy of a YAML node with every `$` expression replaced by its value (as a plain scalar);
    one that reads `in` becomes a YDeferred scalar, with `block_input` the name of what the block
    was given (None where no layer is made: counting the layers)."""
    if isinstance(node, YScalar):
        if node.kind != "str" or not node.text.startswith("$"):
            return node
        text = node.text[1:]
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        if reads_input(text):
            return YDeferred(node.text, text, env, block_input, node.loc)
        try:
            value = evaluate(text, env)
        except ExprError as exc:
            diags.error("E120", f"'{clip(node.text)}': {exc}", node.loc)
            return YScalar(node.text, FAILED_TAG, True, node.loc)
        return to_scalar(value, node.loc)
    if isinstance(node, YSeq):
        return YSeq([substitute(item, env, diags, block_input) for item in node.items], node.loc)
    entries = {k: (knode, substitute(v, env, diags, block_input)) for k, (knode, v) in node.entries.items()}
    return YMap(entries, node.loc, node.incomplete)


def to_scalar(value, loc: Loc) -> YScalar:
    """A Python value as the plain YAML scalar that would have given it (a symbolic size: YSymbolic;
    a tuple, a slice of in.shape: the list of them)."""
    if isinstance(value, tuple):
        return YSeq([to_scalar(v, loc) for v in value], loc)
    if hasattr(value, "e"):
        return YSymbolic(value, loc)
    if hasattr(value, "names"):  # a symbol's value in a concrete run: an integer, still known as a symbol's
        node = YSymbolic(value, loc)
        node.tag, node.kind = "tag:yaml.org,2002:int", "int"
        return node
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
