"""Build testdata/corpus.jsonl from text nobody on this project wrote, plus a hand-listed edge set.

Sources: Faker's locale providers (many scripts, seeded, so the file is reproducible for a given
Faker version) and the docstrings of installed packages' modules (English technical prose, often
far over 256 tokens). The edge set lists the cases docs/DESIGN.md §1 and issue 2 name. Run:
    .venv/bin/python testdata/make_corpus.py            # rewrites testdata/corpus.jsonl
Each record: {"text": str, "source": str}.
"""
from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

from faker import Faker

OUT = Path(__file__).with_name("corpus.jsonl")
LOCALES = ["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "tr_TR", "vi_VN", "cs_CZ", "ru_RU",
           "uk_UA", "el_GR", "ar_AA", "fa_IR", "he_IL", "hi_IN", "bn_BD", "ta_IN", "th_TH", "ja_JP",
           "zh_CN", "zh_TW", "ko_KR", "ka_GE", "hy_AM"]
DOC_MODULES = ["json", "argparse", "asyncio", "collections", "functools", "itertools", "pathlib", "re",
               "subprocess", "threading", "unicodedata", "email", "http.client", "sqlite3", "logging",
               "typing", "dataclasses", "decimal", "fractions", "statistics", "zipfile", "tarfile",
               "numpy", "safetensors", "tokenizers", "faker"]

EDGE = [
    "",                                                     # empty string
    "café naïve résumé",                                    # composed accents
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301",            # combining accents
    "Ångström Øresund ÆØÅ æøå Œuvre",
    "日本語のテキストと漢字、中文字符和標點。",                     # CJK
    "สวัสดีครับ ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",               # Thai
    "مرحبا بالعالم، هذا نص عربي مع تشكيل: كَتَبَ",                 # Arabic with harakat
    "שלום עולם, זה טקסט בעברית עם ניקוד: שָׁלוֹם",                 # Hebrew with niqqud
    "family 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷 skin 👍🏽 zwj 🏳️‍🌈 heart ❤️",       # emoji, ZWJ sequences
    "ctrl\x00nul\x01soh\x07bel\x1b[31mesc\x7fdel\x85nel tab\there\nnew\rcr\x0bvt\x0cff",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj\u00adshy",
    "İstanbul İİ ıi DİYARBAKIR",                            # dotted capital I
    "Straße STRASSE ß ẞ",                                   # sharp s
    "ΟΔΟΣ ΟΔΥΣΣΕΥΣ Σίσυφος ΣΣΣ",                            # final sigma
    "ＦＵＬＬ－ＷＩＤＴＨ　ｆｏｒｍｓ　１２３！？",                      # full-width forms
    "\u3000ideographic\u2003em\u00a0nbsp\u2028line\u2029para\u1680ogham",
    "replacement \ufffd char and private use \ue000\uf8ff and noncharacter \ufdd0",
    "a" * 99, "b" * 100, "c" * 101,                         # words of 99, 100, 101 chars
    "x " + "é" * 100 + " y " + "ü" * 101,                   # long words in accented letters
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "punctuation!!! (brackets) [square] {curly} <angle> «guillemets» „quotes“ ¿qué? ¡sí! — dash – en … ellipsis",
    "math ∑∫√∞ ≤≥≠ ±×÷ currency $€£¥₹₿ symbols ©®™ § ¶ † ‡ • ° ′ ″",
    "Ⅻ ① ⅓ ² ³ ﬁ ﬂ ŉ ǆ ʼn ℌ ℍ ㎏ ㍱",                            # compatibility characters
    "mixed 中文English日本語한국어ภาษาไทย العربية",
    "   leading and trailing whitespace   ",
    "\t\n\r\n \t",                                          # whitespace only
    "Σ", "ς", "σ",
    "\U0001d400\U0001d401 mathematical bold \U0001f600 grinning \U00020000 cjk ext b \U0002a6d6",
    "new emoji 🥰 🫠 🫶 and marks a\u0898b \u08e2 \u1734",   # code points newer than upstream's tables
]


def long_texts() -> list[str]:
    words = Faker("en_US")
    words.seed_instance(7)
    return [" ".join(words.paragraphs(nb=12)), "word " * 2000, "日本" * 600,
            ("token, " * 400).strip(), "a" * 300_000]


def faker_texts() -> list[tuple[str, str]]:
    out = []
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(1000 + i)
        for _ in range(12):
            out.append((f.sentence(nb_words=10), f"faker:{loc}"))
        for _ in range(8):
            out.append((f.text(max_nb_chars=400), f"faker:{loc}"))
        for _ in range(5):
            out.append((f.name() + ", " + f.address().replace("\n", ", "), f"faker:{loc}"))
        for _ in range(3):
            out.append((f.paragraph(nb_sentences=15), f"faker:{loc}"))
    return out


def doc_texts() -> list[tuple[str, str]]:
    out = []
    for name in DOC_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        objs = [mod] + [getattr(mod, a) for a in sorted(dir(mod)) if not a.startswith("_")]
        for obj in objs[:40]:
            doc = inspect.getdoc(obj) if (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)) else None
            if doc and len(doc) > 20:
                out.append((doc, f"doc:{name}"))
    return out


def main() -> None:
    recs = [(t, "edge") for t in EDGE] + [(t, "edge:long") for t in long_texts()]
    seen = {t for t, _ in recs}
    for t, src in faker_texts() + doc_texts():
        if t not in seen:
            seen.add(t)
            recs.append((t, src))
    with OUT.open("w", encoding="utf-8") as f:
        for t, src in recs:
            f.write(json.dumps({"text": t, "source": src}, ensure_ascii=False) + "\n")
    print(f"wrote {len(recs)} texts to {OUT}")


if __name__ == "__main__":
    main()
