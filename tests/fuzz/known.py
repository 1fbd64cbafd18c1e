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
    ("a path component over 255 characters, given to lint (issue 13 #3)", "OSError @ netcalc/cli.py:_lint_targets"),
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
    ("nested block expansion, lint sorting its findings (issue 13)", "Timeout @ netcalc/diagnostics.py:sorted"),
    # --- found by this fuzzer (new: reported to the lead with reproducers, not yet fixed) ---
    # a --set or --batch value of 4,300 digits (Python's limit itself) is accepted, then overflows
    ("a 4,300-digit --set/--batch value (fuzzer)", "ValueError @ netcalc/render.py:_with_human"),
    ("a 4,300-digit --set/--batch value (fuzzer)", "ValueError @ netcalc/symbolic.py:parenthesize"),
    ("a 4,300-digit --set/--batch value (fuzzer)", "ValueError @ netcalc/sizes.py:term_text"),
    ("a 4,300-digit --set/--batch value (fuzzer)", "ValueError @ netcalc/sizes_render.py:*"),
    ("a 4,300-digit --set/--batch value (fuzzer)", "OverflowError @ netcalc/spec.py:_input"),
    # verify --save to a path that cannot be written (beside issue 13's --save DIR)
    ("verify --save nodir/x.json or a 300-character name (fuzzer)", "FileNotFoundError @ netcalc/cli.py:verify"),
    ("verify --save nodir/x.json or a 300-character name (fuzzer)", "OSError @ netcalc/cli.py:verify"),
    ("verify --save spec.yaml overwrites the spec it reads (fuzzer)", "modified-input @ verify"),
    # verify bounds memory by an estimate (which is low: W305_quiet at --batch 4 is estimated 0.90 GB and
    # peaks at 1.54 GB) and time not at all: a 1×2000×2000 input at --batch 4 --seeds 2 takes 10 s of CPU
    (
        "verify: the executor's time is not bounded, its memory estimate is low (fuzzer)",
        "Timeout @ netcalc/executor/run.py:run",
    ),
    ("verify: the executor's time is not bounded, its memory estimate is low (fuzzer)", "Memory @ verify"),
    # verify on an embedding that reads float32 values (tests/lint_rules/W202_fires.yaml)
    ("verify: an embedding reading floats (fuzzer)", "ValueError @ netcalc/executor/recurrent.py:forward"),
    # verify's memory estimate builds the weights: 745 GiB of zeros for a 10¹¹-parameter dense layer
    (
        "verify: the memory estimate allocates the weights (fuzzer)",
        "MemoryError @ netcalc/executor/run.py:estimate_memory",
    ),
    # signal (and lint's W3 rules, diff) are quadratic in the layers: ResNet-1202 takes 12 s of CPU time
    ("signal quadratic in the layers: resnet1202-cifar (fuzzer)", "Timeout @ netcalc/signal.py:propagate"),
    ("signal quadratic in the layers: resnet1202-cifar (fuzzer)", "Timeout @ netcalc/signal.py:advise"),
    # lint DIR: rglob races with files that disappear (lint / meets /proc/PID)
    ("lint /: a file vanishing while the directory is walked (fuzzer)", "FileNotFoundError @ netcalc/cli.py:<genexpr>"),
]


def known(signature: str) -> str | None:
    """The description of the known open crash that `signature` is, or None."""
    for what, pattern in KNOWN_OPEN:
        if fnmatchcase(signature, pattern):
            return what
    return None
