"""The JSON Schema (draft 2020-12) of the spec format, generated from the parser's own declarations.

`netcalc schema` prints it so that an editor with a YAML language server completes and checks
specs (save it, then put `# yaml-language-server: $schema=netcalc-spec.schema.json` atop a spec, or
map it to specs in the editor's settings). The schema is built on every call, never stored, from
the declarations the parser itself reads; the only text written here is what the keys every layer
and every block use take mean, and the kinds of the block-use keys, which expand.py builds inline:

- the top level: `spec.TOP` (kinds, docs, defaults, which keys are required) and `spec.VERSION`;
- `input:`: `spec.INPUT`, as one mapping or a non-empty list of such mappings (several inputs);
- `layers:`: one schema per layer type of `layers.REGISTRY` (op name and aliases, `summary`, and
  each `Arg`: `kind.json_schema()`, `doc`, `kind.describe()`, `default`, `required`), the keys every
  layer takes (`layer_entry.LAYER_KEYS`), the `activation:` shorthand on the types with the
  `takes_activation` trait (`ACTIVATION_NAMES`, `ACTIVATION_ALIASES`, and in its mapping form
  that activation's own arguments), and `in:` shaped by the type's `arity`;
- block uses `{use: ...}`: `expand.USE_KEYS` (the kinds of use/id/repeat/first/in mirror
  `expand._use_values`, where they are built inline; any other key is a block parameter);
- `defaults:`: per layer type (and per alias) that type's arguments, and per argument the kinds of
  every type that takes it (an op name wins over an argument name, as in `spec._defaults`: the
  key `batchnorm` is the batchnorm type's defaults, not shortcut's `batchnorm` argument);
- `blocks:`: `{params, layers, description}` as `blocks.parse_blocks` reads them, the parameter
  type words from `blocks.TYPES`.

Choices:

1. A layer item is routed to its op's schema with `if`/`then` (`if op is conv2d then
   $defs/layer.conv2d`, `if the item has use: then $defs/use`) rather than a bare `anyOf`/`oneOf` of
   the per-op schemas. With a union every branch but one fails on `op`, and a validator then tends to
   report "'conv2d' is not 'dense'" from an unrelated branch (jsonschema's `best_match` prefers the
   deepest error) instead of the unknown key; with `if`/`then` exactly one per-op schema applies, so
   an error names the key that is wrong. Each per-op schema is closed (`additionalProperties: false`)
   as the parser rejects unknown keys; an unknown op fails the `op` enum.
2. Required arguments are not `required` in the per-op schemas, because `defaults:` may supply them
   (`defaults: {dense: {units: 256}}` then `{op: dense}`). Instead a top-level `allOf` holds, per
   (op, required argument), "unless `defaults` gives it (under the op, an alias, or as a
   per-argument default), every layer of that op, top-level or in a block, has it".
3. Inside `blocks.*.layers` any value may be a `$` expression (substituted before the checks):
   block layers have their own copies of the per-op schemas (`$defs/block-layer.OP`) in which every
   place that takes a scalar, at any depth (`kernel: [$k, 1]`, `init: {name: normal, std: $s}`), also
   takes a string starting with `$` (`$defs/expression`). Keys are still checked and literal values
   still typed; an `op:` that is itself an expression matches no per-op schema and is not checked.
4. `default` is given where it is JSON as a spec would write it: a per-axis tuple of equal values
   as one value ((1, 1) → 1, ((0, 0), (0, 0)) → 0), an initialiser by name. Defaults that depend on
   the convention or the input (None in the declarations) are left out; the docs say what they are.

What the schema cannot say, and the parser still checks: duplicate keys and merge keys (lost when
YAML is loaded), YAML 1.1 octal/hex integers and booleans (a YAML 1.2 editor reads `yes` as a
string, PyYAML as true), number ranges that `Float.json_schema()` does not state, that `in:` and
`outputs:` name earlier layers, which parameters a given block takes, and everything about shapes.

Only the standard library and netcalc's own declaration modules are imported (never numpy).

Over 500 lines: one generator of one document, some 50 lines of it this docstring (the choices
above and what the schema cannot say); the helpers at the end serve only `_Builder`, and moving
them away would split the rules of one schema between two modules.
"""

from __future__ import annotations

import json
import math

from .blocks import TYPES
from .compound_kinds import Names
from .expand import USE_KEYS, Count
from .initializers import InitSpec
from .kinds import REQUIRED, Arg, Bool, Str
from .layer_entry import LAYER_EXTRA, LAYER_KEYS
from .layers import ACTIVATION_NAMES, ALIASES, REGISTRY
from .layers.elementwise import ACTIVATION_ALIASES
from .spec import INPUT, RAW_KEYS, TOP, VERSION
from .tying import TIE_ARG

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCALAR_TYPES = ("integer", "number", "boolean", "string")
EXPRESSION = {"$ref": "#/$defs/expression"}
# a kind schema at least this long (compact JSON; an initialiser's) is written once under $defs
SHARED_KIND_SIZE = 200

# The block-use keys, with the kinds `expand._use_values` gives them (it builds them inline).
USE_ARGS = {
    "use": Arg(Str(), doc="the block to expand: a name under `blocks:`"),
    "id": Arg(Str(), None, "names the use; its layers become ID.REPETITION.LAYER_ID (default: the block and a number)"),
    "repeat": Arg(
        Count(),
        1,
        "how many times the block runs, each repetition reading the previous one's output; "
        "a symbol's name takes its value (--set, else its default)",
    ),
    "first": Arg(Str(), None, "parameter values for the first repetition only, e.g. {stride: 2}"),
    "in": Arg(Names(), None, "the one earlier layer or input the block reads (default: the previous layer)"),
    "trainable": Arg(Bool(), True, "false freezes every layer of the use (its weights count as non-trainable)"),
    "if": Arg(Bool(), True, "false leaves the use out (inside a block, a `$` expression over its parameters)"),
    "shares": Arg(
        Str(),
        None,
        "an earlier use of the same block whose weights this use's layers use (its parameters are that "
        "use's; the weights are counted once, there; MACs and FLOPs at each use)",
    ),
    "shared": Arg(Bool(), False, "true: every repetition uses the first repetition's weights (counted once)"),
}
# What the keys every layer takes mean (layer_entry.LAYER_KEYS).
LAYER_KEY_DOCS = {
    "op": "the layer type",
    "id": "names this layer's output (default: the type and a number, e.g. conv2d_1); "
    "with `activation:`, the output after the activation",
    "in": "takes a named output instead of the previous layer's: a layer id, an input's name, or a state "
    "such as lstm.h (inside a block, `input` is what the block was given)",
    "activation": "adds an activation after this layer, shown as its own row: a name such as relu, or "
    "{op: leaky_relu, negative_slope: 0.2}",
}


def spec_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a netcalc spec, built from the parser's declarations."""
    return _Builder().build()


def schema_text() -> str:
    """The schema as indented JSON text, ending with a newline."""
    return json.dumps(spec_schema(), indent=2) + "\n"


class _Builder:
    """One build of the schema: `defs` collects the $defs, `kinds` the kind schemas written once."""

    def __init__(self) -> None:
        self.defs: dict = {}
        self.kinds: dict = {}

    def build(self) -> dict:
        defs = self.defs
        defs["expression"] = {
            "type": "string",
            "pattern": "^\\$",
            "description": "a `$` expression over the block's parameters, e.g. $filters * 4 or "
            '"${filters // 2}": numbers, names, + - * / // % **, comparisons, a if c else b, '
            "min, max, abs, int, round",
        }
        defs["input"] = self.input_schema()
        for block in (False, True):
            prefix = "block-" if block else ""
            defs[f"{prefix}layer"] = self.layer_item_schema(block)
            defs[f"{prefix}use"] = self.use_schema(block)
            defs[f"{prefix}activation"] = self.activation_schema(block)
            for op, ltype in REGISTRY.items():
                defs[f"{prefix}layer.{op}"] = self.layer_schema(op, ltype, block)
        for op, ltype in REGISTRY.items():
            defs[f"defaults.{op}"] = self.op_defaults_schema(op, ltype)
        defs["block"] = self.block_schema()

        properties: dict = {}
        for key, arg in TOP.items():
            if key in RAW_KEYS:
                properties[key] = {"description": arg.doc, **self.raw_top_schema(key)}
            else:
                properties[key] = self.arg_schema(arg)
        properties["netcalc"]["const"] = VERSION
        return {
            "$schema": DIALECT,
            "title": "netcalc spec",
            "description": "A neural-network design for netcalc: the input, the layers in order, and optionally "
            "defaults, reusable blocks and the outputs. Unknown keys are errors.",
            "type": "object",
            "properties": properties,
            "required": [key for key, arg in TOP.items() if arg.required],
            "additionalProperties": False,
            "allOf": _required_args_rules(),
            "$defs": {**defs, **self.kinds},
        }

    # -- arguments -----------------------------------------------------------------------------

    def arg_schema(self, arg: Arg, block: bool = False, required_note: str = "required") -> dict:
        """An argument's value: its kind's schema (with `$` expressions in blocks), doc and default."""
        out: dict = {"description": _describe(arg, required_note)}
        out.update(self.kind_schema(arg.kind, block))
        default = _json_default(arg.default)
        if default is not None:
            out["default"] = default
        return out

    def kind_schema(self, kind, block: bool = False) -> dict:
        """A kind's schema; a long one (an initialiser's) as a $ref to one copy under $defs."""
        schema = kind.json_schema()
        if block:
            schema = _with_expressions(schema)
        if len(json.dumps(schema)) < SHARED_KIND_SIZE:
            return schema
        base = ("block-kind." if block else "kind.") + type(kind).__name__
        name, n = base, 1
        while name in self.kinds and self.kinds[name] != schema:
            n += 1
            name = f"{base}{n}"
        self.kinds[name] = schema
        return {"$ref": f"#/$defs/{name}"}

    # -- top level -----------------------------------------------------------------------------

    def raw_top_schema(self, key: str) -> dict:
        """The top-level keys spec.py reads with their own readers (spec.RAW_KEYS)."""
        if key == "input":
            several = {
                "type": "array",
                "description": "several inputs, each with its own name: the first feeds the first layer, "
                "`in:` reads the others",
                "items": {"$ref": "#/$defs/input"},
                "minItems": 1,
            }
            return {"anyOf": [{"$ref": "#/$defs/input"}, several]}
        if key == "layers":
            return {"type": "array", "items": {"$ref": "#/$defs/layer"}, "minItems": 1}
        if key == "defaults":
            return self.defaults_schema()
        if key == "blocks":
            return {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"}}
        if key == "symbols":
            from .symbols import DECLARATION

            declaration = {
                "type": "object",
                "properties": {k: {"description": a.doc, **a.kind.json_schema()} for k, a in DECLARATION.items()},
                "additionalProperties": False,
            }
            return {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, declaration]},
            }
        raise KeyError(f"spec.RAW_KEYS has '{key}', which spec_schema does not describe")

    def input_schema(self) -> dict:
        return {
            "type": "object",
            "description": "the input tensor, without the batch axis",
            "properties": {key: self.arg_schema(arg) for key, arg in INPUT.items()},
            "required": [key for key, arg in INPUT.items() if arg.required],
            "additionalProperties": False,
        }

    # -- layers --------------------------------------------------------------------------------

    def layer_item_schema(self, block: bool) -> dict:
        """One entry of a layer list: a block use, or a layer routed to its op's schema (choice 1)."""
        prefix = "block-" if block else ""
        op_schema: dict = {"enum": _all_op_names()}
        if block:
            op_schema = {"anyOf": [op_schema, EXPRESSION]}
        routes = [
            {
                "if": {"type": "object", "properties": {"op": {"enum": _op_names(op)}}, "required": ["op"]},
                "then": {"$ref": f"#/$defs/{prefix}layer.{op}"},
            }
            for op in REGISTRY
        ]
        return {
            "type": "object",
            "description": "a layer {op: TYPE, arguments...} or a block use {use: BLOCK, parameters...}",
            "properties": {
                "op": {"description": LAYER_KEY_DOCS["op"], **op_schema},
                "use": {"description": USE_ARGS["use"].doc, "type": "string"},
            },
            "if": {"type": "object", "required": ["use"]},
            "then": {"$ref": f"#/$defs/{prefix}use"},
            "else": {"required": ["op"], "allOf": routes},
        }

    def layer_schema(self, op: str, ltype, block: bool) -> dict:
        """The mapping of one layer of type `op`, closed (the parser rejects unknown keys)."""
        prefix = "block-" if block else ""
        names = _op_names(op)
        properties: dict = {}
        for key in LAYER_KEYS:
            doc = LAYER_KEY_DOCS[key]
            if key == "op":
                properties[key] = {"description": doc, "enum": names}
            elif key == "id":
                properties[key] = {"description": doc, **Str().json_schema()}
            elif key == "in":
                merge = " (a merge: two or more, required)" if ltype.arity is None else ""
                properties[key] = {"description": doc + merge, **_in_schema(ltype.arity, ltype.optional_inputs)}
            elif key == "activation":
                if ltype.takes_activation:
                    properties[key] = {"description": doc, "$ref": f"#/$defs/{prefix}activation"}
            else:
                raise KeyError(f"layer_entry.LAYER_KEYS has '{key}', which spec_schema does not describe")
        for key, arg in LAYER_EXTRA.items():
            # `if:` is a `$` expression over a block's parameters (the others are written as values)
            properties[key] = {"description": arg.doc, **self.kind_schema(arg.kind, block and key == "if")}
        if ltype.ties:  # `tie: NAME`, on the types that may take another type's tensor
            doc = f"{TIE_ARG.doc} (a layer of type {' or '.join(ltype.ties)})"
            properties["tie"] = {"description": doc, **self.kind_schema(TIE_ARG.kind, False)}
        for key, arg in ltype.args.items():
            properties[key] = self.arg_schema(arg, block, "required unless `defaults:` gives it")
        description = ltype.summary or op
        if len(names) > 1:
            description += f" (also written {', '.join(names[1:])})"
        return {
            "title": op,
            "description": description,
            "type": "object",
            "properties": properties,
            "required": ["op", "in"] if ltype.arity is None else ["op"],
            "additionalProperties": False,
        }

    def activation_schema(self, block: bool) -> dict:
        """The `activation:` shorthand: a name, or {op: NAME, that activation's arguments}."""
        by_name: dict = {"enum": list(ACTIVATION_NAMES) + list(ACTIVATION_ALIASES)}
        if block:
            by_name = {"anyOf": [by_name, EXPRESSION]}
        routes = []
        for name in ACTIVATION_NAMES:
            spellings = [name, *(alias for alias, target in ACTIVATION_ALIASES.items() if target == name)]
            args = {key: self.arg_schema(arg, block) for key, arg in REGISTRY[name].args.items()}
            routes.append(
                {
                    "if": {"properties": {"op": {"enum": spellings}}, "required": ["op"]},
                    "then": {"properties": {"op": True, **args}, "additionalProperties": False},
                }
            )
        mapping = {
            "type": "object",
            "properties": {"op": {"description": "the activation", **by_name}},
            "required": ["op"],
            "allOf": routes,
        }
        return {"description": LAYER_KEY_DOCS["activation"], "anyOf": [by_name, mapping]}

    def use_schema(self, block: bool) -> dict:
        """A block use: the USE_KEYS, and any other key a block parameter (a scalar)."""
        if set(USE_KEYS) != set(USE_ARGS):
            raise KeyError(f"expand.USE_KEYS {USE_KEYS} differ from the keys spec_schema describes {tuple(USE_ARGS)}")
        param: dict = {"description": "a parameter of the block", "type": list(SCALAR_TYPES)}
        properties: dict = {}
        for key in USE_KEYS:
            if key == "first":
                properties[key] = {"description": USE_ARGS[key].doc, "type": "object", "additionalProperties": param}
            else:
                properties[key] = self.arg_schema(USE_ARGS[key], block)
        return {
            "type": "object",
            "description": "a use of a block: its layers, `repeat` times, with these parameter values",
            "properties": properties,
            "required": [key for key, arg in USE_ARGS.items() if arg.required],
            "additionalProperties": param,
        }

    # -- defaults and blocks -------------------------------------------------------------------

    def defaults_schema(self) -> dict:
        """`defaults:` per layer type (or alias), and per argument for every type that takes it."""
        properties: dict = {}
        for op in REGISTRY:
            for name in _op_names(op):
                properties[name] = {"$ref": f"#/$defs/defaults.{op}"}
        op_names = set(properties)
        takers: dict = {}
        for op, ltype in REGISTRY.items():
            for key, arg in ltype.args.items():
                takers.setdefault(key, []).append((op, arg))
        for key, pairs in takers.items():
            if key in op_names:  # spec._defaults reads it as the layer type's defaults
                continue
            kinds: list = []
            for _, arg in pairs:
                schema = self.kind_schema(arg.kind)
                if schema not in kinds:
                    kinds.append(schema)
            ops = ", ".join(op for op, _ in pairs)
            properties[key] = {
                "description": f"'{key}' of every layer type that takes it ({ops}): {pairs[0][1].doc}",
                **(kinds[0] if len(kinds) == 1 else {"anyOf": kinds}),
            }
        properties["activation"] = {
            "description": "an activation after every layer that takes the `activation:` shorthand",
            "$ref": "#/$defs/activation",
        }
        return {"type": "object", "properties": properties, "additionalProperties": False}

    def op_defaults_schema(self, op: str, ltype) -> dict:
        properties = {key: self.arg_schema(arg, required_note="") for key, arg in ltype.args.items()}
        if ltype.takes_activation:
            properties["activation"] = {"description": LAYER_KEY_DOCS["activation"], "$ref": "#/$defs/activation"}
        return {
            "type": "object",
            "description": f"default arguments of every {op} layer",
            "properties": properties,
            "additionalProperties": False,
        }

    def block_schema(self) -> dict:
        params = {
            "type": "object",
            "description": "the parameters: a type word (required) or a value (the default), "
            "e.g. {filters: int, stride: 1}",
            "additionalProperties": {
                "anyOf": [
                    {"description": "a type: the parameter is required", "enum": list(TYPES)},
                    {"description": "the default value", "type": list(SCALAR_TYPES)},
                ]
            },
        }
        layers = {
            "type": "array",
            "description": "the block's layers; any value may be a `$` expression over the parameters, "
            "`input` is what the block was given and ids are local",
            "items": {"$ref": "#/$defs/block-layer"},
            "minItems": 1,
        }
        return {
            "type": "object",
            "description": "a reusable group of layers with typed parameters, used as {use: NAME, PARAM: value}",
            "properties": {"params": params, "layers": layers, "description": {"type": "string"}},
            "required": ["layers"],
            "additionalProperties": False,
        }


def _required_args_rules() -> list:
    """Per (op, required argument): unless `defaults:` gives it, every layer of that op has it (choice 2),
    except a layer with `shares:`, which takes its arguments from the layer it names."""
    rules = []
    all_names = set(_all_op_names())
    for op, ltype in REGISTRY.items():
        names = _op_names(op)
        for arg_name, arg in ltype.args.items():
            if not arg.required:
                continue
            given = [{"required": [name], "properties": {name: {"required": [arg_name]}}} for name in names]
            if arg_name not in all_names:  # a per-argument default (an op name is read as the type's)
                given.insert(0, {"required": [arg_name]})
            needs = {
                "if": {"properties": {"op": {"enum": names}}, "required": ["op"], "not": {"required": ["shares"]}},
                "then": {"required": [arg_name]},
            }
            in_lists = {
                "layers": {"items": needs},
                "blocks": {"additionalProperties": {"properties": {"layers": {"items": needs}}}},
            }
            rules.append(
                {
                    "if": {"required": ["defaults"], "properties": {"defaults": {"anyOf": given}}},
                    "else": {"properties": in_lists},
                }
            )
    return rules


def _describe(arg: Arg, required_note: str = "required") -> str:
    """The doc, what the kind takes (kind.describe()), and whether it must be given."""
    parts = [arg.doc] if arg.doc else []
    what = arg.kind.describe()
    if what != "a value":
        parts.append(f"Takes {what}")
    if arg.required and required_note:
        parts.append(required_note[0].upper() + required_note[1:])
    return ". ".join(parts) + "." if parts else ""


def _json_default(value):
    """A declared default as a spec would write it, or None when there is none to show (choice 4)."""
    if value is REQUIRED or value is None:
        return None
    if isinstance(value, InitSpec):
        shown = {k: v for k, v in value.params.items() if k != "spelling"}
        return {"name": value.name, **shown} if shown else value.name
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, tuple | list):
        items = [_json_default(v) for v in value]
        if not items or None in items:
            return None
        if all(item == items[0] for item in items):  # one value for every axis: written once
            return items[0]
        return items
    return None


def _in_schema(arity: int | None, optional: int = 0) -> dict:
    """`in:` as Names takes it, narrowed to how many inputs the layer type takes (E115): `arity`,
    and up to `optional` more (attention's memory)."""
    branches = Names().json_schema()["anyOf"]
    array = next(b for b in branches if b.get("type") == "array")
    if arity is None:  # a merge: a list of two or more names
        return {**array, "minItems": 2}
    return {"anyOf": [b if b is not array else {**array, "maxItems": arity + optional} for b in branches]}


def _op_names(op: str) -> list[str]:
    """The names a spec may write for a layer type: the op, then its aliases."""
    return [op, *(alias for alias, target in ALIASES.items() if target == op)]


def _all_op_names() -> list[str]:
    return [name for op in REGISTRY for name in _op_names(op)]


# -- `$` expressions in blocks (choice 3) ------------------------------------------------------


def _takes_scalar(schema) -> bool:
    if not isinstance(schema, dict):
        return False
    if "enum" in schema or "const" in schema:
        return True
    types = schema.get("type")
    if types is not None:
        return any(t in SCALAR_TYPES for t in ([types] if isinstance(types, str) else types))
    return any(_takes_scalar(branch) for branch in schema.get("anyOf", ()))


def _takes_any_string(schema) -> bool:
    """Whether the schema already takes every string (so a `$` expression needs no alternative)."""
    if not isinstance(schema, dict):
        return False
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if "string" in types and not set(schema) & {"pattern", "enum", "const", "minLength", "maxLength", "format"}:
        return True
    return any(_takes_any_string(branch) for branch in schema.get("anyOf", ()))


def _with_expressions(schema):
    """The schema with a `$` expression allowed wherever it takes a scalar, at any depth."""
    if not isinstance(schema, dict) or not schema or "$ref" in schema:
        return schema
    inner = _nested_with_expressions(schema)
    if not _takes_scalar(schema) or _takes_any_string(schema):
        return inner
    if "anyOf" in inner and set(inner) <= {"anyOf", "description", "default", "title"}:
        return {**inner, "anyOf": [*inner["anyOf"], EXPRESSION]}
    return {"anyOf": [inner, EXPRESSION]}


def _nested_with_expressions(schema: dict) -> dict:
    out = dict(schema)
    if "anyOf" in out:
        out["anyOf"] = [_nested_with_expressions(b) if isinstance(b, dict) else b for b in out["anyOf"]]
    if isinstance(out.get("items"), dict):
        out["items"] = _with_expressions(out["items"])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _with_expressions(v) for k, v in out["properties"].items()}
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _with_expressions(out["additionalProperties"])
    return out
