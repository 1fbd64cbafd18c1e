"""Named sizes: the `symbols:` section of a spec, `--set NAME=VALUE`, and what a name written in a
shape (`shape: [3, H, W]`, `[T, 128]`) stands for.

A symbol is a positive integer, optionally with a default, a range (`min`, `max`) and a divisor
(`divisible`). A name used in a shape without a declaration is a symbol with no constraint and no
default. What a use of the name becomes depends on the command:

- a value (from `--set`, else the default) when the command needs concrete sizes (signal, verify,
  lint, diff; summary and sizes when every symbol is set);
- a symbolic size (netcalc.formulas.Dual, which imports sympy) for `summary` and `sizes` when a
  symbol is left free. Nothing here imports sympy: a spec without symbols never loads it.
"""

from __future__ import annotations

from .arg_symbols import NAME_RE, NONE_WORDS
from .diagnostics import Diagnostics, did_you_mean
from .kinds import INVALID, Arg, Int, Str, coerce_mapping
from .yamlsrc import YMap, YScalar, describe

DECLARATION = {
    "default": Arg(Int(1), None, "the value used when --set does not give one"),
    "min": Arg(Int(1), None, "the smallest value allowed"),
    "max": Arg(Int(1), None, "the largest value allowed"),
    "divisible": Arg(Int(1), None, "values must be multiples of this"),
    "description": Arg(Str(), None, "what the size is (sequence length, image height...)"),
}
# The value a free symbol takes where the engine must choose a branch (a comparison of sizes): large
# and divisible by many small numbers, so that every division in a typical network is exact there.
GENERIC = 2**6 * 3**2 * 5 * 7  # 20160


class SymbolValue(int):
    """A symbol's value where the command needs numbers: an int that remembers the symbols it comes
    from, so that a `$` expression over it and a window argument given it are refused exactly as they
    are for the symbolic size (netcalc.blocks, netcalc.arg_symbols.symbol_use)."""

    def __new__(cls, value: int, names, direct: bool = False):
        obj = super().__new__(cls, value)
        obj.names = tuple(names)
        obj.direct = direct  # the symbol itself, not a size computed from it
        return obj


class Declared:
    """One symbol: its constraints, its default and where it is declared (or first used)."""

    __slots__ = ("default", "description", "divisible", "from_set", "loc", "locs", "max", "min", "name")

    def __init__(self, name: str, loc, values: dict | None = None, locs: dict | None = None) -> None:
        values = values or {}
        self.name = name
        self.loc = loc
        self.locs = locs or {}
        self.default = values.get("default")
        self.min = values.get("min")
        self.max = values.get("max")
        self.divisible = values.get("divisible")
        self.description = values.get("description")
        self.from_set = False  # the default is a --set value (netcalc sizes)

    def broken(self, value: int) -> tuple[str, int] | None:
        """The constraint `value` breaks, as ('min' | 'max' | 'multiple of', its number), or None."""
        if self.min is not None and value < self.min:
            return "min", self.min
        if self.max is not None and value > self.max:
            return "max", self.max
        if self.divisible is not None and value % self.divisible:
            return "multiple of", self.divisible
        return None

    def violation(self, value: int) -> str | None:
        """Why `value` breaks this symbol's constraints, or None."""
        got = self.broken(value)
        if got is None:
            return None
        words = {"min": "at least", "max": "at most", "multiple of": "a multiple of"}
        return f"{self.name} must be {words[got[0]]} {got[1]}, got {value}"

    def generic(self) -> int:
        """A value inside the constraints at which to take the engine's branches (GENERIC, moved
        into the range and onto a multiple of `divisible`)."""
        step = self.divisible or 1
        value = GENERIC - GENERIC % step if step <= GENERIC else step
        if self.max is not None and value > self.max:
            value = self.max - self.max % step
        if self.min is not None and value < self.min:
            value = self.min + (-self.min) % step
        return max(value, step)


def parse_declarations(node, diags: Diagnostics) -> dict:
    """`symbols:` as {name: Declared}. Each entry is a mapping of DECLARATION keys, or a number (the
    default): `symbols: {T: 100, H: {default: 224, divisible: 32}}`."""
    out: dict = {}
    if node is None:
        return out
    if not isinstance(node, YMap):
        diags.error("E103", f"'symbols' must be a mapping of names, got {describe(node)}", node.loc)
        return out
    for name, (knode, vnode) in node.entries.items():
        if not NAME_RE.match(name):
            diags.error(
                "E104", f"symbols: '{name}' is not a name (letters, digits and _, not first a digit)", knode.loc
            )
            continue
        if name in NONE_WORDS:
            diags.error("E104", f"symbols: '{name}' reads as Python's None; give the size another name", knode.loc)
            continue
        if isinstance(vnode, YScalar) and vnode.kind == "null":
            out[name] = Declared(name, knode.loc)
            continue
        if isinstance(vnode, YScalar):
            value = Int(1).coerce(vnode, diags, f"symbols: '{name}' (its default)")
            if value is not INVALID:
                out[name] = Declared(name, knode.loc, {"default": value}, {"default": vnode.loc})
            continue
        if not isinstance(vnode, YMap):
            diags.error(
                "E103",
                f"symbols: '{name}' must be a default value or a mapping such as {{default: 224, divisible: 32}}, "
                f"got {describe(vnode)}",
                vnode.loc,
            )
            continue
        values, locs = coerce_mapping(vnode, DECLARATION, diags, f"symbols: '{name}'")
        decl = Declared(name, knode.loc, values, locs)
        if decl.min is not None and decl.max is not None and decl.min > decl.max:
            diags.error("E104", f"symbols: '{name}': min {decl.min} is above max {decl.max}", locs["min"])
            continue
        if decl.default is not None:
            why = decl.violation(decl.default)
            if why:
                diags.error("E104", f"symbols: the default of {why}", locs["default"])
                continue
        out[name] = decl
    return out


class Scope:
    """The symbols of the spec being read, the values given for them, and whether free symbols are
    kept symbolic (summary, sizes) or must have a value (every other command)."""

    def __init__(
        self, declared: dict, values: dict, symbolic: bool, generic: bool | dict = False, set_defaults: bool = False
    ) -> None:
        self.declared = declared
        self.values = values
        self.symbolic = symbolic
        # `netcalc sizes`: a --set value is the symbol's default, and the symbol stays a formula
        self.set_defaults = set_defaults and symbolic
        # free symbols evaluated at a generic size even when they have defaults; a dict gives the point
        # itself (name -> value: netcalc sizes, when neither the defaults nor the generic size work)
        self.generic = bool(generic)
        self.points = dict(generic) if isinstance(generic, dict) else {}
        self.used: dict = {}  # name -> Declared, in the order of first use
        self.free: dict = {}  # name -> the sympy symbol of a name left free
        self.conditions: list = Conditions(self)  # Condition, recorded by the engine's layers
        self.point: dict = {}  # name -> the number a free symbol's formulas are evaluated at
        self.fixed: dict = {}  # name -> its value, for a symbol a block use's `repeat` names (never free)

    def value_of(self, decl: Declared):
        """The number a use stands for: --set, else the default (None when neither)."""
        return self.values.get(decl.name, decl.default)

    def resolve(self, node: YScalar, diags: Diagnostics, what: str):
        """A name written where a size goes: its value, a symbolic size, or INVALID (reported)."""
        name = node.text
        decl = self.declared.get(name)
        if decl is None:
            decl = self.declared[name] = Declared(name, node.loc)
        self.used.setdefault(name, decl)
        given = self.values.get(name)
        if given is not None and self.set_defaults:
            decl.default, decl.from_set, given = given, True, None
        if given is None and name in self.fixed:  # a count of layers (`repeat: N`) fixed it
            given = self.fixed[name]
        if given is not None or not self.symbolic:
            value = given if given is not None else decl.default
            if value is None:
                diags.error(
                    "E107",
                    f"{what} is the symbol {name}, which has no value here: give it a default "
                    f"(symbols: {{{name}: {{default: ...}}}}) or set it (--set {name}=...)",
                    node.loc,
                )
                return INVALID
            return SymbolValue(value, (name,), direct=True)
        from .formulas import Dual, symbol

        sym = self.free.get(name)
        if sym is None:
            sym = self.free[name] = symbol(name)
        if name in self.points:
            value = self.points[name]
        elif decl.default is not None and not self.generic:
            value = decl.default
        else:
            value = decl.generic()
        self.point[name] = value
        return Dual(sym, value)

    def check_set(self, known_only: bool = False) -> list[str]:
        """Problems with --set: unknown names (with a did-you-mean; not with `known_only`, for a
        command over many specs) and values that break a constraint."""
        problems = []
        for name, value in self.values.items():
            decl = self.declared.get(name)
            if decl is None and known_only:
                continue
            if decl is None:
                known = sorted(self.declared)
                same = [k for k in known if k.lower() == name.lower()]
                hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(name, known) if known else ""
                problems.append(
                    f"--set {name}={value}: the spec has no symbol '{name}'{hint}"
                    + ("" if hint or not known else f" (its symbols: {', '.join(known)})")
                    + ("" if known else " (it has no symbols)")
                )
                continue
            why = decl.violation(value)
            if why:
                problems.append(f"--set {name}={value}: {why}")
        return problems

    @property
    def has_free(self) -> bool:
        return bool(self.free)

    @property
    def defaults_known(self) -> bool:
        """Every free symbol has a default (and the figures were evaluated there): the figures have
        values as well as formulas."""
        return not self.generic and all(self.used[n].default is not None for n in self.free)


class Condition:
    """What the figures of a symbolic spec assume: expr ≥ 0 ('size': an output of at least 1;
    'exact': a division that leaves no input row unread) or expr = 0 ('equal': merged sizes), with
    the layer that imposes it. expr is a sympy formula in the symbols."""

    __slots__ = ("expr", "kind", "layer", "loc", "what")

    def __init__(self, kind: str, expr, what: str, layer: str, loc) -> None:
        self.kind = kind
        self.expr = expr
        self.what = what
        self.layer = layer
        self.loc = loc

    def holds(self, value) -> bool:
        return value == 0 if self.kind == "equal" else value >= 0

    def __repr__(self) -> str:
        return f"Condition({self.kind}, {self.expr}, {self.what!r})"


class Conditions(list):
    """The conditions of one scope: a list that knows its scope, so that a layer can tell whether its
    symbolic figures are taken at the defaults (and warn as the concrete run would)."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self.scope = scope

    def add(self, kind: str, expr, what: str, layer: str, loc) -> None:
        """Record one Condition (for netcalc.kinds's kinds, which do not import this module)."""
        self.append(Condition(kind, expr, what, layer, loc))
