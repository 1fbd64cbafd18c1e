"""The layouts of a spec's inputs: each input's layout settled from what reads it (a sequence for a
recurrent layer or an embedding, else the convention's image layout), what depends on it checked
(per-channel statistics, one family for all the inputs), and the note for a shape that looks written
in the other image layout."""

from __future__ import annotations

from .diagnostics import Diagnostics
from .graph import Graph, Node
from .layers import REGISTRY

# layout -> channels (features) last? ntf and tnf are sequences (time, features) with the batch
# first (Keras; PyTorch batch_first=True) or second (PyTorch's default, batch_first=False).
LAYOUTS = {"chw": False, "hwc": True, "channels_first": False, "channels_last": True, "ntf": True, "tnf": True}


# the layout of a sequence (steps, features) by convention, when the input does not say: PyTorch's
# nn.RNN/LSTM/GRU default batch_first=False (time first), Keras batch first. The batch is never
# part of a shape, so both read the sample as (steps, features): features last.
SEQUENCE_LAYOUT = {"pytorch": "tnf", "keras": "ntf"}


def _layouts(inputs: list, nodes: list[Node], convention: str, node, diags: Diagnostics) -> bool | None:
    """Settle each input's layout and check what depends on it; the graph's channels_last (None
    when the inputs cannot share one).

    An input without a written layout is a sequence when a layer that reads it takes sequences or
    token ids (a recurrent layer, an embedding: `LayerType.reads_sequence`): it gets the
    convention's sequence layout (SEQUENCE_LAYOUT), features last. Otherwise chw for PyTorch, hwc
    for Keras. A channels-first layout written on such an input of one or two axes (token ids, or
    (steps, features)) is an error: those layers read features last in both frameworks; an input of
    more axes is the recurrent layer's own rank error (E202)."""
    readers_of: dict = {}
    for n in nodes:
        for name in n.inputs:
            readers_of.setdefault(name, []).append(n)
    ok = True
    for inp, locs in inputs:
        reader = _sequence_reader(inp.name, readers_of)
        if not inp.layout:
            inp.layout = SEQUENCE_LAYOUT[convention] if reader else ("hwc" if convention == "keras" else "chw")
            inp.layout_default = True
        elif reader is not None and not LAYOUTS[inp.layout] and len(inp.shape) <= 2:  # else the layer's E202
            diags.error(
                "E105",
                f"input: layout '{inp.layout}' puts the channels first, but {reader.name} ({reader.op}) reads "
                f"'{inp.name}' as a sequence, whose features come last in both frameworks: write layout: "
                f"{SEQUENCE_LAYOUT[convention]} ({'time' if convention == 'pytorch' else 'batch'} first, as "
                f"{convention} does by default) or leave it out",
                locs["layout"],
            )
            ok = False
            continue
        _check_channels(inp.stats, inp.shape, LAYOUTS[inp.layout], locs, diags)
    families = {LAYOUTS[inp.layout] for inp, _ in inputs}
    if len(families) > 1:
        shown = ", ".join(f"'{inp.name}' {inp.layout}" for inp, _ in inputs)
        diags.error(
            "E105",
            f"the inputs mix channels-first and channels-last layouts ({shown}); give them one",
            node.loc,
            *(
                ("an input read by a recurrent layer or an embedding is a sequence, features last (ntf or tnf)",)
                if any(inp.layout in ("ntf", "tnf") for inp, _ in inputs)
                else ()
            ),
        )
        return None
    return families.pop() if ok else None


def layout_note(graph: Graph) -> str | None:
    """A note for an output size below 1 (E201) when an input's shape looks written in the other
    image layout: channels first with a last axis of 1 or 3 smaller than the others ([28, 28, 1]
    under chw), or channels last with such a first axis ([3, 32, 32] under hwc). None otherwise."""
    for inp in graph.inputs:
        shape, layout = inp.shape, inp.layout
        if len(shape) < 2 or layout in SEQUENCE_LAYOUT.values() or not all(isinstance(d, int) for d in shape):
            continue
        last = LAYOUTS[layout]
        channels, others = (shape[0], shape[1:]) if last else (shape[-1], shape[:-1])
        if channels in (1, 3) and channels < min(others):
            whose = "the input's" if len(graph.inputs) == 1 else f"input '{inp.name}':"
            default = f" ({graph.convention}'s default: no layout is written)" if inp.layout_default else ""
            looks, meant = ("channels-first", "chw") if last else ("channels-last", "hwc")
            return (
                f"{whose} layout is {layout}{default}; a shape [{', '.join(map(str, shape))}] looks {looks}: "
                f"did you mean layout: {meant}?"
            )
    return None


def _sequence_reader(name: str, readers_of: dict) -> Node | None:
    """The first layer that reads `name` as a sequence (`reads_sequence`), directly or after layers
    whose result does not depend on the layout (`layout_free`: dropout, activations); None if none."""
    todo, seen = [name], {name}
    while todo:
        for n in readers_of.get(todo.pop(0), ()):
            ltype = REGISTRY[n.op]
            if ltype.reads_sequence:
                return n
            if ltype.layout_free and n.name not in seen:
                seen.add(n.name)
                todo.append(n.name)
    return None


def _check_channels(stats: dict, shape: tuple, channels_last: bool, locs: dict, diags: Diagnostics) -> None:
    """Per-channel mean/std lists must have one entry per channel of the input."""
    channels = shape[-1] if channels_last else shape[0]
    for key in ("mean", "std"):
        value = stats.get(key)
        if isinstance(value, tuple) and len(value) not in (1, channels):
            diags.error(
                "E104",
                f"input: '{key}' has {len(value)} values, but the input has {channels} channels "
                f"(shape {list(shape)}); give one number or {channels}",
                locs[key],
            )
            stats.pop(key)
