"""python_ref model spec, its file half: reading a model directory's files safely (regular files only,
JSON of the right kind, integers and booleans checked) and tokenizer.json's part of the spec (the
BertNormalizer flags, the special tokens from the post-processor, the added tokens, the vocabulary
check). spec.py reads the rest and documents the rules; this file is split from it only to keep
each file short. Stdlib only (it runs in Pyodide too).
Leaves out: tokenizers other than BERT WordPiece (refused by name).
"""
from __future__ import annotations

import json
from pathlib import Path


class ModelDirError(Exception):
    """A model directory is missing, malformed or asks for something unsupported: one clear line."""


INT_MAX, FLOAT32_MAX = 2**31 - 1, 3.4028234663852886e38   # what every port's sizes and eps must fit
BERT_CLASSES = (None, "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast")
GENERIC_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")
SPECIAL_KEYS = (("unk_token", "[UNK]"), ("sep_token", "[SEP]"), ("pad_token", "[PAD]"),
                ("cls_token", "[CLS]"), ("mask_token", "[MASK]"))


def _regular(mdir: Path, rel: str) -> bool:
    """Whether `rel` is a regular file (False: absent). Anything else there is refused: reading a FIFO
    would block and a device never end."""
    if (mdir / rel).is_file():
        return True
    if (mdir / rel).exists():
        raise ModelDirError(f"{rel}: not a regular file")
    return False


def _bytes(mdir: Path, rel: str, required: bool = True) -> bytes | None:
    """The file `rel`, or None if it is absent and not required."""
    if not _regular(mdir, rel):
        if required:
            raise ModelDirError(f"{rel}: missing in {mdir}")
        return None
    return (mdir / rel).read_bytes()


def _load(mdir: Path, rel: str, required: bool = True, kind: type = dict):
    """The JSON file `rel` (a JSON object, or `kind`), or None if it is absent and not required."""
    raw = _bytes(mdir, rel, required)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelDirError(f"{rel}: malformed JSON ({e})") from None
    if not isinstance(data, kind):
        raise ModelDirError(f"{rel}: malformed (not a JSON {'object' if kind is dict else 'list'})")
    return data


def _int(obj: dict, key: str, rel: str, default=None, lo: int = 1) -> int:
    v = obj.get(key, default)
    if v is None:
        raise ModelDirError(f"{rel}: lacks {key}")
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= INT_MAX:
        raise ModelDirError(f"{rel}: {key} {json.dumps(v)} must be an integer from {lo} to {INT_MAX}")
    return v


def _bool(obj: dict, key: str, rel: str, default: bool):
    v = obj.get(key, default)
    if v is not None and not isinstance(v, bool):
        raise ModelDirError(f"{rel}: {key} {json.dumps(v)} must be true or false")
    return v


def _sub(path: str, name: str) -> str:
    return f"{path.strip('/')}/{name}" if path.strip("/.") else name


def _token(v) -> str | None:
    return v.get("content") if isinstance(v, dict) else v


def read_tokenizer(mdir: Path, vocab_size: int) -> tuple[dict, object]:
    """-> (the ModelSpec's tokenizer fields, tokenizer_config.json's model_max_length)."""
    tj = _load(mdir, "tokenizer.json")
    tc = _load(mdir, "tokenizer_config.json", required=False) or {}
    tcls = tc.get("tokenizer_class")
    if tcls not in BERT_CLASSES + GENERIC_CLASSES:
        raise ModelDirError(f"tokenizer_config.json: tokenizer_class {json.dumps(tcls)} is not supported "
                            "(BertTokenizer, BertTokenizerFast, DistilBertTokenizer, PreTrainedTokenizerFast)")
    norm = tj.get("normalizer")
    if norm is None:
        flags = {"clean_text": False, "handle_chinese_chars": False, "strip_accents": False, "lowercase": False}
    elif norm.get("type") == "BertNormalizer":
        flags = {k: _bool(norm, k, "tokenizer.json", d) for k, d in (
            ("clean_text", True), ("handle_chinese_chars", True), ("strip_accents", None), ("lowercase", True))}
        flags["strip_accents"] = flags["lowercase"] if flags["strip_accents"] is None else flags["strip_accents"]
    else:
        raise ModelDirError(f"tokenizer.json: normalizer {json.dumps(norm.get('type'))} is not supported (BertNormalizer)")
    if tcls in BERT_CLASSES:   # transformers rebuilds the normalizer from tokenizer_config.json
        lower = _bool(tc, "do_lower_case", "tokenizer_config.json", True)
        strip = _bool(tc, "strip_accents", "tokenizer_config.json", None)
        want = {"lowercase": lower, "strip_accents": lower if strip is None else strip, "clean_text": True,
                "handle_chinese_chars": _bool(tc, "tokenize_chinese_chars", "tokenizer_config.json", True)}
        tc_key = {"handle_chinese_chars": "tokenize_chinese_chars", "lowercase": "do_lower_case",
                  "strip_accents": "strip_accents", "clean_text": "clean_text (always true)"}
        for k, v in want.items():
            if flags[k] != v:
                raise ModelDirError(f"tokenizer_config.json: {tc_key[k]} {json.dumps(v)} disagrees with tokenizer.json "
                                    f"normalizer {k} {json.dumps(flags[k])}")
    if (tj.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
        raise ModelDirError(f"tokenizer.json: pre_tokenizer {json.dumps((tj.get('pre_tokenizer') or {}).get('type'))} "
                            "is not supported (BertPreTokenizer)")
    model = tj.get("model") or {}
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", "##") != "##" \
            or model.get("max_input_chars_per_word", 100) != 100:
        raise ModelDirError("tokenizer.json: model must be WordPiece with prefix '##' and max_input_chars_per_word 100")
    vocab = model.get("vocab")
    try:
        lines = _bytes(mdir, "vocab.txt").decode("utf-8").split("\n")   # bytes: no newline translation
    except UnicodeDecodeError:
        raise ModelDirError("vocab.txt: not UTF-8") from None
    if lines and lines[-1] == "":
        lines.pop()
    lines = [t.removesuffix("\r") for t in lines]   # CRLF line ends: every port reads them the same way
    if not isinstance(vocab, dict) or {t: i for i, t in enumerate(lines)} != vocab:
        raise ModelDirError("vocab.txt: does not match tokenizer.json's model.vocab")
    (cls_tok, cls_id), (sep_tok, sep_id) = _post_processor(tj)
    unk_tok = model.get("unk_token", "[UNK]")
    want = dict(SPECIAL_KEYS) if tcls in BERT_CLASSES else {}
    for key, have in (("cls_token", cls_tok), ("sep_token", sep_tok), ("unk_token", unk_tok)):
        if key in want and _token(tc.get(key, want[key])) != have:
            raise ModelDirError(f"tokenizer_config.json: {key} {json.dumps(_token(tc.get(key, want[key])))} disagrees "
                                f"with tokenizer.json's {json.dumps(have)}")
    for t, tid in ((cls_tok, cls_id), (sep_tok, sep_id), (unk_tok, None)):
        if t not in vocab or tid not in (None, vocab[t]):
            raise ModelDirError(f"tokenizer.json: special token {json.dumps(t)} is not in the vocabulary"
                                + (f" with id {json.dumps(tid)}" if tid is not None else ""))
    listed = [("tokenizer.json", t.get("id"), t) for t in tj.get("added_tokens") or []]
    for key, t in (tc.get("added_tokens_decoder") or {}).items():
        if not (key.isascii() and key.isdigit()):   # transformers fails on it (int(key))
            raise ModelDirError(f"tokenizer_config.json: added_tokens_decoder key {json.dumps(key)} is not an id")
        listed.append(("tokenizer_config.json", int(key), t))
    for rel, tid, t in listed:
        name = json.dumps(t.get("content"))
        for flag in ("normalized", "lstrip", "rstrip", "single_word"):
            if t.get(flag, flag == "normalized" and not t.get("special")):   # upstream's defaults
                raise ModelDirError(f"{rel}: added token {name} with {flag} true is not supported")
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid <= INT_MAX or not isinstance(t.get("content"), str):
            raise ModelDirError(f"{rel}: added token {name} needs a string content and an id >= 0, not {json.dumps(tid)}")
    added = _added_ids(listed, vocab)
    extra = tc.get("additional_special_tokens") or []
    if not isinstance(extra, list):   # transformers fails to load such a tokenizer
        raise ModelDirError(f"tokenizer_config.json: additional_special_tokens {json.dumps(extra)} must be a list")
    specials = [_token(tc.get(k, d)) for k, d in want.items()] + [_token(t) for t in extra]
    for t in specials:
        if t is not None and t not in added:
            if t not in vocab:
                raise ModelDirError(f"tokenizer_config.json: special token {json.dumps(t)} is not in the vocabulary")
            added[t] = vocab[t]
    pad = _token(tc.get("pad_token", "[PAD]"))
    top = max([len(lines) - 1, *added.values()])
    if top >= vocab_size:   # the embedding table has one row per id
        raise ModelDirError(f"config.json: vocab_size {vocab_size} is too small for the tokenizer's largest id {top}")
    return dict(**flags, cls_id=vocab[cls_tok], sep_id=vocab[sep_tok], unk_id=vocab[unk_tok], pad_id=vocab.get(pad, 0),
                added_tokens=tuple(sorted(added.items(), key=lambda kv: (kv[1], kv[0])))), tc.get("model_max_length")


def _added_ids(listed: list, vocab: dict) -> dict[str, int]:
    """content -> id of the added tokens, each id checked against the one upstream gives it: tokenizers
    takes them in id order and assigns by content (an earlier entry's id, else the vocabulary's, else
    the next id after the vocabulary and the added tokens so far). An empty token is ignored, as there."""
    added: dict[str, int] = {}
    nxt = len(vocab)
    for rel, tid, t in sorted(listed, key=lambda x: x[1]):
        if t["content"] == "":
            continue
        want = added.get(t["content"], vocab.get(t["content"], nxt))
        if tid != want:
            raise ModelDirError(f"{rel}: added token {json.dumps(t['content'])} has id {tid} where tokenizers gives it "
                                f"{want} (its vocabulary id, else the next id after the vocabulary)")
        added[t["content"]] = tid
        nxt = max(nxt, tid + 1)
    return added


def _post_processor(tj: dict) -> tuple[tuple[str, int], tuple[str, int]]:
    """[CLS] $A [SEP]: the two special tokens (text, id) around a single sequence."""
    pp = tj.get("post_processor") or {}
    if pp.get("type") == "BertProcessing":
        return tuple(pp["cls"]), tuple(pp["sep"])
    single = pp.get("single") or []
    if pp.get("type") == "TemplateProcessing" and len(single) == 3 and "SpecialToken" in single[0] \
            and "Sequence" in single[1] and "SpecialToken" in single[2]:
        out = []
        for t in (single[0]["SpecialToken"]["id"], single[2]["SpecialToken"]["id"]):
            ids = (pp.get("special_tokens") or {}).get(t, {}).get("ids")
            if not isinstance(ids, list) or len(ids) != 1:
                raise ModelDirError(f"tokenizer.json: post_processor special token {json.dumps(t)} must map to one id")
            out.append((t, ids[0]))
        return out[0], out[1]
    raise ModelDirError(f"tokenizer.json: post_processor {json.dumps(pp.get('type'))} is not supported "
                        "(single sequence [CLS] $A [SEP] only)")
