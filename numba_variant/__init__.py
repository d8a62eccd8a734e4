"""numba_variant: python_ref's tokenizer with its loops in Numba @njit (code-point arrays, vocab
as a trie in arrays), feeding python_ref's torch model unchanged. See tokenizer.py's header for
where Numba's subset forced a different design from cython_ext; warmup.py measures JIT cost."""
