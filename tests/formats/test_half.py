"""The fast float32 -> float16 conversion of ``convert --dtype`` gives numpy's exact bits.

Compared against ``ndarray.astype(np.float16)`` (numpy's round-to-nearest-even) on every
sign/exponent/top-mantissa combination with the low mantissa bits that decide rounding (ties to
even and odd, just above and below a tie, sticky bits), on the edge values (zeros, float32
subnormals, float16's subnormal and overflow boundaries, infinities, NaNs with and without
payload in the kept bits), and on random values. All 2**32 bit patterns: the ``slow`` marker.
"""

from __future__ import annotations

import numpy as np
import pytest

from modeltool.formats.half import CHUNK, float32_to_float16

#: Low 16 bits that decide the rounding (bit 13 is float16's last kept bit in the normal range,
#: bit 12 the half, bits 0-11 the sticky part); the high 16 bits sweep everything else.
_LOW_PATTERNS = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x2001, 0x2FFF,
                 0x3000, 0x3001, 0x7FFF, 0x8000, 0xEFFF, 0xF000, 0xFFFF, 0x5555, 0xAAAA]


def _assert_same_bits(bits: np.ndarray) -> None:
    values = bits.astype(np.uint32).view(np.float32)
    with np.errstate(all="ignore"):
        expected = values.astype(np.float16).view(np.uint16)
    got = float32_to_float16(values, np.empty(values.shape, np.float16)).view(np.uint16)
    wrong = np.flatnonzero(got != expected)
    assert wrong.size == 0, [(f"{bits[i]:08x}", f"{expected[i]:04x}", f"{got[i]:04x}")
                             for i in wrong[:8]]


def test_every_exponent_with_the_rounding_bits() -> None:
    high = np.arange(1 << 16, dtype=np.uint32) << 16
    low = np.array(_LOW_PATTERNS, np.uint32)
    _assert_same_bits((high[:, None] | low[None, :]).reshape(-1))


def test_edge_values() -> None:
    edges = np.array([
        0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 65536.0, 1e38, np.inf, -np.inf,
        2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -12), 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0001,
        2.0 ** -24 * 1.5, 2.0 ** -24 * 2.5, 2.0 ** -26, 1e-45, -1e-45, 1e-40, 6.1e-5,
    ], np.float32).view(np.uint32)
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7F801FFF, 0x7F802000, 0x7FFFFFFF,
                     0xFFFFE000, 0x7FA00000], np.uint32)
    _assert_same_bits(np.concatenate([edges, nans]))


def test_random_values_across_chunks_and_shapes() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, size=3 * CHUNK + 17, dtype=np.uint64).astype(np.uint32)
    _assert_same_bits(bits)
    weights = rng.standard_normal((37, 5, 11)).astype(np.float32) * 100
    out = float32_to_float16(weights, np.empty(weights.shape, np.float16))
    assert out.tobytes() == weights.astype(np.float16).tobytes()


def test_refuses_what_it_cannot_convert() -> None:
    with pytest.raises(ValueError):
        float32_to_float16(np.zeros(4, np.float64), np.empty(4, np.float16))
    with pytest.raises(ValueError):
        float32_to_float16(np.zeros((4, 4), np.float32).T, np.empty((4, 4), np.float16))


@pytest.mark.slow
def test_all_float32_bit_patterns(request: pytest.FixtureRequest) -> None:
    marks = request.config.getoption("markexpr") or ""
    if "slow" not in marks or "not slow" in marks:
        pytest.skip("all 2**32 float32 values (minutes): run with -m slow "
                    "(make test-slow)")
    step = 1 << 22  # 32 MB of bit patterns at a time
    for start in range(0, 1 << 32, step):
        _assert_same_bits(np.arange(start, start + step, dtype=np.uint64).astype(np.uint32))
