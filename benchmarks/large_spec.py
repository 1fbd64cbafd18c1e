"""Analysis time of a generated 10,000-layer spec (target: under 1 s), in-process and as a whole process,
and of the bundled ResNet-1202, 1,000+ layers built from repeated blocks (target: well under 1 s).

Usage: python benchmarks/large_spec.py [--layers N]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen import stack

from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(stack(args.layers))
        diags = Diagnostics()
        gc.disable()  # as the CLI does (netcalc.cli.main)
        t0 = time.perf_counter()
        graph = load(str(path), diags)
        t1 = time.perf_counter()
        analysis = analyze(graph, diags)
        t2 = time.perf_counter()
        assert analysis.ok and len(analysis.rows) == args.layers
        print(
            f"{args.layers:,} layers: load + expand {1000 * (t1 - t0):.0f} ms, analyse {1000 * (t2 - t1):.0f} ms, "
            f"together {1000 * (t2 - t0):.0f} ms (target < 1000 ms)"
        )
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "netcalc", "summary", str(path), "--format", "json"], capture_output=True, check=True
        )
        print(f"whole process, JSON output: {1000 * (time.perf_counter() - t0):.0f} ms")

    # a deep spec built from repeated blocks: ResNet-1202 (3 stages × 200 basic blocks)
    from netcalc import bundled

    diags = Diagnostics()
    t0 = time.perf_counter()
    analysis = analyze(load(str(bundled.find("resnet1202-cifar")), diags), diags)
    t1 = time.perf_counter()
    assert analysis.ok
    print(
        f"resnet1202-cifar ({len(analysis.rows):,} layers from blocks): expand and analyse "
        f"{1000 * (t1 - t0):.0f} ms (target: well under 1 s)"
    )


if __name__ == "__main__":
    main()
