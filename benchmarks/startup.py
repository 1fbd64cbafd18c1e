"""Whole-process time of `netcalc summary`, median of several runs, beside the floor it stands on.

Measured in the same run: `python -c pass`, a bare import of typer + rich + yaml (what any CLI
built on them pays), and `netcalc summary` on a few bundled specs, the bundled ResNet-50 (built
from blocks) and a generated sequential ResNet-50-sized spec. Budget: under 250 ms for the ResNet-50-sized spec on a 2-core machine.
Usage: python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen import resnet50_sized

BUDGET_MS = 250


def median_ms(cmd: list[str], runs: int, cwd: str) -> float:
    """Median wall time. The child runs outside the repository, so that `python -m netcalc` imports
    the installed package (compiled at install) and not the source tree beside it."""
    subprocess.run(cmd, capture_output=True, check=False, cwd=cwd)  # warm the file cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False, cwd=cwd)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "resnet50-sized.yaml"
        big.write_text(resnet50_sized())
        cases = [
            ("python -c pass", [py, "-c", "pass"]),
            ("import typer, rich, yaml", [py, "-c", "import typer, rich.console, rich.table, yaml"]),
        ]
        from netcalc import bundled

        for name in ("alexnet-lite", "mnist-cnn", "flatten-vs-gap", "lstm-look-back", "resnet20-cifar", "resnet50"):
            if bundled.find(name):
                cases.append((f"netcalc summary {name}", [py, "-m", "netcalc", "summary", name]))
        cases.append(("netcalc summary resnet50-sized (generated)", [py, "-m", "netcalc", "summary", str(big)]))
        print(f"{'command':<48} {'median ms':>10}   ({args.runs} runs each)")
        result = {}
        for label, cmd in cases:
            result[label] = median_ms(cmd, args.runs, tmp)
            print(f"{label:<48} {result[label]:>10.1f}")
        for label in ("netcalc summary resnet50", "netcalc summary resnet50-sized (generated)"):
            if label in result:
                verdict = "within" if result[label] < BUDGET_MS else "OVER"
                print(f"{label}: {result[label]:.0f} ms, {verdict} the {BUDGET_MS} ms budget")


if __name__ == "__main__":
    main()
