"""The specs that ship with netcalc: `netcalc summary alexnet-lite` finds them from any directory.

In a wheel they are package data (netcalc/specs); in a source checkout they are the top-level
specs/ folder.
"""

from __future__ import annotations

from pathlib import Path


def specs_dir() -> Path:
    packaged = Path(__file__).with_name("specs")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "specs"


def names() -> list[str]:
    folder = specs_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def find(name: str) -> Path | None:
    """The bundled spec called `name` (with or without .yaml), or None."""
    stem = name[:-5] if name.endswith(".yaml") else name
    if "/" in stem or "\\" in stem or not stem:
        return None
    path = specs_dir() / f"{stem}.yaml"
    try:
        return path if path.is_file() else None
    except (OSError, ValueError):  # a name too long for a file, a NUL character: no bundled spec has it
        return None
