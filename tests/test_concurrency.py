"""docs/DESIGN.md §5 thread safety, for every port: 8 threads calling tokenize and embed at once on
different inputs return exactly what sequential calls return. (cpp_port and cython_ext release
the GIL, so there the threads really overlap; tests/test_cpp_port.py and test_tokenizer_ports.py
also race their native batch paths, and `bench tokenize` measures the threaded speed-up.)"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bench import registry
from bench.equivalence.check import unpad


@pytest.mark.parametrize("pipe", registry.PORTS, indirect=True)
def test_eight_threads_equal_sequential(pipe, corpus):
    jobs = [corpus[i::8][:24] for i in range(8)]  # 8 different batches, every script in the corpus
    seq_ids = [unpad(pipe.tokenize(j)) for j in jobs]
    seq_emb = [pipe.embed(j[:4]) for j in jobs]
    with ThreadPoolExecutor(8) as pool:
        par_ids = list(pool.map(lambda j: unpad(pipe.tokenize(j)), jobs * 3))
        par_emb = list(pool.map(lambda j: pipe.embed(j[:4]), jobs))
    assert par_ids == seq_ids * 3
    for a, b in zip(par_emb, seq_emb):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
