"""python_ref: the reference pipeline (pure-Python tokenizer + PyTorch eager model)."""
