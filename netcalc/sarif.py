"""`netcalc lint --format sarif`: the findings as one SARIF 2.1.0 log, for GitHub code scanning.

A pure function of the findings: one run of the tool "netcalc", one rule (reportingDescriptor) per
finding code that occurs, described by `codes.CODES`, and one result per finding, at the file, line
and column the text format prints. Paths are relative to `base` (the current directory), written
with forward slashes and percent-encoded as URI references, against the base id %SRCROOT% that
code scanning resolves to the repository's root; a path outside `base` is an absolute file: URI.
Columns count Unicode code points (as the YAML reader does), which the run states.

A finding with no line (a file that cannot be read: E001) points at line 1 column 1 of its file,
as the GitHub annotations of `--format github` do, so that code scanning still shows it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from .codes import CODES

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
VERSION = "2.1.0"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def sarif_log(findings: list, base: Path, version: str) -> dict:
    """The SARIF log (a dict ready for json.dumps) of `findings` (lint's Diagnostic objects, in order)."""
    rules: list[dict] = []
    index: dict[str, int] = {}
    results = []
    for d in findings:
        level = LEVELS.get(d.severity, "note")
        if d.code not in index:
            index[d.code] = len(rules)
            rules.append(
                {
                    "id": d.code,
                    "shortDescription": {"text": CODES.get(d.code, f"netcalc finding {d.code}")},
                    "defaultConfiguration": {"level": level},
                }
            )
        text = "\n".join([d.message, *d.notes])
        result = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": level,
            "message": {"text": text},
            "locations": [{"physicalLocation": _physical(d.loc, base)}],
        }
        if d.layer:
            result["properties"] = {"layer": d.layer}
        results.append(result)
    driver = {"name": "netcalc", "version": version, "semanticVersion": version, "rules": rules}
    run = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
    return {"$schema": SCHEMA, "version": VERSION, "runs": [run]}


def _physical(loc, base: Path) -> dict:
    region = {"startLine": max(loc.line, 1), "startColumn": max(loc.col, 1)}
    return {"artifactLocation": artifact(loc.file, base), "region": region}


def artifact(file: str, base: Path) -> dict:
    """The artifactLocation of a file as a finding names it: relative to `base` under %SRCROOT%
    when it is inside `base`, else an absolute file: URI."""
    path = Path(os.path.abspath(base / file))
    root = Path(os.path.abspath(base))
    # percent-encoded from the file name's own bytes (os.fsencode): a name that is not UTF-8 (a byte
    # 0xFF, which Python holds as a lone surrogate) is written %FF, never an encoding error
    try:
        relative = path.relative_to(root)
    except ValueError:
        return {"uri": "file://" + quote(os.fsencode(path.as_posix()), safe="/")}
    return {"uri": quote(os.fsencode(PurePosixPath(*relative.parts).as_posix()), safe="/"), "uriBaseId": "%SRCROOT%"}
