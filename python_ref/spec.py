"""python_ref model spec: one reading of a sentence-transformers model directory, used by every port.

read_spec(dir) reads modules.json, config.json, sentence_bert_config.json, the Pooling and Dense
folders, tokenizer.json and tokenizer_config.json once, checks every setting, and returns a small
ModelSpec. A setting no port implements is refused with one ModelDirError line naming the file and
the setting; nothing is silently approximated. The rules follow what sentence-transformers (6.x)
and transformers (5.x) do with the same directory, because they are the judge:
- modules: Transformer (at the root), Pooling, any Dense layers, an optional final Normalize.
  No modules.json: Transformer + mean Pooling, no Normalize, no sentence_bert_config.json.
- truncation (max_seq_length): sentence_bert_config.json, else min(tokenizer_config.json
  model_max_length, max_position_embeddings); never above max_position_embeddings.
- normalizer flags: tokenizer.json's BertNormalizer (strip_accents null follows lowercase). With
  tokenizer_class BertTokenizer, transformers rebuilds the normalizer from tokenizer_config.json
  (do_lower_case, strip_accents, tokenize_chinese_chars; clean_text always on): where that
  disagrees with tokenizer.json the directory is refused. sentence_bert_config.json's
  do_lower_case true turns lowercase on (sentence-transformers prepends a Lowercase normalizer).
- special tokens: [CLS]/[SEP] ids from tokenizer.json's post-processor; added tokens matched
  verbatim (normalized=false) from tokenizer.json, plus, for BertTokenizer, the special tokens
  tokenizer_config.json names. vocab.txt (LF or CRLF line ends) must equal tokenizer.json's
  vocabulary, and config.json's vocab_size must cover every id the tokenizer can give.
Stdlib only, so it also runs in Pyodide. cpp_port/model_spec.cpp and wasm_port/js/spec.mjs are
its translations for minilm-embed and the browser; tests hold all three to the same answer.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path


class ModelDirError(Exception):
    """A model directory is missing, malformed or asks for something unsupported: one clear line."""


POOLINGS = ("mean", "cls", "max", "mean_sqrt_len_tokens")
INT_MAX, FLOAT32_MAX = 2**31 - 1, 3.4028234663852886e38   # what every port's sizes and eps must fit
ACTIVATIONS = {"Tanh": "tanh", "Identity": "identity"}
LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
BERT_CLASSES = (None, "BertTokenizer", "BertTokenizerFast")
GENERIC_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")
SPECIAL_KEYS = (("unk_token", "[UNK]"), ("sep_token", "[SEP]"), ("pad_token", "[PAD]"),
                ("cls_token", "[CLS]"), ("mask_token", "[MASK]"))


@dataclass(frozen=True)
class DenseSpec:
    path: str            # folder of the Dense module, e.g. "2_Dense" (its model.safetensors: linear.weight/bias)
    in_features: int
    out_features: int
    bias: bool
    activation: str      # "tanh" | "identity"


@dataclass(frozen=True)
class ModelSpec:
    dir: str
    name: str
    # config.json (model_type bert, hidden_act gelu, absolute positions: checked, not stored)
    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    # tokenizer
    max_seq_length: int          # ids per text, [CLS] and [SEP] included
    clean_text: bool
    handle_chinese_chars: bool
    strip_accents: bool          # resolved: null in tokenizer.json follows lowercase
    lowercase: bool
    cls_id: int
    sep_id: int
    unk_id: int
    pad_id: int
    added_tokens: tuple          # ((content, id), ...) matched verbatim in the raw text
    # sentence-transformers modules after the Transformer
    pooling: str                 # one of POOLINGS
    include_prompt: bool         # no port adds prompts, so this never changes an answer
    dense: tuple                 # (DenseSpec, ...), applied in order after pooling
    normalize: bool

    @property
    def dim(self) -> int:
        """Width of the output vectors."""
        return self.dense[-1].out_features if self.dense else self.hidden_size

    def summary(self) -> str:
        """One line for reports: the settings that decide the answer."""
        case = "lowercase" if self.lowercase else "cased"
        heads = "".join(f", dense {d.in_features}->{d.out_features} {d.activation}" for d in self.dense)
        return (f"{self.name}: BERT {self.num_hidden_layers} layers x {self.hidden_size} ({self.num_attention_heads} "
                f"heads, FFN {self.intermediate_size}), max_seq_length {self.max_seq_length}, {case}"
                f"{', strip_accents' if self.strip_accents else ''}, pooling {self.pooling}{heads}, "
                f"{'normalize' if self.normalize else 'no normalize'}, {self.dim} dims")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["added_tokens"] = [list(t) for t in self.added_tokens]
        d["dense"] = [asdict(x) for x in self.dense]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        d = {f.name: d[f.name] for f in fields(cls)}
        d["added_tokens"] = tuple((str(c), int(i)) for c, i in d["added_tokens"])
        d["dense"] = tuple(DenseSpec(**x) for x in d["dense"])
        return cls(**d)


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


def read_spec(mdir: str | Path) -> ModelSpec:
    """Read and check a whole model directory. Raises ModelDirError (one line) on anything unsupported."""
    try:
        return _read_spec(Path(mdir))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as e:   # a file of the wrong shape
        raise ModelDirError(f"malformed model directory {mdir}: {type(e).__name__} {e}") from None


def _read_spec(mdir: Path) -> ModelSpec:
    cfg = _load(mdir, "config.json")
    if cfg.get("model_type") != "bert":
        raise ModelDirError(f"config.json: model_type {json.dumps(cfg.get('model_type'))} is not supported (BERT only)")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ModelDirError(f"config.json: hidden_act {json.dumps(cfg.get('hidden_act'))} is not supported (exact 'gelu' only)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ModelDirError(f"config.json: position_embedding_type {json.dumps(cfg['position_embedding_type'])} is not supported (absolute only)")
    sizes = {k: _int(cfg, k, "config.json", d) for k, d in (
        ("hidden_size", None), ("num_attention_heads", None), ("num_hidden_layers", None), ("intermediate_size", None),
        ("vocab_size", None), ("max_position_embeddings", 512), ("type_vocab_size", 2))}
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        raise ModelDirError(f"config.json: hidden_size {sizes['hidden_size']} is not divisible by "
                            f"num_attention_heads {sizes['num_attention_heads']}")
    eps = cfg.get("layer_norm_eps", 1e-12)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and 0 < eps <= FLOAT32_MAX):
        raise ModelDirError(f"config.json: layer_norm_eps {json.dumps(eps)} must be a number > 0 (and a float32)")

    modules = _load(mdir, "modules.json", required=False, kind=list)
    sbert: dict = {}
    if modules is None:   # not saved by sentence-transformers: it builds Transformer + mean Pooling
        pooling, include_prompt, dense, normalize = "mean", True, (), False
    else:
        pooling, include_prompt, dense, normalize = _read_modules(mdir, modules, sizes["hidden_size"])
        sbert = _load(mdir, "sentence_bert_config.json", required=False) or {}
    st = _load(mdir, "config_sentence_transformers.json", required=False) or {}
    if st.get("default_prompt_name") is not None:
        raise ModelDirError(f"config_sentence_transformers.json: default_prompt_name "
                            f"{json.dumps(st['default_prompt_name'])} is not supported (no prompts)")
    tok, mml = _read_tokenizer(mdir, sizes["vocab_size"])
    mpe = sizes["max_position_embeddings"]
    if sbert.get("max_seq_length") is not None:
        max_len = _int(sbert, "max_seq_length", "sentence_bert_config.json", lo=2)
        if max_len > mpe:
            raise ModelDirError(f"sentence_bert_config.json: max_seq_length {max_len} exceeds config.json "
                                f"max_position_embeddings {mpe}")
    else:   # the tokenizer's model_max_length, capped by the positions the model has
        max_len = min(int(mml), mpe) if isinstance(mml, (int, float)) and not isinstance(mml, bool) and mml >= 2 else mpe
    if _bool(sbert, "do_lower_case", "sentence_bert_config.json", False):
        tok["lowercase"] = True    # a Lowercase normalizer in front; strip_accents stays as resolved
    name = mdir.name if mdir.name != "model" else mdir.parent.name
    return ModelSpec(dir=str(mdir), name=name, **sizes, layer_norm_eps=float(eps), max_seq_length=max_len, **tok,
                     pooling=pooling, include_prompt=include_prompt, dense=dense, normalize=normalize)


def _read_modules(mdir: Path, modules, hidden: int):
    if not all(isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("path", ""), str)
               for m in modules):
        raise ModelDirError("modules.json: malformed (a list of {type, path} objects expected)")
    kinds = []
    for m in modules:
        kind = m["type"].rsplit(".", 1)[-1]
        if not m["type"].startswith("sentence_transformers.") or kind not in ("Transformer", "Pooling", "Dense", "Normalize"):
            raise ModelDirError(f"modules.json: module {m['type']} is not supported (Transformer, Pooling, Dense, Normalize)")
        kinds.append(kind)
    if kinds[:1] != ["Transformer"] or modules[0].get("path", "") not in ("", "."):
        raise ModelDirError("modules.json: the first module must be the Transformer at the directory root")
    if kinds[1:2] != ["Pooling"]:
        raise ModelDirError("modules.json: the second module must be Pooling")
    rest = kinds[2:]
    if "Transformer" in rest or "Pooling" in rest or "Normalize" in rest[:-1]:
        raise ModelDirError(f"modules.json: module order {' -> '.join(kinds)} is not supported "
                            "(Transformer -> Pooling -> Dense* -> Normalize?)")
    rel = _sub(modules[1].get("path", ""), "config.json")
    pc = _load(mdir, rel)
    if "pooling_mode" in pc:
        raw = pc["pooling_mode"]
        modes = [(m, f"pooling_mode {json.dumps(m)}") for m in (raw if isinstance(raw, list) else [raw])]
    else:
        modes = [(mode, key) for key, mode in LEGACY_POOLING.items() if _bool(pc, key, rel, False)] or [("mean", "")]
    for mode, key in modes:
        if mode not in POOLINGS:
            raise ModelDirError(f"{rel}: {key} is not supported ({', '.join(POOLINGS)})")
    if len(modes) != 1:
        raise ModelDirError(f"{rel}: more than one pooling mode ({', '.join(k for _, k in modes)}) is not supported")
    width = pc.get("embedding_dimension", pc.get("word_embedding_dimension", hidden))
    if width != hidden:
        raise ModelDirError(f"{rel}: word_embedding_dimension {json.dumps(width)} does not match config.json hidden_size {hidden}")
    include_prompt = _bool(pc, "include_prompt", rel, True)
    dense, width = [], hidden
    for m in modules[2:]:
        path = m.get("path", "")
        rel = _sub(path, "config.json")
        cfg = _load(mdir, rel, required=m["type"].endswith("Dense")) or {}
        for key in ("module_input_name", "module_output_name"):
            if cfg.get(key, "sentence_embedding") not in (None, "sentence_embedding"):
                raise ModelDirError(f"{rel}: {key} {json.dumps(cfg[key])} is not supported")
        if not m["type"].endswith("Dense"):
            continue
        d_in, d_out = _int(cfg, "in_features", rel), _int(cfg, "out_features", rel)
        if d_in != width:
            raise ModelDirError(f"{rel}: in_features {d_in} does not match the {width} dimensions before it")
        if _bool(cfg, "use_residual", rel, False):
            raise ModelDirError(f"{rel}: use_residual true is not supported")
        act = cfg.get("activation_function", "torch.nn.modules.activation.Tanh")
        if not isinstance(act, str) or not act.startswith("torch."):
            act = "torch.nn.modules.activation.Tanh"   # sentence-transformers falls back to Tanh too
        if act.rsplit(".", 1)[-1] not in ACTIVATIONS:
            raise ModelDirError(f"{rel}: activation_function {act} is not supported ({', '.join(ACTIVATIONS)})")
        if not _regular(mdir, _sub(path, "model.safetensors")):
            other = " (pytorch_model.bin is not supported)" if (mdir / path / "pytorch_model.bin").is_file() else ""
            raise ModelDirError(f"{_sub(path, 'model.safetensors')}: missing{other}")
        dense.append(DenseSpec(path, d_in, d_out, bool(_bool(cfg, "bias", rel, True)), ACTIVATIONS[act.rsplit(".", 1)[-1]]))
        width = d_out
    return modes[0][0], bool(include_prompt), tuple(dense), kinds[-1] == "Normalize"


def _read_tokenizer(mdir: Path, vocab_size: int) -> tuple[dict, object]:
    """-> (the ModelSpec's tokenizer fields, tokenizer_config.json's model_max_length)."""
    tj = _load(mdir, "tokenizer.json")
    tc = _load(mdir, "tokenizer_config.json", required=False) or {}
    tcls = tc.get("tokenizer_class")
    if tcls not in BERT_CLASSES + GENERIC_CLASSES:
        raise ModelDirError(f"tokenizer_config.json: tokenizer_class {json.dumps(tcls)} is not supported "
                            "(BertTokenizer, BertTokenizerFast, PreTrainedTokenizerFast)")
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
    added: dict[str, int] = {}
    listed = [("tokenizer.json", t.get("id"), t) for t in tj.get("added_tokens") or []]
    listed += [("tokenizer_config.json", int(i), t) for i, t in (tc.get("added_tokens_decoder") or {}).items()]
    for rel, tid, t in listed:
        name = json.dumps(t.get("content"))
        for flag in ("normalized", "lstrip", "rstrip", "single_word"):
            if t.get(flag, flag == "normalized" and not t.get("special")):   # upstream's defaults
                raise ModelDirError(f"{rel}: added token {name} with {flag} true is not supported")
        if isinstance(tid, bool) or not isinstance(tid, int) or tid < 0 or not isinstance(t.get("content"), str):
            raise ModelDirError(f"{rel}: added token {name} needs a string content and an id >= 0, not {json.dumps(tid)}")
        added.setdefault(t["content"], tid)
    specials = [_token(tc.get(k, d)) for k, d in want.items()]
    specials += [_token(t) for t in tc.get("additional_special_tokens") or []]
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
