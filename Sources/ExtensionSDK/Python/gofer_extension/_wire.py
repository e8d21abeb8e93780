"""Frames on the wire: strict JSON in, compact JSON out (docs/protocol.md §2, §3)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

#: Nesting the SDK accepts, the frame's own object counting as 1 (§3.1).
MAX_DEPTH = 128
#: The largest id integer (2^53 - 1) and id string (128 characters) a frame may carry.
MAX_INT_ID = 2**53 - 1
MAX_STRING_ID = 128


class ParseError(ValueError):
    """A line that is not one strict JSON value."""


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    obj: Dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ParseError("duplicate key %r" % key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise ParseError("%s is not JSON" % name)


def _checked(value: Any) -> None:
    """Refuses nesting deeper than MAX_DEPTH and lone surrogates (which json.loads lets through)."""
    stack: List[Tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in item):
                raise ParseError("a lone surrogate escape")
        elif isinstance(item, dict):
            if level > MAX_DEPTH:
                raise ParseError("nesting deeper than %d levels" % MAX_DEPTH)
            for key, child in item.items():
                stack.append((key, level))
                stack.append((child, level + 1))
        elif isinstance(item, list):
            if level > MAX_DEPTH:
                raise ParseError("nesting deeper than %d levels" % MAX_DEPTH)
            stack.extend((child, level + 1) for child in item)
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            raise ParseError("a number out of the double range")


def parse(line: bytes) -> Any:
    """One frame's bytes (without its LF) as a JSON value; raises ParseError."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError("invalid UTF-8 at byte %d" % e.start) from None
    if text.startswith("\ufeff"):
        raise ParseError("a byte order mark")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise ParseError("nesting deeper than %d levels" % MAX_DEPTH) from None
    except json.JSONDecodeError as e:
        raise ParseError(str(e)) from None
    _checked(value)
    return value


def obj(value: Any) -> Dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for optional members)."""
    return value if isinstance(value, dict) else {}


def dumps(frame: Dict[str, Any]) -> bytes:
    """A frame as one compact line, LF-terminated."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def valid_id(value: Any) -> bool:
    """Whether `value` is a request id the protocol allows (an integer 0…2^53-1 or a short string)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_INT_ID
    return isinstance(value, str) and len(value) <= MAX_STRING_ID


def id_in_head(head: bytes) -> Any:
    """The id of an oversized frame, if its first bytes show one (else None)."""
    at = head.find(b'"id":')
    if at < 0:
        return None
    raw = head[at + 5 :].lstrip()
    end = 1
    if raw.startswith(b'"'):
        end = raw.find(b'"', 1) + 1
    else:
        while end < len(raw) and raw[end : end + 1].isdigit():
            end += 1
    try:
        candidate = json.loads(raw[:end])
    except ValueError:
        return None
    return candidate if valid_id(candidate) else None
