"""load -> expand -> analyze from what the command line gives: a spec's name, --set, --batch, --max-layers.

Every problem becomes a finding in the Diagnostics passed in (the commands decide how to report them
and exit); nothing here prints or exits, so each step is callable without a subprocess.
"""

from __future__ import annotations

import os


def locate(spec: str, diags):
    """A path, or the name of a bundled spec. Returns (path, name shown in messages) or None."""
    from . import bundled
    from .cliargs import STDIN, STDIN_NAME, spec_problem
    from .diagnostics import Loc, clip

    if spec == STDIN:
        return STDIN, STDIN_NAME
    exists, problem = spec_problem(spec)  # a symbolic-link loop, a name too long, a named pipe...
    if problem:
        diags.error("E001", problem, Loc(spec))
        return None
    if exists:
        return spec, spec
    found = bundled.find(spec)
    if found is not None:
        return str(found), found.name
    if os.sep in spec or spec.endswith((".yaml", ".yml")):
        diags.error("E001", f"no such file: '{clip(spec)}'", Loc(spec))
    else:
        close = bundled.similar(spec)
        if close:
            *first, last = [f"'{name}'" for name in close]
            hint = f" (did you mean {', '.join(first) + ' or ' if first else ''}{last}?)"
            note = "`netcalc specs` lists the bundled specs"
        else:
            hint, note = "", "bundled specs: " + ", ".join(bundled.names())
        diags.error("E001", f"'{clip(spec)}' is neither a file nor a bundled spec{hint}", Loc(spec), note)
    return None


def max_layers(text, diags) -> int | None:
    """--max-layers: the limit on expanded layers (the default when not given); None when invalid (reported)."""
    from .cliargs import whole
    from .diagnostics import Loc
    from .spec import MAX_LAYERS

    if text is None:
        return MAX_LAYERS
    value, problem = whole(text, "--max-layers")
    if problem:
        diags.error("E107", problem, Loc("--max-layers"))
    return value


def batch(text, scope, diags):
    """--batch: a positive number, or the name of a symbol (a symbolic batch size N); 1 when refused (reported)."""
    from .cliargs import MAX_VALUE, decimal, number_text
    from .diagnostics import Loc, clip
    from .kinds import NAME_RE
    from .yamlsrc import YScalar

    text = str(text).strip()
    value = decimal(text)  # never int() of 5,000 digits
    if value is not None and 1 <= value <= MAX_VALUE:
        return value
    if value is not None and value > MAX_VALUE:
        diags.error("E107", f"--batch must be at most {MAX_VALUE:,}, got {number_text(text)}", Loc("--batch"))
        return 1
    if not NAME_RE.match(text):
        diags.error(
            "E107",
            f"--batch takes a positive number or a symbol's name (such as N), got '{clip(text)}'",
            Loc("--batch"),
        )
        return 1
    used = scope.used.get(text)
    if used is not None:
        # a name the spec already uses as a size (an image height H, a width C) is not the batch: the
        # figures would multiply by H as if the batch were the height. A symbol declared under
        # `symbols:` and used nowhere in the spec is the way to give the batch a default and a range.
        spare = next(n for n in ("N", "B", "batch", "N_batch") if n not in scope.used)
        diags.error(
            "E107",
            f"--batch {text}: {text} is a size of the spec ({used.loc.file} line {used.loc.line}), not a batch size; "
            f"name the batch with a symbol of its own, such as --batch {spare}",
            Loc("--batch"),
        )
        return 1
    value = scope.resolve(YScalar(text, "tag:yaml.org,2002:str", True, Loc("--batch")), diags, "--batch")
    return value if isinstance(value, int) or hasattr(value, "e") else 1


def analyse(
    spec: str,
    convention: str | None = None,
    sets: list[str] | None = None,
    symbolic: bool = False,
    generic: bool | dict = False,
    known_only: bool = False,
    set_defaults: bool = False,
    limit: str | None = None,
    **options,
):
    """load -> expand -> analyze. Returns (analysis, diags, sources); analysis is None when the spec
    cannot be read at all (diags says why).

    The analysis runs even when some layers are invalid, so that independent shape errors are
    reported in the same run; the caller decides what its errors mean. `sets` are --set NAME=VALUE
    for the spec's symbols (each name once; with `known_only`, a name the spec does not have is
    left to the caller: diff applies --set to two specs); with `symbolic`, the symbols they leave
    free stay formulas. `limit` is --max-layers as given (None: the default limit); `options` go to
    analyze (a `batch` as --batch gives it)."""
    from .amounts import parse_set
    from .analyze import analyze
    from .diagnostics import Diagnostics, Loc
    from .spec import load

    diags = Diagnostics()
    values, problems = parse_set(sets)
    for problem in problems:
        diags.error("E107", problem, Loc("--set"))
    most = max_layers(limit, diags)
    located = locate(spec, diags)
    sources: dict = {}
    graph = None
    if located and not problems and most is not None:
        path, shown = located
        graph = load(
            path,
            diags,
            display=shown,
            convention=convention,
            sources=sources,
            values=values,
            symbolic=symbolic,
            generic=generic,
            set_defaults=set_defaults,
            max_layers=most,
        )
        if graph is not None:
            if "batch" in options:
                options["batch"] = batch(options["batch"], graph.symbols, diags)
            for problem in graph.symbols.check_set(known_only):
                diags.error("E107", problem, Loc(shown))
            if diags.has_errors():
                graph = None
    if graph is None:
        return None, diags, sources
    return analyze(graph, diags, **options), diags, sources


def find_row(analysis, layer: str):
    """`netcalc explain`'s layer: the row named `layer` as the summary shows it, or None after an
    E114 (with a did-you-mean and the layers' names) in analysis.diags."""
    from .diagnostics import Loc, did_you_mean

    rows = {row.node.name: row for row in analysis.rows}
    row = rows.get(layer)
    if row is None:
        graph = analysis.graph
        names = [*rows, *analysis.groups]  # a block use's name (a summary group row) is explained too
        message = f"no layer named '{layer}' in {graph.name}{did_you_mean(layer, names)}"
        analysis.diags.error("E114", message, Loc(graph.file), "layers: " + ", ".join(rows))
    return row
