"""How large a network `netcalc signal` takes: the report keeps maps over every tensor's positions,
so a tensor over MAX_ELEMENTS, or more than MAX_POSITIONS positions in all, is refused before any
map is made (`too_large`, TooLarge: E119)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analyze import Analysis

MAX_ELEMENTS = 2**27  # per tensor: the report keeps maps over its positions (8 bytes each, a few at a time)
# in all: the maps of every tensor are kept (13–21 bytes a position at the peak): 2²⁴ of them stay
# near a third of a gigabyte (VGG-16 repeated to 2,600 layers, 2.8·10⁷ positions, peaked at 600 MB
# for one report and 1.1 GB for two); ResNet-152 at 224² has 2.7·10⁶
MAX_POSITIONS = 2**24


class TooLarge(Exception):
    """The network has a tensor too large for the signal report's per-position maps."""


def too_large(analysis: Analysis, copies: int = 1) -> str | None:
    """Why the signal report cannot be worked out for this network (a tensor over MAX_ELEMENTS, or
    more than MAX_POSITIONS positions over all tensors and the `copies` reports kept), or None."""
    prod = math.prod
    shapes = [(i.name, i.shape) for i in analysis.graph.inputs]
    shapes += [(r.node.name, r.out_shape) for r in analysis.rows if r.out_shape is not None]
    for name, shape in shapes:
        if prod(shape) > MAX_ELEMENTS:
            return (f"{name} has {prod(shape):,} elements per sample ({'×'.join(map(str, shape))}), more than the "
                    f"{MAX_ELEMENTS:,} the signal report keeps maps for")  # fmt: skip
    last = analysis.graph.channels_last
    positions = sum(1 if len(s) < 2 else prod(s[:-1] if last else s[1:]) for _, s in shapes)
    if positions * copies > MAX_POSITIONS:
        kept = f" in each of {copies} reports" if copies > 1 else ""
        return (f"the network's tensors have {positions:,} positions in all (a map of each is kept{kept}), more "
                f"than the {MAX_POSITIONS:,} the signal report keeps maps for")  # fmt: skip
    return None
