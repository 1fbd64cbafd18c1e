"""window_maps sums a map over sliding windows one axis at a time (and long windows by running
sums); the definition, summed over every tap of the whole window at once as the signal rules did
before, is the independent path: the two must agree on random geometries in 1-D, 2-D and 3-D, with
strides, dilations and asymmetric padding, on both of window_maps' paths (the tap-by-tap one and
the running sums, forced by SHORT = 0). Tolerance 1e-12: sums of at most a few hundred terms of
order 1 in a different order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from netcalc import window_maps
from netcalc.window_maps import window_scatter, window_sum


def _sum_by_definition(m, ks, ss, ds, pads, outs):
    need = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(outs, ss, ds, ks, strict=True)]
    padded = np.zeros([max(nn, pb + n) for nn, (pb, _), n in zip(need, pads, m.shape, strict=True)])
    padded[tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, m.shape, strict=True))] = m
    out = np.zeros(outs)
    for taps in np.ndindex(*ks):
        out += padded[
            tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(taps, ds, outs, ss, strict=True))
        ]
    return out


def _scatter_by_definition(mo, ks, ss, ds, pads, ns):
    outs = mo.shape
    need = [max((o - 1) * s + d * (k - 1) + 1, pb + n) for o, s, d, k, (pb, _), n in zip(outs, ss, ds, ks, pads, ns, strict=True)]  # fmt: skip
    full = np.zeros(need)
    for taps in np.ndindex(*ks):
        full[
            tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(taps, ds, outs, ss, strict=True))
        ] += mo
    return full[tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, ns, strict=True))]


@pytest.mark.parametrize("short", [window_maps.SHORT, 0])
@pytest.mark.parametrize("seed", range(60))
def test_window_sums_agree_with_the_definition(seed, short, monkeypatch):
    monkeypatch.setattr(window_maps, "SHORT", short)
    rng = random.Random(seed)
    nd = rng.choice([1, 2, 3])
    ns = [rng.randint(1, 12) for _ in range(nd)]
    ks = [rng.randint(1, 5) for _ in range(nd)]
    ss = [rng.randint(1, 3) for _ in range(nd)]
    ds = [rng.randint(1, 3) for _ in range(nd)]
    pads = [(rng.randint(0, 3), rng.randint(0, 3)) for _ in range(nd)]
    outs = [(n + pb + pa - d * (k - 1) - 1) // s + 1 for n, k, s, d, (pb, pa) in zip(ns, ks, ss, ds, pads, strict=True)]
    if min(outs) < 1:
        pytest.skip("the window does not fit")
    m = np.random.default_rng(seed).random(ns)
    mo = np.random.default_rng(seed + 1).random(outs)
    np.testing.assert_allclose(window_sum(m, ks, ss, ds, pads, outs), _sum_by_definition(m, ks, ss, ds, pads, outs),
                               rtol=0, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(window_scatter(mo, ks, ss, ds, pads, ns),
                               _scatter_by_definition(mo, ks, ss, ds, pads, ns), rtol=0, atol=1e-12)  # fmt: skip


def test_a_long_3d_window_is_counted_without_visiting_each_tap():
    # a 'same' 256³ kernel over 8 × 16 × 1000 positions (fuzz campaign 6, seed 243892, case 7441:
    # 16.7 million slice additions, a timeout): the taps each position reads are, per axis, the
    # positions within 127 before and 128 after it, so the count is a product of per-axis counts
    n, k = (8, 16, 1000), 256
    pads = [(127, 128)] * 3
    counts = window_sum(np.ones(n), (k,) * 3, (1,) * 3, (1,) * 3, pads, n)
    per_axis = [np.array([min(i + 128, m - 1) - max(i - 127, 0) + 1 for i in range(m)]) for m in n]
    assert np.array_equal(counts, np.einsum("i,j,k->ijk", *per_axis))
