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


def similar(name: str) -> list[str]:
    """The bundled names a mistyped one most likely meant, best first (at most three, or five that
    it begins; none when nothing is close: 'lenet' is not 'resnet50'). A name that is the first
    part of up to five bundled ones ('lstm', 'unet', 'alexnet') stands for them; else difflib's ratio, at least 0.7 (which
    drops 'lenet' → 'resnet50' at 0.62) and within 0.05 of the best, so that a near miss gets one
    answer ('alexnet-lit' → 'alexnet-lite') and a tie gets all of them ('resnet')."""
    from difflib import SequenceMatcher

    word = name.strip().lower().replace("_", "-").removesuffix(".yaml").removesuffix(".yml")
    every = names()
    if not word or len(word) > 100:  # nothing is close to a long text, and comparing it would be slow
        return []
    parts = [n for n in every if n.startswith(word + "-")]
    if 0 < len(parts) <= 5:
        return parts
    scored = sorted((-SequenceMatcher(None, word, n).ratio(), n) for n in every)
    best = -scored[0][0] if scored else 0.0
    return [n for r, n in scored[:3] if -r >= 0.7 and -r >= best - 0.05]


def description(path: Path) -> str:
    """A spec's one-line description: its top-level `description:`, else the first sentence of the
    comment it starts with, else ''. Read from the text (no YAML parse of the whole file), so that
    `netcalc specs` stays fast."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for i, line in enumerate(lines):
        if line.startswith("description:"):
            text = line
            for more in lines[i + 1 :]:  # a plain scalar continued on indented lines
                if not more.startswith((" ", "\t")) or more.lstrip().startswith("#"):
                    break
                text += "\n" + more
            import yaml

            try:
                value = yaml.safe_load(text)["description"]
            except yaml.YAMLError:
                value = None
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
            break
    comment = []
    for line in lines:
        if line.startswith(("#!", "# yaml-language-server:")):  # an interpreter or an editor's modeline
            continue
        if not line.startswith("#"):
            break
        words = line.lstrip("#").strip()
        if not words:
            break
        comment.append(words)
    text = " ".join(comment)
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def listing(columns: int) -> str:
    """`netcalc specs`: each bundled name and its description, wrapped to `columns`."""
    import textwrap

    folder = specs_dir()
    rows = [(name, description(folder / f"{name}.yaml")) for name in names()]
    if not rows:
        return ""
    indent = max(len(name) for name, _ in rows) + 2
    out = []
    for name, text in rows:
        lines = textwrap.wrap(text, max(columns - indent, 20), break_on_hyphens=False) or [""]
        out.append(f"{name:<{indent}}{lines[0]}".rstrip())
        out += [" " * indent + line for line in lines[1:]]
    return "\n".join(out) + "\n"
