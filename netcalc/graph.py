"""The expanded network: a directed acyclic graph of named nodes, each with its source location.

The spec loader produces it and every later stage reads it: the analytic engine, the renderers
and (later) the NumPy executor. It already holds what later features need: several named inputs
and outputs, nodes with several inputs (merges), a block path for hierarchy in the summary, and
the chain of block uses that produced a node (for errors inside blocks). Dimensions are Python
ints today; they are only ever combined with + - * // so symbolic sizes can take their place.
"""

from __future__ import annotations

from typing import NamedTuple

from .diagnostics import Loc

# Plain classes rather than dataclasses: these are imported on every start-up of the CLI, and
# each dataclass costs about a millisecond to create.


class Frame(NamedTuple):
    """One block use on the way to a node: where the block is defined, where it was used."""

    block: str
    defined_at: Loc
    used_at: Loc
    repetition: int = 1
    of: int = 1

    def note(self) -> str:
        """The note an error inside the block carries (innermost use first)."""
        return f"in block '{self.block}' ({self.defined_at}), used at {self.used_at}" + (
            f" (repetition {self.repetition} of {self.of})" if self.of > 1 else ""
        )


class Node:
    __slots__ = ("arg_locs", "args", "deferred", "frames", "frozen", "group", "inputs", "invalid", "loc", "name",
                 "noqa", "op", "part_of", "shares", "states", "tie", "tie_rule")  # fmt: skip

    def __init__(
        self,
        name: str,
        op: str,
        args: dict,
        inputs: list[str],
        loc: Loc,
        arg_locs: dict | None = None,
        frames: tuple = (),
        group: tuple = (),
        part_of: str | None = None,
        invalid: bool = False,
        states: tuple = (),
    ) -> None:
        self.name = name
        self.op = op  # canonical layer type name (a key of the layer registry)
        self.args = args
        self.inputs = inputs
        self.loc = loc  # where the layer is written
        self.arg_locs = arg_locs or {}
        self.frames = frames  # block uses, outermost first (Frame)
        self.group = group  # hierarchy path shown in the summary: (label, block, line) per level
        self.part_of = part_of  # set on a node made from another's shorthand (activation: relu)
        self.invalid = invalid  # its arguments did not validate; shapes downstream are unknown
        self.noqa: dict = {}  # finding codes that do not apply here, with the reason (`noqa:`)
        self.states = states  # suffixes of its named extra outputs (an LSTM's final states: "h", "c")
        # `trainable: false` on the layer or a block use around it: its weights are counted as
        # non-trainable and receive no gradient (the executor and `signal` read it too)
        self.frozen = False
        # `shares: NAME`: the node whose weights this one uses (the first owner, never a sharer): its
        # arguments are that node's, its parameters are counted there once, its MACs and FLOPs here
        self.shares: str | None = None
        # `tie: NAME`: the node one of whose tensors this one's is (the first owner), and how (the
        # layer type's layers.base.Tie for NAME's type: which tensor of each, transposed where)
        self.tie: str | None = None
        self.tie_rule = None
        # arguments that read the block's input (netcalc.deferred.Deferred, by key): args holds them
        # until the analysis works them out and puts their values there (netcalc.block_input)
        self.deferred: dict = {}

    def arg_loc(self, key: str) -> Loc:
        return self.arg_locs.get(key, self.loc)

    def output(self, suffix: str | None = None) -> str:
        """The name a later layer reads an output by: the node's own, or NAME.suffix for an extra one."""
        return self.name if suffix is None else f"{self.name}.{suffix}"

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op!r}, inputs={self.inputs!r})"


class Input:
    __slots__ = ("dtype", "layout", "layout_default", "loc", "name", "shape", "stats")

    def __init__(
        self, name: str, shape: tuple, loc: Loc, dtype: str = "float32", stats: dict | None = None, layout: str = ""
    ) -> None:
        self.name = name
        self.layout = layout  # chw, hwc, ntf, tnf, ...: as written, else the default (netcalc.layouts._layouts)
        self.layout_default = False  # the spec wrote no layout: netcalc chose it
        self.shape = shape  # without the batch axis, in the spec's layout
        self.loc = loc
        self.dtype = dtype
        self.stats = stats or {}

    def __repr__(self) -> str:
        return f"Input({self.name!r}, shape={self.shape!r})"


class Graph:
    def __init__(
        self,
        name: str,
        convention: str,
        channels_last: bool,
        inputs: list[Input],
        nodes: list[Node],
        outputs: list[str],
        file: str = "",
        counting: str = "",
    ) -> None:
        self.name = name
        self.convention = convention  # "pytorch" | "keras": the framework the network is written for
        self.channels_last = channels_last
        self.inputs = inputs
        self.nodes = nodes  # in an order where every node comes after its inputs
        self.outputs = outputs
        self.file = file
        self.counting = counting or convention  # whose counting rules the figures follow (`--convention`)
        self.symbols = None  # the named sizes (netcalc.symbols.Scope), set by the spec reader
        # block uses (and repetitions) whose layers use another's weights (`shares:`, `shared:` on a
        # use): group label -> the label of the use or repetition that owns them
        self.use_shares: dict = {}

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes)"

    def node(self, name: str) -> Node:
        return self._by_name()[name]

    def _by_name(self) -> dict:
        cache = getattr(self, "_cache", None)
        if cache is None or len(cache) != len(self.nodes):
            cache = {n.name: n for n in self.nodes}
            self._cache = cache
        return cache

    def _index(self) -> tuple[dict, dict]:
        """(tensor name -> (producer's name, suffix or None), tensor name -> the nodes reading it),
        worked out once per set of nodes."""
        cached = getattr(self, "_tensors", None)
        if cached is not None and cached[0] == len(self.nodes):
            return cached[1], cached[2]
        made: dict = {inp.name: (inp.name, None) for inp in self.inputs}
        readers: dict = {}
        for n in self.nodes:
            made[n.name] = (n.name, None)
            for suffix in n.states:
                made[n.output(suffix)] = (n.name, suffix)
            for name in n.inputs:
                readers.setdefault(name, []).append(n)
        self._tensors = (len(self.nodes), made, readers)
        return made, readers

    def producer(self, name: str) -> str | None:
        """The node or graph input whose output the tensor `name` is: `name` itself, or NODE for a
        named extra output NODE.suffix (an LSTM's `enc.h`; `b.enc.h` inside a block use b); None
        when the graph has no such tensor."""
        found = self._index()[0].get(name)
        return found[0] if found else None

    def suffix(self, name: str) -> str | None:
        """The extra output's suffix of the tensor `name` (`h` for `b.enc.h`); None for a main output."""
        found = self._index()[0].get(name)
        return found[1] if found else None

    def readers(self, name: str) -> list[Node]:
        """The nodes that read the tensor `name` (a main output, or NODE.suffix alone), in graph order."""
        return list(self._index()[1].get(name, ()))

    def ancestors(self, names, since: str | None = None) -> set[str]:
        """The nodes producing the tensors `names` and every node whose outputs they read, directly
        or not (by node name; graph inputs are not nodes). With `since` (a tensor), only those at or
        after its producer in the graph's order: the nodes are in topological order, so nothing before
        it can lead back to it, and the walk stops there (a residual block's span, not the network's)."""
        by_name = self._by_name()
        order = self._order()
        first = order.get(self.producer(since), -1) if since is not None else -1
        todo = [p for p in map(self.producer, names) if p is not None]
        found: set = set()
        while todo:
            name = todo.pop()
            if name in found or name not in by_name or order[name] < first:
                continue
            found.add(name)
            todo += [p for p in map(self.producer, by_name[name].inputs) if p is not None]
        return found

    def reaches(self, name: str, other: str) -> bool:
        """Whether the tensor `other` depends on the tensor `name` (its producer, a node or a graph input,
        is among other's ancestors, or is other's own), walking back from other no further than name."""
        src = self.producer(name)
        if src is None:
            return False
        if src not in self._by_name():  # a graph input: does any ancestor of other read it?
            return any(src in (self.producer(i) for i in self._by_name()[n].inputs) for n in self.ancestors([other]))
        return src in self.ancestors([other], since=name)

    def _order(self) -> dict:
        cached = getattr(self, "_orders", None)
        if cached is None or len(cached) != len(self.nodes):
            cached = {n.name: i for i, n in enumerate(self.nodes)}
            self._orders = cached
        return cached

    @property
    def layout(self) -> str:
        written = self.inputs[0].layout if self.inputs else ""
        return written or ("hwc" if self.channels_last else "chw")
