"""Crash signatures that are known and being fixed (issue 13): the in-suite fuzz run passes while
they appear, and fails on any other signature. Empty this list as the fixes are merged.

Each entry: (what it is, an fnmatch pattern over the signature "Kind @ netcalc/file.py:function").
"""

from __future__ import annotations

from fnmatch import fnmatchcase

KNOWN_OPEN: list[tuple[str, str]] = [
    # issue 13, crash 1: a PyTorch-convention recurrent layer on a 2-D input without a layout
    ("recurrent layer without a layout (issue 13 #1)", "ValueError @ netcalc/layers/recurrent.py:sig_forward"),
    # issue 13, crash 2: Python's int-string limit (4,300 digits)
    ("--set with 5,000 digits (issue 13 #2)", "ValueError @ netcalc/symbols.py:parse_set"),
    ("--batch with 5,000 digits (issue 13 #2)", "ValueError @ netcalc/cli.py:_batch"),
    # issue 13, crash 3
    ("a path component over 255 characters (issue 13 #3)", "OSError @ netcalc/cli.py:_locate"),
    # issue 13, crash 4
    ("--sweep of 10⁹ points (issue 13 #4)", "MemoryError @ netcalc/sizes.py:parse_sweep"),
    # issue 13, crash 5
    ("verify --seed -1 (issue 13 #5)", "ValueError @ netcalc/executor/run.py:_env"),
    ("verify --save DIR (issue 13 #5)", "IsADirectoryError @ netcalc/cli.py:verify"),
    # issue 13, crash 6
    ("a named pipe as the spec (issue 13 #6)", "Blocked @ netcalc/yamlsrc.py:read_text"),
    # issue 13, unbounded expansion: nested blocks with repeats, while expanding and then analysing
    ("nested block expansion (issue 13)", "Timeout @ netcalc/spec.py:load"),
    ("nested block expansion (issue 13)", "MemoryError @ netcalc/spec.py:load"),
    ("nested block expansion, the expanded graph (issue 13)", "Timeout @ netcalc/analyze.py:analyze"),
]


def known(signature: str) -> str | None:
    """The description of the known open crash that `signature` is, or None."""
    for what, pattern in KNOWN_OPEN:
        if fnmatchcase(signature, pattern):
            return what
    return None
