"""The committed Unicode-version corrections equal a fresh derivation from the installed upstream,
and python_ref's per-character stages agree with upstream on every code point."""
from __future__ import annotations

import subprocess
import sys

from tokenizers import normalizers, pre_tokenizers

from python_ref import tokenizer as T


def test_unicode_compat_is_fresh():
    r = subprocess.run([sys.executable, "-m", "python_ref.gen_unicode_compat", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_normalize_and_punctuation_on_every_code_point(mdir):
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    bad = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        s = "a" + chr(cp) + "b"
        n = T.normalize(s)
        if n != norm.normalize_str(s) or [w for w, _ in pre.pre_tokenize_str(n)] != T.pre_tokenize(n):
            bad.append(hex(cp))
    assert not bad, bad[:20]
