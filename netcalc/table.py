"""Tables drawn by netcalc: ANSI styling, the terminal's width, the narrowing plans (`Drop`/`Wrap`
steps for `fit_columns`) and cell wrapping, the boxed table (summary, diff) and the space-aligned
one (signal, verify, sizes)."""

from __future__ import annotations

import bisect
import os


class Style:
    """ANSI styling for a terminal; nothing when the output is a file or a pipe, or NO_COLOR is set."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self(text, "1")

    def dim(self, text: str) -> str:
        return self(text, "2")

    def warn(self, text: str) -> str:
        return self(text, "33")


def terminal_width(stream) -> int | None:
    """The width tables are fitted to: COLUMNS when it is set to a positive number, else the
    terminal's width when the stream is a terminal; None for a file or a pipe without COLUMNS
    (the tables keep their natural width)."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 6 and int(text) > 0:
        return int(text)
    try:
        return (os.get_terminal_size(stream.fileno()).columns or None) if stream.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None


class Drop(tuple):
    """A step of a table's narrowing plan (fit_columns): leave these columns out."""

    def __new__(cls, *cols: int):
        return super().__new__(cls, cols)


class Wrap(tuple):
    """A step of a table's narrowing plan: from here on the headers wrap at their spaces, and the
    cells of these columns at their break characters, to no fewer than `least` characters."""

    least: int

    def __new__(cls, *cols: int, least: int = 0):
        self = super().__new__(cls, cols)
        self.least = least
        return self


HEAD_BREAKS = " ,(="  # a header wraps after a space, a comma, an opening bracket or an =
NAME_BREAKS = "._/-"  # a layer name after the dot of a block scope, an underscore, a slash


def _pieces(text: str, breaks: str) -> list[str]:
    """The text cut after each of the break characters, except between a dot or an underscore and
    a number (`stage2.1.`, `conv2d_1` stay whole) and after a + or − (a line starts with it)."""
    out: list[str] = []
    start = 0
    for end in [i + 1 for i, ch in enumerate(text) if ch in breaks] + [len(text)]:
        piece = text[start:end]
        start = end
        number = (piece[:-1] if piece[-1:] in breaks else piece).isdigit()
        if out and ((out[-1][-1] in "._" and number) or out[-1].strip() in ("+", "−")):
            out[-1] += piece
        elif piece:
            out.append(piece)
    return out


def _indent(text: str) -> int:
    """How far a wrapped cell's continuation lines are indented: under the text after its leading
    spaces and tree marker (`  └ relu`, `  · forward/kernel`)."""
    body = text.lstrip(" ")
    n = len(text) - len(body)
    return n + 2 if body[:2] in ("└ ", "· ") else n


def _narrowest(text: str, breaks: str) -> int:
    """The narrowest a cell can be wrapped to: its indent and its longest piece."""
    if not breaks:
        return len(text)
    n = _indent(text)
    return n + max((len(p.rstrip()) for p in _pieces(text[n:], breaks)), default=0)


def wrap_cell(text: str, width: int, breaks: str) -> list[str]:
    """A cell's lines in a column `width` wide: cut only after its break characters (a piece longer
    than the width keeps its line, wider), continuation lines indented as the first line's text."""
    if len(text) <= width or not breaks:
        return [text]
    n = _indent(text)
    lines, line, filled = [], text[:n], False
    for piece in _pieces(text[n:], breaks):
        if filled and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line, piece = " " * n, piece.lstrip(" ")
        line += piece
        filled = True
    lines.append(line.rstrip())
    return lines


def fit_columns(headers, rows, width: int, plan, breaks: dict, sep: int, edge: int, natural: list[int]):
    """The columns to show (indices) and each column's width (indexed as the headers) for a table
    at most `width` characters wide, with `sep` characters between columns and `edge` at its
    sides: the steps of the plan are taken in order until the table fits. Drop steps leave columns
    out; once a Wrap step is reached, headers wrap at their spaces (HEAD_BREAKS), then the cells of
    the columns it names at their break characters (`breaks`, column → characters), a character
    at a time from the column where that makes the fewest cells wrap, until the table fits or each
    is as narrow as its longest piece or the step's `least`. Numbers are never cut. When the plan runs out, the narrowest table it allows."""
    cols = list(range(len(headers)))
    cell = [max((len(r[i]) for r in rows), default=0) for i in cols]
    head = [max((len(p.rstrip()) for p in _pieces(h, HEAD_BREAKS)), default=0) for h in headers]
    narrowest: dict[int, int] = {}
    lengths: dict[int, list[int]] = {}
    wrapping: dict[int, int] | None = None  # column → the least width its step allows, from a Wrap step on
    widths = list(natural)
    if sum(widths) + sep * (len(cols) - 1) + edge <= width:
        return cols, widths
    for step in plan:
        if isinstance(step, Wrap):
            wrapping = {**(wrapping or {}), **dict.fromkeys(step, step.least)}
        else:
            cols = [c for c in cols if c not in step]
        widths = list(natural)
        excess = sum(widths[i] for i in cols) + sep * (len(cols) - 1) + edge - width
        if wrapping is not None:
            for i in cols:  # headers first: they cost only a line
                cut = min(widths[i] - max(cell[i], head[i]), excess)
                if cut > 0:
                    widths[i] -= cut
                    excess -= cut
            floors = {}
            for i, least in wrapping.items():
                if i in cols and excess > 0:
                    if i not in narrowest:
                        narrowest[i] = max((_narrowest(r[i], breaks[i]) for r in rows), default=0)
                        lengths[i] = sorted(len(r[i]) for r in rows)
                    floors[i] = max(narrowest[i], head[i], least)
            while excess > 0:  # a character at a time from the column where the fewest cells then wrap
                free = [i for i in floors if widths[i] > floors[i]]
                if not free:
                    break
                i = min(
                    free, key=lambda i: (len(lengths[i]) - bisect.bisect_right(lengths[i], widths[i] - 1), -widths[i])
                )
                widths[i] -= 1
                excess -= 1
        if excess <= 0:
            break
    return cols, widths


def _lines(cells, cols, widths, breaks) -> list[list[str]]:
    """One row's cells (of the columns kept) as lines: each cell wrapped to its column's width."""
    parts = [wrap_cell(cells[i], widths[i], breaks.get(i, "")) for i in cols]
    height = max(map(len, parts))
    if height == 1:
        return [[p[0] for p in parts]]
    return [[p[k] if k < len(p) else "" for p in parts] for k in range(height)]


def box_table(
    headers: list[str],
    rows: list[tuple[list[str], bool]],
    right: tuple,
    style: Style,
    width: int | None = None,
    plan=(),
    breaks: dict | None = None,
) -> list[str]:
    """A table drawn with box characters, header set off in heavy lines; rows marked True are dimmed.
    With a `width`, a table wider than that is narrowed by its `plan` (fit_columns).

    netcalc draws it itself: rich's Table measures every cell (about 1 ms a row here), which would
    take a ResNet-50's summary past the start-up budget.
    """
    widths = [len(h) for h in headers]
    for cells_, _ in rows:
        for i, c in enumerate(cells_):
            widths[i] = max(widths[i], len(c))
    cols = list(range(len(headers)))
    breaks = breaks or {}
    fitted = width is not None and sum(widths) + 3 * len(widths) + 1 > width
    if fitted:
        cols, widths = fit_columns(headers, [c for c, _ in rows], width, plan, breaks, 3, 4, widths)
    ws = [widths[i] for i in cols]
    aligned = [headers[i] in right for i in cols]

    def line(cells_: list[str]) -> str:
        return " │ ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells_, ws, aligned, strict=True))

    out = ["┏━" + "━┳━".join("━" * w for w in ws) + "━┓"]
    for head in _lines(headers, cols, widths, dict.fromkeys(cols, HEAD_BREAKS)):
        heads = (style.bold(h.rjust(w) if r else h.ljust(w)) for h, w, r in zip(head, ws, aligned, strict=True))
        out.append("┃ " + " ┃ ".join(heads) + " ┃")
    out.append("┡━" + "━╇━".join("━" * w for w in ws) + "━┩")
    for cells_, dim in rows:
        for part in _lines(cells_, cols, widths, breaks) if fitted else (cells_,):
            text = line(part)
            out.append("│ " + (style.dim(text) if dim else text) + " │")
    out.append("└─" + "─┴─".join("─" * w for w in ws) + "─┘")
    return out


class PlainTable:
    """A space-aligned table laid out by lay_out_plain: the header's lines, the rule under it, each
    body row's lines, and the columns kept (indices into the header)."""

    __slots__ = ("cols", "head", "rows", "rule")

    def __init__(self, head: list[str], rule: str, rows: list[list[str]], cols: list[int]) -> None:
        self.head, self.rule, self.rows, self.cols = head, rule, rows, cols


def lay_out_plain(
    header: list[str], body: list[list[str]], right: set, width: int | None = None, plan=(), breaks=None
) -> PlainTable:
    """A space-aligned table without borders (signal, verify), the columns in `right` right-aligned;
    with a `width`, a table wider than that is narrowed by its `plan` (fit_columns)."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    cols = list(range(len(header)))
    breaks = breaks or {}
    if width is not None and sum(widths) + 2 * (len(widths) - 1) > width:
        cols, widths = fit_columns(header, body, width, plan, breaks, 2, 0, widths)

    def lines(cells, brk) -> list[str]:
        return [
            "  ".join(
                c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for c, i in zip(part, cols, strict=True)
            ).rstrip()
            for part in _lines(cells, cols, widths, brk)
        ]

    wide = sum(widths[i] for i in cols) + 2 * (len(cols) - 1)  # the rule: 2 more, within the width or the table
    rule = "─" * min(wide + 2, 160, 160 if width is None else max(width, wide))
    return PlainTable(lines(header, dict.fromkeys(cols, HEAD_BREAKS)), rule, [lines(r, breaks) for r in body], cols)


def plain_table(header: list[str], body: list[list[str]], right: set) -> tuple[str, str, list[str]]:
    """A space-aligned table at its natural width: the header line, a rule under it, and the body
    lines; the columns in `right` are right-aligned."""
    t = lay_out_plain(header, body, right)
    return t.head[0], t.rule, [r[0] for r in t.rows]
