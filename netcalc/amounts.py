"""Amounts as they are written on the command line, in a spec's `lint:` and in pyproject.toml:
counts with a suffix (`25M`, `1.5e6`, `4G`), sizes in bytes (`512MB`, `2GiB`), budgets of either
(the text a budget may have, for the schema's pattern too), and `--set NAME=VALUE` symbol values.
Each returns None (or its problems) rather than raising, so that the caller reports the text received.
"""

from __future__ import annotations

import re

from .arg_symbols import NAME_RE
from .cliargs import MAX_VALUE, decimal, number_text
from .diagnostics import clip


def parse_count(text: str) -> int | None:
    """'25M', '1.5e6', '4G', '300k' → an integer; None when it is no whole number ('1.5', 'lots')."""
    t = text.strip().upper().replace("_", "").replace(",", "")
    mult = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    from decimal import Decimal, InvalidOperation

    scale = mult.get(t[-1:], 1)
    try:  # in decimal, so that 1.1M is 1,100,000 exactly
        number = Decimal(t[:-1] if scale > 1 else t)
    except InvalidOperation:  # 'lots'
        return None
    if not number.is_finite() or not -30 < number.adjusted() < 30:  # "inf", "1e999999999": no count
        return None
    value = number * scale
    return int(value) if value == int(value) else None  # '1.5': no count


def parse_size(text: str) -> int | None:
    """'2GB', '512MB', '1.5GiB', '1000000' → bytes: kB/KB, MB, GB, TB are powers of 10 (as netcalc
    prints memory: MB = 10⁶ bytes), KiB, MiB, GiB, TiB powers of 2."""
    t = text.strip().upper().replace("_", "").replace(",", "")
    units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
             "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "B": 1}  # fmt: skip
    for suffix, mult in units.items():
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)].strip(), mult
            break
    else:
        scale = 1
    from decimal import Decimal, InvalidOperation

    try:  # in decimal, so that 1.1GB is 1,100,000,000 bytes exactly
        number = Decimal(t)
    except InvalidOperation:
        return None
    if not number.is_finite() or not -30 < number.adjusted() < 30:  # "inf", "1e999999999", "1e-99999"
        return None
    value = number * scale
    return int(value) if value == int(value) else None  # no fraction of a byte


# a number as a budget is written: 25, 1_000_000, 1,000,000 (commas only between groups of three), 1.5, 2e6
_NUMBER = r"([0-9]{1,3}(,[0-9]{3})+|[0-9][0-9_]*)(\.[0-9]*)?([eE][-+]?[0-9]+)?"
_SUFFIX = {False: r"[kKmMgGtT]?", True: r"\s*([kKmMgGtT][iI]?[bB]|[bB])?"}


def budget_pattern(memory: bool) -> str:
    """The text of a budget (the schema's pattern, and what parse_budget reads)."""
    return f"^\\s*{_NUMBER}{_SUFFIX[memory]}\\s*$"


def parse_budget(text: str, memory: bool = False) -> int | None:
    """'25M', '1.5e6', '4G' (memory: '512MB', '2GiB', bytes) → an integer; None when it is not one:
    not of budget_pattern ('1,5M'), or not a whole number ('1.5' parameters, '0.5' bytes)."""
    text = str(text)
    if not re.match(budget_pattern(memory), text):
        return None
    try:
        return (parse_size if memory else parse_count)(text)
    except OverflowError:  # 'inf', 1e400
        return None


def parse_set(items: list[str] | None) -> tuple[dict, list[str]]:
    """`--set H=224 --set W=320` (or `--set H=224,W=320`) as ({name: value}, [problems])."""
    values: dict = {}
    problems: list[str] = []
    given: dict = {}
    for item in items or []:
        for part in item.split(","):
            name, eq, text = part.partition("=")
            name, text = name.strip(), text.strip()
            given.setdefault(name, []).append(part.strip())
            if not eq or not NAME_RE.match(name):
                problems.append(f"--set takes NAME=VALUE (such as H=224), got '{clip(part)}'")
                continue
            value = decimal(text)  # never int() of 5,000 digits
            if value is None or value < 1:
                problems.append(f"--set {name}: the value must be a positive integer, got '{clip(text)}'")
            elif value > MAX_VALUE:  # as a size written in a spec (netcalc.scalars.MAX_INT)
                problems.append(f"--set {name}: the value must be at most {MAX_VALUE:,}, got {number_text(text)}")
            else:
                values[name] = value
    for name, parts in given.items():  # --set H=64,H=96, or --set H=.. twice: never the last one in silence
        if len(parts) > 1 and name in values:
            problems.append(f"--set {name}: {name} is given twice ({', '.join(parts)}); give each symbol once")
    return values, problems
