"""The size arithmetic of a window sliding over one spatial axis, which convolutions and pools share:
the output size (floor or ceiling), its formula with the numbers in it, the errors (E201) and warnings
(W201) it gives, what symbolic sizes need of it (`netcalc sizes`), and the receptive field's growth."""

from __future__ import annotations

from .base import AXIS_NAMES, Ctx


def formula(n: int, k: int, s: int, pb: int, pa: int, d: int) -> str:
    """The size formula with the numbers in it, as a user would write it on paper."""
    pad = f"2·{pb}" if pb == pa else f"{pb} + {pa}"
    span = f"{d}·({k} − 1) − 1" if d != 1 else f"{k}"
    return f"({n} + {pad} − {span})/{s} + 1"


def window_out(
    n: int,
    k: int,
    s: int,
    pb: int,
    pa: int,
    d: int,
    ceil_mode: bool,
    ctx: Ctx,
    axis: str,
    key: str,
    padded: tuple = (0, 0),
) -> int | None:
    """Output size of a sliding window on one axis: floor((n + pb + pa − d(k − 1) − 1)/s) + 1.

    With ceil_mode the ceiling is taken, and (as PyTorch does) a last window that would start in
    the right padding is dropped; a window may then run past the end of the padded input, so a
    window longer than it still gives 1 as long as the ceiling is at least 1 (PyTorch:
    MaxPool2d(3, 2, ceil_mode=True) on a 2×2 map gives 1×1). A size below 1 is an error E201; a
    floor that leaves input rows or columns that hold data unread is a warning W201 with the formula
    and the count: not when only padding is left, the window's own or the `padded` (before, after)
    rows a padding layer just before added (Ctx.padded_border: zeros, or copies of rows that are read).
    """
    span = d * (k - 1) + 1
    num = n + pb + pa - span
    text = formula(n, k, s, pb, pa, d)
    if ctx.conditions is not None:
        _window_conditions(ctx, num, s, pa + padded[1], ceil_mode, axis, key)
    if ceil_mode:
        out = -(-num // s) + 1
        if out < 1:
            ctx.error(
                "E201",
                f"output {axis} {text} = {exact(num, s, 1)} is below 1 even rounded up (ceil_mode): "
                f"the window spans {span}, more than the padded input of {n + pb + pa}",
                key,
            )
            return None
        if hasattr(out, "e"):  # symbolic: the same rule for every size, min(⌈num/s⌉ + 1, ⌈(n + pb)/s⌉)
            from ..formulas import smin

            return smin(out, -(-(n + pb) // s))
        if (out - 1) * s >= n + pb:
            out -= 1
        return out
    if num < 0:
        ctx.error(
            "E201",
            f"output {axis} {text} = {exact(num, s, 1)} is below 1: the window spans {span}, "
            f"more than the padded input of {n + pb + pa}",
            key,
        )
        return None
    out = num // s + 1
    # a symbolic remainder is a condition (netcalc sizes: _window_conditions above); at the defaults it is
    # also the concrete run's warning, for which its value is enough (a symbolic Mod of the nested floors
    # of 800 strided layers took sympy 10 s, and nothing read it)
    symbolic = hasattr(num, "e")
    if symbolic:  # only then: formulas imports sympy, which a concrete summary never loads
        from ..formulas import value
    else:
        value = _same
    unread = value(num) % s - pa - padded[1]
    if unread > 0 and (not symbolic or ctx.at_defaults):
        nv, numv, outv, lostv = value(n), value(num), value(out), value(unread)  # the concrete run's numbers
        notes = (f"with {ctx.at} (`netcalc sizes` tells which sizes divide exactly)",) if symbolic else ()
        ctx.warning(
            "W201",
            f"output {axis} {formula(nv, k, s, pb, pa, d)} = {exact(numv, s, 1)} is not an integer; it is floored "
            f"to {outv}, " + _unread_text(nv, k, s, d, value(pb), outv, lostv, padded, axis, ctx.node.inputs[:1]),
            key,
            *notes,
        )
    return out


def _same(x):
    """A concrete size is its own value (formulas.value without importing formulas)."""
    return x


PLURAL = {"slice": "slices", "row": "rows", "column": "columns", "row/column": "rows/columns", "position": "positions"}


def _unread_text(n: int, k: int, s: int, d: int, pb: int, out: int, lost: int, padded: tuple, axis: str, src) -> str:
    """What W201 says is never read: the last `lost` input positions that are not padding, of n (the
    last padded[1] being the padding of the layer `src` names); and where the windows also skip
    positions between them (a stride larger than the window, or dilated taps the stride keeps
    missing), all the positions that are not padding never read, the last ones among them."""
    rows = {"depth": "slice", "height": "row", "width": "column", "height and width": "row/column"}
    what = rows.get(axis, "position")
    zb, za = padded
    data = n - zb - za
    zs = what if za == 1 else PLURAL[what]
    pad = f" (after {'it' if lost == 1 else 'them'}, the {za} {zs} of padding {src[0]} added)" if za else ""
    held = " that is not padding" if za else ""
    gaps = [x for x in never_read(n, k, s, d, pb, out) if zb <= x < n - za] if n * k <= 10**7 else []
    if not gaps:
        if lost == 1:
            return f"so the last input {what} of {n}{held} is never read{pad}"
        return f"so the last {lost} input {PLURAL[what]} of {n}{held.replace(' is ', ' are ')} are never read{pad}"
    span = d * (k - 1) + 1
    why = (f"the stride {s} is larger than the window ({span}), so the windows skip {PLURAL[what]} between them"
           if s > span else f"the {k} taps {d} apart (dilation {d}) and the stride {s} never land on some {PLURAL[what]}")  # fmt: skip
    missed = [*gaps, *range(n - za - lost, n - za)]
    shown = (
        ", ".join(map(str, missed)) if len(missed) <= 5 else f"{missed[0]}, {missed[1]}, {missed[2]}, …, {missed[-1]}"
    )
    of = f"the {data} input {PLURAL[what]} that are not padding" if za or zb else f"the {n} input {PLURAL[what]}"
    last = f"the last {what}" if lost == 1 else f"the last {lost} {PLURAL[what]}"
    return f"and {why}: {len(missed)} of {of} are never read ({shown}; {last} among them)"


def read_positions(n: int, k: int, s: int, d: int, pb: int, out: int) -> list[int] | None:
    """The input positions 0…n−1 that some window reads (window o reads o·s − pb + j·d for j < k), or
    None when the sizes are symbolic or too many to list."""
    if not all(isinstance(v, int) for v in (n, k, s, d, pb, out)) or n * k > 10**7:
        return None
    return sorted({x for o in range(out) for j in range(k) if 0 <= (x := o * s - pb + j * d) < n})


def never_read(n: int, k: int, s: int, d: int, pb: int, out: int) -> list[int]:
    """The input positions 0…n−1 that no window reads, before the end of the last window (those
    after it are W201's tail): window o reads o·s − pb + j·d for j < k. Exact, by listing the taps
    (a network's sizes are small enough to list)."""
    end = min(n, (out - 1) * s - pb + d * (k - 1) + 1)
    read = bytearray(max(end, 0))
    for o in range(out):
        for j in range(k):
            x = o * s - pb + j * d
            if 0 <= x < end:
                read[x] = 1
    return [x for x in range(max(end, 0)) if not read[x]]


def _window_conditions(ctx: Ctx, num, s: int, pa: int, ceil_mode: bool, axis: str, key: str) -> None:
    """What a symbolic window size needs: an output of at least 1, and (floor mode, stride > 1) no
    input row or column left unread — the remainder of the division at most the padding after."""
    if ceil_mode:
        ctx.condition("size", num + s - 1, f"output {axis} at least 1", key)
        return
    ctx.condition("size", num, f"output {axis} at least 1", key)
    if s > 1:
        ctx.condition("exact", pa - num % s, f"{axis} divided exactly by the stride {s}", key)


def window_outs(ns, ks, ss, ds, pads, ceil_mode: bool, ctx: Ctx, key: str) -> tuple | None:
    """`window_out` on every spatial axis (with the rows of padding a padding layer just before added,
    `ctx.padded_border`); axes with the same numbers report one finding for all."""
    names = AXIS_NAMES[len(ns)]
    border = (
        ctx.padded_border
        if ctx.padded_border is not None and len(ctx.padded_border) == len(ns)
        else ((0, 0),) * len(ns)
    )
    groups: dict = {}
    for i, params in enumerate(zip(ns, ks, ss, pads, ds, border, strict=True)):
        groups.setdefault(params, []).append(i)
    outs: list = [None] * len(ns)
    for (n, k, s, (pb, pa), d, padded), axes in groups.items():
        named = [names[i] for i in axes]
        axis = " and ".join(named) if len(named) < 3 else f"{', '.join(named[:-1])} and {named[-1]}"
        out = window_out(n, k, s, pb, pa, d, ceil_mode, ctx, axis, key, padded)
        for i in axes:
            outs[i] = out
    return None if None in outs else tuple(outs)


def rf_window(rf: list | None, ks: tuple, ss: tuple, ds: tuple) -> list | None:
    """Receptive field r and jump j per axis through a window: r += d(k − 1)·j, j *= s."""
    if rf is None:
        return None
    return [(r + d * (k - 1) * j, j * s) for (r, j), k, s, d in zip(rf, ks, ss, ds, strict=True)]


def exact(num: int, den: int, plus: int = 0) -> str:
    """num/den + plus as a user writes it: 14.5, 6.333, 12."""
    if num % den == 0:
        return str(num // den + plus)
    return f"{num / den + plus:.4g}"
