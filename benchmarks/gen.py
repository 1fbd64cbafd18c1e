"""Generated specs for the benchmarks: a sequential ResNet-50-sized network and an N-layer stack."""

from __future__ import annotations


def resnet50_sized() -> str:
    """A sequential network with ResNet-50's convolutions (53), batchnorms and ReLUs: ~160 layers.

    No shortcuts (those come with blocks), so the counts are not ResNet-50's: the size is.
    """
    lines = [
        "netcalc: 1",
        "name: resnet50-sized",
        "input: {shape: [3, 224, 224]}",
        "defaults: {conv2d: {bias: false}}",
        "layers:",
        "  - {op: conv2d, filters: 64, kernel: 7, stride: 2, padding: 3}",
        "  - {op: batchnorm}",
        "  - {op: relu}",
        "  - {op: maxpool2d, kernel: 3, stride: 2, padding: 1}",
    ]
    c_in = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            s = stride if b == 0 else 1
            for filters, kernel, st, pad in ((width, 1, 1, 0), (width, 3, s, 1), (width * 4, 1, 1, 0)):
                lines.append(f"  - {{op: conv2d, filters: {filters}, kernel: {kernel}, stride: {st}, padding: {pad}}}")
                lines.append("  - {op: batchnorm}")
                lines.append("  - {op: relu}")
            if b == 0:
                lines.append(f"  - {{op: conv2d, filters: {width * 4}, kernel: 1, padding: 0}}")
                lines.append("  - {op: batchnorm}")
            c_in = width * 4
    lines += ["  - {op: global_avgpool2d}", "  - {op: dense, units: 1000}"]
    assert c_in == 2048
    return "\n".join(lines) + "\n"


def stack(n_layers: int) -> str:
    """n_layers alternating 3×3 convolutions (padding 1) and ReLUs on a 16×32×32 map."""
    lines = ["netcalc: 1", f"name: stack-{n_layers}", "input: {shape: [16, 32, 32]}", "layers:"]
    for i in range(n_layers):
        lines.append("  - {op: conv2d, filters: 16, kernel: 3, padding: 1}" if i % 2 == 0 else "  - {op: relu}")
    return "\n".join(lines) + "\n"
