// wasm_port model spec reader: contract/spec.py translated to JS, for the browser page and any JS
// caller that has a model directory but no Python (Node through wasm_port/pipeline.py receives
// python_ref's spec instead). Same rules, same order, same one-line refusals (a ModelDirError);
// the rules and why are documented in spec.py. Tests hold readSpec() equal to python_ref's spec on
// every model variant. Works unchanged in Node (paths) and the browser (URLs).
import { readBytes } from "./loader.mjs";

export class ModelDirError extends Error {
  constructor(message) { super(message); this.name = "ModelDirError"; this.code = -6; }
}

const POOLINGS = ["mean", "cls", "max", "mean_sqrt_len_tokens"];
export const ACTS = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu"];   // spec.py's, in its order
// spec.py's BERT_MODULES -> DISTILBERT_MODULES (null: DistilBERT has no such tensor)
const MODULES = [["embeddings.word_embeddings", "embeddings.word_embeddings"],
  ["embeddings.position_embeddings", "embeddings.position_embeddings"], ["embeddings.token_type_embeddings", null],
  ["embeddings.LayerNorm", "embeddings.LayerNorm"],
  ["encoder.layer.{i}.attention.self.query", "transformer.layer.{i}.attention.q_lin"],
  ["encoder.layer.{i}.attention.self.key", "transformer.layer.{i}.attention.k_lin"],
  ["encoder.layer.{i}.attention.self.value", "transformer.layer.{i}.attention.v_lin"],
  ["encoder.layer.{i}.attention.output.dense", "transformer.layer.{i}.attention.out_lin"],
  ["encoder.layer.{i}.attention.output.LayerNorm", "transformer.layer.{i}.sa_layer_norm"],
  ["encoder.layer.{i}.intermediate.dense", "transformer.layer.{i}.ffn.lin1"],
  ["encoder.layer.{i}.output.dense", "transformer.layer.{i}.ffn.lin2"],
  ["encoder.layer.{i}.output.LayerNorm", "transformer.layer.{i}.output_layer_norm"]];
// config.json's keys for the sizes (spec.py's CONFIG_KEYS): [spec field, config key, default (null: required)]
const CONFIG_KEYS = {
  bert: [["hidden_size", "hidden_size", null], ["num_attention_heads", "num_attention_heads", null],
    ["num_hidden_layers", "num_hidden_layers", null], ["intermediate_size", "intermediate_size", null],
    ["vocab_size", "vocab_size", null], ["max_position_embeddings", "max_position_embeddings", 512], ["type_vocab_size", "type_vocab_size", 2]],
  distilbert: [["hidden_size", "dim", null], ["num_attention_heads", "n_heads", null], ["num_hidden_layers", "n_layers", null],
    ["intermediate_size", "hidden_dim", null], ["vocab_size", "vocab_size", null], ["max_position_embeddings", "max_position_embeddings", 512]],
};

/** Tensor `name` (BERT's: encoder.layer.3.output.dense.weight) as model.safetensors names it, through a spec's
 * tensor_names (spec.py's tensor_name); null where the architecture has none. */
export function tensorName(spec, name) {
  const dot = name.lastIndexOf("."), module = name.slice(0, dot), param = name.slice(dot + 1);
  const m = /^(.*?\.layer\.)(\d+)((?:\..*)?)$/.exec(module);
  const mapped = spec.tensor_names[m ? `${m[1]}{i}${m[3]}` : module];
  return mapped === undefined || mapped === null ? null : `${mapped.replace("{i}", m ? m[2] : "")}.${param}`;
}

/** The prompt put in front of every text, as sentence-transformers' encode() picks it (spec.py's
 * resolve_prompt): `prompt` if given, else prompts[promptName] (an error with code -7 for a name the model
 * lacks), else the default prompt's, else "". */
export function resolvePrompt(spec, promptName = null, prompt = null) {
  if (prompt !== null && prompt !== undefined) {
    if (typeof prompt !== "string") throw Object.assign(new Error("\"prompt\" must be a string"), { code: -7 });
    return prompt;
  }
  if (promptName === null || promptName === undefined)
    return spec.default_prompt_name === null ? "" : spec.prompts[spec.default_prompt_name] ?? "";
  if (typeof promptName !== "string" || !Object.hasOwn(spec.prompts, promptName))
    throw Object.assign(new Error(`prompt_name ${dumps(promptName)} is not one of the model's prompts (${Object.keys(spec.prompts).sort().join(", ")})`), { code: -7 });
  return spec.prompts[promptName];
}
const INT_MAX = 2 ** 31 - 1, FLOAT32_MAX = 3.4028234663852886e38;   // what every port's sizes and eps must fit
const ACTIVATIONS = { Tanh: "tanh", Identity: "identity" };
const LEGACY_POOLING = [["pooling_mode_cls_token", "cls"], ["pooling_mode_max_tokens", "max"],
  ["pooling_mode_mean_tokens", "mean"], ["pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"],
  ["pooling_mode_weightedmean_tokens", "weightedmean"], ["pooling_mode_lasttoken", "lasttoken"]];
const SPECIAL_KEYS = [["unk_token", "[UNK]"], ["sep_token", "[SEP]"], ["pad_token", "[PAD]"],
  ["cls_token", "[CLS]"], ["mask_token", "[MASK]"]];

const refuse = (msg) => { throw new ModelDirError(msg); };
const dumps = (v) => JSON.stringify(v === undefined ? null : v);
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const get = (o, k, d = undefined) => (isObj(o) && k in o ? o[k] : d);
const sub = (path, name) => { const p = path.replace(/^\/+|\/+$/g, ""); return p && p !== "." ? `${p}/${name}` : name; };
const join = (dir, name) => (String(dir).endsWith("/") ? `${dir}${name}` : `${dir}/${name}`);
const tail = (s) => s.slice(s.lastIndexOf(".") + 1);
const token = (v) => (isObj(v) ? v.content : v);

// dir/rel's bytes, or null if absent; anything but a regular file is refused (spec.py's _regular).
async function regularOrNull(dir, rel) {
  try { return await readBytes(join(dir, rel)); } catch (e) {
    const m = String(e?.message ?? e);
    if (/ENOENT|HTTP 404/.test(m)) return null;
    if (/EISDIR|not a regular file/.test(m)) refuse(`${rel}: not a regular file`);
    throw e;
  }
}
async function bytes(dir, rel, required = true) {
  const b = await regularOrNull(dir, rel);
  if (b === null && required) refuse(`${rel}: missing in ${dir}`);
  return b;
}
// Numbers written with a fraction or an exponent (6.0), which JSON.parse makes indistinguishable from 6:
// object -> Map(key -> its source), kept by the reviver where the engine gives the source text (JSON.parse
// source text access: Chromium 114+; Node 20 behind a V8 flag, set below), so int() refuses 6.0 as
// python_ref and transformers do.
const FLOATS = new WeakMap();
const hasSource = () => { let s = false; JSON.parse("1", (k, v, c) => { s = typeof c?.source === "string"; return v; }); return s; };
if (!hasSource() && globalThis.process?.versions?.node)
  (await import("node:v8")).setFlagsFromString("--harmony-json-parse-with-source");
function reviver(k, v, ctx) {
  if (typeof v === "number" && /[.eE]/.test(ctx?.source ?? "")) {
    if (!FLOATS.has(this)) FLOATS.set(this, new Map());
    FLOATS.get(this).set(k, Number.isInteger(v) && Math.abs(v) < 1e16 ? `${v}.0` : ctx.source);   // as Python prints it
  }
  return v;
}
async function load(dir, rel, required = true, list = false) {
  const b = await bytes(dir, rel, required);
  if (b === null) return null;
  let data;
  try { data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b), reviver); } catch (e) { refuse(`${rel}: malformed JSON (${e.message})`); }
  if (list ? !Array.isArray(data) : !isObj(data)) refuse(`${rel}: malformed (not a JSON ${list ? "list" : "object"})`);
  return data;
}
function int(o, k, rel, d = null, lo = 1) {
  const v = get(o, k, d);
  if (v === null || v === undefined) refuse(`${rel}: lacks ${k}`);
  const written = FLOATS.get(o)?.get(k);
  if (written !== undefined || !Number.isInteger(v) || v < lo || v > INT_MAX)
    refuse(`${rel}: ${k} ${written ?? dumps(v)} must be an integer from ${lo} to ${INT_MAX}`);
  return v;
}
function bool(o, k, rel, d) {   // true / false, or null
  const v = get(o, k, d);
  if (v !== null && v !== undefined && typeof v !== "boolean") refuse(`${rel}: ${k} ${dumps(v)} must be true or false`);
  return v ?? null;
}

/** Reads and checks a model directory (path in Node, URL in the browser) -> the spec python_ref's to_dict() gives. */
export async function readSpec(dir) {
  const cfg = await load(dir, "config.json");
  const arch = get(cfg, "model_type");
  if (!Object.hasOwn(CONFIG_KEYS, arch ?? "")) refuse(`config.json: model_type ${dumps(arch)} is not supported (bert, distilbert)`);
  const bert = arch === "bert", actKey = bert ? "hidden_act" : "activation";
  const act = get(cfg, actKey, "gelu");
  if (!ACTS.includes(act)) refuse(`config.json: ${actKey} ${dumps(act)} is not supported (${ACTS.join(", ")})`);
  if (bert && get(cfg, "position_embedding_type", "absolute") !== "absolute")
    refuse(`config.json: position_embedding_type ${dumps(cfg.position_embedding_type)} is not supported (absolute only)`);
  if (!bert && bool(cfg, "sinusoidal_pos_embds", "config.json", false))
    refuse("config.json: sinusoidal_pos_embds true is not supported (learned position embeddings only)");
  const s = { model_type: arch, hidden_act: act, tensor_names: {}, tensor_prefix: `${arch}.` };
  for (const [k, key, d] of CONFIG_KEYS[arch]) s[k] = int(cfg, key, "config.json", d);
  s.type_vocab_size ??= 0;   // DistilBERT has no token types
  if (s.hidden_size % s.num_attention_heads) {
    const keys = Object.fromEntries(CONFIG_KEYS[arch].map(([k, key]) => [k, key]));
    refuse(`config.json: ${keys.hidden_size} ${s.hidden_size} is not divisible by ${keys.num_attention_heads} ${s.num_attention_heads}`);
  }
  const eps = bert ? get(cfg, "layer_norm_eps", 1e-12) : 1e-12;   // DistilBERT's LayerNorms: 1e-12, fixed
  if (typeof eps !== "number" || !Number.isFinite(eps) || !(eps > 0) || eps > FLOAT32_MAX)
    refuse(`config.json: layer_norm_eps ${dumps(eps)} must be a number > 0 (and a float32)`);
  s.layer_norm_eps = eps;
  for (const [m, distil] of MODULES) if (bert || distil !== null) s.tensor_names[m] = bert ? m : distil;
  const modules = await load(dir, "modules.json", false, true);
  let sbert = {};
  if (modules === null) Object.assign(s, { pooling: "mean", include_prompt: true, dense: [], normalize: false });
  else { Object.assign(s, await readModules(dir, modules, s.hidden_size)); sbert = (await load(dir, "sentence_bert_config.json", false)) ?? {}; }
  Object.assign(s, readPrompts((await load(dir, "config_sentence_transformers.json", false)) ?? {}));
  const [tok, mml] = await readTokenizer(dir, s.vocab_size);
  const mpe = s.max_position_embeddings;
  if (get(sbert, "max_seq_length") !== undefined && sbert.max_seq_length !== null) {
    s.max_seq_length = int(sbert, "max_seq_length", "sentence_bert_config.json", null, 2);
    if (s.max_seq_length > mpe) refuse(`sentence_bert_config.json: max_seq_length ${s.max_seq_length} exceeds config.json max_position_embeddings ${mpe}`);
  } else {
    s.max_seq_length = typeof mml === "number" && mml >= 2 ? Math.min(Math.trunc(mml), mpe) : mpe;
  }
  if (bool(sbert, "do_lower_case", "sentence_bert_config.json", false)) tok.lowercase = true;
  const parts = String(dir).replace(/\/+$/, "").split("/");
  const name = parts.at(-1) !== "model" ? parts.at(-1) : parts.at(-2);
  return { dir: String(dir), name, ...s, ...tok };
}

// config_sentence_transformers.json -> { prompts, default_prompt_name } (spec.py's _read_prompts): prompts
// over sentence-transformers' own (query, document: ""), a null prompt being "".
function readPrompts(st) {
  const rel = "config_sentence_transformers.json";
  const saved = get(st, "prompts", null) ?? {};
  if (!isObj(saved)) refuse(`${rel}: prompts ${dumps(saved)} must be an object of name: text`);
  const prompts = { query: "", document: "" };
  for (const [k, v] of Object.entries(saved)) {
    if (v !== null && typeof v !== "string") refuse(`${rel}: prompts ${dumps(k)} must be a string, not ${dumps(v)}`);
    prompts[k] = v ?? "";
  }
  const dflt = get(st, "default_prompt_name", null);
  if (dflt !== null && (typeof dflt !== "string" || !Object.hasOwn(prompts, dflt)))
    refuse(`${rel}: default_prompt_name ${dumps(dflt)} is not one of the prompts (${Object.keys(prompts).sort().join(", ")})`);
  return { prompts, default_prompt_name: dflt };
}

async function readModules(dir, modules, hidden) {
  if (!modules.every((m) => isObj(m) && typeof m.type === "string" && typeof get(m, "path", "") === "string"))
    refuse("modules.json: malformed (a list of {type, path} objects expected)");
  const kinds = modules.map((m) => {
    const kind = tail(m.type);
    if (!m.type.startsWith("sentence_transformers.") || !["Transformer", "Pooling", "Dense", "Normalize"].includes(kind))
      refuse(`modules.json: module ${m.type} is not supported (Transformer, Pooling, Dense, Normalize)`);
    return kind;
  });
  if (kinds[0] !== "Transformer" || !["", "."].includes(get(modules[0], "path", "")))
    refuse("modules.json: the first module must be the Transformer at the directory root");
  if (kinds[1] !== "Pooling") refuse("modules.json: the second module must be Pooling");
  const rest = kinds.slice(2);
  if (rest.includes("Transformer") || rest.includes("Pooling") || rest.slice(0, -1).includes("Normalize"))
    refuse(`modules.json: module order ${kinds.join(" -> ")} is not supported (Transformer -> Pooling -> Dense* -> Normalize?)`);
  let rel = sub(get(modules[1], "path", ""), "config.json");
  const pc = await load(dir, rel);
  let modes;
  if ("pooling_mode" in pc) modes = (Array.isArray(pc.pooling_mode) ? pc.pooling_mode : [pc.pooling_mode]).map((m) => [m, `pooling_mode ${dumps(m)}`]);
  else {
    modes = LEGACY_POOLING.filter(([k]) => bool(pc, k, rel, false)).map(([k, m]) => [m, k]);
    if (!modes.length) modes = [["mean", ""]];
  }
  for (const [mode, key] of modes) if (!POOLINGS.includes(mode)) refuse(`${rel}: ${key} is not supported (${POOLINGS.join(", ")})`);
  if (modes.length !== 1) refuse(`${rel}: more than one pooling mode (${modes.map(([, k]) => k).join(", ")}) is not supported`);
  const width0 = get(pc, "embedding_dimension", get(pc, "word_embedding_dimension", hidden));
  if (width0 !== hidden) refuse(`${rel}: word_embedding_dimension ${dumps(width0)} does not match config.json hidden_size ${hidden}`);
  const includePrompt = bool(pc, "include_prompt", rel, true);
  const dense = [];
  let width = hidden;
  for (const m of modules.slice(2)) {
    const path = get(m, "path", "");
    rel = sub(path, "config.json");
    const isDense = m.type.endsWith("Dense");
    const cfg = (await load(dir, rel, isDense)) ?? {};
    for (const key of ["module_input_name", "module_output_name"]) {
      const v = get(cfg, key, "sentence_embedding");
      if (v !== null && v !== "sentence_embedding") refuse(`${rel}: ${key} ${dumps(v)} is not supported`);
    }
    if (!isDense) continue;
    const dIn = int(cfg, "in_features", rel), dOut = int(cfg, "out_features", rel);
    if (dIn !== width) refuse(`${rel}: in_features ${dIn} does not match the ${width} dimensions before it`);
    if (bool(cfg, "use_residual", rel, false)) refuse(`${rel}: use_residual true is not supported`);
    let act = get(cfg, "activation_function", "torch.nn.modules.activation.Tanh");
    if (typeof act !== "string" || !act.startsWith("torch.")) act = "torch.nn.modules.activation.Tanh";   // as sentence-transformers
    if (!(tail(act) in ACTIVATIONS)) refuse(`${rel}: activation_function ${act} is not supported (${Object.keys(ACTIVATIONS).join(", ")})`);
    if ((await regularOrNull(dir, sub(path, "model.safetensors"))) === null) {
      const bin = (await readBytes(join(dir, sub(path, "pytorch_model.bin"))).catch(() => null)) !== null;
      refuse(`${sub(path, "model.safetensors")}: missing${bin ? " (pytorch_model.bin is not supported)" : ""}`);
    }
    dense.push({ path, in_features: dIn, out_features: dOut, bias: !!bool(cfg, "bias", rel, true), activation: ACTIVATIONS[tail(act)] });
    width = dOut;
  }
  return { pooling: modes[0][0], include_prompt: !!includePrompt, dense, normalize: kinds.at(-1) === "Normalize" };
}

async function readTokenizer(dir, vocabSize) {
  const tj = await load(dir, "tokenizer.json");
  const tc = (await load(dir, "tokenizer_config.json", false)) ?? {};
  const tcls = get(tc, "tokenizer_class", null);
  const bert = [null, "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast"].includes(tcls);
  if (!bert && !["PreTrainedTokenizerFast", "TokenizersBackend"].includes(tcls))
    refuse(`tokenizer_config.json: tokenizer_class ${dumps(tcls)} is not supported (BertTokenizer, BertTokenizerFast, DistilBertTokenizer, PreTrainedTokenizerFast)`);
  const norm = get(tj, "normalizer", null);
  let f;
  if (norm === null) f = { clean_text: false, handle_chinese_chars: false, strip_accents: false, lowercase: false };
  else if (get(norm, "type") === "BertNormalizer") {
    f = {};
    for (const [k, d] of [["clean_text", true], ["handle_chinese_chars", true], ["strip_accents", null], ["lowercase", true]]) f[k] = bool(norm, k, "tokenizer.json", d);
    if (f.strip_accents === null) f.strip_accents = f.lowercase;
  } else refuse(`tokenizer.json: normalizer ${dumps(get(norm, "type"))} is not supported (BertNormalizer)`);
  if (bert) {   // transformers rebuilds the normalizer from tokenizer_config.json
    const lower = bool(tc, "do_lower_case", "tokenizer_config.json", true), strip = bool(tc, "strip_accents", "tokenizer_config.json", null);
    const want = [["lowercase", lower, "do_lower_case"], ["strip_accents", strip === null ? lower : strip, "strip_accents"],
      ["clean_text", true, "clean_text (always true)"], ["handle_chinese_chars", bool(tc, "tokenize_chinese_chars", "tokenizer_config.json", true), "tokenize_chinese_chars"]];
    for (const [k, v, key] of want)
      if (f[k] !== v) refuse(`tokenizer_config.json: ${key} ${dumps(v)} disagrees with tokenizer.json normalizer ${k} ${dumps(f[k])}`);
  }
  const pre = get(get(tj, "pre_tokenizer", null) ?? {}, "type");
  if (pre !== "BertPreTokenizer") refuse(`tokenizer.json: pre_tokenizer ${dumps(pre)} is not supported (BertPreTokenizer)`);
  const model = get(tj, "model", null) ?? {};
  if (get(model, "type") !== "WordPiece" || get(model, "continuing_subword_prefix", "##") !== "##" || get(model, "max_input_chars_per_word", 100) !== 100)
    refuse("tokenizer.json: model must be WordPiece with prefix '##' and max_input_chars_per_word 100");
  const vocab = get(model, "vocab");
  let text;
  const raw = new Uint8Array(await bytes(dir, "vocab.txt"));
  try { text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw); } catch { refuse("vocab.txt: not UTF-8"); }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const fromTxt = new Map(lines.map((t, i) => [t.endsWith("\r") ? t.slice(0, -1) : t, i]));   // CRLF: the same tokens
  if (!isObj(vocab) || Object.keys(vocab).length !== fromTxt.size || [...fromTxt].some(([t, i]) => !Object.hasOwn(vocab, t) || vocab[t] !== i))
    refuse("vocab.txt: does not match tokenizer.json's model.vocab");
  const [[clsTok, clsId], [sepTok, sepId]] = postProcessor(tj);
  const unkTok = get(model, "unk_token", "[UNK]");
  const want = bert ? Object.fromEntries(SPECIAL_KEYS) : {};
  for (const [key, have] of [["cls_token", clsTok], ["sep_token", sepTok], ["unk_token", unkTok]])
    if (key in want && token(get(tc, key, want[key])) !== have)
      refuse(`tokenizer_config.json: ${key} ${dumps(token(get(tc, key, want[key])))} disagrees with tokenizer.json's ${dumps(have)}`);
  for (const [t, tid] of [[clsTok, clsId], [sepTok, sepId], [unkTok, null]])
    if (!Object.hasOwn(vocab, t) || (tid !== null && tid !== vocab[t]))
      refuse(`tokenizer.json: special token ${dumps(t)} is not in the vocabulary${tid !== null ? ` with id ${dumps(tid)}` : ""}`);
  // [file, id, token, the id as Python prints it]
  const listed = (get(tj, "added_tokens", null) ?? []).map((t) => ["tokenizer.json", get(t, "id"), t, FLOATS.get(t)?.get("id") ?? dumps(get(t, "id"))]);
  for (const [key, t] of Object.entries(get(tc, "added_tokens_decoder", null) ?? {})) {
    if (!/^[0-9]+$/.test(key)) refuse(`tokenizer_config.json: added_tokens_decoder key ${dumps(key)} is not an id`);   // transformers fails on it
    listed.push(["tokenizer_config.json", Number(key), t, key.replace(/^0+(?=.)/, "")]);
  }
  for (const [rel, tid, t, shown] of listed) {
    for (const flag of ["normalized", "lstrip", "rstrip", "single_word"])
      if (get(t, flag, flag === "normalized" && !get(t, "special")))   // upstream's defaults
        refuse(`${rel}: added token ${dumps(get(t, "content"))} with ${flag} true is not supported`);
    if (!Number.isInteger(tid) || FLOATS.get(t)?.has("id") || tid < 0 || tid > INT_MAX || typeof get(t, "content") !== "string")
      refuse(`${rel}: added token ${dumps(get(t, "content"))} needs a string content and an id >= 0, not ${shown}`);
  }
  const added = addedIds(listed, vocab);
  const extra = get(tc, "additional_special_tokens", null) ?? [];
  if (!Array.isArray(extra)) refuse(`tokenizer_config.json: additional_special_tokens ${dumps(extra)} must be a list`);   // transformers fails on it
  const specials = Object.keys(want).map((k) => token(get(tc, k, want[k]))).concat(extra.map(token));
  for (const t of specials) {
    if (t === null || t === undefined || added.has(t)) continue;
    if (!Object.hasOwn(vocab, t)) refuse(`tokenizer_config.json: special token ${dumps(t)} is not in the vocabulary`);
    added.set(t, vocab[t]);
  }
  const pad = token(get(tc, "pad_token", "[PAD]"));
  const top = [...added.values()].reduce((a, b) => Math.max(a, b), lines.length - 1);
  if (top >= vocabSize) refuse(`config.json: vocab_size ${vocabSize} is too small for the tokenizer's largest id ${top}`);
  const addedTokens = [...added].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return [{ ...f, cls_id: vocab[clsTok], sep_id: vocab[sepTok], unk_id: vocab[unkTok], pad_id: Object.hasOwn(vocab, pad) ? vocab[pad] : 0,
    added_tokens: addedTokens }, get(tc, "model_max_length", null)];
}

// content -> id, each id checked against the one upstream gives it (spec_tokenizer.py's _added_ids).
function addedIds(listed, vocab) {
  const added = new Map();
  let next = Object.keys(vocab).length;
  for (const [rel, tid, t] of [...listed].sort((a, b) => a[1] - b[1])) {
    if (t.content === "") continue;   // upstream ignores an empty token
    const want = added.get(t.content) ?? (Object.hasOwn(vocab, t.content) ? vocab[t.content] : next);
    if (tid !== want)
      refuse(`${rel}: added token ${dumps(t.content)} has id ${tid} where tokenizers gives it ${want} (its vocabulary id, else the next id after the vocabulary)`);
    added.set(t.content, tid);
    next = Math.max(next, tid + 1);
  }
  return added;
}

function postProcessor(tj) {   // [CLS] $A [SEP]: the two special tokens [text, id] around a single sequence
  const pp = get(tj, "post_processor", null) ?? {};
  if (pp.type === "BertProcessing") return [pp.cls, pp.sep];
  const single = pp.single ?? [];
  if (pp.type === "TemplateProcessing" && single.length === 3 && "SpecialToken" in single[0] && "Sequence" in single[1] && "SpecialToken" in single[2]) {
    return [single[0], single[2]].map((x) => {
      const t = x.SpecialToken.id, ids = pp.special_tokens?.[t]?.ids;
      if (!Array.isArray(ids) || ids.length !== 1) refuse(`tokenizer.json: post_processor special token ${dumps(t)} must map to one id`);
      return [t, ids[0]];
    });
  }
  refuse(`tokenizer.json: post_processor ${dumps(pp.type)} is not supported (single sequence [CLS] $A [SEP] only)`);
}
