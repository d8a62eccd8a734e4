"""Export the model to ONNX for the browser peer (transformers.js / onnxruntime-web), from local files only.

Writes a model directory in the layout transformers.js loads with env.localModelPath:
  <out>/<name>/onnx/model.onnx, config.json, tokenizer.json, tokenizer_config.json, ...
Exports transformers' BertModel (what sentence-transformers wraps) with the TorchScript exporter:
inputs input_ids, attention_mask, token_type_ids (int64, dynamic batch and sequence), output
last_hidden_state; pooling and normalising are done by transformers.js (pooling "mean",
normalize true). tests/test_wasm.py checks it against python_ref. source.json says which model
directory it came from, and its spec: check_export() tells a peer when the export is not of the
model being benched, or its head is not mean pooling + normalise (then it must not run).
Leaves out: quantisation, fp16, the sentence-transformers Normalize/Pooling modules as graph nodes.
  python -m wasm_port.export_onnx [--model DIR] [--out build/onnx]
"""
from __future__ import annotations

import argparse
import shutil
import warnings
from pathlib import Path

import json

from contract.api import load_spec, model_dir

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "onnx"
NAME = "minilm"   # the model id transformers.js is given
COPY = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def export(mdir: Path, out: Path = DEFAULT_OUT, opset: int = 17) -> Path:
    """Returns <out>/<NAME>, the directory transformers.js loads; skips work if it is up to date."""
    import torch
    from transformers import BertModel
    dest = out / NAME
    onnx_path = dest / "onnx" / "model.onnx"
    if (onnx_path.is_file() and onnx_path.stat().st_mtime > (mdir / "model.safetensors").stat().st_mtime
            and _source(out).get("model_dir") == str(Path(mdir).resolve())):
        return dest
    (dest / "onnx").mkdir(parents=True, exist_ok=True)
    bert = BertModel.from_pretrained(str(mdir), attn_implementation="eager", add_pooling_layer=False).eval()

    class Wrap(torch.nn.Module):   # keyword call: BertModel.forward's positional order varies by version
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                        return_dict=True).last_hidden_state

    model = Wrap().eval()
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, mask, torch.zeros_like(ids)), str(onnx_path), dynamo=False,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=opset,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes})
    for f in COPY:
        if (mdir / f).is_file():
            shutil.copy(mdir / f, dest / f)
    spec = {k: v for k, v in load_spec(mdir).to_dict().items() if k not in ("dir", "name")}
    (dest / "source.json").write_text(json.dumps({"model_dir": str(Path(mdir).resolve()), "spec": spec}))
    return dest


def _source(out: Path = DEFAULT_OUT) -> dict:
    try:
        return json.loads((out / NAME / "source.json").read_text())
    except (OSError, ValueError):
        return {}


def check_head(spec) -> str | None:
    """None if the model is what the ONNX peers run: BERT (the export is of BertModel), then mean pooling
    over every token (the prompt's too), normalise, no Dense; else one line saying why they must not run on it."""
    if spec.model_type != "bert":
        return f"onnxruntime: the ONNX export is of transformers' BertModel; {spec.name} is {spec.model_type}"
    if spec.pooling != "mean" or spec.dense or not spec.normalize or not spec.include_prompt:
        return (f"onnxruntime: the ONNX peers pool by mean over every token and normalise; {spec.name} does not "
                f"({spec.summary()}{'' if spec.include_prompt else ', include_prompt false'})")
    return None


def check_export(spec, out: Path = DEFAULT_OUT) -> str | None:
    """None if the export is of this model (python_ref ModelSpec) and its head is what the ONNX peers
    apply (mean pooling, normalise, no Dense), else one line saying why the peer must not run."""
    why = check_head(spec)
    if why:
        return why
    src = _source(out).get("model_dir")
    if src != str(Path(spec.dir).resolve()):
        return (f"onnxruntime: the ONNX export in {out} is of {src}, not {spec.dir} "
                f"(python -m wasm_port.export_onnx --model DIR)")
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = ap.parse_args()
    print(export(model_dir(a.model), a.out))


if __name__ == "__main__":
    main()
