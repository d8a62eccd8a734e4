"""python_ref model spec: one reading of a sentence-transformers model directory, used by every port.

read_spec(dir) reads modules.json, config.json, sentence_bert_config.json, the Pooling and Dense
folders, tokenizer.json and tokenizer_config.json once, checks every setting, and returns a small
ModelSpec. A setting no port implements is refused with one ModelDirError line naming the file and
the setting; nothing is silently approximated. The rules follow what sentence-transformers (6.x)
and transformers (5.x) do with the same directory, because they are the judge:
- architecture: config.json model_type bert, or distilbert (transformers' DistilBertModel: no token types,
  its own config and tensor names, LayerNorm eps fixed at 1e-12, learned positions only). Sizes and the
  FFN activation are read once into BERT's names (hidden_size ... hidden_act); `tensor_names` maps each
  tensor every port's loader asks for (BERT's name, "{i}" the layer) to its name in model.safetensors,
  and `tensor_prefix` is the prefix of a checkpoint saved from a task model ("bert.", "distilbert.").
  hidden_act: ACTS (transformers.activations' definitions), anything else refused.
- prompts: config_sentence_transformers.json's `prompts` over sentence-transformers' own defaults
  (query and document, "" unless set; null is ""), and `default_prompt_name`, which must name one.
  resolve_prompt() picks the prompt as encode() does. The Pooling module's include_prompt false leaves
  the prompt's tokens ([CLS] included) out of pooling.
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
The file readers and tokenizer.json's part live in spec_tokenizer.py. Stdlib only, so it also runs in Pyodide. cpp_port/model_spec.cpp and wasm_port/js/spec.mjs are
its translations for minilm-embed and the browser; tests hold all three to the same answer.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .texts import check_prompt
from .spec_tokenizer import FLOAT32_MAX, ModelDirError, _bool, _int, _load, _regular, _sub, read_tokenizer  # noqa: F401


POOLINGS = ("mean", "cls", "max", "mean_sqrt_len_tokens")
# The FFN activations (config.json hidden_act; DistilBERT: activation), each as transformers.activations defines it
ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu")
ST_PROMPTS = ("query", "document")   # sentence-transformers' SentenceTransformer always has these ("" unless set)
# BERT's tensor names (every port's loader asks for these), per module: "{i}" is the layer. A name the
# checkpoint gives differently is mapped by the spec's tensor_names; None: the architecture has no such tensor.
BERT_MODULES = ("embeddings.word_embeddings", "embeddings.position_embeddings", "embeddings.token_type_embeddings",
                "embeddings.LayerNorm", "encoder.layer.{i}.attention.self.query", "encoder.layer.{i}.attention.self.key",
                "encoder.layer.{i}.attention.self.value", "encoder.layer.{i}.attention.output.dense",
                "encoder.layer.{i}.attention.output.LayerNorm", "encoder.layer.{i}.intermediate.dense",
                "encoder.layer.{i}.output.dense", "encoder.layer.{i}.output.LayerNorm")
DISTILBERT_MODULES = {   # transformers' DistilBertModel (modeling_distilbert.py)
    "embeddings.token_type_embeddings": None,
    "encoder.layer.{i}.attention.self.query": "transformer.layer.{i}.attention.q_lin",
    "encoder.layer.{i}.attention.self.key": "transformer.layer.{i}.attention.k_lin",
    "encoder.layer.{i}.attention.self.value": "transformer.layer.{i}.attention.v_lin",
    "encoder.layer.{i}.attention.output.dense": "transformer.layer.{i}.attention.out_lin",
    "encoder.layer.{i}.attention.output.LayerNorm": "transformer.layer.{i}.sa_layer_norm",
    "encoder.layer.{i}.intermediate.dense": "transformer.layer.{i}.ffn.lin1",
    "encoder.layer.{i}.output.dense": "transformer.layer.{i}.ffn.lin2",
    "encoder.layer.{i}.output.LayerNorm": "transformer.layer.{i}.output_layer_norm"}
# config.json's keys for the sizes, per model_type: (spec field, config key, default: None = required)
CONFIG_KEYS = {"bert": (("hidden_size", "hidden_size", None), ("num_attention_heads", "num_attention_heads", None),
                        ("num_hidden_layers", "num_hidden_layers", None), ("intermediate_size", "intermediate_size", None),
                        ("vocab_size", "vocab_size", None), ("max_position_embeddings", "max_position_embeddings", 512),
                        ("type_vocab_size", "type_vocab_size", 2)),
               "distilbert": (("hidden_size", "dim", None), ("num_attention_heads", "n_heads", None),
                              ("num_hidden_layers", "n_layers", None), ("intermediate_size", "hidden_dim", None),
                              ("vocab_size", "vocab_size", None), ("max_position_embeddings", "max_position_embeddings", 512))}


def tensor_name(names: dict, name: str) -> str | None:
    """The name in model.safetensors of tensor `name` (BERT's, e.g. encoder.layer.3.output.dense.weight), through
    a spec's tensor_names; None where the architecture has no such tensor."""
    module, _, param = name.rpartition(".")
    head, layer, rest = module.partition(".layer.")
    key, i = (f"{head}.layer.{{i}}.{rest.partition('.')[2]}", rest.partition(".")[0]) if layer else (module, "")
    mapped = names.get(key)
    return None if mapped is None else mapped.replace("{i}", i) + "." + param
ACTIVATIONS = {"Tanh": "tanh", "Identity": "identity"}
LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


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
    # config.json (absolute positions: checked, not stored); DistilBERT's sizes under BERT's names
    model_type: str              # "bert" | "distilbert"
    hidden_act: str              # one of ACTS
    tensor_names: dict           # BERT_MODULES -> the module's name in model.safetensors (absent: no such tensor)
    tensor_prefix: str           # a task model's checkpoint puts this before every name: "bert." | "distilbert."
    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int         # 0: no token-type embeddings (DistilBERT)
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
    include_prompt: bool         # false: the prompt's tokens are left out of pooling
    dense: tuple                 # (DenseSpec, ...), applied in order after pooling
    normalize: bool
    # config_sentence_transformers.json
    prompts: dict                # name -> prompt text, sentence-transformers' defaults (ST_PROMPTS) included
    default_prompt_name: str | None

    def __hash__(self) -> int:   # dict fields: hashed by what the spec was read from
        return hash(self.to_json())

    def resolve_prompt(self, prompt_name: str | None = None, prompt: str | None = None) -> str:
        """The text put in front of every text, as sentence-transformers' encode() resolves it: `prompt` if
        given (prompt_name is then ignored), else prompts[prompt_name], else the default prompt's, else "".
        An empty prompt is no prompt. TypeError / ValueError (one line) for a prompt that is not a valid str
        or a name the model does not have."""
        check_prompt(prompt_name, prompt)
        if prompt is not None:
            return prompt
        if prompt_name is None:
            return self.prompts.get(self.default_prompt_name, "") if self.default_prompt_name is not None else ""
        if prompt_name not in self.prompts:
            raise ValueError(f"prompt_name {json.dumps(prompt_name)} is not one of the model's "
                             f"prompts ({', '.join(sorted(self.prompts))})")
        return self.prompts[prompt_name]

    def tensor_name(self, name: str) -> str | None:
        """Tensor `name` (BERT's) as model.safetensors names it (tensor_prefix aside); None: the model has none."""
        return tensor_name(self.tensor_names, name)

    @property
    def dim(self) -> int:
        """Width of the output vectors."""
        return self.dense[-1].out_features if self.dense else self.hidden_size

    def summary(self) -> str:
        """One line for reports: the settings that decide the answer."""
        case = "lowercase" if self.lowercase else "cased"
        heads = "".join(f", dense {d.in_features}->{d.out_features} {d.activation}" for d in self.dense)
        arch = "DistilBERT" if self.model_type == "distilbert" else "BERT"
        act = "" if self.hidden_act == "gelu" else f", {self.hidden_act}"
        prompt = f", default prompt {self.default_prompt_name!r}" if self.default_prompt_name is not None else ""
        return (f"{self.name}: {arch} {self.num_hidden_layers} layers x {self.hidden_size} ({self.num_attention_heads} "
                f"heads, FFN {self.intermediate_size}{act}), max_seq_length {self.max_seq_length}, {case}"
                f"{', strip_accents' if self.strip_accents else ''}, pooling {self.pooling}{heads}, "
                f"{'normalize' if self.normalize else 'no normalize'}{prompt}, {self.dim} dims")

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
        d["prompts"], d["tensor_names"] = dict(d["prompts"]), dict(d["tensor_names"])
        return cls(**d)


def read_spec(mdir: str | Path) -> ModelSpec:
    """Read and check a whole model directory. Raises ModelDirError (one line) on anything unsupported."""
    try:
        return _read_spec(Path(mdir))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as e:   # a file of the wrong shape
        raise ModelDirError(f"malformed model directory {mdir}: {type(e).__name__} {e}") from None


def _read_spec(mdir: Path) -> ModelSpec:
    cfg = _load(mdir, "config.json")
    arch = cfg.get("model_type")
    if arch not in CONFIG_KEYS:
        raise ModelDirError(f"config.json: model_type {json.dumps(arch)} is not supported (bert, distilbert)")
    act_key = "hidden_act" if arch == "bert" else "activation"
    act = cfg.get(act_key, "gelu")
    if act not in ACTS:
        raise ModelDirError(f"config.json: {act_key} {json.dumps(act)} is not supported ({', '.join(ACTS)})")
    if arch == "bert" and cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ModelDirError(f"config.json: position_embedding_type {json.dumps(cfg['position_embedding_type'])} is not supported (absolute only)")
    if arch == "distilbert" and _bool(cfg, "sinusoidal_pos_embds", "config.json", False):
        raise ModelDirError("config.json: sinusoidal_pos_embds true is not supported (learned position embeddings only)")
    sizes = {k: _int(cfg, key, "config.json", d) for k, key, d in CONFIG_KEYS[arch]}
    sizes.setdefault("type_vocab_size", 0)   # DistilBERT has no token types
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        keys = dict((k, key) for k, key, _ in CONFIG_KEYS[arch])
        raise ModelDirError(f"config.json: {keys['hidden_size']} {sizes['hidden_size']} is not divisible by "
                            f"{keys['num_attention_heads']} {sizes['num_attention_heads']}")
    eps = cfg.get("layer_norm_eps", 1e-12) if arch == "bert" else 1e-12   # DistilBERT's LayerNorms: 1e-12, fixed
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and 0 < eps <= FLOAT32_MAX):
        raise ModelDirError(f"config.json: layer_norm_eps {json.dumps(eps)} must be a number > 0 (and a float32)")
    names = {m: DISTILBERT_MODULES.get(m, m) if arch == "distilbert" else m for m in BERT_MODULES}
    names = {m: n for m, n in names.items() if n is not None}   # absent: the architecture has no such tensor

    modules = _load(mdir, "modules.json", required=False, kind=list)
    sbert: dict = {}
    if modules is None:   # not saved by sentence-transformers: it builds Transformer + mean Pooling
        pooling, include_prompt, dense, normalize = "mean", True, (), False
    else:
        pooling, include_prompt, dense, normalize = _read_modules(mdir, modules, sizes["hidden_size"])
        sbert = _load(mdir, "sentence_bert_config.json", required=False) or {}
    prompts, default_prompt = _read_prompts(_load(mdir, "config_sentence_transformers.json", required=False) or {})
    tok, mml = read_tokenizer(mdir, sizes["vocab_size"])
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
    return ModelSpec(dir=str(mdir), name=name, model_type=arch, hidden_act=act, tensor_names=names,
                     tensor_prefix=f"{arch}.", **sizes, layer_norm_eps=float(eps), max_seq_length=max_len, **tok,
                     pooling=pooling, include_prompt=include_prompt, dense=dense, normalize=normalize,
                     prompts=prompts, default_prompt_name=default_prompt)


def _read_prompts(st: dict) -> tuple[dict, str | None]:
    """config_sentence_transformers.json -> (prompts, default_prompt_name), as sentence-transformers merges
    them over its own (query, document: ""), a null prompt being ""."""
    rel = "config_sentence_transformers.json"
    saved = st.get("prompts") or {}
    if not isinstance(saved, dict):
        raise ModelDirError(f"{rel}: prompts {json.dumps(saved)} must be an object of name: text")
    prompts = dict.fromkeys(ST_PROMPTS, "")
    for k, v in saved.items():
        if v is not None and not isinstance(v, str):
            raise ModelDirError(f"{rel}: prompts {json.dumps(k)} must be a string, "
                                f"not {json.dumps(v)}")
        prompts[k] = v or ""
    default = st.get("default_prompt_name")
    if default is not None and (not isinstance(default, str) or default not in prompts):
        raise ModelDirError(f"{rel}: default_prompt_name {json.dumps(default)} is not one of "
                            f"the prompts ({', '.join(sorted(prompts))})")
    return prompts, default


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


