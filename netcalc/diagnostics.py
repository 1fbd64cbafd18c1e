"""Findings about a spec: where they are, how bad they are, and how they print.

Every finding carries a source location (1-based line and column, as editors count) and,
once blocks exist, the chain of block uses that led to it. They print compiler style:

    alexnet.yaml:14:9: error E201: conv2d output height ... = 0 is below 1
"""

from __future__ import annotations

from typing import NamedTuple


class Loc(NamedTuple):
    """A place in a spec file: 1-based line and column (0 where the whole file is meant)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class Diagnostic:
    """One finding: severity ('error' | 'warning' | 'note'), code, message, location, notes; `advice`
    (the signal's W301/W302: what would change the finding, as data a program can apply) or None."""

    __slots__ = ("advice", "code", "layer", "loc", "message", "notes", "severity")

    def __init__(
        self, severity: str, code: str, message: str, loc: Loc, notes: list | None = None, layer: str | None = None
    ) -> None:
        self.severity = severity
        self.code = code
        self.message = message
        self.loc = loc
        self.notes = notes or []
        self.advice = None
        self.layer = layer

    def __repr__(self) -> str:
        return f"Diagnostic({self.format()!r})"

    def format(self) -> str:
        head = f"{self.loc}: {self.severity} {self.code}: {self.message}"
        return "\n".join([head, *(f"  {n}" for n in self.notes)])

    def to_json(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.loc.file,
            "line": self.loc.line,
            "col": self.loc.col,
            "layer": self.layer,
            "notes": list(self.notes),
            **({"advice": self.advice} if self.advice is not None else {}),
        }


class Diagnostics:
    """Collects every finding of a run, so that all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set = set()

    def add(self, d: Diagnostic) -> None:
        """Record a finding once: a default applied to many layers reports its error once."""
        key = (d.severity, d.code, d.message, d.loc)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(d)

    def error(self, code: str, message: str, loc: Loc, *notes: str, layer: str | None = None) -> None:
        self.add(Diagnostic("error", code, message, loc, list(notes), layer))

    def warning(
        self, code: str, message: str, loc: Loc, *notes: str, layer: str | None = None, advice: list | None = None
    ) -> None:
        d = Diagnostic("warning", code, message, loc, list(notes), layer)
        d.advice = advice
        self.add(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.loc.file, d.loc.line, d.loc.col))


def clip(text: str, limit: int = 60) -> str:
    """A value as a message shows it, on one line: control characters escaped (a newline as \\n),
    a long value cut short, saying how long it was."""
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else f"{text[: limit - 20]}… ({len(text):,} characters)"


def did_you_mean(word: str, choices, ties: bool = False) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close. With `ties`, choices
    equally close are all named, in the order given (at most three): an unknown layer type 'maxpool' is
    as close to maxpool1d, maxpool2d and maxpool3d, and picking one of them would be arbitrary."""
    if len(str(word)) > 100:  # nothing is close to a long text, and comparing it would be slow
        return ""
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if not close or not ties:
        return f" (did you mean '{close[0]}'?)" if close else ""
    matcher = difflib.SequenceMatcher(b=str(word))

    def score(choice: str) -> float:
        matcher.set_seq1(choice)
        return matcher.ratio()

    best = score(close[0])
    tied = [c for c in dict.fromkeys(choices) if score(c) == best][:3]
    if len(tied) < 2:
        return f" (did you mean '{close[0]}'?)"
    named = ", ".join(f"'{c}'" for c in tied[:-1])
    return f" (did you mean {named} or '{tied[-1]}'?)"


def quote(value) -> str:
    """A received value as it appears in a message."""
    if isinstance(value, str):
        return repr(value) if value else "'' (an empty string)"
    return str(value)
