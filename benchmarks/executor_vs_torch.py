"""ResNet-50 forward, NumPy executor against PyTorch on the CPU, with the same weights.

specs/resnet50.yaml at batch 8 (3×224×224), float32, inference (eval mode: batchnorm with its
running statistics): the executor's kernels run forward over the graph; PyTorch runs the same
network built by the oracle's builder (tests/torch_oracle.py) with the executor's sampled weights
copied in, under torch.no_grad(). Both use every core: torch.set_num_threads(cores), NumPy's BLAS
its default (as many threads as cores unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say
otherwise). Each side runs in its own process (so that peak memories are separate): one warm-up,
then the median of --runs forward passes. Printed: both times, the ratio executor/torch, each
process's peak resident memory (ru_maxrss) and how much the forward passes added to it.

Usage: python benchmarks/executor_vs_torch.py [--batch 8] [--runs 3] [--dtype float32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.yaml"
# compared between the two: the pooled features (with eval-mode batchnorm and default initialisers
# the activations shrink layer after layer, so the logits are little more than the dense bias)
FEATURES = "global_avgpool2d_1"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _setup(dtype: str):
    import numpy as np

    from netcalc.diagnostics import Diagnostics
    from netcalc.executor.base import Env
    from netcalc.executor.run import build_layers
    from netcalc.spec import load

    graph = load(str(SPEC), Diagnostics())
    env = Env(graph.convention, graph.channels_last, np.dtype(dtype), np.random.default_rng(0), "eval")
    return graph, build_layers(graph, env)


def _input(batch: int, dtype: str):
    import numpy as np

    return np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(dtype)


def _executor_forward(graph, layers, x):
    values = {graph.inputs[0].name: x}
    for node in graph.nodes:
        values[node.name], _ = layers[node.name].forward([values[n] for n in node.inputs])
    return values[FEATURES]


def side_executor(batch: int, runs: int, dtype: str) -> dict:
    graph, layers = _setup(dtype)
    x = _input(batch, dtype)
    before = _maxrss_mb()
    _executor_forward(graph, layers, x)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = _executor_forward(graph, layers, x)
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "times": times, "maxrss_mb": _maxrss_mb(),
            "added_mb": _maxrss_mb() - before, "checksum": float(abs(y).astype("float64").sum())}  # fmt: skip


def side_torch(batch: int, runs: int, dtype: str) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from torch_oracle import run_oracle

    torch.set_num_threads(os.cpu_count() or 1)
    graph, layers = _setup(dtype)
    model = run_oracle(graph).model
    for node in graph.nodes:  # the executor's weights into the torch modules
        layer = layers[node.name]
        if not layer.params:
            continue
        module = model[node.name.replace(".", "__")]
        named = dict(module.named_parameters())
        named.update({k: v for k, v in module.named_buffers() if not k.endswith("num_batches_tracked")})
        for key, tensor in named.items():
            name = key.removeprefix("body.")
            src = layer.params[name] if name in layer.params else layer.params[name.split(".")[-1]]
            with torch.no_grad():
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(src)))
    del layers
    model = model.to(getattr(torch, dtype)).eval()
    x = torch.from_numpy(_input(batch, dtype))
    merges = ("add", "multiply", "concat")

    def forward():
        values = {graph.inputs[0].name: x}
        for node in graph.nodes:
            module = model[node.name.replace(".", "__")]
            xs = [values[n] for n in node.inputs]
            values[node.name] = module(xs) if node.op in merges else module(xs[0])
        return values[FEATURES]

    with torch.no_grad():
        before = _maxrss_mb()
        forward()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            y = forward()
            times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "times": times, "maxrss_mb": _maxrss_mb(),
            "added_mb": _maxrss_mb() - before, "checksum": float(y.abs().double().sum()),
            "threads": torch.get_num_threads()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--side", choices=("executor", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        fn = side_executor if args.side == "executor" else side_torch
        print(json.dumps(fn(args.batch, args.runs, args.dtype)))
        return
    results = {}
    for side in ("executor", "torch"):
        cmd = [sys.executable, __file__, "--side", side, "--batch", str(args.batch), "--runs", str(args.runs),
               "--dtype", args.dtype]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    ex, to = results["executor"], results["torch"]
    cores = os.cpu_count()
    print(f"ResNet-50 forward, batch {args.batch}, 3×224×224, {args.dtype}, {cores} cores "
          f"(torch threads {to['threads']}, NumPy BLAS threads: default = cores unless OPENBLAS_NUM_THREADS is set)")  # fmt: skip
    print(f"  executor: median {ex['median']:.3f} s of {', '.join(f'{t:.3f}' for t in ex['times'])}; "
          f"peak RSS {ex['maxrss_mb']:.0f} MB (+{ex['added_mb']:.0f} MB in the forward passes)")  # fmt: skip
    print(f"  torch:    median {to['median']:.3f} s of {', '.join(f'{t:.3f}' for t in to['times'])}; "
          f"peak RSS {to['maxrss_mb']:.0f} MB (+{to['added_mb']:.0f} MB in the forward passes)")  # fmt: skip
    print(
        f"  ratio executor/torch: {ex['median'] / to['median']:.2f} (medians), {min(ex['times']) / min(to['times']):.2f} (fastest runs)"
    )
    rel = abs(ex["checksum"] - to["checksum"]) / max(abs(to["checksum"]), 1e-30)
    print(
        f"  pooled features: Σ|y| executor {ex['checksum']:.8g}, torch {to['checksum']:.8g} (relative difference {rel:.1e})"
    )


if __name__ == "__main__":
    main()
