"""numba_variant's JIT cost, for the bench's cold-start part (docs/DESIGN.md §7: cached and uncached).

`python -m numba_variant.warmup [--model DIR]` imports the tokenizer, builds it, then encodes a
small ASCII + non-ASCII batch, which compiles every @njit kernel (or loads it from Numba's cache),
and prints one JSON line: {"import_s", "init_s", "first_call_s", "second_call_s", "jit_s",
"cache_dir"}; jit_s = first_call_s - second_call_s. Numba caches in NUMBA_CACHE_DIR if set, else
in numba_variant/__pycache__.

`jit_compile_seconds(model=None)` runs that twice, each in a fresh process, with NUMBA_CACHE_DIR
pointing at a new empty temporary directory: {"cold": <first run: compiles>, "cached": <second run:
loads the cache the first wrote>}, each the JSON above.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

SAMPLE = ["Hello, world! A plain ASCII sentence.", "Ünïcödé café, 日本語のテキスト, [SEP] ok", ""]


def main(argv: list[str] | None = None) -> dict:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    from numba_variant.pipeline import load_tokenizer
    t1 = time.perf_counter()
    tok = load_tokenizer(args.model)
    t2 = time.perf_counter()
    tok.encode_batch(SAMPLE)
    t3 = time.perf_counter()
    tok.encode_batch(SAMPLE)
    t4 = time.perf_counter()
    out = {"import_s": t1 - t0, "init_s": t2 - t1, "first_call_s": t3 - t2, "second_call_s": t4 - t3,
           "jit_s": (t3 - t2) - (t4 - t3), "cache_dir": os.environ.get("NUMBA_CACHE_DIR", "numba_variant/__pycache__")}
    print(json.dumps(out))
    return out


def jit_compile_seconds(model: str | None = None) -> dict:
    """Cold (empty cache) and cached JIT cost, each measured in a fresh subprocess."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "numba_variant.warmup"] + (["--model", str(model)] if model else [])
        runs = [subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
                for _ in range(2)]
    cold, cached = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    return {"cold": cold, "cached": cached}


if __name__ == "__main__":
    main()
