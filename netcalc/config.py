"""Project settings from pyproject.toml: [tool.netcalc.lint] (select, ignore, strict, band,
max-params, max-macs, max-memory, max-depth, per-file-ignores = {glob = [codes]})."""

from __future__ import annotations

from pathlib import Path


def lint_settings(start: Path) -> dict:
    """The [tool.netcalc.lint] table of the nearest pyproject.toml at or above `start` ({} if none)."""
    import tomllib

    for folder in [start, *start.parents]:
        path = folder / "pyproject.toml"
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError):
                return {}
            return data.get("tool", {}).get("netcalc", {}).get("lint", {})
    return {}
