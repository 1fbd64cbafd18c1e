"""Reading a spec file into a tree of located YAML nodes.

YAML is read only through PyYAML's SafeLoader (``yaml.compose``), never the full loader. The
composed node tree keeps the text of every scalar and where it stands, so values can be coerced
by the schema later (YAML 1.1 reads ``1e-3`` as a string and ``no`` as a boolean) and every
finding can point at its line and column. Whatever goes wrong while reading becomes a finding,
never a traceback: a missing file, a directory, binary or non-UTF-8 bytes, a syntax error,
duplicate keys, and aliases that would expand into a huge document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostics, Loc

MAX_BYTES = 5_000_000
MAX_NODES = 500_000  # after alias expansion; a "billion laughs" document stops here
MAX_DEPTH = 200


@dataclass
class YScalar:
    text: str  # the scalar as written (without quotes)
    tag: str  # the YAML 1.1 type PyYAML resolved: str, int, float, bool, null, ...
    plain: bool  # written without quotes
    loc: Loc

    @property
    def kind(self) -> str:
        return self.tag.rsplit(":", 1)[-1]


@dataclass
class YSeq:
    items: list
    loc: Loc


@dataclass
class YMap:
    entries: dict  # key text -> (key YScalar, value node)
    loc: Loc

    def get(self, key: str):
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_loc(self, key: str) -> Loc:
        return self.entries[key][0].loc


YNode = YScalar | YSeq | YMap


def describe(node) -> str:
    """A node as a message quotes it: the scalar text, or its kind."""
    if isinstance(node, YScalar):
        return repr(node.text) if not node.plain or node.kind == "str" else node.text
    if isinstance(node, YSeq):
        return "a list"
    return "a mapping"


def read_text(path: str, diags: Diagnostics) -> str | None:
    """The file's text, or None with an error E001/E002 saying why it cannot be read."""
    p = Path(path)
    where = Loc(path)
    try:
        if p.is_dir():
            diags.error("E001", f"'{path}' is a directory, not a spec file", where)
            return None
        data = p.read_bytes()
    except FileNotFoundError:
        diags.error("E001", f"no such file: '{path}'", where)
        return None
    except OSError as exc:
        diags.error("E001", f"cannot read '{path}': {exc.strerror or exc}", where)
        return None
    if len(data) > MAX_BYTES:
        diags.error("E001", f"file is {len(data):,} bytes; a spec may have at most {MAX_BYTES:,}", where)
        return None
    if b"\x00" in data:
        line, col = _line_col(data, data.index(b"\x00"))
        diags.error("E002", "this is a binary file, not a YAML spec (a NUL byte)", Loc(path, line, col))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        diags.error(
            "E002",
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            Loc(path, line, col),
        )
        return None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def parse_yaml(text: str, path: str, diags: Diagnostics):
    """Compose the text with the SafeLoader and convert it to located nodes; None on failure."""
    import yaml

    if not text.strip():
        diags.error("E003", "the file is empty; a spec starts with 'netcalc: 1'", Loc(path, 1, 1))
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        loc = Loc(path, mark.line + 1, mark.column + 1) if mark else Loc(path)
        diags.error("E003", f"YAML syntax: {problem}", loc)
        return None
    except yaml.YAMLError as exc:
        diags.error("E003", f"YAML syntax: {exc}", Loc(path))
        return None
    except RecursionError:
        diags.error("E003", "YAML nesting is too deep to be a spec", Loc(path))
        return None
    if root is None:
        diags.error("E003", "the file holds no YAML document; a spec starts with 'netcalc: 1'", Loc(path, 1, 1))
        return None
    return _Converter(path, diags).convert(root)


class _TooBig(Exception):
    pass


class _Converter:
    def __init__(self, path: str, diags: Diagnostics) -> None:
        self.path = path
        self.diags = diags
        self.count = 0

    def convert(self, root):
        try:
            return self._node(root, 0, frozenset())
        except _TooBig as exc:
            self.diags.error("E003", str(exc), self._loc(root))
            return None

    def _loc(self, node) -> Loc:
        m = node.start_mark
        return Loc(self.path, m.line + 1, m.column + 1)

    def _node(self, node, depth: int, active: frozenset):
        import yaml

        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(
                f"the document expands to more than {MAX_NODES:,} YAML nodes "
                "(aliases that repeat anchors, a 'billion laughs' document?)"
            )
        if depth > MAX_DEPTH:
            raise _TooBig(f"YAML nesting deeper than {MAX_DEPTH} levels")
        if id(node) in active:
            raise _TooBig("a YAML alias refers to the collection that contains it (a recursive document)")
        loc = self._loc(node)
        if isinstance(node, yaml.ScalarNode):
            return YScalar(node.value, node.tag, node.style is None, loc)
        inner = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return YSeq([self._node(n, depth + 1, inner) for n in node.value], loc)
        entries: dict = {}
        for knode, vnode in node.value:
            key = self._node(knode, depth + 1, inner)
            value = self._node(vnode, depth + 1, inner)
            if not isinstance(key, YScalar):
                self.diags.error("E101", f"a mapping key must be a plain name, got {describe(key)}", key.loc)
                continue
            if knode.tag.endswith(":merge"):
                self.diags.error("E101", "YAML merge keys ('<<') are not supported in specs", key.loc)
                continue
            if key.text in entries:
                first = entries[key.text][0].loc
                self.diags.error(
                    "E101",
                    f"duplicate key '{key.text}' (first at line {first.line}, column {first.col}); "
                    "YAML would silently keep only the last one",
                    key.loc,
                )
                continue
            entries[key.text] = (key, value)
        return YMap(entries, loc)
