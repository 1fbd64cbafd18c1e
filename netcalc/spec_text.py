"""The spec's text: read from a file or standard input (once, whatever the number of times it is
asked for), within MAX_BYTES, as UTF-8. Whatever goes wrong becomes a finding (E001–E003), never a
traceback: a missing file, a directory, a named pipe or a device, too many bytes, UTF-16 or UTF-32
text, binary or non-UTF-8 bytes."""

from __future__ import annotations

import os
import stat

from .diagnostics import Diagnostics, Loc, clip

MAX_BYTES = 5_000_000


def read_text(path: str, diags: Diagnostics, shown: str | None = None) -> str | None:
    """The file's text, or None with an error E001/E002/E003 saying why it cannot be used. `-` is
    standard input (read once, whatever the number of times it is asked for); anything else must be
    a regular file: a named pipe would block, a device might never end. Findings name the file as
    `shown` (default: the path)."""
    where = Loc(shown or path)
    if path == STDIN:
        data = _stdin()
        st_size = 0
    else:
        try:
            # O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused just below)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            diags.error("E001", f"no such file: '{clip(path)}'", where)
            return None
        except IsADirectoryError:
            diags.error("E001", f"'{clip(path)}' is a directory, not a spec file", where)
            return None
        except OSError as exc:
            diags.error("E001", f"cannot read '{clip(path)}': {exc.strerror or exc}", where)
            return None
        except ValueError:  # a NUL character in the path
            diags.error("E001", f"'{clip(path)}' is not a path (it holds a NUL character)", where)
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                kind = (
                    "a directory, not a spec file"
                    if stat.S_ISDIR(st.st_mode)
                    else "a named pipe; to read a spec from a pipe, give '-'"
                    if stat.S_ISFIFO(st.st_mode)
                    else "not a regular file; to read a spec from a pipe, give '-'"
                )
                diags.error("E001", f"'{clip(path)}' is {kind}", where)
                return None
            st_size = st.st_size
            with os.fdopen(fd, "rb") as f:
                # read at most one byte more than the limit: a huge file is never loaded whole
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            diags.error("E001", f"cannot read '{clip(path)}': {exc.strerror or exc}", where)
            return None
    if len(data) > MAX_BYTES:
        # standard input has no size of its own
        size = f"is {st_size:,} bytes" if st_size > MAX_BYTES else f"has more than {MAX_BYTES:,} bytes"
        diags.error("E003", f"the {'input' if path == STDIN else 'file'} {size}; a spec may have at most {MAX_BYTES:,}",
                    where)  # fmt: skip
        return None
    shown = where.file
    for bom, encoding in _UTF16_32_BOMS:
        if data.startswith(bom):
            diags.error("E002", f"the file is {encoding} text; save it as UTF-8", Loc(shown, 1, 1))
            return None
    if b"\x00" in data:
        line, col = _line_col(data, data.index(b"\x00"))
        diags.error("E002", "this is a binary file, not a YAML spec (a NUL byte)", Loc(shown, line, col))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        diags.error(
            "E002",
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            Loc(shown, line, col),
        )
        return None


STDIN = "-"  # the path that stands for standard input
_STDIN_DATA: list = []  # what was read from it, for the commands that load a spec more than once


def _stdin() -> bytes:
    if not _STDIN_DATA:
        import sys

        stream = getattr(sys.stdin, "buffer", None)
        _STDIN_DATA.append(stream.read(MAX_BYTES + 1) if stream is not None else b"")
    return _STDIN_DATA[0]


# longest first: the UTF-32-LE mark begins with the UTF-16-LE one
_UTF16_32_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _line_col(data: bytes | str, offset: int) -> tuple[int, int]:
    """1-based line and column of an offset into the file's bytes or its text."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    before = data[:offset]
    return before.count(newline) + 1, offset - (before.rfind(newline) + 1) + 1
