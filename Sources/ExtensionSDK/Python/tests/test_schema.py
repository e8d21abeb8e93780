"""The schema subset reports every problem, each at its JSON Pointer."""
from gofer_extension.schema import validate

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["every"],
    "properties": {
        "every": {"type": "string", "pattern": "^[0-9]+[smh]$"},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "mode": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "ref": {"$ref": "#/$defs/positive"},
    },
    "$defs": {"positive": {"type": "number", "exclusiveMinimum": 0}},
}


def paths(value: object) -> "list[str]":
    return sorted(d.path for d in validate(value, SCHEMA, "/params"))


def test_a_valid_value_has_no_problems() -> None:
    assert paths({"every": "5m", "count": 3, "mode": "a", "tags": ["x"], "ref": 1.5}) == []


def test_every_problem_at_once() -> None:
    assert paths({"count": 0, "mode": "c", "tags": ["x", 1, "z"], "ref": 0, "zz": 1}) == [
        "/params/count", "/params/every", "/params/mode", "/params/ref", "/params/tags", "/params/tags/1", "/params/zz"]


def test_types_and_patterns() -> None:
    assert paths({"every": "soon"}) == ["/params/every"]
    assert paths({"every": "1m", "count": 2.5}) == ["/params/count"]
    assert paths({"every": "1m", "count": True}) == ["/params/count"]
    assert paths([]) == ["/params"]


def test_one_of_and_any_of() -> None:
    schema = {"oneOf": [{"type": "string"}, {"type": "integer"}], "anyOf": [{"minimum": 0}, {"type": "string"}]}
    assert validate("x", schema) == []
    assert [d.path for d in validate(-1, schema)] == ["/"]
    assert [d.path for d in validate(1.5, schema)] == ["/"]
