"""verify's memory estimate against the peak resident size of real runs.

    python benchmarks/memory.py [SPEC ...] [--batches 1,4]

For each spec and batch: `netcalc verify SPEC --batch B --seeds 1` runs in a child process whose
peak resident size (os.wait4's ru_maxrss, which includes the interpreter and NumPy, ~40 MB) is
set beside `estimate_memory`'s figure. The estimate should be at least the peak (verify refuses a
run estimated over --max-memory; a low estimate lets a run exceed it) and not far above it.
"""

from __future__ import annotations

import os
import subprocess
import sys

DEFAULT = ["mnist-cnn", "alexnet-lite", "resnet18", "mobilenet-v2", "unet-small", "text-bilstm", "stacked-gru",
           "tests/lint_rules/W305_quiet.yaml"]  # fmt: skip


def peak_mb(spec: str, batch: int, dtype: str) -> float:
    cmd = [sys.executable, "-m", "netcalc", "verify", spec, "--batch", str(batch), "--seeds", "1",
           "--dtype", dtype, "--max-memory", "1000GB", "--format", "json"]  # fmt: skip
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        return float("nan")
    return usage.ru_maxrss / 1024  # KiB on Linux


def estimate_mb(spec: str, batch: int, dtype: str) -> float:
    from netcalc.cli import Format, _analyse
    from netcalc.executor.run import estimate_memory

    analysis, _ = _analyse(spec, None, Format.table, [], max_layers=None)
    return estimate_memory(analysis.graph, batch, dtype) / 2**20


def main(argv: list[str]) -> None:
    batches, dtype, specs = [1, 4], "float64", []
    it = iter(argv)
    for arg in it:
        if arg == "--batches":
            batches = [int(b) for b in next(it).split(",")]
        elif arg == "--dtype":
            dtype = next(it)
        else:
            specs.append(arg)
    print(f"{'spec':<36} {'batch':>5} {'estimate MiB':>13} {'peak MiB':>9} {'est/peak':>8}")
    for spec in specs or DEFAULT:
        for b in batches:
            est, peak = estimate_mb(spec, b, dtype), peak_mb(spec, b, dtype)
            print(f"{spec[-36:]:<36} {b:>5} {est:>13.0f} {peak:>9.0f} {est / peak:>8.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
