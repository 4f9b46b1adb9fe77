"""Report hashing on a second core (``adapters.hashing``) gives the digests hashing in line gives."""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from shared.adapters.hashing import CHUNK, copy_hashing, range_digests


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 17])
def test_a_copy_is_the_same_bytes_and_its_digest_that_of_the_whole(size: int) -> None:
    data = random.Random(size).randbytes(size)
    out = io.BytesIO()
    digest = hashlib.sha256()
    copied = copy_hashing(io.BytesIO(data), out, digest)
    assert copied == size
    assert out.getvalue() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_each_range_gets_its_own_digest_in_order_more_ranges_than_read_ahead() -> None:
    data = random.Random(7).randbytes(50_000)
    ranges = [(0, 10), (10, 0), (5, 4_000), (40_000, 10_000), (3, 1), *[(i * 997, 500) for i in range(12)]]
    file = io.BytesIO(data)
    got = range_digests(file, ranges)
    assert got == [hashlib.sha256(data[o : o + n]).hexdigest() for o, n in ranges]
    assert range_digests(file, []) == []
