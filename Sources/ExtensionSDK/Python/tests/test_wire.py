"""Frames: strict JSON in, as docs/protocol.md §2 and §3.1 decide."""
import pytest

from gofer_extension import _wire


@pytest.mark.parametrize(
    "line",
    [b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":1e999}', b'\xef\xbb\xbf{}', b'{"a":"\\ud800"}', b'{"a":"\xff"}',
     b"[" * 129 + b"]" * 129, b'{"a":'],
)
def test_refuses_what_is_not_strict_json(line: bytes) -> None:
    with pytest.raises(_wire.ParseError):
        _wire.parse(line)


def test_accepts_128_levels_and_no_more() -> None:
    assert _wire.parse(b"[" * 128 + b"]" * 128) == _wire.parse(b"[" * 128 + b"]" * 128)
    with pytest.raises(_wire.ParseError):
        _wire.parse(b"[" * 129 + b"]" * 129)


@pytest.mark.parametrize("value,ok", [(0, True), (2**53 - 1, True), (2**53, False), (-1, False), (True, False),
                                      (1.0, False), (None, False), ("x" * 128, True), ("x" * 129, False)])
def test_ids(value: object, ok: bool) -> None:
    assert _wire.valid_id(value) is ok


def test_the_id_of_an_oversized_frame_is_found_in_its_head() -> None:
    assert _wire.id_in_head(b'{"jsonrpc":"2.0","id":42,"method":"x","params":{"a":"') == 42
    assert _wire.id_in_head(b'{"id":"e7","method"') == "e7"
    assert _wire.id_in_head(b'{"method":"x"') is None


def test_frames_are_one_compact_line() -> None:
    assert _wire.dumps({"a": "x\ny", "b": [1, 2]}) == b'{"a":"x\\ny","b":[1,2]}\n'
