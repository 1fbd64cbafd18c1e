"""A YAML scalar read as a number by the schema, not by YAML 1.1's guesses: integers only in plain
decimal (octal, hexadecimal and base-60 forms refused with a hint saying what YAML 1.1 makes of
them), floats also when YAML 1.1 reads them as text (`1e-3`), and the largest value taken."""

from __future__ import annotations

import math
import re

from .diagnostics import Diagnostics
from .yamlsrc import YScalar, describe

_FLOAT_RE = re.compile(r"^[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?$")

_DEC_RE = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
# no size, count or axis of a network comes near this; larger values are refused (E104) before
# any arithmetic, so that no count overflows a float when it is shown
MAX_INT = 10**12


def _int_of(node: YScalar):
    """A plainly written decimal integer; YAML 1.1's octal (010), hex and 1:30 forms are refused.

    A value with more digits than Python converts (4300) comes back as ±10**100: out of range.
    """
    if node.kind == "int" and _DEC_RE.match(node.text):
        digits = node.text.replace("_", "")
        if len(digits) > 100:
            return -(10**100) if digits.startswith("-") else 10**100
        return int(digits)
    return None


def _too_large(value: int, node, diags: Diagnostics, what: str) -> bool:
    if abs(value) <= MAX_INT:
        return False
    diags.error("E104", f"{what} must be at most {MAX_INT:,} in absolute value, got {describe(node)}", node.loc)
    return True


def _int_hint(node) -> str:
    """Why a scalar that looks numeric is not taken as an integer, in words ('' when nothing to add)."""
    if not isinstance(node, YScalar) or not node.plain:
        return ""
    if node.kind == "int":  # YAML 1.1 octal (010), hexadecimal (0x10), binary (0b10) or base 60 (1:30)
        import yaml
        from yaml.constructor import SafeConstructor

        try:
            value = SafeConstructor().construct_yaml_int(yaml.ScalarNode("tag:yaml.org,2002:int", node.text))
        except (ValueError, yaml.YAMLError):
            return ""
        text = node.text.lstrip("+-").lower()
        form = (
            "base-60"
            if ":" in text
            else "hexadecimal"
            if text.startswith("0x")
            else "binary"
            if text.startswith("0b")
            else "octal"
        )
        shown = f" {value}" if abs(value) <= MAX_INT else ""  # a huge int would not even print
        return f" (YAML 1.1 reads it as the {form} number{shown}; write integers in plain decimal)"
    value = _float_of(node)
    if value is not None and math.isfinite(value) and value == int(value):
        return f" (write it as the whole number {int(value)})"
    return ""


def _float_of(node: YScalar):
    if node.kind in ("int", "float") or (node.plain and node.kind == "str" and _FLOAT_RE.match(node.text)):
        text = node.text.replace("_", "")
        try:
            if node.kind == "int" and _int_of(node) is None:
                return None
            low = text.lower()
            if low in (".inf", "+.inf", "-.inf", ".nan"):
                return float(low.replace(".", ""))
            return float(text)
        except ValueError:
            return None
    return None
