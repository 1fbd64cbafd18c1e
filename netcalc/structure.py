"""What a network's structure says about one part of it, for `netcalc explain`: the layers of a block
use, where a tensor's channels were made, the stages side by side, the two paths of a residual block
and the input positions they read. Facts only, worked out from the analysis (shapes, parameters, the
layer types' traits and `reads`); explain_text.py words them. No op names: traits and shapes."""

from __future__ import annotations

from fractions import Fraction
from math import prod

from .analyze import Analysis, Row

MAX_POSITIONS = 10**6  # `reading` lists the positions of a block's input map up to this many


class Shape:
    """A shape split by the graph's layout: its channels and its map (the spatial axes)."""

    __slots__ = ("c", "map", "shape")

    def __init__(self, shape: tuple, channels_last: bool) -> None:
        self.shape = tuple(shape)
        self.c = shape[-1] if channels_last else shape[0]
        self.map = tuple(shape[:-1] if channels_last else shape[1:])


def _split(a: Analysis, shape) -> Shape:
    return Shape(shape, a.graph.channels_last)


def members(a: Analysis, label: str) -> list[Row]:
    """The rows of the block use (or repetition) `label`, in graph order."""
    return [r for r in a.rows if any(lab == label for lab, _, _ in r.node.group)]


def _parents(a: Analysis) -> dict:
    """Each group's parent label ("" at the top), from the rows' group paths."""
    parents: dict = {}
    for r in a.rows:
        path = [label for label, _, _ in r.node.group]
        for i, label in enumerate(path):
            parents.setdefault(label, path[i - 1] if i else "")
    return parents


def children(a: Analysis, label: str) -> list:
    """The groups directly inside `label` (its repetitions, or the uses inside its block), in order."""
    parents = _parents(a)
    return [g for lab, g in a.groups.items() if parents.get(lab) == label]


def siblings(a: Analysis, label: str) -> list:
    """The groups beside `label` inside the same parent (the stages of a network), in order."""
    parents = _parents(a)
    return [g for lab, g in a.groups.items() if parents.get(lab) == parents.get(label)]


def repetitions(a: Analysis, label: str) -> int | None:
    """How many times the use repeats its block (None when it is not repeated): its repetitions' groups."""
    kids = [g for g in children(a, label) if g.label.removeprefix(label + ".").isdigit()]
    return len(kids) or None


def group_input(a: Analysis, label: str, rows: list[Row] | None = None) -> tuple[str, tuple] | None:
    """The tensor the use reads (its first layer's input from outside it) and its shape."""
    rows = rows if rows is not None else members(a, label)
    inside = {r.node.name for r in rows}
    for r in rows:
        for name, shape in zip(r.node.inputs, r.in_shapes, strict=False):
            if a.graph.producer(name) not in inside and shape is not None:
                return name, shape
    return None


class Origin:
    """Where a tensor's channels were made: the layer that set their number (`maker`, None when it is a
    graph input) and the layers after it that kept it (`keepers`), up to the tensor."""

    __slots__ = ("c", "keepers", "maker")

    def __init__(self, maker: Row | None, keepers: list[Row], c) -> None:
        self.maker, self.keepers, self.c = maker, keepers, c


def channel_origin(a: Analysis, name: str) -> Origin | None:
    """Walk back from the tensor `name` through one-input layers that keep the number of channels and
    are not linear maps (a batchnorm, an activation, a pool) to the layer that set it: a convolution
    (one output channel per filter), or the input."""
    rows = {r.node.name: r for r in a.rows}
    keepers: list[Row] = []
    row = rows.get(a.graph.producer(name) or "")
    if row is None or not row.ok or len(row.out_shape) < 2:
        return None
    c = _split(a, row.out_shape).c
    while row is not None:
        shape = row.in_shapes[0] if row.in_shapes else None
        if row.ltype.linear or len(row.node.inputs) != 1 or shape is None or len(shape) < 2:
            return Origin(row, keepers[::-1], c)
        if _split(a, shape).c != c:
            return Origin(row, keepers[::-1], c)
        keepers.append(row)
        row = rows.get(a.graph.producer(row.node.inputs[0]) or "")
    return Origin(None, keepers[::-1], c)


class Change:
    """A convolution of a group whose output map differs from its input's: the factor (out/in, a
    fraction) of the channels, and of each side of the map where it is the same on every axis."""

    __slots__ = ("c_factor", "row", "side_factor", "x", "y")

    def __init__(self, row: Row, x: Shape, y: Shape) -> None:
        self.row, self.x, self.y = row, x, y
        self.c_factor = Fraction(y.c, x.c)
        sides = {Fraction(o, i) for i, o in zip(x.map, y.map, strict=True)}
        self.side_factor = sides.pop() if len(sides) == 1 else None  # the same on every axis, or None


def convolutions(a: Analysis, rows: list[Row]) -> list[Row]:
    """The group's convolutions (trait linear = conv), in order."""
    return [r for r in rows if r.ltype.linear == "conv" and r.ok]


def changes(a: Analysis, rows: list[Row]) -> list[Change]:
    """Its convolutions whose output map differs from their input's (a stride): where a stage moves
    to a new size."""
    out = []
    for r in convolutions(a, rows):
        x, y = _split(a, r.in_shapes[0]), _split(a, r.out_shape)
        if x.map != y.map:
            out.append(Change(r, x, y))
    return out


class Residual:
    """A residual block: the sum (trait joins = sum) of a main path and a shortcut from the block's
    input. `shortcut` lists the shortcut's layers (empty: the input itself is added); `kind` is
    'identity' (the input added unchanged), 'convolutional' (the shortcut has weights: a 1×1
    convolution that changes the shape), or 'parameter-free' (it changes the shape without weights:
    strided subsampling and zero channels, He et al.'s option A)."""

    __slots__ = ("input", "join", "kind", "main", "shortcut", "x", "y")

    def __init__(self, join: Row, main: list[Row], shortcut: list[Row], x: Shape, y: Shape) -> None:
        self.join, self.main, self.shortcut, self.x, self.y = join, main, shortcut, x, y
        weights = sum(r.params for r in shortcut)
        if not shortcut or (not weights and all(r.out_shape == r.in_shapes[0] for r in shortcut)):
            self.kind = "identity"
        else:
            self.kind = "convolutional" if weights else "parameter-free"


def leaves(a: Analysis, label: str) -> list:
    """The innermost block uses at or under `label` (each repetition of a repeated use), in order."""
    kids = children(a, label)
    return [leaf for k in kids for leaf in leaves(a, k.label)] if kids else [a.groups[label]]


def residual(a: Analysis, label: str) -> Residual | None:
    """The residual structure of one block use (a repetition): None when it has no sum of a path and
    its input, or more than one."""
    rows = members(a, label)
    got = group_input(a, label, rows)
    if got is None:
        return None
    name, shape = got
    by_name = {r.node.name: r for r in rows}
    joins = [r for r in rows if r.ltype.joins == "sum" and len(r.node.inputs) == 2]
    if len(joins) != 1:
        return None
    join = joins[0]

    def path(tensor: str) -> list[Row] | None:
        """The layers from the block's input to `tensor`, along first inputs; None if it does not start there."""
        out = []
        while tensor != name:
            row = by_name.get(a.graph.producer(tensor) or "")
            if row is None:
                return None
            out.append(row)
            tensor = row.node.inputs[0]
        return out[::-1]

    paths = [path(t) for t in join.node.inputs]
    if any(p is None for p in paths):
        return None
    shortcut, main = sorted(paths, key=len)
    return Residual(join, main, shortcut, _split(a, shape), _split(a, join.out_shape))


class Reading:
    """The layers of a block that read its input directly and skip some of its positions (`by`: each
    with the positions it reads per axis and their number), those that read every one (`all`), and
    how many positions of the map none of them reads."""

    __slots__ = ("all", "by", "positions", "read", "unread")

    def __init__(self, by: list[tuple[Row, list, int]], every: list[Row], positions: int, read: int) -> None:
        self.by, self.all, self.positions, self.read = by, every, positions, read  # by: the readers that skip some
        self.unread = positions - read


def reading(a: Analysis, label: str) -> Reading | None:
    """Which of the block's input positions its layers read (their types' `reads`); None when every
    reader reads them all."""
    rows = members(a, label)
    got = group_input(a, label, rows)
    if got is None or len(got[1]) < 2:
        return None
    name, shape = got
    x = _split(a, shape)
    if prod(x.map) > MAX_POSITIONS:
        return None
    readers = [r for r in rows if name in r.node.inputs and r.ok and r.g is not None]
    by = [(r, r.ltype.reads(r.g)) for r in readers]
    if all(reads is None for _, reads in by):
        return None
    covered: set = set()
    every = [r for r, reads in by if reads is None or all(len(v) == n for v, n in zip(reads, x.map, strict=True))]
    for _, reads in by:
        covered |= _product(reads if reads is not None else [list(range(n)) for n in x.map])
    skipping = [(r, reads, prod(len(v) for v in reads)) for r, reads in by if r not in every]
    if not skipping:
        return None
    return Reading(skipping, every, prod(x.map), len(covered))


def _product(axes: list) -> set:
    out = {()}
    for values in axes:
        out = {(*p, v) for p in out for v in values}
    return out
