"""`netcalc schema`: the JSON Schema of the spec format, generated from the parser's own declarations.

The schema must be valid draft 2020-12, take every bundled spec, reject broken specs at the key that
is wrong, agree with the parser on what it can express, and change when the declarations change.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netcalc import bundled
from netcalc import json_schema as spec_schema_module
from netcalc.diagnostics import Diagnostics
from netcalc.json_schema import schema_text, spec_schema
from netcalc.kinds import Arg, Int
from netcalc.layers import ACTIVATION_NAMES, ALIASES, REGISTRY
from netcalc.layers.elementwise import ACTIVATION_ALIASES
from netcalc.spec import build
from netcalc.yamlsrc import parse_yaml

jsonschema = pytest.importorskip("jsonschema")

ERRORS = Path(__file__).parent / "errors"


@pytest.fixture(scope="module")
def schema() -> dict:
    return spec_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def findings(validator, doc) -> set[tuple[tuple, str]]:
    """(path, message) of the most relevant error under each error the schema reports."""
    out = set()
    for error in validator.iter_errors(doc):
        best = jsonschema.exceptions.best_match([error])
        out.add((tuple(best.absolute_path), best.message))
    return out


def assert_findings(validator, doc, expected: list[tuple[tuple, str]]) -> None:
    """The schema reports exactly the expected paths, each with a message containing its fragment."""
    found = findings(validator, doc)
    for path, fragment in expected:
        assert any(p == path and fragment in m for p, m in found), (path, fragment, sorted(found))
    assert {p for p, _ in found} == {p for p, _ in expected}, sorted(found)


def base_spec(**changes) -> dict:
    spec = {
        "netcalc": 1,
        "input": {"shape": [3, 32, 32]},
        "layers": [{"op": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"}, {"op": "flatten"}],
    }
    spec.update(changes)
    return spec


# -- the schema itself -------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] and schema["description"]
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator


def test_schema_text_is_stable_json():
    text = schema_text()
    assert text.endswith("}\n")
    assert text == schema_text()  # deterministic
    assert json.loads(text) == spec_schema()


def test_every_layer_type_argument_and_activation_is_in_the_schema(schema):
    defs = schema["$defs"]
    op_enum = set(defs["layer"]["properties"]["op"]["enum"])
    assert op_enum == set(REGISTRY) | set(ALIASES)
    for op, ltype in REGISTRY.items():
        for prefix in ("", "block-"):
            props = defs[f"{prefix}layer.{op}"]["properties"]
            assert set(ltype.args) <= set(props), op
            assert props["op"]["enum"][0] == op
        assert set(ltype.args) <= set(defs[f"defaults.{op}"]["properties"]), op
        assert defs["layer.conv2d"]["properties"]["filters"]["description"].startswith("output channels")
    assert set(defs["activation"]["anyOf"][0]["enum"]) == set(ACTIVATION_NAMES) | set(ACTIVATION_ALIASES)
    defaults = schema["properties"]["defaults"]["properties"]
    assert {"conv2d", "linear", "init", "units", "activation"} <= set(defaults)


def test_declared_defaults_are_values_the_schema_takes(schema):
    """Each `default` shown to editors is written as a spec would write it, and passes its own schema."""
    checked = 0
    for name, definition in schema["$defs"].items():
        for key, prop in definition.get("properties", {}).items():
            if "default" in prop:
                wrapped = {**prop, "$defs": schema["$defs"]}
                assert jsonschema.Draft202012Validator(wrapped).is_valid(prop["default"]), (name, key, prop["default"])
                checked += 1
    assert checked > 100
    conv = schema["$defs"]["layer.conv2d"]["properties"]
    assert (conv["stride"]["default"], conv["padding"]["default"], conv["init"]["default"]) == (1, 0, "default")


def test_schema_imports_no_numpy():
    code = "import sys, netcalc.json_schema as s; s.schema_text(); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- specs that must validate ------------------------------------------------------------------


@pytest.mark.parametrize("name", bundled.names())
def test_bundled_spec_validates(validator, name):
    doc = yaml.safe_load(bundled.find(name).read_text(encoding="utf-8"))
    assert findings(validator, doc) == set()


def test_all_bundled_specs_are_checked():
    assert len(bundled.names()) >= 35


# -- broken specs: rejected at the key that is wrong -------------------------------------------


BROKEN_FILES = {
    "e102_unknown_key.yaml": [
        (("input",), "'layuot' was unexpected"),
        (("layers", 0), "'filtrs' was unexpected"),
    ],
    "e102_unknown_key_in_defaults.yaml": [
        (("defaults", "conv2d"), "'bais' was unexpected"),
        (("defaults",), "'kernal' was unexpected"),
    ],
    "e103_wrong_type.yaml": [
        (("name",), "is not of type 'string'"),
        (("layers", 0, "filters"), "'16' is not of type 'integer'"),
        (("layers", 0, "kernel"), "is too long"),
        (("layers", 1, "units"), "1.5 is not of type 'integer'"),
        (("layers", 2), "'relu' is not of type 'object'"),
    ],
    "e105_not_a_choice.yaml": [
        (("convention",), "'pytorh' is not one of"),
        (("input", "layout"), "'hcw' is not one of"),
        (("layers", 0, "padding"), "'sme'"),
        (("layers", 1, "mode"), "'bilinar' is not one of"),
    ],
    "e106_missing_key.yaml": [
        ((), "'input' is a required property"),
        (("layers", 0), "'kernel' is a required property"),
        (("layers", 1), "'op' is a required property"),
    ],
    "e110_version.yaml": [(("netcalc",), "1 was expected")],
    "e111_unknown_op.yaml": [
        (("layers", 0, "op"), "'conv2' is not one of"),
        (("layers", 1, "activation"), "'rleu'"),
    ],
    "e115_merge_inputs.yaml": [
        (("layers", 1), "'in' is a required property"),
        (("layers", 2, "in"), "is too short"),
        (("layers", 3, "in"), "is too long"),
    ],
    "many_errors.yaml": [
        (("layers", 0), "'filtrs' was unexpected"),
        (("layers", 1), "'epsilon' was unexpected"),
        (("layers", 2), "'kernal' was unexpected"),  # and so 'kernel' is missing
        (("layers", 3, "units"), "'many' is not of type 'integer'"),
        (("layers", 5, "op"), "'maxpool' is not one of"),
    ],
}


@pytest.mark.parametrize("file", sorted(BROKEN_FILES))
def test_broken_spec_fails_at_the_wrong_key(validator, file):
    doc = yaml.safe_load((ERRORS / file).read_text(encoding="utf-8"))
    assert_findings(validator, doc, BROKEN_FILES[file])


def test_not_every_error_is_a_schema_error(validator):
    """Wiring, blocks' parameters and shapes are the parser's and the analysis' to check."""
    for file in ("e112_duplicate_id.yaml", "e113_in_names_nothing.yaml", "e120_block_errors.yaml", "e205_reshape.yaml"):
        doc = yaml.safe_load((ERRORS / file).read_text(encoding="utf-8"))
        assert findings(validator, doc) == set(), file


# Small specs, each checked by the schema and by the parser: (spec, expected findings; [] = valid).
BLOCK = {"params": {"filters": "int", "stride": 1}, "layers": [{"op": "conv2d", "filters": "$filters", "kernel": 3}]}
LINT_SETTINGS = {"strict": True, "select": ["W4", "B5"], "ignore": "W3", "band": 20, "max-params": "25M",
                 "max-macs": 4_000_000, "max-memory": "512MB", "max-depth": 3}  # fmt: skip
CASES = {
    "valid": (base_spec(), []),
    "unknown top-level key": (base_spec(layres=[]), [((), "'layres' was unexpected")]),
    "bad layout": (base_spec(input={"shape": [3, 32, 32], "layout": "hcw"}), [(("input", "layout"), "'hcw'")]),
    "unknown layer key": (
        base_spec(layers=[{"op": "dense", "units": 3, "unit": 3}]),
        [(("layers", 0), "'unit' was unexpected")],
    ),
    "unknown op": (base_spec(layers=[{"op": "conv4d", "filters": 3}]), [(("layers", 0, "op"), "'conv4d'")]),
    "wrong type for filters": (
        base_spec(layers=[{"op": "conv2d", "filters": "many", "kernel": 3}]),
        [(("layers", 0, "filters"), "'many' is not of type 'integer'")],
    ),
    "an alias": (base_spec(layers=[{"op": "linear", "units": 3}]), []),
    "activation shorthand as a mapping": (
        base_spec(layers=[{"op": "dense", "units": 3, "activation": {"op": "leaky_relu", "negative_slope": 0.2}}]),
        [],
    ),
    "activation mapping with another activation's argument": (
        base_spec(layers=[{"op": "dense", "units": 3, "activation": {"op": "relu", "negative_slope": 0.2}}]),
        [(("layers", 0, "activation"), "")],
    ),
    "no shorthand on a pooling layer": (
        base_spec(layers=[{"op": "maxpool2d", "kernel": 2, "activation": "relu"}]),
        [(("layers", 0), "'activation' was unexpected")],
    ),
    "required argument given in defaults for the type": (
        base_spec(defaults={"dense": {"units": 4}}, layers=[{"op": "flatten"}, {"op": "linear"}]),
        [],
    ),
    "required argument given in defaults for an alias": (
        base_spec(defaults={"linear": {"units": 4}}, layers=[{"op": "flatten"}, {"op": "dense"}]),
        [],
    ),
    "required argument given as a per-argument default": (
        base_spec(defaults={"units": 4}, layers=[{"op": "flatten"}, {"op": "dense"}]),
        [],
    ),
    "required argument given in defaults for another type": (
        base_spec(defaults={"rnn": {"units": 4}}, layers=[{"op": "flatten"}, {"op": "dense"}]),
        [(("layers", 1), "'units' is a required property")],
    ),
    "per-argument default of the wrong type": (
        base_spec(defaults={"bias": "no"}),
        [(("defaults", "bias"), "'no' is not of type 'boolean'")],
    ),
    "several inputs": (
        base_spec(input=[{"shape": [3, 32, 32]}, {"shape": [8], "name": "meta"}]),
        [],
    ),
    "empty layer list": (base_spec(layers=[]), [(("layers",), "should be non-empty")]),
    "a block with expressions": (
        base_spec(blocks={"b": BLOCK}, layers=[{"use": "b", "filters": 8, "repeat": 2, "first": {"stride": 2}}]),
        [],
    ),
    "expressions nested in a block layer": (
        base_spec(
            blocks={
                "b": {
                    "params": {"k": 3, "s": 0.01},
                    "layers": [
                        {"op": "conv2d", "filters": 4, "kernel": ["$k", 1], "init": {"name": "normal", "std": "$s"}}
                    ],
                }
            },
            layers=[{"use": "b"}],
        ),
        [],
    ),
    "expression outside a block": (
        base_spec(layers=[{"op": "conv2d", "filters": "$filters", "kernel": 3}]),
        [(("layers", 0, "filters"), "'$filters' is not of type 'integer'")],
    ),
    "unknown key in a block layer": (
        base_spec(blocks={"b": {"layers": [{"op": "relu", "slope": 0.2}]}}, layers=[{"use": "b"}]),
        [(("blocks", "b", "layers", 0), "'slope' was unexpected")],
    ),
    "missing required argument in a block layer": (
        base_spec(blocks={"b": {"layers": [{"op": "conv2d", "filters": 4}]}}, layers=[{"use": "b"}]),
        [(("blocks", "b", "layers", 0), "'kernel' is a required property")],
    ),
    "unknown key in a block": (
        base_spec(blocks={"b": {"layers": [{"op": "relu"}], "parms": {}}}, layers=[{"use": "b"}]),
        [(("blocks", "b"), "'parms' was unexpected")],
    ),
    "a block without layers": (
        base_spec(blocks={"b": {"params": {"n": "int"}}}, layers=[{"op": "relu"}]),
        [(("blocks", "b"), "'layers' is a required property")],
    ),
    "lint settings": (base_spec(lint=LINT_SETTINGS), []),
    "unknown lint key": (base_spec(lint={"max-param": 10}), [(("lint",), "'max-param' was unexpected")]),
    "lint budget that is no number": (base_spec(lint={"max-params": "lots"}), [(("lint", "max-params"), "")]),
    "lint code that is no code": (
        base_spec(lint={"select": ["W4", "X1"]}),
        [(("lint", "select", 1), "'X1' is not one of")],
    ),
    "lint code that names no finding": (
        base_spec(lint={"ignore": ["W999"]}),
        [(("lint", "ignore", 0), "'W999' is not one of")],
    ),
    "noqa of a code that names no finding": (
        base_spec(layers=[{"op": "dense", "units": 3, "noqa": {"W999": "x"}}]),
        [(("layers", 0, "noqa"), "")],
    ),
    "noqa of an error": (
        base_spec(layers=[{"op": "dense", "units": 3, "noqa": {"E201": "x"}}]),
        [(("layers", 0, "noqa"), "")],
    ),
    "lint strict that is no boolean": (
        base_spec(lint={"strict": "yes"}),
        [(("lint", "strict"), "'yes' is not of type 'boolean'")],
    ),
    "a loss": (base_spec(loss="cross_entropy"), []),
    "a loss per output": (base_spec(loss={"flatten_1": "bce"}), []),
    "an unknown loss": (base_spec(loss="crossentropy"), [(("loss",), "")]),
    "a dropout rate above 1": (
        base_spec(layers=[{"op": "dense", "units": 3}, {"op": "dropout", "rate": 1.5}]),
        [(("layers", 1, "rate"), "")],
    ),
    "a lint band below 1": (base_spec(lint={"band": 0.5}), [(("lint", "band"), "")]),
    "a memory budget without its unit's B": (base_spec(lint={"max-memory": "10M"}), [(("lint", "max-memory"), "")]),
    "a memory budget in MiB": (base_spec(lint={"max-memory": "10 MiB"}), []),
    "repeat out of range": (
        base_spec(blocks={"b": BLOCK}, layers=[{"use": "b", "filters": 8, "repeat": 0}]),
        [(("layers", 0, "repeat"), "less than the minimum of 1")],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schema_case(validator, case):
    doc, expected = CASES[case]
    assert_findings(validator, doc, expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_parser_agrees_with_the_schema(case):
    """The parser rejects exactly the specs the schema rejects, here (E1xx: the spec's own schema)."""
    doc, expected = CASES[case]
    diags = Diagnostics()
    root = parse_yaml(yaml.safe_dump(doc, sort_keys=False), "case.yaml", diags)
    assert root is not None
    build(root, "case.yaml", diags)
    codes = [d.code for d in diags.errors]
    assert bool(codes) == bool(expected), codes
    assert all(code.startswith("E1") for code in codes), codes


# -- generated, not written by hand ------------------------------------------------------------


def test_schema_follows_the_layer_declarations(monkeypatch):
    dense = copy.copy(REGISTRY["dense"])
    dense.args = {**REGISTRY["dense"].args, "fake_arg": Arg(Int(2), 7, "a made-up argument")}
    fake = copy.copy(REGISTRY["relu"])
    fake.op, fake.aliases, fake.args = "fake_op", ("fake_alias",), {"size": Arg(Int(1), doc="a made-up size")}
    monkeypatch.setattr(spec_schema_module, "REGISTRY", {**REGISTRY, "dense": dense, "fake_op": fake})
    monkeypatch.setattr(spec_schema_module, "ALIASES", {**ALIASES, "fake_alias": "fake_op"})

    changed = spec_schema()
    jsonschema.Draft202012Validator.check_schema(changed)
    prop = changed["$defs"]["layer.dense"]["properties"]["fake_arg"]
    assert prop["type"] == "integer" and prop["minimum"] == 2 and prop["default"] == 7
    assert prop["description"].startswith("a made-up argument")
    assert "fake_arg" in changed["$defs"]["defaults.dense"]["properties"]
    assert "fake_arg" in changed["properties"]["defaults"]["properties"]
    assert {"fake_op", "fake_alias"} <= set(changed["$defs"]["layer"]["properties"]["op"]["enum"])

    validator = jsonschema.Draft202012Validator(changed)
    assert_findings(validator, base_spec(layers=[{"op": "dense", "units": 3, "fake_arg": 2}]), [])
    assert_findings(validator, base_spec(layers=[{"op": "fake_alias", "size": 2}]), [])
    assert_findings(
        validator,
        base_spec(layers=[{"op": "dense", "units": 3, "fake_arg": 1}]),
        [(("layers", 0, "fake_arg"), "less than the minimum of 2")],
    )
    assert_findings(validator, base_spec(layers=[{"op": "fake_op"}]), [(("layers", 0), "'size' is a required")])

    monkeypatch.undo()
    assert spec_schema() == spec_schema_module.spec_schema()
    assert "fake_arg" not in spec_schema()["$defs"]["layer.dense"]["properties"]


def test_cli_prints_the_generated_schema():
    import json

    from cli_run import netcalc

    from netcalc.json_schema import spec_schema

    r = netcalc("schema")
    assert r.returncode == 0
    assert json.loads(r.stdout) == spec_schema()


def test_a_layer_noqa_validates():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from netcalc.json_schema import spec_schema

    doc = yaml.safe_load('netcalc: 1\ninput: {shape: [8]}\nlayers:\n  - {op: dense, units: 4, noqa: {W403: "why"}}\n')
    jsonschema.Draft202012Validator(spec_schema()).validate(doc)
    doc["layers"][0]["noqa"] = {"X1": "why"}
    assert list(jsonschema.Draft202012Validator(spec_schema()).iter_errors(doc))
