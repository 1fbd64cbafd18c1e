"""The command line: parse the options, call the pipelines (pipeline.py, lint_run.py, sizes.py,
verify.py, diff.py), render; every error is a finding with its code, reported by `_fail`.

Exit codes: 0 success (warnings allowed), 2 an unusable spec or bad usage. (1 is kept for
checks that ran and found a disagreement: lint and verify.)

Over 500 lines: the typer declarations of nine commands' options (each option's help is
its documentation), the entry point and the output dispatch; the pipelines live elsewhere.
"""

from __future__ import annotations

import gc
import os
import sys
from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="netcalc: shapes, parameters, MACs, FLOPs and memory of a neural-network design written as YAML.",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """--version: the installed distribution's version, read (importlib.metadata) only when asked."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("netcalc")
    except PackageNotFoundError:  # a source tree run without being installed
        from . import __version__ as text
    sys.stdout.write(f"netcalc {text}\n")
    raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_print_version, help="print netcalc's version and exit"
    ),
) -> None:
    pass


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class Convention(StrEnum):
    pytorch = "pytorch"
    keras = "keras"


class DType(StrEnum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


def _color(stream) -> bool:
    """Styles only for a terminal, and never with NO_COLOR set or TERM=dumb (no-color.org)."""
    return stream.isatty() and _color_allowed()


def _color_allowed() -> bool:
    """Whether the environment lets any output be styled: neither NO_COLOR nor TERM=dumb."""
    return "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _fail(diags, sources: dict, fmt: Format) -> None:
    from .render import diagnostic_lines

    if fmt == Format.json:
        import json

        print(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in diags.sorted()]}, indent=2))
    snippets = sources if sys.stderr.isatty() else None
    n = len(diags.errors)
    lines = diagnostic_lines(diags.sorted(), snippets)
    lines.append(f"{n} error{'s' if n != 1 else ''}: the spec cannot be analysed")
    sys.stderr.write("\n".join(lines) + "\n")
    raise typer.Exit(2)


SPEC_ARGUMENT = typer.Argument(..., metavar="SPEC", help="a spec file, or the name of a bundled spec")
CONVENTION_OPTION = typer.Option(
    None, "--convention", help="count parameters and lay out weights as this framework does (sizes stay as written)"
)
SET_OPTION = typer.Option(
    None, "--set", "-s", help="give a symbol of the spec a value: --set H=224 (repeat, or H=224,W=320)"
)
MAX_LAYERS_OPTION = typer.Option(
    None, "--max-layers", metavar="N", help="refuse a spec whose block uses expand to more layers (default 20,000)"
)


@app.command()
def summary(
    spec: str = typer.Argument(
        ..., metavar="SPEC", help="a spec file, or the name of a bundled spec (see `netcalc specs`)"
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="output format"),
    batch: str = typer.Option(
        "1",
        "--batch",
        "-b",
        help="batch size for memory and batch totals: a number, or a symbol (N) for formulas in it",
    ),
    dtype: DType = typer.Option(None, "--dtype", help="element type for memory (default: the spec's input dtype)"),
    convention: Convention = CONVENTION_OPTION,
    depth: int = typer.Option(
        None, "--depth", "-d", min=0, help="fold block uses deeper than this into one row with their totals"
    ),
    sets: list[str] = SET_OPTION,
    legend: bool = typer.Option(
        False, "--legend", help="state in full what the figures count, with the rule of every layer type"
    ),
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """Per-layer output shapes, weight shapes, parameters, MACs, receptive fields; totals and memory.

    A spec with symbols (shape: [3, H, W]) gets formulas, with their values at the defaults."""
    analysis, sources = _analyse(
        spec, convention, fmt, sets, symbolic=True, batch=batch, dtype=dtype.value if dtype else None,
        max_layers=max_layers,
    )  # fmt: skip
    if not analysis.ok:
        _fail(analysis.diags, sources, fmt)
    _emit(analysis, fmt, sources, depth, legend)


def _analyse(spec: str, convention, fmt: Format, sets: list[str] | None = None, max_layers=None, **options):
    """load -> expand -> analyze (pipeline.analyse); exits with the findings when the spec cannot be
    read at all."""
    from .pipeline import analyse

    convention = convention.value if convention else None
    analysis, diags, sources = analyse(spec, convention, sets, limit=max_layers, **options)
    if analysis is None:
        _fail(diags, sources, fmt)
    return analysis, sources


def _emit(analysis, fmt: Format, sources: dict, depth: int | None = None, legend: bool = False) -> None:
    from . import render

    warnings = analysis.diags.warnings
    if fmt == Format.json:
        sys.stdout.write(render.render_json(analysis) + "\n")
    elif fmt == Format.markdown:
        sys.stdout.write(render.render_markdown(analysis, depth, legend))
    elif fmt == Format.csv:
        sys.stdout.write(render.render_csv(analysis))
    else:
        style = render.Style(_color(sys.stdout))
        text = render.render_table(analysis, style, depth, render.terminal_width(sys.stdout), legend)
        if warnings:
            snippets = sources if sys.stdout.isatty() else None
            lines = render.diagnostic_lines(warnings, snippets)
            text += "\n" + "\n".join(style.warn(x) if ": warning " in x else x for x in lines) + "\n"
        sys.stdout.write(text)
    if warnings and fmt in (Format.csv,):
        sys.stderr.write("\n".join(render.diagnostic_lines(warnings)) + "\n")


class SizesFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def sizes(
    spec: str = typer.Argument(
        ..., metavar="SPEC", help="a spec file with symbols (shape: [3, H, W]), or a bundled spec's name"
    ),
    sweep: list[str] = typer.Option(
        None, "--sweep", help="MACs and memory over a range of one symbol: T=16..1024, T=16..1024:64, H,W=32..512"
    ),
    fmt: SizesFormat = typer.Option(SizesFormat.text, "--format", "-f", help="text or json"),
    sets: list[str] = SET_OPTION,
    batch: str = typer.Option("1", "--batch", "-b", help="batch size for memory: a number, or a symbol (N)"),
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """Which values of each symbol give exact divisions everywhere and outputs of at least 1.

    The smallest of them and the layers that impose each condition; with --sweep, how MACs and memory
    grow."""
    from functools import partial

    from . import sizes as sizes_mod
    from . import sizes_render
    from .pipeline import analyse

    # a --set value is the symbol's default here (set_defaults): the others are solved with it there
    at = partial(analyse, spec, None, sets, symbolic=True, set_defaults=True, limit=max_layers, batch=batch)
    analysis, diags, sources, moved = sizes_mod.find_analysis(lambda generic: at(generic=generic))
    if analysis is None or not analysis.ok:
        _fail(diags, sources, Format.table)
    got = sizes_mod.run(analysis, sweep)
    if got is None:
        _fail(analysis.diags, sources, Format.table)
    results, swept = got
    if fmt == SizesFormat.json:
        import json

        doc = sizes_render.to_json(analysis, results, swept, moved)
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(sizes_render.text(analysis, results, swept, moved))


@app.command()
def explain(
    spec: str = SPEC_ARGUMENT,
    layer: str = typer.Argument(
        ..., metavar="LAYER", help="the layer's name as the summary shows it (its id, or e.g. conv2d_2)"
    ),
    convention: Convention = CONVENTION_OPTION,
    sets: list[str] = SET_OPTION,
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """One layer's shapes, tensors, parameters and MACs, with the formulas and the numbers in them."""
    from . import render
    from .analyze import explain_context
    from .pipeline import find_row

    analysis, sources = _analyse(spec, convention, Format.table, sets, max_layers=max_layers)
    if layer in analysis.groups:  # a block use, as the summary's group rows name it
        sys.stdout.write("\n".join(render.explain_group_lines(analysis, layer)) + "\n")
        return
    row = find_row(analysis, layer)
    if row is None or not row.ok:
        _fail(analysis.diags, sources, Format.table)
    context = explain_context(analysis, row)
    sys.stdout.write("\n".join(render.explain_lines(analysis, row, context)) + "\n")


@app.command()
def signal(
    spec: str = SPEC_ARGUMENT,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="output format (table or json)"),
    init: str = typer.Option(
        None, "--init", help="initialise every kernel with this instead of the spec's: he_normal, normal:std=0.01, ..."
    ),
    compare: list[str] = typer.Option(
        None, "--compare", "-c", help="an initialiser to put side by side with the others (repeat the option)"
    ),
    band: float = typer.Option(
        10.0, "--band", min=1.0, help="warn when the growth over the net leaves band× either way"
    ),
    plot: Path = typer.Option(
        None, "--plot", help="draw the signal-propagation plot to FILE.png or FILE.svg (matplotlib)"
    ),
    batch_text: str = typer.Option(
        "8", "--batch", "-b", metavar="N", help="samples per batch for batchnorm's batch statistics (verify's default)"
    ),
    sets: list[str] = SET_OPTION,
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """Second moments of activations (forward) and gradients (backward) per layer at initialisation."""
    from . import signal_render
    from .cliargs import whole
    from .initializers import parse_cli
    from .render import terminal_width
    from .signal import advise

    given = [("--init", init)] if init else []
    given += [("--compare", text) for text in compare or ()]
    parsed = [parse_cli(text) for _, text in given]
    batch, bad_batch = whole(batch_text, "--batch")
    _option_errors(
        fmt,
        *((option, got) for (option, _), got in zip(given, parsed, strict=True) if isinstance(got, str)),
        ("--batch", bad_batch),
    )
    if plot is not None:
        suffix = plot.suffix.lower() in (".png", ".svg", ".pdf")
        _option_errors(fmt, ("--plot", None if suffix else f"--plot takes a .png, .svg or .pdf file, got '{plot}'"))
        _check_output(plot, "--plot", fmt, spec)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            _option_errors(fmt, ("--plot", "--plot needs matplotlib, which is not installed: "
                                           "pip install 'netcalc[plot]' (or pip install matplotlib)"))  # fmt: skip
    analysis, sources = _analyse(spec, None, fmt, sets, max_layers=max_layers)
    if not analysis.ok:
        _fail(analysis.diags, sources, fmt)
    overrides = parsed if compare else ([parsed[0]] if parsed else [None])
    if compare and not init:
        overrides = [None, *parsed]
    reports = [_propagate(analysis, fmt, o, batch=batch, copies=len(overrides)) for o in overrides]
    labels = [o.describe() if o else "spec" for o in overrides]
    advise(reports[0], band, analysis.diags)
    style = signal_render.Style(_color(sys.stdout))
    width = terminal_width(sys.stdout)
    if plot is not None:
        signal_render.plot(reports, labels, str(plot))
    if fmt == Format.json:
        sys.stdout.write(signal_render.render_json(reports[0], band) + "\n")
        return
    if len(reports) > 1:
        sys.stdout.write(signal_render.render_compare(reports, labels, style, width))
        if plot is not None:
            sys.stdout.write(f"plot written to {plot}\n")
        return
    text = signal_render.render_table(reports[0], style, band, width)
    warn = signal_render.warning_lines(reports[0], sources, style, sys.stdout.isatty())
    if warn:
        text += "\n" + "\n".join(warn) + "\n"
    if plot is not None:
        text += f"plot written to {plot}\n"
    sys.stdout.write(text)


@app.command()
def verify(
    spec: str = SPEC_ARGUMENT,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="output format (table or json)"),
    batch_text: str = typer.Option("8", "--batch", "-b", metavar="N", help="samples per run"),
    seeds_text: str = typer.Option(
        "8", "--seeds", metavar="N", help="weight draws to average the moments over (at most 10,000)"
    ),
    seed_text: str = typer.Option("0", "--seed", metavar="N", help="the first seed (runs use seed, seed + 1, ...)"),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32"),
    max_memory: str = typer.Option("4GB", "--max-memory", help="refuse a run estimated to need more (e.g. 8GB)"),
    save: Path = typer.Option(None, "--save", help="write the measured per-layer statistics of every run as JSON"),
    input_mean: float = typer.Option(None, "--input-mean", help="inputs drawn with this mean instead of the spec's"),
    input_std: float = typer.Option(
        None, "--input-std", min=0.0, help="inputs drawn with this std instead of the spec's"
    ),
    input_correlation: float = typer.Option(
        None, "--input-correlation", min=-1.0, max=1.0, help="correlation of neighbouring input positions"
    ),
    sets: list[str] = SET_OPTION,
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """Run the spec with the NumPy executor and compare the measurements with the predictions.

    Shapes, parameters, MACs and second moments. Exit 0 when everything agrees, 1 when something
    disagrees."""
    from . import verify as verify_mod
    from . import verify_render
    from .amounts import parse_size
    from .cliargs import MAX_VALUE, whole
    from .render import terminal_width

    batch, bad_batch = whole(batch_text, "--batch")
    seeds, bad_seeds = whole(seeds_text, "--seeds", 1, MAX_SEEDS)
    seed, bad_seed = whole(seed_text, "--seed", 0, MAX_VALUE)
    _option_errors(fmt, ("--batch", bad_batch), ("--seeds", bad_seeds), ("--seed", bad_seed))
    if save is not None:
        _check_output(save, "--save", fmt, spec)

    limit = parse_size(max_memory)
    _option_errors(
        fmt,
        ("--dtype", None if dtype in ("float64", "float32") else f"--dtype must be float64 or float32, got '{dtype}'"),
        (
            "--max-memory",
            None if limit is not None else f"--max-memory takes a size such as 4GB or 512MB, got '{max_memory}'",
        ),
    )
    analysis, sources = _analyse(spec, None, fmt, sets, max_layers=max_layers)
    if not analysis.ok:
        _fail(analysis.diags, sources, fmt)
    graph = analysis.graph
    verify_mod.set_inputs(graph, input_mean, input_std, input_correlation)
    _option_errors(fmt, ("--max-memory", verify_mod.memory_problem(graph, batch, dtype, limit, max_memory)))
    report = _propagate(analysis, fmt, batch=batch)
    runs = _runs(graph, batch, seeds, seed, dtype, fmt)
    checks = verify_mod.compare(analysis, report, runs)
    meta = verify_mod.run_meta(graph, batch, seeds, dtype)
    if save is not None:
        try:
            verify_mod.save_runs(save, meta, runs)
        except OSError as exc:  # no permission, a full disk: checked as far as it can be before the runs
            from .cliargs import write_problem

            _option_errors(fmt, ("--save", write_problem(exc, save, "--save")))
    if fmt == Format.json:
        sys.stdout.write(verify_render.render_json(checks, meta) + "\n")
    else:
        style = verify_render.Style(_color(sys.stdout))
        sys.stdout.write(verify_render.render_table(checks, meta, style, terminal_width(sys.stdout)))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


MAX_SEEDS = 10_000  # verify --seeds: each is a whole run of the network


def _option_errors(fmt: Format, *checked: tuple) -> None:
    """Exit 2 with an E107 per (option, problem) that has a problem, as --set's are reported."""
    from .diagnostics import Diagnostics, Loc

    diags = Diagnostics()
    for option, problem in checked:
        if problem:
            diags.error("E107", problem, Loc(option))
    if diags.has_errors():
        _fail(diags, {}, fmt)


def _check_output(path: Path, option: str, fmt: Format, spec: str | None = None) -> None:
    """A file to write (--save, --plot): a directory, a folder that does not exist, or the spec being
    read (`spec`, a path or a bundled name) is refused before anything runs."""
    from . import bundled
    from .cliargs import output_problem

    reads = [] if spec in (None, "-") else [Path(spec), bundled.find(spec)]
    _option_errors(fmt, (option, output_problem(path, option, [r for r in reads if r is not None])))


def _propagate(analysis, fmt: Format, *args, **kwargs):
    """The signal report, or exit 2 with an E119 saying why a network is too large for it."""
    from .diagnostics import Diagnostics
    from .signal import TooLarge, propagate

    try:
        return propagate(analysis, *args, **kwargs)
    except TooLarge as exc:
        diags = Diagnostics()
        diags.error("E119", str(exc), analysis.graph.inputs[0].loc._replace(line=1, col=1))
        _fail(diags, {}, fmt)


def _runs(graph, batch: int, seeds: int, seed: int, dtype: str, fmt: Format) -> list:
    """The executor's runs, or exit 2 with an E121 at the layer that cannot run."""
    from .diagnostics import Diagnostics, Loc
    from .executor.base import Unrunnable

    try:
        return _run_seeds(graph, batch, seeds, seed, dtype)
    except Unrunnable as exc:
        diags = Diagnostics()
        node = exc.node
        where = f"{node.op} '{node.name}'" if node is not None else "a layer"
        diags.error("E121", f"verify cannot run {where}: {exc}", node.loc if node is not None else Loc(graph.file))
        _fail(diags, {}, fmt)


def _run_seeds(graph, batch: int, seeds: int, seed: int, dtype: str) -> list:
    """The executor's runs, one per seed, with a progress bar on a terminal."""
    from .executor.run import run

    if not sys.stderr.isatty():
        return [run(graph, batch=batch, seed=seed + i, dtype=dtype) for i in range(seeds)]
    from rich.progress import Progress

    out = []
    with Progress(transient=True) as progress:
        task = progress.add_task(f"running {graph.name}", total=seeds)
        for i in range(seeds):

            def tick(done, total, i=i):
                progress.update(task, completed=i + done / total)

            out.append(run(graph, batch=batch, seed=seed + i, dtype=dtype, on_progress=tick))
    return out


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


@app.command()
def lint(
    paths: list[str] = typer.Argument(
        ..., metavar="PATH...", help="spec files, directories (their *.yaml) or bundled spec names"
    ),
    fmt: LintFormat = typer.Option(
        LintFormat.text, "--format", "-f", help="text, json, github (workflow commands) or sarif (code scanning)"
    ),
    strict: bool = typer.Option(None, "--strict/--no-strict", help="fail on warnings too"),
    select: list[str] = typer.Option(None, "--select", help="only these codes or prefixes (repeat), e.g. W4"),
    ignore: list[str] = typer.Option(None, "--ignore", help="skip these codes or prefixes (repeat)"),
    max_params: str = typer.Option(None, "--max-params", help="budget: parameters (e.g. 25M)"),
    max_macs: str = typer.Option(None, "--max-macs", help="budget: MACs per sample (e.g. 4G)"),
    max_memory: str = typer.Option(None, "--max-memory", help="budget: memory at batch 1 (e.g. 512MB)"),
    max_depth: int = typer.Option(None, "--max-depth", min=1, help="budget: weighted layers"),
    max_activation_memory: str = typer.Option(
        None, "--max-activation-memory", help="budget: activation memory at batch 1 (e.g. 200MB)"
    ),
    band: float = typer.Option(None, "--band", min=1.0, help="signal growth band (default 10)"),
    batch_text: str = typer.Option(
        "8",
        "--batch",
        "-b",
        metavar="N",
        help="samples per batch for batchnorm's batch statistics in the signal rules W301–W304 (signal's and "
        "verify's default); the budgets stay at batch 1",
    ),
    specs_only: bool = typer.Option(
        False, "--specs-only", help="skip YAML files with no top-level netcalc: key (a hook passes every YAML file)"
    ),
    sets: list[str] = typer.Option(
        None, "--set", "-s", help="give symbols a value (H=224) in the specs that have them; else their defaults"
    ),
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """Check specs for CI: every finding with its code and line.

    Exit 0 clean, 1 on an error (or, with --strict, a warning), 2 for unreadable input or bad options.
    Settings also come from the spec's `lint:` and from the tool.netcalc.lint table of pyproject.toml:
    an option wins over the spec, the spec over pyproject.toml."""
    from . import lint_run
    from .cliargs import whole
    from .diagnostics import Loc
    from .render import Style

    budgets = {"max-params": max_params, "max-macs": max_macs, "max-memory": max_memory,
               "max-activation-memory": max_activation_memory}  # fmt: skip
    options, diags = lint_run.read_options(select, ignore, strict, band, max_depth, budgets, sets, max_layers)
    options["batch"], bad_batch = whole(batch_text, "--batch")
    if bad_batch:
        diags.error("E107", bad_batch, Loc("--batch"))
    if not diags.has_errors():
        project, diags = lint_run.project_settings(Path.cwd())
    if diags.has_errors():
        _fail(diags, {}, Format.table)
    files, skipped = lint_run.targets(paths, specs_only)
    for f in skipped:
        sys.stderr.write(f"netcalc lint: note: {f} skipped (--specs-only): it has no top-level `netcalc:` key, "
                         "so it is not a netcalc spec\n")  # fmt: skip
    if not files and not specs_only:
        diags.error("E001", f"no spec found in {' '.join(paths)}", Loc(" ".join(paths)))
        _fail(diags, {}, Format.table)
    result = lint_run.run(files, options, project)
    if result.problems:
        for d in result.problems:
            diags.add(d)
        _fail(diags, {}, Format.table)
    style = Style(_color(sys.stdout))
    sys.stdout.write(lint_run.render(result, fmt.value, style, sys.stdout.isatty()))
    if result.code:
        raise typer.Exit(result.code)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format.

    It is generated from the layer declarations the parser uses; for editors with a YAML language
    server: `# yaml-language-server: $schema=...`."""
    from .json_schema import schema_text

    sys.stdout.write(schema_text())


class DiffFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


@app.command()
def diff(
    old: str = typer.Argument(..., metavar="OLD", help="the spec before the change"),
    new: str = typer.Argument(..., metavar="NEW", help="the spec after the change"),
    fmt: DiffFormat = typer.Option(DiffFormat.table, "--format", "-f", help="table, markdown (a PR comment) or json"),
    all_layers: bool = typer.Option(False, "--all", help="list unchanged layers too"),
    signal: bool = typer.Option(True, "--signal/--no-signal", help="compare the signal growth as well"),
    batch_text: str = typer.Option(
        None,
        "--batch",
        "-b",
        metavar="N",
        help="batch size for memory and batchnorm's batch statistics in the signal growth (default: memory at "
        "batch 1, the signal at verify's batch 8)",
    ),
    max_params_growth: float = typer.Option(None, "--max-params-growth", help="fail (exit 1) above this % growth"),
    max_macs_growth: float = typer.Option(None, "--max-macs-growth", help="fail (exit 1) above this % growth"),
    max_memory_growth: float = typer.Option(None, "--max-memory-growth", help="fail (exit 1) above this % growth"),
    sets: list[str] = SET_OPTION,
    max_layers: str = MAX_LAYERS_OPTION,
) -> None:
    """What a change to a design does, per layer and in total.

    Parameters, MACs, memory, output shapes, signal growth. Exit 1 when a growth budget is exceeded.
    --set applies to both specs (to the one that has the symbol, when only one has it)."""
    from . import diff as diffs
    from .cliargs import whole
    from .diagnostics import Loc

    budgets = (("--max-params-growth", max_params_growth), ("--max-macs-growth", max_macs_growth),
               ("--max-memory-growth", max_memory_growth))  # fmt: skip
    batch, bad_batch = whole(batch_text, "--batch") if batch_text is not None else (None, None)
    _option_errors(
        Format.table, *((flag, diffs.budget_problem(flag, v)) for flag, v in budgets), ("--batch", bad_batch)
    )
    at = {"batch": str(batch)} if batch is not None else {}
    before, sources_old = _analyse(old, None, Format.table, sets, known_only=True, max_layers=max_layers, **at)
    if not before.ok:
        _fail(before.diags, sources_old, Format.table)
    after, sources_new = _analyse(new, None, Format.table, sets, known_only=True, max_layers=max_layers, **at)
    if not after.ok:
        _fail(after.diags, sources_new, Format.table)
    unknown = diffs.unknown_sets(before, after, old, new)
    for problem in unknown:
        after.diags.error("E107", problem, Loc("--set"))
    if unknown:
        _fail(after.diags, sources_new, Format.table)
    d = diffs.compare(before, after, signal=signal, batch=batch or diffs.SIGNAL_BATCH)
    violations = diffs.check(d, max_params_growth, max_macs_growth, max_memory_growth)
    from . import diff_render

    if fmt == DiffFormat.json:
        sys.stdout.write(diff_render.render_json(d, all_layers=all_layers, violations=violations) + "\n")
    elif fmt == DiffFormat.markdown:
        sys.stdout.write(diff_render.render_markdown(d, all_layers=all_layers, violations=violations))
    else:
        style = diff_render.Style(_color(sys.stdout))
        sys.stdout.write(diff_render.render_table(d, style, all_layers=all_layers, violations=violations))
    if violations:
        raise typer.Exit(1)


@app.command()
def specs() -> None:
    """List the bundled specs, each with its description.

    Use a name as SPEC: `netcalc summary alexnet-lite`."""
    import shutil

    from . import bundled

    sys.stdout.write(bundled.listing(shutil.get_terminal_size().columns))


def _one_line_paragraphs(typer_app: typer.Typer) -> None:
    """Typer keeps a docstring's single line breaks (in the command list, and in every paragraph after
    the first): join them, so that docstrings wrap in the source and the help re-wraps to the
    terminal's width. Paragraphs stay apart; one that starts with \\b is kept as written."""
    import inspect

    for info in typer_app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            paragraphs = inspect.cleandoc(info.callback.__doc__).split("\n\n")
            info.help = "\n\n".join(
                p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs
            )


_one_line_paragraphs(app)


def main() -> None:
    """The console entry point. Exits with the command's code."""
    # A run builds many small objects and frees almost none before it exits: the cyclic garbage
    # collector would only rescan them (a third of the time on a 10,000-layer spec).
    gc.disable()
    code = _run()
    # Leave without the interpreter's teardown (a final collection over every object, some 70 ms
    # here): the output is flushed, there is nothing else to clean up.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `netcalc summary ... | head`
        code = code or 0
    os._exit(code)


def _run() -> int:
    from .streams import fit_streams

    fit_streams()
    if not _color_allowed():
        # typer draws --help and usage errors with rich, which keeps bold and dim under NO_COLOR and
        # styles a pipe too when FORCE_COLOR is set: this (typer's own switch, read when it first draws
        # a help, after this point) turns every terminal style off, as for netcalc's own tables
        os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"
    try:
        # the name in usage lines and in the shell-completion script, also under `python -m netcalc`
        app(prog_name="netcalc")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 130:  # typer turns Ctrl-C into a silent exit 130
            sys.stderr.write("interrupted\n")
        return code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in netcalc: one clear line, the traceback only on request
        if os.environ.get("NETCALC_DEBUG"):
            raise
        sys.stderr.write(
            f"netcalc: internal error (a bug in netcalc, please report it with the spec): "
            f"{type(exc).__name__}: {exc}\nset NETCALC_DEBUG=1 to see the traceback\n"
        )
        return 3
    return 0
