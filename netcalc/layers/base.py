"""What every layer type provides (the size arithmetic of sliding windows: window.py).

A layer type is one class holding its argument schema and its formulas, each method with a
docstring stating the convention it follows:

- ``resolve``: check the arguments against the input shape and work out the geometry
  (channels, kernel, stride, padding per axis...), reporting errors at the argument's location;
- ``output_shape``, ``params`` (one Tensor per weight, trainable or not), ``macs``, ``flops``;
- ``receptive``: how the receptive field and jump of each spatial axis change;
- ``weight_shape``: the kernel/weight shape shown in the summary;
- ``counting`` (required): what its MACs and FLOPs count, in words (the summary's legend prints
  the statements of the types present), and its traits (`TRAITS`): what lint, the signal advice,
  the summary and the spec's shorthand know about the op.

MACs are multiply-accumulates of weight products, bias excluded. FLOPs count one inference
forward pass: 2 per MAC, plus what each layer's ``flops`` docstring adds (bias adds,
normalisation, activations, pooling). Counts are per sample; the batch is applied by the caller.
"""

from __future__ import annotations

from math import prod
from typing import NamedTuple

from ..diagnostics import Diagnostics
from ..graph import Node
from ..kinds import Arg

AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


class Tensor:
    """One weight tensor. kind 'param' counts as a parameter; 'buffer' is state that is not one
    (PyTorch's BatchNorm running statistics)."""

    __slots__ = ("count", "kind", "name", "shape", "trainable")

    def __init__(self, name: str, shape: tuple, trainable: bool = True, kind: str = "param") -> None:
        self.name = name
        self.shape = shape
        self.trainable = trainable
        self.kind = kind
        self.count = prod(shape)

    def __eq__(self, other) -> bool:
        return isinstance(other, Tensor) and (self.name, self.shape, self.trainable, self.kind) == (
            other.name,
            other.shape,
            other.trainable,
            other.kind,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.shape, self.trainable, self.kind))

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.shape!r}, trainable={self.trainable}, kind={self.kind!r})"


class Tie(NamedTuple):
    """How a layer type takes one tensor of another type's layer (`tie: NAME`; `LayerType.ties`, by
    the other's op): its tensor at index `mine` of its `params` is the other's at index `theirs`,
    stored as its transpose in the conventions `transposed` names (a Keras Dense kernel is (in,
    units), an Embedding's table (vocab, dim)); `arg` is this type's initialiser argument of that
    tensor and `init` the other's, which draws it (the signal rules take its moments, under `role`'s
    defaults and the other's shape), and `example` says how the frameworks write it."""

    mine: int
    theirs: int
    transposed: tuple = ()
    arg: str = "init"
    init: str = "init"
    role: str = "kernel"
    example: str = ""


class Geometry:
    """Whatever `resolve` worked out, as a frozen record: the fields are given once, read as
    attributes, and a name that was not given is an AttributeError (never a silent None). Frozen,
    because the engine gives one node's geometry to every identical repetition of it (the memo in
    netcalc.analyze); and so it holds numbers, shapes and flags only, never a Ctx, which belongs to
    the node that resolved it.

    One record class for every layer type rather than a dataclass per type: the layer modules are
    imported on every start-up (each dataclass costs about a millisecond to create), and one type
    resolves to different fields by its arguments (the pools and convolutions by their rank)."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str):  # only reached when `name` is no field
        if name.startswith("__"):  # copy, pickle and friends probe for optional hooks
            raise AttributeError(name)
        raise AttributeError(f"this geometry has no field {name!r} (its fields: {', '.join(self.__dict__)})")

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"a geometry is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a geometry is frozen: cannot delete {name!r}")

    def __eq__(self, other) -> bool:
        return isinstance(other, Geometry) and self.__dict__ == other.__dict__

    __hash__ = None  # its fields may be lists; equal geometries compare equal

    def __repr__(self) -> str:
        return "Geometry(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


class Ctx:
    """What a layer type may know while resolving one node: the convention, the layout, and
    where to report findings."""

    def __init__(
        self, node: Node, convention: str, channels_last: bool, diags: Diagnostics, counting: str | None = None
    ) -> None:
        self.node = node
        self.convention = convention  # the spec's framework: padding rules, defaults
        self.counting = counting or convention  # whose parameter counts and weight layouts to report
        self.channels_last = channels_last
        self.diags = diags
        self.failed = False
        self.input_dtypes: dict = {}  # the graph inputs' element types, by name
        self.input_locs: list = []  # where each of the node's inputs is written
        # with symbolic sizes: what the branches taken at the defaults assume (netcalc.symbols.Condition)
        self.conditions: list | None = None
        self.at = ""  # with symbolic sizes: where the branches were taken ("H = 224, W = 224")
        # (before, after) rows of padding per spatial axis at the first input's border (a padding layer
        # just before: LayerType.padded_border), or None: a window that leaves only these unread leaves no data
        self.padded_border: tuple | None = None
        # for `explain` only (analyze.explain_context): the rows that read the node's output, looking
        # through layers that are the identity at inference (dropout), each with its type and geometry
        self.readers: list = []
        # per input: the shape of the tensor its values index, for an extra output of positions (a max
        # pool's `NAME.indices` index the pool's input: LayerType.index_spaces), else None
        self.input_spaces: list = []

    @property
    def keras(self) -> bool:
        """The network is written for Keras: its 'same' padding, default slopes and layouts."""
        return self.convention == "keras"

    @property
    def keras_counting(self) -> bool:
        """Parameters are counted, and weights laid out, as Keras does (`--convention` may differ)."""
        return self.counting == "keras"

    @property
    def at_defaults(self) -> bool:
        """Symbolic sizes whose numbers are the symbols' defaults (not a generic point): the branches
        taken, and the warnings given, are those of the concrete run at the defaults."""
        scope = getattr(self.conditions, "scope", None)
        return scope is not None and scope.defaults_known

    def condition(self, kind: str, size, what: str, key: str | None = None) -> None:
        """Record, for symbolic sizes, that `size` must be ≥ 0 (kind 'size', 'exact') or 0 ('equal')
        for the figures to hold; `size` is a netcalc.formulas.Dual (plain numbers need nothing)."""
        if self.conditions is None:
            return
        from ..symbols import Condition

        loc = self.node.arg_loc(key) if key else self.node.loc
        if hasattr(size, "e"):
            self.conditions.append(Condition(kind, size.e, f"{self.node.name}: {what}", self.node.name, loc))
        elif not Condition(kind, None, what, "", loc).holds(size):  # fails at every size: no symbol helps
            import sympy

            self.conditions.append(
                Condition(kind, sympy.Integer(size), f"{self.node.name}: {what}", self.node.name, loc)
            )

    def same(self, sizes, what: str, key: str | None = "in") -> None:
        """Record that sizes found equal at the defaults must be equal at every size."""
        if self.conditions is None or not sizes:
            return
        first = sizes[0]
        for other in sizes[1:]:
            if hasattr(first, "e") or hasattr(other, "e"):
                self.condition("equal", first - other, what, key)

    def error(self, code: str, message: str, key: str | None = None, *notes: str) -> None:
        self.failed = True
        loc = self.node.arg_loc(key) if key else self.node.loc
        if self.at:
            notes = (*notes, f"with {self.at} (`netcalc sizes` tells which sizes work)")
        self.diags.error(code, f"{self.node.name}: {message}", loc, *notes, *self._frames(), layer=self.node.name)

    def warning(self, code: str, message: str, key: str | None = None, *notes: str) -> None:
        loc = self.node.arg_loc(key) if key else self.node.loc
        self.diags.warning(code, f"{self.node.name}: {message}", loc, *notes, *self._frames(), layer=self.node.name)

    def _frames(self) -> list[str]:
        """Where the block uses that made this node were defined and used, innermost first."""
        return [f.note() for f in reversed(self.node.frames)]

    def split(self, shape: tuple) -> tuple[int, tuple]:
        """(channels, spatial dims) of a shape in the spec's layout."""
        if self.channels_last:
            return shape[-1], tuple(shape[:-1])
        return shape[0], tuple(shape[1:])

    def join(self, channels: int, spatial: tuple) -> tuple:
        return (*spatial, channels) if self.channels_last else (channels, *spatial)

    def channel_axis(self, rank: int) -> int:
        return rank - 1 if self.channels_last else 0

    def need_rank(self, shape: tuple, rank: int, what: str) -> bool:
        if len(shape) != rank:
            layout = "channels-last" if self.channels_last else "channels-first"
            self.error(
                "E202",
                f"{self.node.op} takes {what} ({rank} axes without the batch, {layout}), "
                f"got an input of shape {fmt_shape(shape)} ({axes(len(shape))})",
            )
            return False
        return True


class LayerType:
    """Base class of every layer type. `params`, `macs` and `flops` have no default: a type defines
    them (or is declared `ParameterFree`, which gives no parameters and no MACs), and its required
    `counting` statement says what its MACs and FLOPs count. What the rest of netcalc needs to know
    about an op (lint rules, signal advice, the summary, the spec's shorthand) it reads from the
    traits below, never from the op's name; `TRAITS` lists them with their allowed values."""

    op: str = ""
    aliases: tuple = ()
    summary: str = ""
    args: dict[str, Arg] = {}
    # how many inputs the layer takes: 1, None for "two or more" (merges), or 0 for a source that reads
    # nothing (a free parameter: `in:` is refused, and its output, the same for every sample, is its own
    # tensor, held with the parameters rather than as an activation)
    arity: int | None = 1
    # further inputs `in:` may name after the `arity` ones (attention's keys and values: cross-attention)
    optional_inputs: int = 0
    # reads a sequence (steps, features) or token ids: a graph input it reads that has no written
    # layout takes the convention's sequence layout, features last (netcalc.layouts._layouts)
    reads_sequence: bool = False
    # the result does not depend on the layout (elementwise): what reads it decides the layout
    layout_free: bool = False
    # required, no default: what its MACs and FLOPs count, one short clause printed in every summary's
    # legend after the op's name ("MACs k·C_in/groups per output; FLOPs 2 per MAC + 1 per bias add")
    counting: str
    # how its parameters are counted, by counting convention, where a framework differs (BatchNorm's
    # statistics); said in the summary's params statement when the type is present
    counting_params: dict[str, str] = {}

    # traits, with their defaults (TRAITS below says what each means and which values it takes)
    parametric = False
    linear: str | None = None
    weighted = False
    recurrent = False
    activation = False
    takes_activation = False
    pass_through = False
    stochastic = False
    flattens = False
    squashes: str | None = None
    normalises: str | None = None
    joins: str | None = None
    suggested_init: tuple[str, str] | None = None
    growth_reason: str = ""
    keeps_order = False
    per_position = False
    # `tie: NAME`: the layer types whose tensor this one may take, by op, and how (a Tie); none by default
    ties: dict = {}
    averages = False

    def resolve(self, a: dict, shapes: list[tuple], ctx: Ctx) -> Geometry | None:
        """Check the arguments against the input shape; the default keeps the shape."""
        return Geometry(shape=shapes[0])

    def output_shape(self, g: Geometry) -> tuple:
        """Unchanged by default."""
        return g.shape

    def params(self, g: Geometry, ctx: Ctx) -> list[Tensor]:
        """One Tensor per weight (trainable or not) and buffer; every type defines its own."""
        raise NotImplementedError(f"{self.op}: no params() (define it, or declare the type ParameterFree)")

    def macs(self, g: Geometry) -> int:
        """Multiply-accumulates of weight products per sample, bias excluded; every type defines its own."""
        raise NotImplementedError(f"{self.op}: no macs() (define it, or declare the type ParameterFree)")

    def flops(self, g: Geometry) -> int:
        """FLOPs of one inference forward pass per sample, as `counting` states; every type defines its own."""
        raise NotImplementedError(f"{self.op}: no flops()")

    def receptive(self, g: Geometry, rf: list | None) -> list | None:
        """Unchanged by default (elementwise layers)."""
        return rf

    def padded_border(self, g: Geometry, border: tuple | None) -> tuple | None:
        """The rows at the output's border that hold no data of their own, (before, after) per spatial
        axis, given the input's (None: none): a padding's zeros, or its copies of rows inside. A window
        that leaves only these unread after the rows it reads loses nothing (W201). None by default;
        the paddings add their own."""
        return None

    def own_tensors(self, tensors: list[Tensor], node: Node) -> list[Tensor]:
        """The tensors as this node has them, after the memo (which gives one node's tensors to its
        identical repetitions): `params`' own by default; a free parameter names its tensor after
        the node."""
        return tensors

    def activation_products(self, g: Geometry) -> dict:
        """The part of `macs` that multiplies two activations rather than a weight and an activation
        (attention's QKᵀ and A·V), by name; listed apart in explain and the JSON. None by default."""
        return {}

    def reads(self, g: Geometry) -> list | None:
        """The input positions its output reads, per spatial axis (sorted indices), where they may be
        fewer than all (a window with a stride larger than itself); None by default: every position."""
        return None

    def extra_outputs(self, g: Geometry) -> dict:
        """Outputs besides the main one, by suffix (an LSTM's final states 'h', 'c'): none by default."""
        return {}

    def state_names(self, a: dict, keras: bool) -> list[str]:
        """The suffixes `extra_outputs` will have, known from the arguments alone (for `in:` checks)."""
        return []

    def index_spaces(self, g: Geometry) -> dict:
        """For an extra output that holds positions, by suffix: the shape of the tensor they index (a
        max pool's `indices`, flat positions in each channel of its input: the input's shape). A layer
        that reads such a tensor gets it as `Ctx.input_spaces`. None by default."""
        return {}

    def several_inputs(self, written: tuple) -> str:
        """E115's advice for a one-input layer given several names in `in:` (as written)."""
        return "merge them first with add, concat or multiply"

    def explain(self, g: Geometry, ctx: Ctx) -> list[str]:
        """Formulas with the numbers in them, for `netcalc explain`; the generic lines come from the caller."""
        return []

    def sig_forward(self, g: Geometry, ins: list, env) -> tuple:
        """Signal statistics of the output (netcalc.signal_rules.Sig) and the rule's tag: unchanged [E]
        by default (a layer that moves and scales nothing)."""
        return ins[0].like(ins[0].q, pre=ins[0].pre), "E"

    def sig_backward(self, g: Geometry, ins: list, out, r, env) -> tuple:
        """The gradient's second moment at each input (maps) and the tag: passed back unchanged [E]."""
        return [r], "E"

    def weight_shape(self, g: Geometry, tensors: list[Tensor]) -> str:
        """The first parameter tensor's shape (the kernel), as the summary shows it."""
        for t in tensors:
            if t.kind == "param":
                return fmt_shape(t.shape)
        return ""


class ParameterFree(LayerType):
    """A layer type declared to have no parameters and no weight products: no tensors, 0 MACs. Its
    FLOPs are still its own `flops`, and its `counting` statement says what they count."""

    def params(self, g: Geometry, ctx: Ctx) -> list[Tensor]:
        """None: declared parameter-free."""
        return []

    def macs(self, g: Geometry) -> int:
        """0: declared parameter-free, so no weight products."""
        return 0


# The traits of LayerType: name -> (allowed values, what it means). tests/test_layer_coverage.py checks
# every registered type's values against it.
TRAITS: dict[str, tuple[tuple, str]] = {
    "parametric": ((False, True), "has parameters: the summary shows its count, 0 included"),
    "linear": ((None, "dense", "conv"), "a linear map of its input by weights, fully connected on the last axis or a convolution (W401, W403, W404)"),
    "weighted": ((False, True), "a weighted layer, counted in the network's depth (B504)"),
    "recurrent": ((False, True), "runs over time steps: defines macs_per_step and flops_per_step"),
    "activation": ((False, True), "an elementwise nonlinearity (or identity) that `activation:` may name"),
    "takes_activation": ((False, True), "takes the `activation:` shorthand (an activation node after it)"),
    "pass_through": ((False, True), "keeps a linear map linear: only moves, pads or passes values (W403)"),
    "stochastic": ((False, True), "random in training, the identity at inference (dropout): W402; W404 looks through it"),
    "flattens": ((False, True), "turns every axis into one (W404: a dense after a flattened map)"),
    "squashes": ((None, "softmax", "sigmoid"), "its output is probabilities: along an axis, or per element (W405)"),
    "normalises": ((None, "batch", "feature", "group"), "normalises per channel over the batch, per position over its features, or per group (W401, W402, the signal advice)"),
    "joins": ((None, "sum", "product", "concat"), "a merge: a sum of branches (a residual add), a product (a gate), a concatenation"),
    "ties": ((dict,), "`tie: NAME`: the layer types whose tensor it may take, op -> Tie (which of its tensors is which of theirs, transposed where)"),
    "suggested_init": ((None, tuple), "(Keras, PyTorch) initialiser of a weighted layer it feeds (W301/W302 advice): an activation's, or an elementwise layer's with parameters (prelu)"),
    "growth_reason": (("", str), "why the signal's second moment grows or shrinks here (W301/W302 advice)"),
    "averages": ((False, True), "its outputs are averages of input positions (average pools): its backward shares each output's gradient among the m positions it averages, dividing the gradient's norm by m by construction, which the backward growth (W302) does not count: it takes the layer at its forward gain, what the weight gradients before and after it see (signal)"),
    "keeps_order": ((False, True), "an increasing map per channel at initialisation (batchnorm, identity): a window's maximum stays where it was, so a max pool's gradient still lands where the layer before it took its maximum (signal)"),
    "optional_inputs": ((0, 1), "further inputs `in:` may name after the first (attention's keys and values: cross-attention)"),
    "per_position": ((False, True), "each output position reads the input at that position only (elementwise, dropout, a dense on the feature axis, layernorm over the features): a sequence's gradient keeps its correlation between steps through it (signal: Info.rcorr)"),
    "reads_sequence": ((False, True), "reads a sequence (steps, features) or token ids: a graph input it reads with no written layout takes the convention's sequence layout"),
    "layout_free": ((False, True), "elementwise, whatever the layout: what reads its output decides an unwritten input layout"),
}  # fmt: skip


def axes(n: int) -> str:
    return "1 axis" if n == 1 else f"{n} axes"


def fmt_shape(shape) -> str:
    """3×224×224; a symbolic size that is a sum is bracketed: 8×(⌊H/2⌋ + 1)×W."""
    return "×".join(_dim(d) for d in shape) if shape else "scalar"


def _dim(d) -> str:
    """A size as text, bracketed when it is a sum at the top level (inside no ⌊⌋, ⌈⌉ or ())."""
    text = str(d)
    depth = 0
    for ch in text:
        if ch in "(⌊⌈":
            depth += 1
        elif ch in ")⌋⌉":
            depth -= 1
        elif ch == " " and depth == 0:
            return f"({text})"
    return text


def elements(shape) -> int:
    return prod(shape)
