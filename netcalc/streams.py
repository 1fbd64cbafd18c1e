"""stdout and stderr that can be written whatever the terminal's encoding.

netcalc writes ×, ·, ≤, → and a few more characters outside ASCII. Where the output's encoding
cannot hold them (PYTHONIOENCODING=ascii, a Latin-1 or other 8-bit locale: Python keeps UTF-8 for
the plain C locale), each is written as its ASCII spelling (`×` → `x`, `≤` → `<=`, `…` → `...`) and
a table's box-drawing border as `-`, `|` and `+`, and any other as `?`, instead of the run ending
in an encoding error.
"""

from __future__ import annotations

import codecs
import sys

ERRORS = "netcalc-ascii"
SPELLING = {
    "×": "x", "·": ".", "−": "-", "–": "-", "—": "-", "≤": "<=", "≥": ">=", "≠": "!=", "≈": "~",
    "→": "->", "←": "<-", "⇔": "<=>", "…": "...", "∈": " in ", "∉": " not in ", "≡": "==", "±": "+/-",
    "√": "sqrt", "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "‘": "'", "’": "'", "“": '"', "”": '"',
    "²": "^2", "³": "^3", "¹": "^1", "⁰": "^0", "⁴": "^4", "⁵": "^5", "⁶": "^6", "⁷": "^7", "⁸": "^8", "⁹": "^9",
    "ⁿ": "^n", "∞": "inf", "σ": "sigma", "μ": "mu", "Σ": "sum ", "✓": "ok", "✗": "x", "█": "#", "░": ".",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip


def _spell(err: UnicodeError):
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = err.object[err.start : err.end]
    return "".join(SPELLING.get(ch) or _border(ch) for ch in text), err.end


def _border(ch: str) -> str:
    """A box-drawing character (U+2500–U+257F) as its ASCII line; `?` for anything else."""
    if not "\u2500" <= ch <= "\u257f":
        return "?"
    import unicodedata

    name = unicodedata.name(ch, "")
    across, down = "HORIZONTAL" in name, "VERTICAL" in name
    return "-" if across and not down else "|" if down and not across else "+"


def fit_streams() -> None:
    """Make stdout and stderr write what their encoding cannot hold as ASCII (see the module)."""
    codecs.register_error(ERRORS, _spell)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            continue
        if name not in ("utf-8", "utf-16", "utf-32"):
            stream.reconfigure(errors=ERRORS)
