"""Experiment: compare python_ref's normalize/pre_tokenize with HF tokenizers on every code point."""
import os, sys, unicodedata
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tokenizers import Tokenizer
from python_ref import tokenizer as T
from contract.api import model_dir
tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
norm, pre = tok.normalizer, tok.pre_tokenizer
bad_norm, bad_pre = [], []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF: continue
    s = "a" + chr(cp) + "b"
    if norm.normalize_str(s) != T.normalize(s):
        bad_norm.append(cp)
    ch = chr(cp)
    if T.is_punctuation(ch) != (len([w for w, _ in pre.pre_tokenize_str("a" + ch + "b")]) == 3 and not ch.isspace() and not (ch in T.WHITESPACE)):
        bad_pre.append(cp)
print("norm mismatches", len(bad_norm))
for cp in bad_norm[:60]:
    s = "a" + chr(cp) + "b"
    print(hex(cp), unicodedata.category(chr(cp)), unicodedata.name(chr(cp), "?"), repr(norm.normalize_str(s)), repr(T.normalize(s)))
print("pre mismatches", len(bad_pre))
for cp in bad_pre[:60]:
    print(hex(cp), unicodedata.category(chr(cp)), unicodedata.name(chr(cp), "?"))
