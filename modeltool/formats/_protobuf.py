"""A minimal protobuf wire-format reader and writer: enough to find fields without the proto
classes (tf.keras' keras_metadata.pb, an ONNX file's header) and to frame length-delimited
fields around bytes written elsewhere (ONNX initializers streamed into a file). Malformed input
raises ValueError."""

from __future__ import annotations

from typing import Any


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """A base-128 varint at ``pos``: (value, position after it)."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Top-level protobuf fields: (number, wire type, value); nested messages stay bytes."""
    found = []
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        found.append((number, wire, value))
    return found


def encode_varint(value: int) -> bytes:
    """``value`` (not negative) as a base-128 varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_key(field_number: int) -> bytes:
    """The key of a length-delimited field (wire type 2): a message, bytes or a string."""
    return encode_varint(field_number << 3 | 2)
