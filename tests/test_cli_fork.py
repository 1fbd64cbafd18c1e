"""The suite's fork server (tests/cli_fork.py) runs the CLI as a real `python -m netcalc` does:
the same exit code and the same bytes on stdout and stderr, for the kinds of run the suite makes
(a table, JSON, a located error, sympy's and NumPy's paths, stdin, --help, a usage error, a file
that is not UTF-8)."""

from __future__ import annotations

import os

import pytest
from cli_run import ROOT, _Server, default_env, run_cli

RUNS = [
    (["summary", "alexnet-lite"], None),
    (["summary", "resnet20-cifar", "--format", "json"], None),
    (["sizes", "unet-small", "--sweep", "H=16..64:16"], None),
    (["signal", "alexnet-lite"], None),
    (["verify", "alexnet-lite", "--batch", "2", "--seeds", "2"], None),
    (["explain", "alexnet-lite", "conv2d_1"], None),
    (["summary", "-"], b"netcalc: 1\ninput: {shape: [8]}\nlayers:\n  - {op: dense, units: 4, unit: 3}\n"),
    (["summary", "--help"], None),
    (["summary", "alexnet-lite", "--batch", "many"], None),
    (["lint", "b\xffd.yaml"], None),
]


@pytest.mark.parametrize("args, stdin", RUNS, ids=[" ".join(a)[:40] for a, _ in RUNS])
def test_a_forked_run_is_a_real_run(args, stdin):
    if _Server.get(default_env()) is None:
        pytest.skip("no fork server here (NETCALC_TESTS_SUBPROCESS=1, or no os.fork)")
    forked = run_cli(args, stdin=stdin, text=False)
    os.environ["NETCALC_TESTS_SUBPROCESS"] = "1"
    try:
        real = run_cli(args, stdin=stdin, text=False)
    finally:
        del os.environ["NETCALC_TESTS_SUBPROCESS"]
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert forked.stdout or forked.stderr  # each run says something


def test_a_run_that_changes_how_python_starts_is_a_real_subprocess():
    env = {**default_env(), "PYTHONIOENCODING": "ascii"}
    assert _Server.get(env) is None
    r = run_cli(
        ["summary", "-"], env=env, stdin=b"netcalc: 1\ninput: {shape: [8]}\nlayers:\n  - {op: dense, units: 4}\n"
    )
    assert r.returncode == 0 and "dense_1" in r.stdout
    assert ROOT.is_dir()
