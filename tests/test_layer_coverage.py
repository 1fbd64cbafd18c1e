"""Adding a layer type touches one module, one executor kernel and one example spec: this fails when
any of the three is missing, and when a type leaves its signal rules to the base class's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcalc.diagnostics import Diagnostics
from netcalc.layers import LAYER_TYPES, REGISTRY
from netcalc.layers.base import LayerType
from netcalc.spec import load

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_every_layer_type_is_used_by_a_bundled_spec():
    seen: set = set()
    for path in SPECS.glob("*.yaml"):
        seen |= {n.op for n in load(str(path), Diagnostics()).nodes}
    assert sorted(set(REGISTRY) - seen) == []


@pytest.mark.parametrize("ltype", LAYER_TYPES, ids=lambda t: t.op)
def test_every_layer_type_states_its_signal_rules(ltype):
    cls = type(ltype)
    for method in ("sig_forward", "sig_backward"):
        assert getattr(cls, method) is not getattr(LayerType, method), f"{ltype.op}: no {method} of its own"
        assert getattr(cls, method).__doc__, f"{ltype.op}: {method} has no docstring stating the rule"


def test_every_layer_type_has_an_executor_kernel():
    from netcalc.executor.kernels import KERNELS

    assert sorted(set(REGISTRY) - set(KERNELS)) == []
