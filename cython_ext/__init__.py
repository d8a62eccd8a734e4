"""cython_ext: python_ref's tokenizer ported to Cython (typed C loops, GIL released), feeding
python_ref's torch model unchanged. The compiled module `_tokenizer` stays private; use
`cython_ext.pipeline.Pipeline` or `cython_ext.pipeline.load_tokenizer`."""
