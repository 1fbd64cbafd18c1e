"""Golden outputs: the summary of every bundled spec in every format, byte for byte.

`pytest --update-golden` rewrites them; review the diff before committing it.
"""

from __future__ import annotations

import pytest
from cli_run import ROOT, netcalc, shown

from netcalc import bundled

GOLDEN = ROOT / "tests" / "golden"
FORMATS = {"table": "txt", "json": "json", "markdown": "md", "csv": "csv"}


# the model zoo has its figures checked in test_zoo.py; its summaries are too long to keep as files
SPECS = [name for name in bundled.names() if not name.startswith(("resnet", "vgg", "mobilenet"))]


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", SPECS)
def test_golden_summary(name, fmt, update_golden):
    result = netcalc("summary", name, "--format", fmt)
    assert result.returncode == 0, result.stderr
    text = shown(result) + "\n"
    path = GOLDEN / f"{name}.{FORMATS[fmt]}"
    if update_golden or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not update_golden:
            pytest.fail(f"{path.name} did not exist; it has been written: review it")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs (pytest --update-golden to accept)"
