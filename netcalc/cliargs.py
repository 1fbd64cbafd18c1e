"""Values given on the command line: whole numbers, the spec's path, and files to write.

Every problem comes back as a sentence that quotes what was received (cut short when it is long),
never as an exception: a number with 5,000 digits (more than Python converts to an int), a path
component over 255 characters, a symbolic-link loop or a named pipe are refused with a reason.
Nothing here imports more than the standard library and netcalc's own light modules.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from .diagnostics import clip
from .spec_text import STDIN

# no size, count or axis of a network comes near this (the spec's own limit, netcalc.scalars.MAX_INT)
MAX_VALUE = 10**12
STDIN_NAME = "<stdin>"  # how messages name the spec read from standard input (`-`): <stdin>:3:5: error ...

_DIGITS = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes '²' and '١', which int() refuses


def decimal(text) -> int | None:
    """A whole number written in ASCII decimal digits, or None. Any above MAX_VALUE comes back as
    MAX_VALUE + 1: int() refuses more than 4,300 digits, and no such number is a usable value."""
    text = str(text).strip()
    if not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    return MAX_VALUE + 1 if len(digits) > len(str(MAX_VALUE)) else min(int(digits), MAX_VALUE + 1)


def whole(text, option: str, low: int = 1, high: int = MAX_VALUE) -> tuple[int | None, str | None]:
    """A whole number from `low` to `high` (at most MAX_VALUE) written in decimal: (value, None) or
    (None, why not)."""
    text = str(text).strip()
    bounds = f"from {low:,} to {high:,}"
    value = decimal(text)
    if value is None:
        negative = text[:1] == "-" and _DIGITS.fullmatch(text[1:])
        what = f"-{number_text(text[1:].lstrip('0') or '0')}" if negative else f"'{clip(text)}'"
        return None, f"{option} takes a whole number {bounds}, got {what}"
    if not low <= value <= high:
        return None, f"{option} takes a whole number {bounds}, got {number_text(text.lstrip('0') or '0')}"
    return value, None


def number_text(digits: str) -> str:
    """A long number as a message quotes it: in full up to 30 digits, else its first digits and length."""
    return digits if len(digits) <= 30 else f"{digits[:12]}… ({len(digits):,} digits)"


def spec_problem(path: str) -> tuple[bool, str | None]:
    """Whether `path` names something on disk, and what makes it unusable as a spec file.

    (False, None): nothing there (the caller may try a bundled spec's name); (True, None): a
    regular file, or a directory (reported where it is read); (True, why): a named pipe or device
    (reading would block, or never end), a symbolic-link loop, a name the system refuses (a
    component over 255 characters), no permission to look. `-` is standard input."""
    if path == STDIN:
        return True, None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return True, f"'{clip(path)}' is a symbolic link to '{clip(target)}', which does not exist"
        return False, None
    except NotADirectoryError:
        return False, None
    except OSError as exc:
        return True, f"cannot read '{clip(path)}': {_reason(exc)}"
    except ValueError:  # a NUL character in the path
        return True, f"'{clip(path)}' is not a path (it holds a NUL character)"
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return True, None
    return True, f"'{clip(path)}' is {_kind(st.st_mode)}, not a regular file; to read a spec from a pipe, give '-'"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _reason(exc: OSError) -> str:
    """The system's reason, in words: 'File name too long', 'Too many levels of symbolic links'..."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        return f"{why} (a file name may have at most 255 bytes)"
    return why


def is_dir(path: str) -> bool:
    """os.path.isdir that never raises (a name too long, a NUL character: not a directory)."""
    try:
        return os.path.isdir(path)
    except (OSError, ValueError):
        return False


def yaml_files(folder: Path) -> list[str]:
    """The .yaml/.yml files under `folder`, sorted, not those in hidden folders (.github, .git, .venv).
    A file or folder that vanishes or cannot be read while the tree is walked is passed over."""
    found = []
    for root, dirs, files in os.walk(folder):  # os.walk skips what it cannot list; links are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, f) for f in files if f.endswith((".yaml", ".yml")) and not f.startswith(".")]
    return sorted(found)


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are the one file (never raises: a path that does not exist is no file)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def output_problem(path: Path, option: str, reads: list[Path] = ()) -> str | None:
    """Why a file cannot be written at `path` (checked before a long run), or None. `reads` are the
    files the spec argument may name (a path, a bundled spec): writing over one is refused."""
    shown = clip(str(path))
    if str(path) in ("", "."):
        return f"{option} takes a file name, got '{shown}'"
    try:
        if path.is_dir():
            return f"{option} '{shown}' is a directory; give a file name in it, such as {clip(str(path / 'out.json'))}"
        parent = path.parent
        if not parent.exists():
            return f"{option} '{shown}': the folder '{clip(str(parent))}' does not exist"
        if not parent.is_dir():
            return f"{option} '{shown}': '{clip(str(parent))}' is not a folder"
    except OSError as exc:
        return f"{option} '{shown}': {_reason(exc)}"
    except ValueError:
        return f"{option} '{shown}' is not a path (it holds a NUL character)"
    if any(same_file(path, r) for r in reads):
        return f"{option} '{shown}' is the spec being read: writing there would overwrite it; give another file name"
    return None


def write_problem(exc: OSError, path: Path, option: str) -> str:
    """A failed write (no permission, a full disk) as a sentence."""
    return f"{option} '{clip(str(path))}': cannot write it: {_reason(exc)}"
