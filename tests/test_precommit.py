"""The pre-commit hook of .pre-commit-hooks.yaml, installed by pre-commit itself from a repository holding
this working tree, in a project with a clean spec, a broken one and YAML files that are no specs.

Runs where the `pre-commit` command (a test extra) and git are installed; pre-commit builds the hook's
environment with pip from the package index, which takes about a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from cli_run import ROOT

PRE_COMMIT = shutil.which("pre-commit")
pytestmark = pytest.mark.skipif(
    PRE_COMMIT is None or shutil.which("git") is None, reason="needs the pre-commit command and git"
)
IDENTITY = ["-c", "user.name=netcalc tests", "-c", "user.email=tests@netcalc.invalid"]


def git(cwd, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def test_hook_from_a_repository(tmp_path):
    hook_repo = tmp_path / "netcalc"
    shutil.copytree(ROOT, hook_repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci-venv", "__pycache__", ".pytest_cache", ".ruff_cache"))  # fmt: skip
    git(hook_repo, "init", "-q")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-q", "-m", "netcalc")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True, text=True).stdout.strip()

    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / ".github").mkdir()
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: netcalc-lint\n", encoding="utf-8"
    )
    (project / ".github" / "ci.yml").write_text("on: [push]\njobs: {}\n", encoding="utf-8")
    (project / "specs" / "clean.yaml").write_text(
        "netcalc: 1\ninput: {shape: [32]}\nlayers:\n  - {op: dense, units: 16, activation: relu}\n"
        "  - {op: dense, units: 4}\n",
        encoding="utf-8",
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def run():
        return subprocess.run([PRE_COMMIT, "run", "--all-files", "--color", "never"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip

    clean = run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "netcalc lint" in clean.stdout and "Passed" in clean.stdout

    (project / "specs" / "broken.yaml").write_text(
        "netcalc: 1\ninput: {shape: [3, 8, 8]}\nlayers:\n  - {op: conv2d, filters: 4, kernel: 9}\n", encoding="utf-8"
    )
    git(project, "add", "-A")
    broken = run()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "specs/broken.yaml:4:38: error E201" in broken.stdout
    assert "2 specs checked: 1 error, 0 warnings" in broken.stdout  # the two specs, not the other YAML files
