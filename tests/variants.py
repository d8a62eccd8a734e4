"""The one place that builds model-directory variants, at test time, from the packaged model.

Each variant differs from all-MiniLM-L6-v2 the way popular models on the Hub do (cased
tokenizers, CLS or max pooling, no Normalize, Dense heads, other truncation lengths, other sizes,
prompts, other FFN activations, DistilBERT). Changed JSON files are written; everything else is
symlinked. Architecture variants and Dense layers get seeded random weights saved with safetensors
(Dense through sentence-transformers' own Dense module, DistilBERT through transformers' own
DistilBertModel and save_pretrained, so the folder is exactly what they save). REFUSED lists variants no port supports
(settings, values no model runs with, faulty files), each with the file and setting its one-line
refusal must name. SAME_AS_BASE: a different file layout, the base model's answer.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

SUPPORTED = ("cased", "cased_strip", "lower_nostrip", "no_chinese", "generic_noclean", "do_lower_case",
             "cls", "max", "mean_sqrt", "no_normalize", "dense", "max_seq_128", "max_seq_512", "small", "deep",
             "added_words", "prompts", "prompts_no_include", "prompts_cls", "gelu_new", "gelu_tanh", "gelu_fast", "relu",
             "distilbert")
REFUSED = {  # variant: (file, setting) its refusal must name
    "weightedmean": ("1_Pooling/config.json", "pooling_mode_weightedmean_tokens"),
    "mpnet": ("config.json", "model_type"),
    "unknown_module": ("modules.json", "sentence_transformers.models.LayerNorm"),
    "quick_gelu": ("config.json", "hidden_act"),
    "distilbert_sinusoidal": ("config.json", "sinusoidal_pos_embds"),
    "distilbert_silu": ("config.json", "activation"),
    "dense_relu": ("2_Dense/config.json", "activation_function"),
    "long_max_seq": ("sentence_bert_config.json", "max_seq_length"),
    "prompt_unknown": ("config_sentence_transformers.json", "default_prompt_name"),
    "prompt_not_text": ("config_sentence_transformers.json", "prompts"),
    "conflict": ("tokenizer_config.json", "do_lower_case"),
    "dense_bin": ("2_Dense/model.safetensors", "pytorch_model.bin"),
    # values no model can run with (they gave NaN vectors, zero layers or wrong ids): refused at load
    "eps_negative": ("config.json", "layer_norm_eps"),
    "layers_negative": ("config.json", "num_hidden_layers"),
    "heads_indivisible": ("config.json", "num_attention_heads"),
    "vocab_size_small": ("config.json", "vocab_size"),
    "no_unk": ("tokenizer.json", "[UNK]"),
    "bad_added_id": ("tokenizer.json", "id"),
    "added_id_not_upstreams": ("tokenizer.json", "has id 5 where tokenizers gives it 30522"),
    "decoder_key": ("tokenizer_config.json", "added_tokens_decoder key"),
    "specials_not_list": ("tokenizer_config.json", "additional_special_tokens"),
    "layers_float": ("config.json", "num_hidden_layers 6.0"),
    "vocab_not_utf8": ("vocab.txt", "UTF-8"),
    "fifo_config": ("config.json", "not a regular file"),
    "fifo_vocab": ("vocab.txt", "not a regular file"),
}
# Variants whose answer is the base model's, bit for bit, in every port (a different file layout only)
SAME_AS_BASE = ("crlf_vocab", "added_empty")
# added_words: vocabulary lines [unused0] and [unused1] renamed to these and added as tokens (normalized
# false): upstream finds them anywhere in the raw text, inside words and after digits included
ADDED_WORDS = {"zqx": 1, "9x": 2}
# Faulty model.safetensors (built by weight_fault): what the one-line refusal must name besides the file
WEIGHT_FAULTS = {
    "transposed": "encoder.layer.0.intermediate.dense.weight",   # right size, wrong shape
    "nan": "encoder.layer.2.output.dense.bias",
    "inf": "embeddings.word_embeddings.weight",
    "missing": "encoder.layer.3.output.LayerNorm.bias",
    "int_dtype": "embeddings.LayerNorm.weight",
    "negative_offsets": "",                                      # a tensor's data_offsets before the data
    "shifted_data": "",                                          # a header length 1 short: every tensor 1 byte off
    "truncated": "",
    "fifo": "not a regular file",                                # reading it would block
}
# prompts (config_sentence_transformers.json): a prompt that ends in punctuation and one that runs into the text
PROMPTS = {"query": "query: ", "passage": "passage: ", "tight": "Represent this sentence for searching:"}
ACTS = {"gelu_new": "gelu_new", "gelu_tanh": "gelu_pytorch_tanh", "gelu_fast": "gelu_fast", "relu": "relu"}
MODULES = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]


class _Dir:
    def __init__(self, base: Path, out: Path):
        self.base, self.out = base, out
        out.mkdir(parents=True)
        for f in base.iterdir():
            (out / f.name).symlink_to(f.resolve())

    def edit(self, rel: str, fn) -> None:
        """Replace `rel` (a symlink, or a file in a linked folder) by fn(its JSON)."""
        src = self.base / rel
        data = json.loads(src.read_text(encoding="utf-8")) if src.is_file() else {}
        data = fn(data) or data
        self.write(rel, data)

    def write(self, rel: str, data) -> None:
        dst = self.out / rel
        top = self.out / Path(rel).parts[0]
        if top.is_symlink() and top != dst:          # a linked folder: make it a real one
            top.unlink()
            top.mkdir()
            for f in (self.base / top.name).iterdir():
                (top / f.name).symlink_to(f.resolve())
        if dst.is_symlink():
            dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def _bytes(d: _Dir, rel: str, data: bytes) -> None:
    """Replace the linked file `rel` by `data`."""
    (d.out / rel).unlink()
    (d.out / rel).write_bytes(data)


def _norm(d: _Dir, **flags) -> None:
    d.edit("tokenizer.json", lambda t: t["normalizer"].update(flags))
    tc = {"lowercase": "do_lower_case", "strip_accents": "strip_accents", "handle_chinese_chars": "tokenize_chinese_chars"}
    d.edit("tokenizer_config.json", lambda t: t.update({tc[k]: v for k, v in flags.items() if k in tc}))


def _pooling(d: _Dir, **cfg) -> None:
    d.write("1_Pooling/config.json", {"word_embedding_dimension": 384, **cfg})


def _arch(d: _Dir, seed: int, **sizes) -> None:
    from safetensors.torch import save_file

    from contract.weights import random_tensors
    d.edit("config.json", lambda c: c.update(sizes))
    cfg = json.loads((d.out / "config.json").read_text())
    (d.out / "model.safetensors").unlink()
    # std 0.2, not BERT's 0.02 init: every layer then moves the output well past the tolerances
    save_file({k: v.contiguous() for k, v in random_tensors(cfg, seed, 0.2).items()}, str(d.out / "model.safetensors"))
    _pooling(d, word_embedding_dimension=sizes["hidden_size"], pooling_mode_mean_tokens=True)


def _dense(d: _Dir, layers, fmt: str = "safetensors") -> None:
    """Dense layers (in, out, bias, activation) through sentence-transformers' own module and save()."""
    import torch
    from sentence_transformers.models import Dense
    gen = torch.Generator().manual_seed(7)
    mods = MODULES[:2]
    for k, (n_in, n_out, bias, act) in enumerate(layers):
        path = f"{k + 2}_Dense"
        layer = Dense(n_in, n_out, bias=bias, activation_function=act,
                      init_weight=torch.randn(n_out, n_in, generator=gen) / n_in ** 0.5,
                      init_bias=torch.randn(n_out, generator=gen) * 0.1 if bias else None)
        (d.out / path).mkdir()
        layer.save(str(d.out / path), safe_serialization=fmt == "safetensors")
        mods.append({"idx": k + 2, "name": str(k + 2), "path": path, "type": "sentence_transformers.models.Dense"})
    mods.append({"idx": len(mods), "name": str(len(mods)), "path": f"{len(mods)}_Normalize",
                 "type": "sentence_transformers.models.Normalize"})
    d.write("modules.json", mods)


def _distilbert(d: _Dir, name: str) -> None:
    """A DistilBERT sentence-transformers directory (msmarco-distilbert-base-v4's layout): transformers' own
    DistilBertModel, seeded, saved by save_pretrained (its config.json and model.safetensors); the
    tokenizer files as such a model has them (tokenizer_class DistilBertTokenizer); mean pooling."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel
    base = json.loads((d.base / "config.json").read_text())
    cfg = DistilBertConfig(vocab_size=base["vocab_size"], max_position_embeddings=512, dim=128, n_heads=4, n_layers=3,
                           hidden_dim=256, activation="gelu" if name != "distilbert_silu" else "silu",
                           initializer_range=0.2)   # BERT's 0.02 would hardly move the output past the tolerances
    torch.manual_seed(11)
    model = DistilBertModel(cfg).eval()
    with torch.no_grad():   # LayerNorms off their init (weight 1, bias 0): a swapped pair must show
        for k, v in model.named_parameters():
            if "layer_norm" in k.lower():
                v.add_(torch.randn(v.shape) * 0.2)
    (d.out / "config.json").unlink()
    (d.out / "model.safetensors").unlink()
    model.save_pretrained(str(d.out), safe_serialization=True)
    if name == "distilbert_sinusoidal":   # transformers would overwrite the positions with sin/cos
        cfg = json.loads((d.out / "config.json").read_text())
        (d.out / "config.json").write_text(json.dumps({**cfg, "sinusoidal_pos_embds": True}, indent=1))
    d.edit("tokenizer_config.json", lambda t: t.update(tokenizer_class="DistilBertTokenizer"))
    _pooling(d, word_embedding_dimension=128, pooling_mode_mean_tokens=True)


def build(name: str, base: Path, out: Path) -> Path:
    """Write variant `name` of the model directory `base` into the new directory `out`. Only the
    Dense and architecture variants import torch (the sanitizer run builds the others)."""
    d = _Dir(base, out)
    torch = __import__("torch") if name in ("dense", "combo", "dense_relu", "dense_bin") else None
    sbert = lambda **kw: d.edit("sentence_bert_config.json", lambda c: c.update(kw))  # noqa: E731
    if name == "cased":                       # bert-base-cased and cased multilingual models
        _norm(d, lowercase=False, strip_accents=False)
    elif name == "cased_strip":
        _norm(d, lowercase=False, strip_accents=True)
    elif name == "lower_nostrip":
        _norm(d, lowercase=True, strip_accents=False)
    elif name == "no_chinese":
        _norm(d, handle_chinese_chars=False)
    elif name == "generic_noclean":           # the tokenizer.json as it is (transformers keeps it whole)
        d.edit("tokenizer.json", lambda t: t["normalizer"].update(clean_text=False, lowercase=False, strip_accents=False))
        d.edit("tokenizer_config.json", lambda t: t.update(tokenizer_class="PreTrainedTokenizerFast"))
    elif name == "do_lower_case":             # a cased tokenizer that sentence-transformers lowercases
        _norm(d, lowercase=False, strip_accents=False)
        sbert(do_lower_case=True)
    elif name in ("cls", "max", "mean_sqrt"):
        if name == "mean_sqrt":   # the current format (one pooling_mode key); no Normalize, which would undo sqrt(n)
            _pooling(d, pooling_mode="mean_sqrt_len_tokens")
            d.write("modules.json", MODULES[:2])
        else:
            _pooling(d, **{f"pooling_mode_{name}_tokens" if name == "max" else "pooling_mode_cls_token": True})
    elif name == "no_normalize":              # paraphrase-MiniLM-L6-v2 and others
        d.write("modules.json", MODULES[:2])
    elif name == "dense":
        _dense(d, [(384, 256, True, torch.nn.Tanh()), (256, 128, False, torch.nn.Identity())])
    elif name.startswith("max_seq_"):
        sbert(max_seq_length=int(name.rsplit("_", 1)[1]))
    elif name == "small":
        _arch(d, 1, num_hidden_layers=2, hidden_size=128, num_attention_heads=4, intermediate_size=256)
    elif name == "deep":
        _arch(d, 2, num_hidden_layers=12, hidden_size=64, num_attention_heads=2, intermediate_size=128)
    elif name == "combo":                     # for the browser and Pyodide: tokenizer, truncation and head at once
        _norm(d, lowercase=False, strip_accents=False)
        sbert(max_seq_length=128)
        _dense(d, [(384, 192, True, torch.nn.Tanh())])
        _pooling(d, pooling_mode_cls_token=True)
    elif name == "weightedmean":
        _pooling(d, pooling_mode_mean_tokens=False, pooling_mode_weightedmean_tokens=True)
    elif name == "mpnet":
        d.edit("config.json", lambda c: c.update(model_type="mpnet"))
    elif name == "unknown_module":
        d.write("modules.json", MODULES[:2] + [{"idx": 2, "name": "2", "path": "2_LayerNorm",
                                                "type": "sentence_transformers.models.LayerNorm"}])
    elif name == "relu":
        d.edit("config.json", lambda c: c.update(hidden_act="relu"))
    elif name == "dense_relu":
        _dense(d, [(384, 128, True, torch.nn.ReLU())])
    elif name == "dense_bin":
        _dense(d, [(384, 128, True, torch.nn.Tanh())], fmt="bin")
    elif name == "long_max_seq":
        sbert(max_seq_length=1024)
    elif name in ("prompts", "prompts_no_include", "prompts_cls"):   # e5, bge, nomic: a prompt before every text
        d.edit("config_sentence_transformers.json", lambda c: c.update(prompts=PROMPTS, default_prompt_name="query"))
        if name != "prompts":   # INSTRUCTOR-style: the prompt's tokens left out of pooling
            mode = {"pooling_mode_cls_token": True} if name == "prompts_cls" else {"pooling_mode_mean_tokens": True}
            _pooling(d, **mode, include_prompt=False)
    elif name == "prompt_unknown":
        d.edit("config_sentence_transformers.json", lambda c: c.update(prompts=PROMPTS, default_prompt_name="search"))
    elif name == "prompt_not_text":
        d.edit("config_sentence_transformers.json", lambda c: c.update(prompts={"query": ["query: "]}))
    elif name in ACTS:                        # the FFN activation transformers.activations names
        d.edit("config.json", lambda c: c.update(hidden_act=ACTS[name]))
        if name != "relu":   # the tanh forms move the vectors ~4e-4 past Normalize, ~2e-3 before it: no Normalize
            d.write("modules.json", MODULES[:2])
    elif name == "quick_gelu":
        d.edit("config.json", lambda c: c.update(hidden_act="quick_gelu"))
    elif name in ("distilbert", "distilbert_sinusoidal", "distilbert_silu"):
        _distilbert(d, name)
    elif name == "crlf_vocab":                # a vocab.txt saved on Windows: the same tokens
        _bytes(d, "vocab.txt", (base / "vocab.txt").read_bytes().replace(b"\n", b"\r\n"))
    elif name in ("eps_negative", "layers_negative", "heads_indivisible", "vocab_size_small"):
        key, value = {"eps_negative": ("layer_norm_eps", -1e-12), "layers_negative": ("num_hidden_layers", -1),
                      "heads_indivisible": ("num_attention_heads", 5), "vocab_size_small": ("vocab_size", 30000)}[name]
        d.edit("config.json", lambda c: c.update({key: value}))
    elif name == "no_unk":                    # [UNK] is in neither vocabulary: nothing to map unknown words to
        _bytes(d, "vocab.txt", (base / "vocab.txt").read_bytes().replace(b"[UNK]\n", b"[UNK_]\n"))
        d.edit("tokenizer.json", lambda t: t["model"]["vocab"].update({"[UNK_]": t["model"]["vocab"].pop("[UNK]")}))
    elif name == "added_words":
        vocab = (base / "vocab.txt").read_bytes()
        for word, i in ADDED_WORDS.items():
            vocab = vocab.replace(f"[unused{i - 1}]\n".encode(), f"{word}\n".encode())
        _bytes(d, "vocab.txt", vocab)
        d.edit("tokenizer.json", _add_words)
    elif name in ("added_id_not_upstreams", "added_empty"):   # upstream: ids by content; "" ignored
        token = _added("zqx", 5) if name == "added_id_not_upstreams" else _added("", 30521)
        d.edit("tokenizer.json", lambda t: t["added_tokens"].append(token))
    elif name == "decoder_key":
        d.edit("tokenizer_config.json", lambda t: t.setdefault("added_tokens_decoder", {}).update(x=_added("[MASK]", 0)))
    elif name == "specials_not_list":
        d.edit("tokenizer_config.json", lambda t: t.update(additional_special_tokens="[MASK]"))
    elif name == "layers_float":              # transformers refuses a float where an int belongs
        d.edit("config.json", lambda c: c.update(num_hidden_layers=6.0))
    elif name == "bad_added_id":
        d.edit("tokenizer.json", lambda t: t["added_tokens"][0].update(id=None))
    elif name == "vocab_not_utf8":
        _bytes(d, "vocab.txt", (base / "vocab.txt").read_bytes().replace(b"[unused5]", b"[unused\xff]"))
    elif name in ("fifo_config", "fifo_vocab"):   # reading a FIFO would block: refused, never opened for reading
        f = d.out / ("config.json" if name == "fifo_config" else "vocab.txt")
        f.unlink()
        os.mkfifo(f)
    elif name == "conflict":                  # tokenizer.json cased, tokenizer_config.json lowercases
        d.edit("tokenizer.json", lambda t: t["normalizer"].update(lowercase=False))
    else:
        raise KeyError(name)
    return out


def _add_words(tj: dict) -> None:
    for word, i in ADDED_WORDS.items():
        tj["model"]["vocab"][word] = tj["model"]["vocab"].pop(f"[unused{i - 1}]")
        tj["added_tokens"].append(_added(word, i))


def _added(content: str, tid: int) -> dict:
    return {"id": tid, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": False}


def weight_fault(name: str, base: Path, out: Path) -> Path:
    """A copy of `base` (linked) whose model.safetensors has fault `name` of WEIGHT_FAULTS."""
    import struct

    import numpy as np
    from safetensors.numpy import load_file, save_file
    d = _Dir(base, out)
    raw = (base / "model.safetensors").read_bytes()
    (d.out / "model.safetensors").unlink()
    if name == "fifo":
        os.mkfifo(d.out / "model.safetensors")
        return out
    if name == "truncated":
        (d.out / "model.safetensors").write_bytes(raw[:len(raw) // 2])
        return out
    if name in ("negative_offsets", "shifted_data"):   # the header rewritten
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        if name == "negative_offsets":   # one tensor's bytes said to lie before the data
            key = next(k for k in header if k.endswith("encoder.layer.0.output.dense.bias"))
            b0, b1 = header[key]["data_offsets"]
            header[key]["data_offsets"] = [b0 - b1, 0]
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8 + 8 * (name == "shifted_data"))   # still JSON when read 1 byte short
        hlen = len(h) - (name == "shifted_data")
        (d.out / "model.safetensors").write_bytes(struct.pack("<Q", hlen) + h + raw[8 + n:])
        return out
    t = load_file(str(base / "model.safetensors"))
    key = next(k for k in t if k.endswith(WEIGHT_FAULTS[name]))
    v = t[key].copy()
    if name == "transposed":
        v = np.ascontiguousarray(v.T)
    elif name == "nan":
        v[5] = np.nan
    elif name == "inf":
        v[7, 3] = np.inf
    elif name == "int_dtype":
        v = v.astype(np.int32)
    if name == "missing":
        del t[key]
    else:
        t[key] = v
    save_file(t, str(d.out / "model.safetensors"))
    return out
