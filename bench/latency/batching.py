"""The cheaper fix of sorting a large mixed input by length before batching (docs/DESIGN.md §2):
the same texts embedded in the given order and sorted, interleaved; same embeddings, less padding.
Leaves out: bucketing strategies other than one global sort."""
from __future__ import annotations

import numpy as np

from .timing import interleaved, paired_ratio, summary, timing_extra


def sorted_batching(pipe, texts: list[str], batch: int = 32, rounds: int = 2) -> dict:
    """Embed `texts` in batches of `batch`, in the given order vs sorted by length (then restored); the
    embeddings are checked equal. -> seconds and padding."""
    lens = [int(m.sum()) for m in pipe.tokenize(texts).attention_mask]
    order = np.argsort(lens, kind="stable")

    def run(idx):
        out = np.concatenate([pipe.embed([texts[i] for i in idx[j:j + batch]]) for j in range(0, len(idx), batch)])
        back = np.empty_like(out)
        back[idx] = out
        return back

    def padded(idx):
        return sum(len(idx[j:j + batch]) * max(lens[i] for i in idx[j:j + batch]) for j in range(0, len(idx), batch))

    plain, srt = np.arange(len(texts)), order
    got = {}
    res = interleaved({"unsorted": lambda: got.__setitem__("u", run(plain)),
                       "sorted": lambda: got.__setitem__("s", run(srt))}, rounds=rounds, reps=1, warmup=0)
    maxdiff = float(np.abs(got["u"] - got["s"]).max())
    return {"unsorted_s": summary(res["unsorted"])["p50"], "sorted_s": summary(res["sorted"])["p50"],
            "speedup": 1.0 / paired_ratio(res["sorted"], res["unsorted"]), "texts": len(texts), "batch": batch,
            "tokens": int(sum(lens)), "padded_unsorted": padded(plain), "padded_sorted": padded(srt),
            "max_abs_diff": maxdiff, "sorted_timing": timing_extra(res["sorted"], {"unsorted": res["unsorted"]}),
            "unsorted_timing": timing_extra(res["unsorted"])}


def mixed_texts(by_len: dict, n: int, seed: int = 0) -> list[str]:
    """n texts drawn evenly from the short/medium/long pools, shuffled (a realistic mixed input)."""
    rng = np.random.default_rng(seed)
    pools = list(by_len.values())
    out = [pools[i % len(pools)][(i // len(pools)) % len(pools[i % len(pools)])] for i in range(n)]
    rng.shuffle(out)
    return out
