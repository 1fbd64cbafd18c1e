"""Every finding `netcalc lint` reports, from data: tests/lint_rules/CODE_fires*.yaml must report CODE,
CODE_quiet*.yaml must not (each file's first line says why, with the figures worked out by hand).
Every rule and budget code has at least one of each; the firing case's message is checked where a
number in it is the point (by hand, in the comment of the spec)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import ROOT, netcalc

from netcalc.codes import CODES

CASES = ROOT / "tests" / "lint_rules"
NAME = re.compile(r"^(?P<code>[EWB][0-9]{3})_(?P<kind>fires|quiet)")
# the codes a design can trigger, as the issue lists them (E2xx shape errors: one mismatch is enough here;
# every other E code has its data-driven case in tests/errors/)
COVERED = [*sorted(c for c in CODES if c[0] in "WB"), "E206"]


def _cases():
    return sorted(CASES.glob("*.yaml"))


def _findings(path: Path) -> list[dict]:
    r = netcalc("lint", str(path), "--format", "json", cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["findings"]


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_case(path):
    m = NAME.match(path.stem)
    assert m, f"{path.name}: name it CODE_fires….yaml or CODE_quiet….yaml"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# {m['kind']} {m['code']}:"), f"{path.name}: the first line says what it shows"
    got = [f["code"] for f in _findings(path)]
    assert (m["code"] in got) == (m["kind"] == "fires"), (path.name, got)


def test_every_code_has_a_firing_and_a_quiet_case():
    seen = {(m["code"], m["kind"]) for p in _cases() if (m := NAME.match(p.stem))}
    missing = [f"{c}_{k}" for c in COVERED for k in ("fires", "quiet") if (c, k) not in seen]
    assert not missing, f"no case in tests/lint_rules for {missing}"


@pytest.mark.parametrize("case, message", [
    # 32·4 weights + 4 biases = 132 parameters; 132 − 100 = 32 over, 32 %
    ("B501_fires", "132 parameters, over the budget of 100 by 32 (32.0%)"),
    # (16 + 16 + 4) float32 outputs = 144 bytes; 44 over 100
    ("B505_fires", "144 bytes of activation memory, over the budget of 100 by 44 (44.0%)"),
    # 64·7·7·500 = 1,568,000 weights; after global average pooling 64·500 = 32,000
    ("W404_fires", "takes 1,568,000 weights; global average pooling (64 numbers) would take 32,000 (49× fewer)"),
    # windows at 3o + {0, 1} for o < 6 on 17 rows read 0, 1, 3, 4, …, 15, 16: rows 2, 5, 8, 11, 14 never
    ("W406_fires_stride", "input rows 2, 5, 8, 11, … (5 of 17) are never read: stride 3 is larger than the window (2)"),
    # (17 − 2·(2 − 1) − 1)/2 + 1 = 8 windows with taps at 2o + {0, 2}: the even rows 0…16; the 8 odd ones never
    ("W406_fires_dilation", "input rows 1, 3, 5, 7, … (8 of 17) are never read"),
    # windows at 0, 2, …, 30 read the even rows/columns: 1, 3, …, 31 (16 of 32) never, the last one included
    ("W201_fires_stride", "and the stride 2 is larger than the window (1), so the windows skip rows/columns between "
                          "them: 16 of the 32 input rows/columns are never read (1, 3, 5, …, 31; the last row/column "
                          "among them)"),
    # 11 windows of 3 at 0, 3, …, 30 read 0…32; 33 holds data, 34 is the zero the padding added
    ("W201_fires_zeropad", "so the last input position of 35 that is not padding is never read (after it, the 1 position "
                           "of padding zeropad1d_1 added)"),
    ("W203_fires_input", "input 'b': no layer reads it"),
    ("W405_fires_wrong_head", "probs: categorical_crossentropy takes the probabilities of a softmax, but the output "
                              "is logits (unbounded)"),
    ("W405_fires_logits_loss", "the output is a sigmoid, but bce_with_logits applies a sigmoid itself"),
    ("W305_fires", "input has 400,000,000 elements per sample (1×20000×20000)"),
])  # fmt: skip
def test_messages(case, message):
    messages = [f["message"] for f in _findings(CASES / f"{case}.yaml")]
    assert any(message in m for m in messages), messages
