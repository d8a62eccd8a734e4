"""`bench fuzz`: differential fuzzing of every registered tokenizer against HF tokenizers, on random text
from pools of code points chosen to break tokenizers (POOLS, ADDED, long words and texts, texts with few or
no spaces). A mismatch is shrunk to a minimal reproducer and saved under testdata/regressions/, which
tests/test_regressions.py replays for every port forever after."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from python_ref import unicode_compat as uc
from python_ref.tokenizer import WHITESPACE

from . import oracle
from .. import registry
from .check import unpad

REGRESSIONS = Path(__file__).resolve().parents[2] / "testdata" / "regressions"


def _r(lo, hi):
    return [chr(c) for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF]


POOLS = {
    "ascii": _r(0x21, 0x7E),
    "latin": _r(0xC0, 0x24F) + _r(0x1E00, 0x1EFF),
    "combining": _r(0x300, 0x36F) + _r(0x1AB0, 0x1AFF) + _r(0x20D0, 0x20FF),
    "compat": sorted(set().union(*[getattr(uc, k) for k in dir(uc) if k.isupper()])),
    "cjk": _r(0x4E00, 0x4EFF) + _r(0x3040, 0x30FF) + _r(0xAC00, 0xAC7F) + _r(0x20000, 0x2007F) + _r(0xF900, 0xF97F),
    "scripts": _r(0xE00, 0xE7F) + _r(0x600, 0x6FF) + _r(0x5B0, 0x5FF) + _r(0x900, 0x97F) + _r(0x370, 0x3FF) + _r(0x400, 0x4FF),
    "emoji": _r(0x1F300, 0x1F64F) + _r(0x1F900, 0x1FAFF) + ["\u200d", "\ufe0f", "\U0001f3fd", "\u20e3"],
    "controls": _r(0x0, 0x1F) + _r(0x7F, 0x9F) + _r(0x200B, 0x200F) + _r(0x2060, 0x2064) + ["\ufeff", "\ufffd", "\U000e0001"],
    "space": sorted(WHITESPACE),
    "punct": _r(0x2010, 0x205E) + _r(0x3000, 0x303F) + _r(0xFF01, 0xFF5E) + ["¿", "¡", "«", "»"],
    "any": None,  # uniform over all code points but surrogates
}
# the BERT specials and near misses; zqx and 9x are added tokens of tests/variants.py's added_words (words elsewhere)
ADDED = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", "[CLS", "CLS]", "zqx", "9x", "zq"]


def _char(rng: random.Random, pool: str) -> str:
    if pool == "any":
        c = rng.randrange(0x110000 - 0x800)
        return chr(c if c < 0xD800 else c + 0x800)
    return rng.choice(POOLS[pool])


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.04:   # thousands of characters with few or no spaces: the cuts long texts are read at
        return "".join(_char(rng, rng.choice(["cjk", "combining", "scripts", "latin", "controls", "punct"]))
                       for _ in range(rng.randint(1500, 6000)))
    pools = rng.sample(list(POOLS), k=rng.randint(1, 4))
    n_words = rng.choice([1, 2, 5, 12, 40]) if rng.random() > 0.03 else rng.randint(200, 400)
    words = []
    for _ in range(n_words):
        if rng.random() < 0.05:
            words.append(rng.choice(ADDED))
            continue
        length = rng.choice([1, 2, 3, 5, 8]) if rng.random() > 0.05 else rng.randint(95, 105)
        words.append("".join(_char(rng, rng.choice(pools)) for _ in range(length)))
    seps = [" ", " ", " ", "", "\t", "\n", _char(rng, "space")]
    return "".join(w + rng.choice(seps) for w in words)


def shrink(pipe, mdir, text: str) -> str:
    """Greedy delta debugging: drop chunks, then single characters, while the mismatch stays (400 tries)."""
    chunk, budget = max(1, len(text) // 2), 400
    while chunk >= 1 and budget > 0:
        i, changed = 0, False
        while i < len(text) and budget > 0:
            cand = text[:i] + text[i + chunk:]
            budget -= 1
            if cand != text and unpad(pipe.tokenize([cand]))[0] != oracle.hf_ids(mdir, [cand])[0]:
                text, changed = cand, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return text


def save_regression(impl: str, text: str, seed: int) -> Path:
    REGRESSIONS.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    path = REGRESSIONS / f"{impl}-{h}.json"
    path.write_text(json.dumps({"impl": impl, "seed": seed, "text": text,
                                "codepoints": [f"U+{ord(c):04X}" for c in text[:64]]}, ensure_ascii=True, indent=1))
    return path


def fuzz(names: list[str], mdir: Path, n: int, seed: int, progress=None) -> dict[str, list[Path]]:
    """n random texts (batches of 256) through every name -> {name: its saved reproducers (20 at most)}."""
    rng = random.Random(seed)
    pipes = {name: registry.load_impl(name, mdir) for name in names}
    found: dict[str, list[Path]] = {name: [] for name in names}
    for done in range(0, n, 256):
        texts = [random_text(rng) for _ in range(min(256, n - done))]
        ref = oracle.hf_ids(mdir, texts)
        for name, pipe in pipes.items():
            got = unpad(pipe.tokenize(texts))
            for t, a, b in zip(texts, got, ref):
                if a != b and len(found[name]) < 20:
                    found[name].append(save_regression(name, shrink(pipe, mdir, t), seed))
        if progress:
            progress(len(texts))
    return found
