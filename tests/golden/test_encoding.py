import numpy as np

from hwgen.golden.encoding import naf, nonzero_digits, sparse_serial_cycles


def test_naf_is_canonical():
    for x in range(-300, 300):
        d = naf(x)
        assert sum(v << i for i, v in enumerate(d)) == x
        assert all(v in (-1, 0, 1) for v in d)
        assert all(not (d[i] and d[i + 1]) for i in range(len(d) - 1))


def test_nonzero_digits_known_values():
    assert nonzero_digits([0, 1, -1, 3, 7, -128, 127, 85]).tolist() == [0, 1, 1, 2, 2, 1, 2, 4]


def test_sparse_serial_cycles_busiest_column_at_least_one():
    w = np.array([[0, 0], [7, 1], [85, -128]])
    assert sparse_serial_cycles(w) == 1 + 2 + 4
