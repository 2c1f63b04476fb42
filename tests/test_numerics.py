import numpy as np
import pytest

from hwgen.numerics import Format, parse_format, saturate, wrap_signed


@pytest.mark.parametrize("text, bits, signed, lo, hi", [
    ("int8", 8, True, -128, 127), ("uint8", 8, False, 0, 255), ("int2", 2, True, -2, 1),
    ("int16", 16, True, -32768, 32767), ("uint4", 4, False, 0, 15),
])
def test_parse_format(text, bits, signed, lo, hi):
    f = parse_format(text)
    assert (f.bits, f.signed, f.min, f.max, f.name) == (bits, signed, lo, hi, text)


@pytest.mark.parametrize("text", ["int1", "int17", "uint", "float8", "int 8", ""])
def test_parse_format_rejects(text):
    with pytest.raises(ValueError, match="expected intN or uintN"):
        parse_format(text)


def test_random_has_extremes_and_stays_in_range(seed):
    rng = np.random.default_rng(seed)
    for f in (Format(2), Format(8), Format(8, False), Format(16)):
        x = f.random(rng, (64, 64), extremes=0.2, zeros=0.1)
        f.check(x)
        assert x.min() == f.min and x.max() == f.max and (x == 0).any()


def test_wrap_and_saturate():
    x = np.array([32767, 32768, -32769, 65535, -65536, 0])
    assert wrap_signed(x, 16).tolist() == [32767, -32768, 32767, -1, 0, 0]
    assert saturate(x, 16).tolist() == [32767, 32767, -32768, 32767, -32768, 0]
    assert wrap_signed(np.array([2**40 + 5]), 64).tolist() == [2**40 + 5]
