"""`netcalc lint`'s pipeline: its options and pyproject.toml read into settings, the specs to check,
every finding about each spec (reading, analysis, design rules, signal, budgets) kept or dropped by
the settings, and the findings rendered (text, JSON, GitHub workflow commands, SARIF).

Nothing here prints or exits: problems are findings in a Diagnostics, and the command (cli.lint)
reports them. The rules themselves are in lint.py, the settings' sources in config.py.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

UNREADABLE = ("E001", "E002", "E003", "E110", "E118")
BUDGETS = ("max-params", "max-macs", "max-memory", "max-activation-memory")


def codes(items) -> tuple | None:
    """--select/--ignore as given (repeated, or W301,W302): the codes and prefixes; None for none."""
    return tuple(c.strip() for item in items or () for c in item.split(",") if c.strip()) or None


def read_options(select, ignore, strict, band, max_depth, budgets: dict, sets, max_layers):
    """The command line's settings: (options, diags). `budgets` maps each of BUDGETS to its text
    (or None). The checks run in stages (codes and --band, the budgets, --set, --max-layers); the
    first stage with a problem stops them, each problem an E107 at its option."""
    from .amounts import parse_set
    from .codes import code_problem
    from .config import cli_budget
    from .diagnostics import Diagnostics, Loc
    from .pipeline import max_layers as max_layers_limit

    diags = Diagnostics()
    options = {"select": codes(select), "ignore": codes(ignore), "strict": strict, "band": band,
               "max-depth": max_depth}  # fmt: skip
    for key in ("select", "ignore"):
        for c in options[key] or ():
            if problem := code_problem(c):
                diags.error("E107", f"--{key} {problem}", Loc(f"--{key}"))
    if band is not None and not math.isfinite(band):
        diags.error("E107", f"--band takes a finite number of at least 1, got {band}", Loc("--band"))
    if diags.has_errors():
        return options, diags
    for key in BUDGETS:
        options[key], problem = cli_budget(key, budgets.get(key))
        if problem:
            diags.error("E107", problem, Loc(f"--{key}"))
            return options, diags
    options["values"], problems = parse_set(sets)
    for problem in problems:
        diags.error("E107", problem, Loc("--set"))
    if problems:
        return options, diags
    options["max_layers"] = max_layers_limit(max_layers, diags)
    return options, diags


def project_settings(cwd: Path):
    """The [tool.netcalc.lint] settings of the nearest pyproject.toml at or above `cwd`, with "root"
    its folder: (project, diags), an E108 at the file for each problem found in it."""
    from . import config
    from .diagnostics import Diagnostics, Loc

    diags = Diagnostics()
    pyproject, table, problems = config.find_pyproject(cwd)
    project, more = config.project_settings(table)
    for problem in [*problems, *(f"[tool.netcalc.lint]: {p}" for p in more)]:
        diags.error("E108", problem, Loc(str(pyproject)))
    project["root"] = pyproject.parent if pyproject else None
    return project, diags


def targets(paths: list[str], specs_only: bool = False) -> tuple[list[str], list[str]]:
    """The files to check, each once, and (with `specs_only`) those named on the command line that
    are skipped as they are no netcalc spec: (files, skipped)."""
    from .cliargs import is_dir, yaml_files
    from .lint import looks_like_spec

    out, seen, named = [], set(), set()
    for p in paths:
        found = yaml_files(Path(p)) if is_dir(p) else [p]  # a folder: its YAML files, not in hidden folders
        for f in found:
            key = resolved(f)
            if not is_dir(p):
                named.add(key)
            if key not in seen:  # a file named twice (a.yaml ./a.yaml, or DIR and DIR/a.yaml) is checked once
                seen.add(key)
                out.append((f, key))
    if not specs_only:
        return [f for f, _ in out], []
    kept, skipped = [], []
    for f, key in out:
        if looks_like_spec(f):
            kept.append(f)
        elif key in named:  # named on the command line, not found in a folder: the command says why it is not checked
            skipped.append(f)
    return kept, skipped


def resolved(path: str):
    """A file's resolved path (a file named twice is checked once), or the path as given when it
    cannot be resolved (missing, a name too long, a symbolic-link loop: reading it reports why)."""
    try:
        return Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return path


def lint_one(spec: str, options: dict, project: dict, sources: dict):
    """All findings about one spec (reading, analysis, design rules, signal, budgets) and the settings
    that applied to it: the options over the spec's `lint:` over pyproject.toml (config.resolve)."""
    from fnmatch import fnmatch

    from . import lint as rules
    from .analyze import analyze
    from .config import limits, resolve
    from .diagnostics import Diagnostics, Loc
    from .pipeline import locate
    from .spec import MAX_LAYERS, load

    diags = Diagnostics()
    settings = resolve(options, project)
    located = locate(spec, diags)
    if not located:
        return diags, settings
    path, shown = located
    values = options.get("values") or {}
    limit = options.get("max_layers") or MAX_LAYERS
    graph = load(path, diags, display=shown, sources=sources, values=values, max_layers=limit)
    if graph is not None:
        for problem in graph.symbols.check_set(known_only=True):
            diags.error("E107", problem, Loc(shown))
        options.setdefault("declared", set()).update(graph.symbols.declared)
        settings = resolve(options, graph.lint, project)
    names = relative_names(path, shown, project.get("root"))
    for pattern, ignored in (project.get("per-file-ignores") or {}).items():
        if any(fnmatch(name, pattern) for name in names):
            settings["ignore"] = (*settings["ignore"], *ignored)
    if graph is None or diags.has_errors():  # a spec that could not be read whole: its errors are the findings
        return diags, settings
    analysis = analyze(graph, diags)
    select, ignore = settings["select"], settings["ignore"]
    rules.run_rules(analysis, diags, select, ignore)  # on the layers whose shapes are known, even after an error
    if not analysis.ok:  # totals and the signal need every shape
        rules.suppress(graph, diags)
        return diags, settings
    rules.budgets(analysis, diags, limits(settings))
    if rules.any_selected("W3", select, ignore):
        from .signal import advise, propagate, too_large

        if problem := too_large(analysis):
            loc = analysis.graph.inputs[0].loc
            diags.warning("W305", f"the signal rules (W301–W304) were not run: {problem}", loc._replace(line=1, col=1))
        else:
            advise(propagate(analysis, batch=options.get("batch", 8)), settings["band"], diags)
    rules.suppress(graph, diags)
    return diags, settings


def relative_names(path: str, shown: str, root) -> list[str]:
    """The names per-file-ignores globs are matched against: the path relative to the folder of the
    pyproject.toml (as ruff does), the path as given, and the file name."""
    names = [shown, path, Path(path).name]
    if root is not None:
        with contextlib.suppress(ValueError):  # a spec outside the project: no relative name
            names.insert(0, Path(path).resolve().relative_to(Path(root).resolve()).as_posix())
    return names


@dataclass
class Result:
    """What checking the specs found: the findings kept by each spec's settings, whether a spec could
    not be read (exit 2) or failed (exit 1), the sources read, and a --set no spec has (`problems`)."""

    count: int
    findings: list = field(default_factory=list)
    unreadable: bool = False
    failed: bool = False
    sources: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def code(self) -> int:
        """The exit code: 2 for an unreadable spec, 1 for a failed one, else 0."""
        return 2 if self.unreadable else 1 if self.failed else 0


def run(files: list[str], options: dict, project: dict) -> Result:
    """Every spec checked (lint_one), its findings kept by its settings (select, ignore, strict)."""
    from . import lint as rules
    from .diagnostics import Diagnostic, Loc, did_you_mean

    result = Result(len(files))
    for spec in files:
        diags, settings = lint_one(spec, options, project, result.sources)
        result.unreadable = result.unreadable or any(d.code in UNREADABLE for d in diags.errors)
        kept = [d for d in diags.sorted() if rules.keep(d, settings["select"], settings["ignore"])]
        result.failed = result.failed or any(d.severity == "error" for d in kept) or bool(settings["strict"] and kept)
        result.findings += kept
    declared = sorted(options.get("declared", set()))
    for n, v in (options.get("values") or {}).items():
        if n not in declared:  # a --set no spec has: a typo, never applied in silence
            message = f"--set {n}={v}: no spec checked has a symbol '{n}'{did_you_mean(n, declared)}"
            result.problems.append(Diagnostic("error", "E107", message, Loc("--set")))
    return result


def render(result: Result, fmt: str, style, snippets: bool = False, cwd: Path | None = None) -> str:
    """The findings in `fmt` (text, json, github, sarif); the text with the summary line, styled by
    `style` (render.Style), with source lines under each finding when `snippets`."""
    import json

    from . import lint as rules
    from .render import diagnostic_lines

    findings, count = result.findings, result.count
    errors = sum(d.severity == "error" for d in findings)
    warnings = sum(d.severity == "warning" for d in findings)
    if fmt == "json":
        doc = {"specs": count, "findings": [d.to_json() for d in findings], "errors": errors, "warnings": warnings}
        return json.dumps(doc, indent=1) + "\n"
    if fmt == "github":
        return "".join(line + "\n" for line in rules.github_lines(findings))
    if fmt == "sarif":
        from . import __version__
        from .sarif import sarif_log

        return json.dumps(sarif_log(findings, cwd or Path.cwd(), __version__), indent=1) + "\n"
    lines = diagnostic_lines(findings, result.sources if snippets else None)
    lines.append(f"{count} spec{'s' if count != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, "
                 f"{warnings} warning{'s' if warnings != 1 else ''}")  # fmt: skip
    return "\n".join(style.warn(x) if ": warning " in x else x for x in lines) + "\n"
