"""Canonical length-prefixed encoding of encryption contexts."""

from __future__ import annotations

import pytest

from skms.crypto.encoding import MAX_CONTEXT_PAIRS, MAX_FIELD_BYTES, encode_context, length_prefixed


def test_small_context_encodes_to_exact_bytes() -> None:
    # Given a context given out of order
    context = {"b": "22", "a": "1"}
    # When encoded; Then: count(u16 BE), then sorted entries, each key_len key value_len value (u16 BE)
    assert encode_context(context) == bytes.fromhex(
        "0002" + "0001" + "61" + "0001" + "31" + "0001" + "62" + "0002" + "3232"
    )


def test_empty_context_is_a_zero_count() -> None:
    assert encode_context({}) == b"\x00\x00"


def test_empty_key_and_value_are_encoded_with_zero_lengths() -> None:
    assert encode_context({"": ""}) == bytes.fromhex("0001" + "0000" + "0000")


def test_sorting_is_by_utf8_key_bytes() -> None:
    # "B" (0x42) < "a" (0x61) < "é" (0xc3 0xa9) < "가" (0xea 0xb0 0x80) < "😀" (0xf0 ...)
    context = {"😀": "", "a": "", "가": "", "é": "", "B": ""}
    encoded = encode_context(context)
    keys = []
    offset = 2
    for _ in range(int.from_bytes(encoded[:2], "big")):
        key_len = int.from_bytes(encoded[offset : offset + 2], "big")
        keys.append(encoded[offset + 2 : offset + 2 + key_len].decode("utf-8"))
        offset += 2 + key_len
        offset += 2 + int.from_bytes(encoded[offset : offset + 2], "big")
    assert offset == len(encoded)
    assert keys == ["B", "a", "é", "가", "😀"]


def test_unicode_lengths_count_utf8_bytes_not_characters() -> None:
    assert encode_context({"é": "名字"}) == bytes.fromhex("0001" + "0002" + "c3a9" + "0006" + "e5908de5ad97")


def test_order_of_insertion_does_not_matter() -> None:
    assert encode_context({"x": "1", "y": "2", "z": "3"}) == encode_context({"z": "3", "x": "1", "y": "2"})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": "bc"}, {"ab": "c"}),
        ({"a": "b", "c": "d"}, {"a": "bcd"}),
        ({"a": ""}, {}),
        ({"a": "b"}, {"b": "a"}),
        ({"a": "b"}, {"A": "b"}),
        ({"a": "\x00"}, {"a": ""}),
        ({"e\u0301": "x"}, {"é": "x"}),  # no Unicode normalisation: different bytes, different encodings
    ],
)
def test_distinct_contexts_encode_differently(left: dict[str, str], right: dict[str, str]) -> None:
    assert encode_context(left) != encode_context(right)


def test_pair_count_limit() -> None:
    at_limit = {str(i): "" for i in range(MAX_CONTEXT_PAIRS)}
    assert encode_context(at_limit)[:2] == MAX_CONTEXT_PAIRS.to_bytes(2, "big")
    with pytest.raises(ValueError, match="too many"):
        encode_context({**at_limit, "one-more": ""})


@pytest.mark.parametrize("field", ["key", "value"])
def test_field_length_limit_is_in_utf8_bytes(field: str) -> None:
    fits = "x" * MAX_FIELD_BYTES
    too_long = "é" * (MAX_FIELD_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    assert len(too_long) < MAX_FIELD_BYTES < len(too_long.encode())

    def context(text: str) -> dict[str, str]:
        return {text: "v"} if field == "key" else {"k": text}

    assert len(encode_context(context(fits))) > MAX_FIELD_BYTES
    with pytest.raises(ValueError, match="too long"):
        encode_context(context(too_long))


def test_length_prefixed_exact_bytes() -> None:
    assert length_prefixed(b"ab", b"", b"\xff") == bytes.fromhex(
        "00000002" + "6162" + "00000000" + "00000001" + "ff"
    )
    assert length_prefixed() == b""


def test_length_prefixed_is_unambiguous() -> None:
    assert length_prefixed(b"ab", b"c") != length_prefixed(b"a", b"bc")
    assert length_prefixed(b"abc") != length_prefixed(b"abc", b"")
