"""A spec's text (read by spec_text.py) composed into a tree of located YAML nodes.

YAML is read only through PyYAML's SafeLoader (``yaml.compose``), never the full loader. The
composed node tree keeps the text of every scalar and where it stands, so values can be coerced
by the schema later (YAML 1.1 reads ``1e-3`` as a string and ``no`` as a boolean) and every
finding can point at its line and column. Whatever goes wrong while composing becomes a finding,
never a traceback: a syntax error, duplicate keys, and aliases that would expand into a huge
document (what goes wrong reading the file is spec_text.py's).
"""

from __future__ import annotations

import gc
import re

from .diagnostics import Diagnostics, Loc, clip
from .spec_text import _line_col

# YAML nodes (scalars, lists, mappings) in a document, after alias expansion: a "billion laughs"
# document stops here, and so does a huge list (reading costs some 600 bytes of memory per node)
MAX_NODES = 500_000
MAX_DEPTH = 200
TOO_MANY = f"the document has more than {MAX_NODES:,} YAML nodes (values, lists and mappings); a spec may have at most {MAX_NODES:,}"


class YScalar:
    """A scalar as written: its text (without quotes), the YAML 1.1 type PyYAML resolved (str,
    int, float, bool, null, ...), whether it was written plainly (without quotes), and where."""

    __slots__ = ("kind", "loc", "plain", "tag", "text")

    def __init__(self, text: str, tag: str, plain: bool, loc: Loc) -> None:
        self.text = text
        self.tag = tag
        self.kind = tag.rsplit(":", 1)[-1]
        self.plain = plain
        self.loc = loc

    def __repr__(self) -> str:
        return f"YScalar({self.text!r}, {self.kind}, plain={self.plain}, {self.loc})"


# the tag of a scalar whose `$` expression failed: already reported, so the schema passes over it
FAILED_TAG = "tag:netcalc,2026:failed"


class YSymbolic(YScalar):
    """A size that a `$` expression computed from a symbolic block parameter (netcalc.formulas.Dual):
    its formula as text, the size itself in `value`."""

    __slots__ = ("value",)

    def __init__(self, value, loc: Loc) -> None:
        super().__init__(str(value), "tag:netcalc:symbolic", True, loc)
        self.value = value


class YDeferred(YScalar):
    """A `$` expression that reads `in` (the block's input, `${in.channels // 2}`), known only in the
    analysis (netcalc.block_input): the text as written, the expression, the block's parameter
    values and the name of the tensor the block was given (None while the layers are counted)."""

    __slots__ = ("env", "expr", "input")

    def __init__(self, text: str, expr: str, env: dict, block_input: str | None, loc: Loc) -> None:
        super().__init__(text, "tag:netcalc,2026:deferred", False, loc)
        self.expr, self.env, self.input = expr, env, block_input


class YSeq:
    __slots__ = ("items", "loc")

    def __init__(self, items: list, loc: Loc) -> None:
        self.items = items
        self.loc = loc

    def __repr__(self) -> str:
        return f"YSeq({len(self.items)} items, {self.loc})"


class YMap:
    """A mapping: key text -> (key YScalar, value node), in the order written."""

    __slots__ = ("entries", "incomplete", "loc")

    def __init__(self, entries: dict, loc: Loc, incomplete: bool = False) -> None:
        self.entries = entries
        self.loc = loc
        # a key was refused (a merge key '<<', a key that is not a name): keys it may have supplied
        # are not reported missing as well
        self.incomplete = incomplete

    def get(self, key: str):
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_loc(self, key: str) -> Loc:
        return self.entries[key][0].loc

    def __repr__(self) -> str:
        return f"YMap({list(self.entries)}, {self.loc})"


YNode = YScalar | YSeq | YMap


def describe(node) -> str:
    """A node as a message quotes it: the scalar text, or its kind."""
    if isinstance(node, YScalar):
        if node.kind == "null" and node.plain:
            return "nothing (null)" if node.text in ("", "~") else node.text
        text = clip(node.text)  # one line: control characters escaped, a long value cut short
        return f"'{text}'" if not node.plain or node.kind == "str" else text
    if isinstance(node, YSeq):
        if not node.items:
            return "an empty list"
        return f"a list of {len(node.items)} item{'s' if len(node.items) != 1 else ''}"
    return "an empty mapping" if not node.entries else "a mapping"


def parse_yaml(text: str, path: str, diags: Diagnostics):
    """Compose the text with the SafeLoader and convert it to located nodes; None on failure."""
    if not text.strip():
        diags.error("E003", "the file is empty; a spec starts with 'netcalc: 1'", Loc(path, 1, 1))
        return None
    # The loader builds a tree of many small objects and frees none of them: the cyclic garbage
    # collector would only rescan them, again and again (twice the time on a 10,000-layer spec).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, path, diags)
    finally:
        if gc_was_on:
            gc.enable()


def _parse(text: str, path: str, diags: Diagnostics):
    import yaml

    try:
        if _too_many_events(text):
            diags.error("E003", TOO_MANY, Loc(path))
            return None
        root = yaml.compose(text, Loader=_loader())
    except _TooDeep as exc:
        diags.error("E003", f"YAML nesting deeper than {MAX_DEPTH} levels", _mark_loc(path, exc.mark))
        return None
    except yaml.reader.ReaderError as exc:
        # a character YAML does not allow (a control character): point at it
        line, col = _line_col(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        diags.error(
            "E002", f"the file holds a control character U+{char:04X}, which YAML does not allow", Loc(path, line, col)
        )
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = _tab_message(text, mark) or _syntax_message(exc, text)
        diags.error("E003", f"YAML syntax: {message}", _mark_loc(path, mark))
        return None
    except yaml.YAMLError as exc:
        diags.error("E003", f"YAML syntax: {' '.join(str(exc).split())}", Loc(path))
        return None
    except RecursionError:  # the depth limit should stop this first; never a traceback either way
        diags.error("E003", "YAML nesting is too deep to be a spec", Loc(path))
        return None
    except _TooMany as exc:  # the pure-Python loader counts the nodes as it composes them
        diags.error("E003", TOO_MANY, _mark_loc(path, exc.mark))
        return None
    if root is None:
        diags.error("E003", "the file holds no YAML document; a spec starts with 'netcalc: 1'", Loc(path, 1, 1))
        return None
    # Only aliases (written with '*') can make a document larger or deeper than its text shows;
    # without them the conversion below checks the depth and the number of nodes itself.
    converter = _Converter(path, diags, shared="*" in text)
    if converter.shared and not converter.check_size(root):
        return None
    try:
        return converter.convert(root)
    except _TooBig as exc:
        diags.error("E003", str(exc), converter._loc(exc.node))
        return None


def _mark_loc(path: str, mark) -> Loc:
    return Loc(path, mark.line + 1, mark.column + 1) if mark is not None else Loc(path)


# the line breaks PyYAML and libyaml count lines by
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _tab_message(text: str, mark) -> str | None:
    """What to say when the syntax error is at a tab: PyYAML's own words do not name it ("found
    character that cannot start any token"). libyaml takes a tab between the items of a flow
    collection and refuses it only in the indentation; PyYAML without libyaml refuses both."""
    if mark is None:
        return None
    lines = _LINE_BREAK.split(text)
    line = lines[mark.line] if mark.line < len(lines) else ""
    if line[mark.column : mark.column + 1] != "\t":
        return None
    if not line[: mark.column].strip(" \t"):
        return "a tab indents this line; YAML indents with spaces only: replace the tab with spaces"
    return "a tab character, where this YAML reader takes only spaces: replace the tab with a space"


def _syntax_message(exc, text: str = "") -> str:
    """PyYAML's problem and context as one readable line, with where the context starts."""
    problem = exc.problem or ""
    context = exc.context or ""
    if problem == "exceeded maximum nesting depth":  # libyaml's own limit (1,000 levels)
        return f"YAML nesting deeper than {MAX_DEPTH} levels (here more than 1,000)"
    if problem == "but found another document":
        return "a spec is a single YAML document, but a second one starts here"
    if context.startswith("found duplicate anchor") and exc.context_mark is not None:
        name = context.split(";")[0].removeprefix("found duplicate anchor").strip()
        if not name and text and exc.problem_mark is not None:  # libyaml does not name it: read it
            line = text.splitlines()[exc.problem_mark.line] if exc.problem_mark.line < len(text.splitlines()) else ""
            word = line[exc.problem_mark.column :].lstrip("&").split()
            name = f"'{word[0]}'" if word else "an anchor"
        m = exc.context_mark
        return f"anchor {name} is defined twice (first at line {m.line + 1}, column {m.column + 1})"
    if not problem:
        return context or "invalid YAML"
    if not context:
        return problem
    m, pm = exc.context_mark, exc.problem_mark
    if m is not None and (pm is None or (m.line, m.column) != (pm.line, pm.column)):
        context += f" at line {m.line + 1}, column {m.column + 1}"
    return f"{problem} ({context})"


class _TooDeep(Exception):
    def __init__(self, mark) -> None:
        super().__init__("too deep")
        self.mark = mark


# characters: a shorter text composes into about a million nodes at most (a node takes a character
# or more, but for a key's empty value), no more than the event count lets through anyway
_COUNT_FROM = 1_000_000


class _TooMany(Exception):
    def __init__(self, mark) -> None:
        super().__init__("too many nodes")
        self.mark = mark


def _too_many_events(text: str) -> bool:
    """Whether the document certainly has more than MAX_NODES nodes, counted by libyaml's parser
    without building anything (0.1 s a megabyte): a node is one parser event, a list or mapping
    two (its start and end), and the stream and document add four, so more than 2 × MAX_NODES + 4
    events is more than MAX_NODES nodes. Under that, the converter counts the nodes exactly; a
    short text is left to it (the pure-Python loader counts as it composes)."""
    if len(text) < _COUNT_FROM:
        return False
    loader = _loader()
    if not hasattr(loader, "raw_parse"):
        return False
    parser = loader(text)
    try:
        return parser.raw_parse() > 2 * MAX_NODES + 4
    finally:
        parser.dispose()


_LOADER = None
_FORCE_PURE_PYTHON = False  # tests set it to check the pure-Python path too


def _loader():
    """PyYAML's safe loader: its C build (CSafeLoader, libyaml) where installed, about 10× faster and
    with its own nesting limit (1,000 levels, then a syntax error); else the pure-Python SafeLoader
    with a nesting limit, so that deep documents stop early rather than recurse. Deeper than
    MAX_DEPTH is refused after composing either way (see _Converter.check_size)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        if getattr(yaml, "__with_libyaml__", False) and not _FORCE_PURE_PYTHON:

            class CachedCSafeLoader(yaml.CSafeLoader):
                """Spec scalars repeat ('3', 'relu', 'true'): resolve each distinct one once."""

                _tags: dict = {}

                def resolve(self, kind, value, implicit):
                    if kind is not yaml.ScalarNode:
                        return super().resolve(kind, value, implicit)
                    key = (value, implicit)
                    tag = self._tags.get(key)
                    if tag is None:
                        tag = self._tags[key] = super().resolve(kind, value, implicit)
                    return tag

            _LOADER = CachedCSafeLoader
            return _LOADER

        class DepthLimitedSafeLoader(yaml.SafeLoader):
            _depth = 0
            _nodes = 0

            def fetch_flow_collection_start(self, token_class):
                # stop deep [[[[... while scanning: PyYAML's scanner slows down quadratically with them
                if self.flow_level >= MAX_DEPTH:
                    raise _TooDeep(self.get_mark())
                super().fetch_flow_collection_start(token_class)

            def compose_node(self, parent, index):
                if self._depth >= MAX_DEPTH:
                    raise _TooDeep(self.peek_event().start_mark)
                self._nodes += 1
                if self._nodes > MAX_NODES:
                    raise _TooMany(self.peek_event().start_mark)
                self._depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self._depth -= 1

        _LOADER = DepthLimitedSafeLoader
    return _LOADER


class _TooBig(Exception):
    def __init__(self, message: str, node) -> None:
        super().__init__(message)
        self.node = node


class _Converter:
    """Converts composed nodes to located nodes. An alias shares its anchor's converted node."""

    def __init__(self, path: str, diags: Diagnostics, shared: bool = True) -> None:
        self.path = path
        self.diags = diags
        self.done: dict = {}
        # whether nodes may be shared (aliases): else each composed node is let go once converted,
        # so that the composed tree and the converted one are not both held whole
        self.shared = shared
        self.count = 0

    def check_size(self, root) -> bool:
        """Refuse a document that aliases would expand beyond MAX_NODES nodes or MAX_DEPTH levels,
        or that contains itself, before anything walks it (each node is measured once)."""
        try:
            self._measure(root, 0, {}, set())
        except _TooBig as exc:
            self.diags.error("E003", str(exc), self._loc(exc.node))
            return False
        return True

    def _measure(self, node, depth: int, memo: dict, active: set) -> tuple[int, int]:
        """(expanded node count, expanded height) of a node."""
        import yaml

        key = id(node)
        if key in active:
            raise _TooBig("a YAML alias refers to the collection that contains it (a recursive document)", node)
        if key in memo:
            size, height = memo[key]
        elif isinstance(node, yaml.ScalarNode):
            size, height = 1, 1
        else:
            active.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
            size, height = 1, 1
            for child in children:
                s, h = self._measure(child, depth + 1, memo, active)
                size += s
                height = max(height, h + 1)
                if size > MAX_NODES:
                    raise _TooBig(
                        f"through aliases this YAML collection expands to more than {MAX_NODES:,} nodes "
                        "(a 'billion laughs' document?)",
                        node,
                    )
            active.discard(key)
            memo[key] = (size, height)
        if depth + height > MAX_DEPTH:
            raise _TooBig(f"through aliases the YAML nesting goes deeper than {MAX_DEPTH} levels", node)
        return size, height

    def convert(self, root):
        return self._node(root, 0)

    def _loc(self, node) -> Loc:
        m = node.start_mark
        return Loc(self.path, m.line + 1, m.column + 1)

    def _node(self, node, depth: int):
        import yaml

        if self.shared:
            done = self.done.get(id(node))
            if done is not None:
                return done
        if depth > MAX_DEPTH:
            raise _TooBig(f"YAML nesting deeper than {MAX_DEPTH} levels", node)
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(TOO_MANY, node)
        loc = self._loc(node)
        if isinstance(node, yaml.ScalarNode):
            out = YScalar(node.value, node.tag, not node.style, loc)  # plain: None (Python) or '' (libyaml)
        elif isinstance(node, yaml.SequenceNode):
            out = YSeq([self._node(n, depth + 1) for n in self._children(node)], loc)
        else:
            out = self._mapping(node, loc, depth)
        if self.shared:
            self.done[id(node)] = out
        return out

    def _children(self, node):
        """A collection's children in order; unless shared, each is dropped from the composed tree as
        it is handed out (and freed once converted)."""
        if self.shared:
            yield from node.value
            return
        items = node.value
        node.value = []
        items.reverse()
        while items:
            yield items.pop()

    def _mapping(self, node, loc: Loc, depth: int) -> YMap:
        entries: dict = {}
        incomplete = False
        for knode, vnode in self._children(node):
            key = self._node(knode, depth + 1)
            value = self._node(vnode, depth + 1)
            if not isinstance(key, YScalar):
                self.diags.error("E101", f"a mapping key must be a name, got {describe(key)}", key.loc)
                incomplete = True
                continue
            if knode.tag.endswith(":merge"):
                self.diags.error(
                    "E101",
                    "YAML merge keys ('<<') are not supported in specs; write the keys out "
                    "(or put shared arguments in 'defaults:')",
                    key.loc,
                )
                incomplete = True
                continue
            if key.text in entries:
                first = entries[key.text][0].loc
                self.diags.error(
                    "E101",
                    f"duplicate key '{clip(key.text)}' (first at line {first.line}, column {first.col}); "
                    "YAML would silently keep only the last one",
                    key.loc,
                )
                continue
            entries[key.text] = (key, value)
        return YMap(entries, loc, incomplete)
