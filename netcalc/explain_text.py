"""`netcalc explain`'s sentences about structure: a block use (a stage of a ResNet, one residual
block), and for one layer, where its channels were made, the stages that follow it and the kind of
residual block it is part of. The facts come from structure.py (and the analysis); this module words
them and does no arithmetic."""

from __future__ import annotations

from fractions import Fraction

from . import structure as st
from .analyze import Analysis, Row
from .layers.base import fmt_shape

FACTOR_WORDS = {Fraction(2): "double", Fraction(1, 2): "halve", Fraction(4): "quadruple", Fraction(1, 4): "quarter"}


def _changes_by(factor: Fraction, before, after) -> str:
    word = FACTOR_WORDS.get(factor)
    if factor == 1:
        return f"stay {before}"
    return f"{word} ({before} → {after})" if word else f"go {before} → {after} (× {factor})"


def _names(rows: list[Row]) -> str:
    names = [r.node.name for r in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _labels(labels: list[str]) -> str:
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{labels[0]} … {labels[-1]}"


def _positions(values: list[int]) -> str:
    """0, 2, 4, …, 54 (the first three and the last) or all of them when few."""
    return ", ".join(map(str, values)) if len(values) <= 4 else ", ".join(map(str, values[:3])) + f", …, {values[-1]}"


def _one_in(part: int, whole: int) -> str:
    share = Fraction(part, whole)
    return f" (1 in {share.denominator})" if share.numerator == 1 and share.denominator > 1 else ""


def stages_line(a: Analysis, label: str, here: str) -> list[str]:
    """The stages beside `label` (its siblings): where the channels entering the first come from, each
    stage's output, and why the channels are the filters, one number per stage."""
    sibs = st.siblings(a, label)
    if a.groups[label].depth != 1 or len(sibs) < 2 or any(g.out_shape is None or len(g.out_shape) < 2 for g in sibs):
        return []
    got = st.group_input(a, sibs[0].label)
    origin = st.channel_origin(a, got[0]) if got else None
    start = ""
    if origin is not None and origin.maker is not None and origin.maker.ltype.linear == "conv":
        start = f"{origin.maker.node.name} makes {origin.c} channels (its {origin.c} filters) → "
    chain = " → ".join(f"{g.label} {fmt_shape(g.out_shape)}" for g in sibs)
    widths = [st.Shape(g.out_shape, a.graph.channels_last).c for g in sibs]
    labels = [g.label for g in sibs]
    mine = "" if here == "" else f"; {here} is {widths[labels.index(here)]} wide"
    return [
        f"the stages: {start}{chain}",
        "a convolution makes one output channel per filter, so each stage's output has as many channels as its "
        f"last convolution has filters: the widths {{{', '.join(map(str, widths))}}}, one number per stage, not "
        f"the channels of one layer{mine}",
    ]


def next_stage_line(a: Analysis, label: str) -> list[str]:
    """Where the stage after `label` (its next sibling at the top) moves to a new width and map."""
    if a.groups[label].depth != 1:
        return []
    labels = [g.label for g in st.siblings(a, label)]
    if labels.index(label) + 1 >= len(labels):
        return []
    nxt = labels[labels.index(label) + 1]
    moves = st.changes(a, st.members(a, nxt))
    return [f"the next stage, {nxt}, starts where {_change_text(moves[0])}"] if moves else []


def _change_text(ch: st.Change) -> str:
    side = (
        f" while the map's sides {_changes_by(ch.side_factor, fmt_shape(ch.x.map), fmt_shape(ch.y.map))}"
        if ch.side_factor is not None
        else f" while the map goes {fmt_shape(ch.x.map)} → {fmt_shape(ch.y.map)}"
    )
    return (
        f"{ch.row.node.name} ({ch.y.c} filters) turns {fmt_shape(ch.x.shape)} into {fmt_shape(ch.y.shape)}: the "
        f"channels {_changes_by(ch.c_factor, ch.x.c, ch.y.c)}{side}"
    )


def _residual_lines(a: Analysis, label: str) -> list[str]:
    """The kind of each residual block under `label`, consecutive blocks of one kind together."""
    runs: list[tuple[str, list, st.Residual]] = []
    for leaf in st.leaves(a, label):
        res = st.residual(a, leaf.label)
        if res is None:
            continue
        if runs and runs[-1][0] == res.kind and res.kind == "identity":
            runs[-1][1].append(leaf.label)
        else:
            runs.append((res.kind, [leaf.label], res))
    lines = []
    for kind, labels, res in runs:
        what = _labels(labels)
        if kind == "identity":
            plural = "identity blocks" if len(labels) > 1 else "an identity block"
            lines.append(
                f"{what}: {plural}: the input is added unchanged to the main path ({fmt_shape(res.y.shape)} in and out)"
            )
        elif kind == "convolutional":
            weights = sum(r.params for r in res.shortcut)
            lines.append(
                f"{what}: a convolutional block: its shortcut {_names(res.shortcut)} has weights ({weights:,} "
                f"parameters) that make the input's {fmt_shape(res.x.shape)} into "
                f"{fmt_shape(res.y.shape)}, the main path's shape, so that the two can be added"
            )
        else:
            lines.append(
                f"{what}: its shortcut {_names(res.shortcut)} makes the input's {fmt_shape(res.x.shape)} into "
                f"{fmt_shape(res.y.shape)} without weights (strided subsampling and zero channels, He et al.'s "
                "option A): an identity shortcut with zero padding, not a convolutional block"
            )
    return lines


def _reading_lines(a: Analysis, label: str) -> list[str]:
    """For each block under `label` whose input some positions of are read by no layer, which."""
    lines = []
    for leaf in st.leaves(a, label):
        got = st.reading(a, leaf.label)
        if got is None:
            continue
        rows = [r for r, _, _ in got.by]
        if not got.unread:
            some = "; ".join(
                f"{r.node.name} reads {n:,} of its input's {got.positions:,} positions{_one_in(n, got.positions)}"
                for r, _, n in got.by
            )
            lines.append(
                f"{leaf.label}: {some}, but {_names(got.all)} {'reads' if len(got.all) == 1 else 'read'} all "
                f"{got.positions:,}: nothing is lost"
            )
            continue
        axes = {tuple(map(tuple, reads)) for _, reads, _ in got.by}
        where = ""
        if len(axes) == 1:
            reads = got.by[0][1]
            words = ("rows", "columns") if len(reads) == 2 else tuple(f"axis {i}" for i in range(len(reads)))
            where = " at " + " and ".join(f"{w} {_positions(v)}" for w, v in zip(words, reads, strict=True))
        part = _one_in(got.read, got.positions)
        both = "both read" if len(rows) == 2 else "read"
        lines.append(
            f"{leaf.label}: {_names(rows)} {both} its input{where}: {got.read:,} of the {got.positions:,} "
            f"positions{part}; the other {got.unread:,} are read by neither path, so what they hold is lost "
            "(a 3×3 window with stride 2 reads every position: torchvision's ResNet-50, 'v1.5', puts the stride "
            "there)"
        )
    return lines


def group_lines(a: Analysis, label: str) -> list[str]:
    """`netcalc explain` of a block use: what it reads and makes, the stages beside it, its
    convolutions' widths and where the map changes, its residual blocks' kinds and what they read."""
    g = a.groups[label]
    rows = st.members(a, label)
    graph = a.graph
    reps = st.repetitions(a, label)
    out = [f"{label} (block {g.block}) · {graph.file} line {g.line} · convention {graph.convention}"]
    got = st.group_input(a, label, rows)
    if got is not None and g.out_shape is not None:
        out.append(f"in: {got[0]} {fmt_shape(got[1])} → out: {fmt_shape(g.out_shape)}")
    out += stages_line(a, label, label)
    convs = st.convolutions(a, rows)
    if convs:
        per = f", {len(convs) // reps} in each" if reps and len(convs) % reps == 0 else ""
        uses = (
            f"{reps} uses of block {g.block.split(' × ')[0]} ({_labels([k.label for k in st.children(a, label)])}), "
            if reps
            else ""
        )
        filters = [st.Shape(r.out_shape, graph.channels_last).c for r in convs]
        if len(set(filters)) == 1:
            width = f"all have {filters[0]} filters, so each outputs {filters[0]} channels"
        else:
            width = f"their filters: {', '.join(map(str, dict.fromkeys(filters)))}; the last has {filters[-1]}, the output's channels"
        out.append(f"{label}: {uses}{len(convs)} convolution{'s' if len(convs) > 1 else ''}{per}: {width}")
    moves = st.changes(a, rows)
    for ch in moves:
        rest = ""
        others = [r for r in convs if r is not ch.row]
        if len(moves) == 1 and others and all(r.out_shape == others[0].out_shape == r.in_shapes[0] for r in others):
            keep = "the other one keeps" if len(others) == 1 else f"the other {len(others)} keep"
            rest = f"; {keep} {fmt_shape(others[0].out_shape)}"
        out.append(_change_text(ch) + rest)
    if convs and not moves and got is not None and g.out_shape is not None:
        x, y = st.Shape(got[1], graph.channels_last), st.Shape(g.out_shape, graph.channels_last)
        if x.shape == y.shape:
            out.append(f"none of them changes the map or the width: {x.c} channels on {fmt_shape(x.map)} in and out")
    out += _residual_lines(a, label)
    out += _reading_lines(a, label)
    out += next_stage_line(a, label)
    if reps and graph.convention == "pytorch":  # Keras numbers its blocks from 1 too (conv2_block1)
        first = st.children(a, label)[0].label
        out.append(f"repetitions are numbered from 1 here: {first} is {label}[0] in PyTorch code")
    out.append(
        f"parameters: {g.params:,} ({g.trainable:,} trainable) · MACs {g.macs:,} · FLOPs {g.flops:,} (per sample)"
    )
    return out


def row_lines(a: Analysis, row: Row) -> list[str]:
    """What the structure adds to one layer's explain: where its channels were made (a layer after a
    convolution), the stages its output feeds, the residual block whose shortcut or sum it is."""
    out = []
    node = row.node
    if not row.ltype.linear and row.out_shape is not None and len(row.out_shape) > 1:
        origin = st.channel_origin(a, node.name)
        maker = origin.maker if origin is not None else None
        if maker is not None and maker is not row and maker.ltype.linear == "conv":
            kept = [r.node.name for r in origin.keepers]
            out.append(
                f"its {origin.c} channels are the {origin.c} filters of {maker.node.name} (line "
                f"{maker.node.loc.line}); {', '.join(kept)} keep{'s' if len(kept) == 1 else ''} them"
            )
    first = next(
        (g for g in a.groups.values() if g.depth == 1 and (st.group_input(a, g.label) or ("",))[0] == node.name), None
    )
    if first is not None:
        out += stages_line(a, first.label, "")
    for label, _, _ in node.group[-1:]:
        res = st.residual(a, label)
        if res is not None and (row is res.join or row in res.shortcut):
            out += _residual_lines(a, label)
    return out
