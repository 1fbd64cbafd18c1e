"""The expanded network: a directed acyclic graph of named nodes, each with its source location.

The spec loader produces it and every later stage reads it: the analytic engine, the renderers
and (later) the NumPy executor. It already holds what later features need: several named inputs
and outputs, nodes with several inputs (merges), a block path for hierarchy in the summary, and
the chain of block uses that produced a node (for errors inside blocks). Dimensions are Python
ints today; they are only ever combined with + - * // so symbolic sizes can take their place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Loc


@dataclass(frozen=True)
class Frame:
    """One block use on the way to a node: where the block is defined, where it was used."""

    block: str
    defined_at: Loc
    used_at: Loc
    repetition: int = 1
    of: int = 1


@dataclass
class Node:
    name: str
    op: str  # canonical layer type name (a key of the layer registry)
    args: dict
    inputs: list[str]
    loc: Loc  # where the layer is written
    arg_locs: dict = field(default_factory=dict)
    frames: tuple[Frame, ...] = ()  # block uses, outermost first
    group: tuple[str, ...] = ()  # hierarchy path shown in the summary
    part_of: str | None = None  # set on a node made from another's shorthand (activation: relu)
    invalid: bool = False  # its arguments did not validate; shapes downstream are unknown

    def arg_loc(self, key: str) -> Loc:
        return self.arg_locs.get(key, self.loc)


@dataclass
class Input:
    name: str
    shape: tuple  # without the batch axis, in the spec's layout
    loc: Loc
    dtype: str = "float32"
    stats: dict = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    convention: str  # "pytorch" | "keras"
    channels_last: bool
    inputs: list[Input]
    nodes: list[Node]  # in an order where every node comes after its inputs
    outputs: list[str]
    file: str = ""
    counting: str = ""  # whose counting rules the figures follow (`--convention`); default the convention

    def __post_init__(self) -> None:
        self.counting = self.counting or self.convention

    def node(self, name: str) -> Node:
        return self._by_name()[name]

    def _by_name(self) -> dict:
        cache = getattr(self, "_cache", None)
        if cache is None or len(cache) != len(self.nodes):
            cache = {n.name: n for n in self.nodes}
            self._cache = cache
        return cache

    @property
    def layout(self) -> str:
        return "hwc" if self.channels_last else "chw"
