"""Validate a request against an exported rest-typings schema the way Rocket.Chat's ajv does.

The schemas are ajv's (JSON Schema 2020-12 plus ajv's `nullable`, its `isNotEmpty` keyword and the
`basic_email`/`rfc_email` formats), compiled in Rocket.Chat with `coerceTypes` (the query instance
with `coerceTypes: "array"`), and answered with ajv's first error (`allErrors` off), or with every
branch's first error then the combinator's own under anyOf/oneOf, messages joined by "\\n " as
Rocket.Chat's router joins them. The validation itself is `jsonschema`'s: the ajv specifics are
the coercion pre-pass, three keywords and the message texts below.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


# ---- coercion (ajv `coerceTypes`) ------------------------------------------------------------


def _is(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


_NO = object()


def _coerce_scalar(value: Any, kind: str) -> Any:
    """ajv's coercion table; _NO when ajv would not coerce."""
    if kind == "string":
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            whole = isinstance(value, float) and value.is_integer()
            return str(int(value)) if whole else str(value)
    elif kind in ("number", "integer"):
        if isinstance(value, bool):
            return int(value)
        if value is None:
            return 0
        if isinstance(value, str) and _NUMBER.match(value):
            n = float(value)
            if kind == "integer" and not n.is_integer():
                return _NO
            return int(n) if n.is_integer() and math.isfinite(n) else n
    elif kind == "boolean":
        if value in ("true", 1) and not isinstance(value, bool):
            return True
        if value in ("false", 0) and not isinstance(value, bool):
            return False
        if value is None:
            return False
    elif kind == "null" and value in ("", 0):  # also False, which == 0
        return None
    return _NO


def coerce(schema: Any, data: Any, arrays: bool) -> Any:
    """`data` with ajv's type coercion applied along `schema` (a copy; the request is kept)."""
    if not isinstance(schema, dict):
        return data
    kinds = schema.get("type")
    if isinstance(kinds, str):
        kinds = [kinds]
    if kinds:
        if schema.get("nullable") and data is None:
            return data
        if not any(_is(data, k) for k in kinds):
            if arrays and "array" in kinds and not isinstance(data, list):
                data = [data]
            elif arrays and isinstance(data, list) and len(data) == 1 and "array" not in kinds:
                data = data[0]
            for k in kinds:
                if _is(data, k):
                    break
                new = _coerce_scalar(data, k)
                if new is not _NO:
                    data = new
                    break
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        data = {
            k: coerce(props.get(k, extra), v, arrays) if (k in props or extra) else v
            for k, v in data.items()
        }
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        data = [coerce(schema["items"], v, arrays) for v in data]
    for sub in schema.get("allOf") or []:
        data = coerce(sub, data, arrays)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            tried = coerce(sub, data, arrays)
            if _validator_for(sub).is_valid(tried):
                data = tried
                break
    return data


# ---- ajv keywords ---------------------------------------------------------------------------


def _type(validator: Any, types: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    kinds = [types] if isinstance(types, str) else list(types)
    if schema.get("nullable") and instance is None:
        return
    if not any(_is(instance, k) for k in kinds):
        yield ValidationError(f"must be {','.join(kinds)}")


def _is_not_empty(
    validator: Any, on: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if on and isinstance(instance, str) and not instance.strip():
        yield ValidationError('must pass "isNotEmpty" keyword validation')


def _ignored(*_: Any) -> Iterator[ValidationError]:
    return iter(())


_formats = FormatChecker()


@_formats.checks("basic_email")
def _basic_email(value: object) -> bool:
    return not isinstance(value, str) or re.fullmatch(r"[^@]+@[^@]+", value) is not None


@_formats.checks("rfc_email")
def _rfc_email(value: object) -> bool:
    return not isinstance(value, str) or "@" in value


AjvValidator = validators.extend(
    Draft202012Validator,
    {
        "type": _type,
        "isNotEmpty": _is_not_empty,
        "nullable": _ignored,
        "discriminator": _ignored,  # oneOf still decides; only ajv's error text would differ
    },
)
# one compiled validator per schema object; the entry keeps the schema alive, so its id is not
# reused by another dict while cached
_cache: dict[int, tuple[dict, Any]] = {}


def _validator_for(schema: dict) -> Any:
    entry = _cache.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _cache[id(schema)] = (schema, AjvValidator(schema, format_checker=_formats))
    return entry[1]


# ---- ajv's messages and order --------------------------------------------------------------

# ajv (allErrors off) stops at its first failing keyword, in this order within one schema
_RANK = {
    "type": 0,
    "const": 1,
    "enum": 1,
    "not": 1,
    "anyOf": 1,
    "oneOf": 1,
    "allOf": 1,
    "maximum": 2,
    "minimum": 2,
    "exclusiveMaximum": 2,
    "exclusiveMinimum": 2,
    "multipleOf": 2,
    "maxLength": 3,
    "minLength": 3,
    "pattern": 3,
    "format": 3,
    "isNotEmpty": 3,
    "maxItems": 4,
    "minItems": 4,
    "uniqueItems": 4,
    "items": 4,
    "prefixItems": 4,
    "maxProperties": 5,
    "minProperties": 5,
    "required": 5.1,
    "additionalProperties": 5.2,
    "properties": 5.3,
    "patternProperties": 5.4,
}


def _rank(err: ValidationError) -> list[float]:
    return [_RANK.get(p, 9) for p in err.relative_schema_path if isinstance(p, str)][:1]


def message(err: ValidationError) -> str:
    kw, arg = err.validator, err.validator_value
    if kw == "type" or kw == "isNotEmpty":
        return err.message
    if kw == "required":
        missing = next((r for r in arg if r not in err.instance), arg[0] if arg else "")
        return f"must have required property '{missing}'"
    if kw == "additionalProperties":
        return "must NOT have additional properties"
    if kw == "enum":
        return "must be equal to one of the allowed values"
    if kw == "const":
        return "must be equal to constant"
    if kw in ("minLength", "maxLength"):
        return f"must NOT have {'fewer' if kw == 'minLength' else 'more'} than {arg} characters"
    if kw in ("minItems", "maxItems"):
        return f"must NOT have {'fewer' if kw == 'minItems' else 'more'} than {arg} items"
    if kw in ("minProperties", "maxProperties"):
        return f"must NOT have {'fewer' if kw == 'minProperties' else 'more'} than {arg} properties"
    if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"must be {op[kw]} {arg}"
    if kw == "multipleOf":
        return f"must be multiple of {arg}"
    if kw == "pattern":
        return f'must match pattern "{arg}"'
    if kw == "format":
        return f'must match format "{arg}"'
    if kw == "uniqueItems":
        seen: dict[str, int] = {}
        for i, item in enumerate(err.instance):
            key = repr(item)
            if key in seen:
                return f"must NOT have duplicate items (items ## {seen[key]} and {i} are identical)"
            seen[key] = i
        return "must NOT have duplicate items"
    if kw == "not":
        return "must NOT be valid"
    return err.message


def _messages(err: ValidationError) -> list[str]:
    if err.validator in ("anyOf", "oneOf"):
        own = (
            "must match a schema in anyOf"
            if err.validator == "anyOf"
            else "must match exactly one schema in oneOf"
        )
        firsts: dict[Any, ValidationError] = {}
        for sub in sorted(err.context or [], key=_rank):
            firsts.setdefault(sub.relative_schema_path[0], sub)
        out: list[str] = []
        for branch in sorted(firsts, key=lambda b: b if isinstance(b, int) else 0):
            out += _messages(firsts[branch])
        return [*out, own]
    return [message(err)]


def first_error(schema: dict[str, Any], data: Any, *, arrays: bool) -> str | None:
    """ajv's error text for `data` against `schema`, or None when it passes."""
    data = coerce(schema, copy.deepcopy(data), arrays)
    errors = sorted(_validator_for(schema).iter_errors(data), key=_rank)
    if not errors:
        return None
    return "\n ".join(_messages(errors[0]))
