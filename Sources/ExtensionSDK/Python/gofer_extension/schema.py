"""The JSON Schema subset Gofer validates with (docs/protocol.md §4.1): every problem, as diagnostics.

Keywords: type, properties, required, additionalProperties, items, enum, const, minimum, maximum,
exclusiveMinimum, minLength, maxLength, minItems, maxItems, pattern, oneOf, anyOf, allOf, local $ref.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from . import _wire
from .errors import Diagnostic

Schema = Dict[str, Any]

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _pointer(path: str, key: Any) -> str:
    return path + "/" + str(key).replace("~", "~0").replace("/", "~1")


def _resolve(root: Schema, ref: str) -> Optional[Schema]:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def validate(value: Any, schema: Schema, path: str = "") -> List[Diagnostic]:
    """Every way `value` breaks `schema`, each a diagnostic whose path starts with `path`."""
    out: List[Diagnostic] = []
    _check(value, schema, schema, path, out, 0)
    return out


def _check(value: Any, schema: Any, root: Schema, path: str, out: List[Diagnostic], depth: int) -> None:
    if not isinstance(schema, dict) or depth > 64:
        return
    where = path or "/"
    if "$ref" in schema:
        target = _resolve(root, str(schema["$ref"]))
        if target is not None:
            _check(value, target, root, path, out, depth + 1)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            out.append(Diagnostic(where, "expected %s, got %s" % (" or ".join(map(str, kinds)), _describe(value))))
            return
    if "const" in schema and not _equal(value, schema["const"]):
        out.append(Diagnostic(where, "must be %s" % _show(schema["const"])))
    if "enum" in schema and isinstance(schema["enum"], list) and not any(_equal(value, e) for e in schema["enum"]):
        out.append(Diagnostic(where, "must be one of %s" % ", ".join(_show(e) for e in schema["enum"])))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(schema.get("minimum"), (int, float)) and value < schema["minimum"]:
            out.append(Diagnostic(where, "must be at least %s" % schema["minimum"]))
        if isinstance(schema.get("maximum"), (int, float)) and value > schema["maximum"]:
            out.append(Diagnostic(where, "must be at most %s" % schema["maximum"]))
        if isinstance(schema.get("exclusiveMinimum"), (int, float)) and value <= schema["exclusiveMinimum"]:
            out.append(Diagnostic(where, "must be more than %s" % schema["exclusiveMinimum"]))
    if isinstance(value, str):
        if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
            out.append(Diagnostic(where, "must be at least %d characters" % schema["minLength"]))
        if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
            out.append(Diagnostic(where, "must be at most %d characters" % schema["maxLength"]))
        if isinstance(schema.get("pattern"), str):
            try:
                if re.search(schema["pattern"], value) is None:
                    out.append(Diagnostic(where, "must match %s" % schema["pattern"]))
            except re.error:
                pass
    if isinstance(value, list):
        if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
            out.append(Diagnostic(where, "must have at least %d items" % schema["minItems"]))
        if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
            out.append(Diagnostic(where, "must have at most %d items" % schema["maxItems"]))
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                _check(item, schema["items"], root, _pointer(path, i), out, depth + 1)
    if isinstance(value, dict):
        properties = _wire.obj(schema.get("properties"))
        for name in schema.get("required") or []:
            if name not in value:
                out.append(Diagnostic(_pointer(path, name), "required"))
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                _check(item, properties[name], root, _pointer(path, name), out, depth + 1)
            elif extra is False:
                out.append(Diagnostic(_pointer(path, name), "unknown field (known: %s)" % (", ".join(sorted(properties)) or "none")))
            elif isinstance(extra, dict):
                _check(item, extra, root, _pointer(path, name), out, depth + 1)
    for sub in schema.get("allOf") or []:
        _check(value, sub, root, path, out, depth + 1)
    if isinstance(schema.get("anyOf"), list):
        if not any(not _sub(value, s, root, path, depth) for s in schema["anyOf"]):
            out.append(Diagnostic(where, "matches none of the allowed forms"))
    if isinstance(schema.get("oneOf"), list):
        matches = sum(1 for s in schema["oneOf"] if not _sub(value, s, root, path, depth))
        if matches != 1:
            out.append(Diagnostic(where, "must match exactly one of the allowed forms (matches %d)" % matches))


def _sub(value: Any, schema: Any, root: Schema, path: str, depth: int) -> List[Diagnostic]:
    found: List[Diagnostic] = []
    _check(value, schema, root, path, found, depth + 1)
    return found


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _describe(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    import json

    return json.dumps(value)
