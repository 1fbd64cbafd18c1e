"""Symbols written where an argument's value goes: the scope of the spec being read (`CURRENT`), how
a message names a symbol given where a number must be (and the refusal, E103, for window geometry,
axes and counts), and the size a symbol's name or a `$` expression over one resolves to."""

from __future__ import annotations

import re

from .diagnostics import Diagnostics
from .yamlsrc import YScalar, YSymbolic

WINDOW_NOTE = (
    "window sizes (kernel, stride, dilation, padding, groups, scale) must be numbers; "
    "symbols go in the input shape and in widths such as filters and units"
)


AXIS_NOTE = "an axis is a number; symbols stand for sizes"
COUNT_NOTE = "a count of layers must be a number; symbols stand for sizes and widths"

# The symbols (netcalc.symbols.Scope) of the spec being read, innermost last: spec.build sets it for
# the duration of one build, and the kinds (netcalc.kinds) resolve a name written where a size goes
# in it. It lives here, with the pattern of a symbol's name, because netcalc.symbols reads its own
# declarations with those kinds (so it imports them, and not the other way round).
CURRENT: list = []
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NONE_WORDS = ("None", "none", "NONE")  # Python's None (Keras writes shapes with it): never a symbol's name


def active():
    """The scope of the spec being read (a netcalc.symbols.Scope), or None outside a build."""
    return CURRENT[-1] if CURRENT else None


def symbol_use(node) -> str | None:
    """How a message names a symbol written where a number must go: "the symbol 'K'" for a declared
    symbol's name (or a block parameter given one), "a size computed from the symbol C" for a `$`
    expression over one; None when the node is neither."""
    if isinstance(node, YSymbolic):
        value = node.value
        if hasattr(value, "e"):  # a symbolic size (netcalc.formulas.Dual)
            if value.e.is_Symbol:
                return f"the symbol '{value}'"
            names = sorted(s.name for s in value.e.free_symbols)
        else:  # the value of a symbol in a concrete run (netcalc.symbols.SymbolValue)
            names = sorted(getattr(value, "names", ()))
            if getattr(value, "direct", False) and len(names) == 1:
                return f"the symbol '{names[0]}'"
        plural = "s" if len(names) > 1 else ""
        return f"a size computed from the symbol{plural} {', '.join(names)}"
    scope = active()
    if scope is not None and _is_name(node) and node.text in scope.declared:
        return f"the symbol '{node.text}'"
    return None


def refuse_symbol(node, diags: Diagnostics, what: str, expected: str, why: str = WINDOW_NOTE) -> bool:
    """Report (E103) a symbol given where a number must go (window geometry, by default); whether one was."""
    sym = symbol_use(node)
    if sym is None:
        return False
    diags.error("E103", f"{what} must be {expected}, got {sym}: {why}", node.loc)
    return True


def _generic_symbolic(value) -> bool:
    """A symbolic size evaluated at a generic point rather than the defaults (netcalc sizes)."""
    if not hasattr(value, "e"):
        return False
    scope = active()
    return scope is not None and scope.generic


def _width_condition(value, low: int, what: str, node) -> None:
    """Record (netcalc sizes) that a symbolic width such as `filters: ${40 - width}` is at least `low`."""
    scope = active()
    if scope is not None and not (value.e.is_Symbol and low <= 1) and (value.e - low).free_symbols:
        scope.conditions.add("size", value.e - low, f"{what} at least {low}", what.split(":")[0], node.loc)


def _symbolic_int(node, diags: Diagnostics, what: str):
    """A size from a symbol where an integer goes: a YSymbolic's size, or a declared symbol's name
    (resolved by the active scope); None when the node is neither."""
    if isinstance(node, YSymbolic):
        return node.value
    scope = active()
    if scope is not None and _is_name(node) and node.text in scope.declared:
        return scope.resolve(node, diags, what)
    return None


def _is_none(node) -> bool:
    """A YAML null, or Python's None written as a word (None, none, NONE)."""
    return isinstance(node, YScalar) and (node.kind == "null" or node.text in NONE_WORDS)


def _is_name(node) -> bool:
    return isinstance(node, YScalar) and node.kind == "str" and active() is not None and bool(NAME_RE.match(node.text))


def _symbol(node, diags: Diagnostics, what: str):
    return active().resolve(node, diags, what)
