"""Shared test helpers: analyse a spec given as text, without touching the file system."""

from __future__ import annotations

import os
import textwrap

import pytest

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import build
from netcalc.yamlsrc import parse_yaml

# one BLAS/OpenMP thread per test process: the suite runs on pytest-xdist workers (one per core), and a
# numpy or torch that also starts a thread per core makes the workers spin against each other (a resnet1202
# verify took 12 s alone and 53 s beside the other worker). Set before numpy or torch is first imported
# (netcalc imports neither at module level); the CLI subprocesses the tests start inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden summary files")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


def run_spec(text: str, file: str = "t.yaml", batch: int = 1, convention: str | None = None):
    """(analysis or None, diagnostics) for a spec written as YAML text (dedented)."""
    diags = Diagnostics()
    root = parse_yaml(textwrap.dedent(text), file, diags)
    graph = build(root, file, diags, convention=convention) if root is not None else None
    if graph is None or diags.has_errors():
        return None, diags
    return analyze(graph, diags, batch=batch), diags


def one_layer(layer: str, shape, layout: str = "chw", convention: str = "pytorch"):
    """Analyse a single layer (given as a YAML flow mapping) on an input shape; returns (row, diags)."""
    text = f"""
    netcalc: 1
    convention: {convention}
    input: {{shape: {list(shape)}, layout: {layout}}}
    layers:
      - {layer}
    """
    analysis, diags = run_spec(text)
    return (analysis.rows[0] if analysis else None), diags
