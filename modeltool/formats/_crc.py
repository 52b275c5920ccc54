"""Where one flipped bit would have to be for a CRC-32 to come out as it did.

A CRC is linear: for two messages of the same length, ``crc(a) ^ crc(b)`` is the raw CRC of
``a ^ b``. A single flipped bit at byte ``i`` of an ``n``-byte message contributes
``L**(n-1-i) @ T[1 << bit]``, where ``T`` is the byte table and ``L`` the 32x32 GF(2) map of
one zero byte through the register. Given the difference between the recorded and computed
CRC-32, a baby-step giant-step search over ``L``'s powers finds the one position (if any) that
explains it, in about ``sqrt(n)`` steps. Damage of more than one bit can also match some
position by chance (about ``8n / 2**32``), so callers say "consistent with", never "is".
"""

from __future__ import annotations

import functools
import math

_POLY = 0xEDB88320  # CRC-32 (zlib), reflected


def _table() -> list[int]:
    table = []
    for byte in range(256):
        register = byte
        for _ in range(8):
            register = (register >> 1) ^ (_POLY if register & 1 else 0)
        table.append(register)
    return table


_TABLE = _table()
Matrix = list[int]  # 32 columns: the images of the 32 basis vectors


def _zero_byte(register: int) -> int:
    return (register >> 8) ^ _TABLE[register & 0xFF]


def _apply(matrix: Matrix, vector: int) -> int:
    result = 0
    column = 0
    while vector:
        if vector & 1:
            result ^= matrix[column]
        vector >>= 1
        column += 1
    return result


def _compose(outer: Matrix, inner: Matrix) -> Matrix:
    return [_apply(outer, column) for column in inner]


def _power(matrix: Matrix, exponent: int) -> Matrix:
    result = [1 << c for c in range(32)]
    while exponent:
        if exponent & 1:
            result = _compose(matrix, result)
        matrix = _compose(matrix, matrix)
        exponent >>= 1
    return result


def _inverse(matrix: Matrix) -> Matrix:
    """Gauss-Jordan over GF(2); rows are built from the columns."""
    rows = [sum(((matrix[c] >> r) & 1) << c for c in range(32)) for r in range(32)]
    inverse = [1 << r for r in range(32)]
    for col in range(32):
        pivot = next(r for r in range(col, 32) if (rows[r] >> col) & 1)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        inverse[col], inverse[pivot] = inverse[pivot], inverse[col]
        for r in range(32):
            if r != col and (rows[r] >> col) & 1:
                rows[r] ^= rows[col]
                inverse[r] ^= inverse[col]
    # inverse holds rows of the inverse matrix: turn them back into columns
    return [sum(((inverse[r] >> c) & 1) << r for r in range(32)) for c in range(32)]


def single_bit_position(length: int, recorded: int, computed: int) -> int | None:
    """The bit offset (``8 * byte + bit``, bit 0 the least significant) at which one flipped
    bit in a ``length``-byte message turns CRC-32 ``recorded`` into ``computed``; None when no
    single bit does."""
    syndrome = recorded ^ computed
    if not syndrome or length <= 0:
        return None
    step = max(1, math.isqrt(length - 1) + 1)
    baby: dict[int, tuple[int, int]] = {}
    for bit in range(8):
        value = _TABLE[1 << bit]
        for j in range(step):
            baby.setdefault(value, (j, bit))
            value = _zero_byte(value)
    one = [_zero_byte(1 << c) for c in range(32)]
    back = _inverse(_power(one, step))
    value = syndrome
    for giant in range(step + 1):
        found = baby.get(value)
        if found is not None:
            distance = giant * step + found[0]
            if distance < length:
                return 8 * (length - 1 - distance) + found[1]
        value = _apply(back, value)
    return None


@functools.lru_cache(maxsize=8)
def _zeros(length: int) -> Matrix:
    """The map of ``length`` zero bytes through the register."""
    return _power([_zero_byte(1 << c) for c in range(32)], length)


def combine(first: int, second: int, second_length: int) -> int:
    """The CRC-32 of two messages one after the other, from the CRC-32 of each and the length
    of the second (zlib's ``crc32_combine``, which Python's zlib does not expose)."""
    return _apply(_zeros(second_length), first) ^ second if second_length > 0 else first
