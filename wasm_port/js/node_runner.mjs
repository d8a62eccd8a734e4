// wasm_port Node runner: a long-lived process speaking JSON lines on stdin/stdout, one reply per
// request, for wasm_port/pipeline.py. Timings (op "time") are taken here with performance.now(),
// so nothing is ever timed across the pipe. With --pyodide, tokenize/embed go through python_ref's
// pure-Python tokenizer inside Pyodide, calling the same wasm model through the JS FFI.
// --spec FILE: the model spec python_ref read (its to_json()); without it, js/spec.mjs reads DIR.
// --threads N > 1: a threaded build with N - 1 workers (js/loader.mjs); 1: a single-threaded one.
// --relaxed auto|1|0: the relaxed-SIMD builds where this engine validates relaxed_madd (Node 20: with
// --experimental-wasm-relaxed-simd), always, never. --wasm FILE replaces the single-threaded SIMD128
// build (only it: use it with --relaxed 0 --threads 1). The ready line and "info" say which ran
// ("build", "threads", "fallback": why not a threaded one).
//   node node_runner.mjs --model DIR [--spec FILE] [--threads N] [--relaxed auto|1|0] [--wasm FILE] [--pyodide] [--cold TEXT]
//   node node_runner.mjs --model DIR --print-spec      (the spec js/spec.mjs reads, as JSON)
// Requests: {"op":"info"} {"op":"tokenize","texts":[..]} -> {"ids", "prompt_length"} {"op":"embed","texts":[..]}
//   {"op":"tokenize_bytes"|"embed_bytes","b64":[..]} {"op":"forward","n":N,"t":T,"ids":b64,"mask":b64,"prompt_length":P}
//   tokenize, embed (and their _bytes forms) and time take "prompt_name" or "prompt": the prompt in front of
//   every text (js/spec.mjs resolvePrompt; neither: the model's default prompt), "prompt_length" its tokens
//   {"op":"time","what":"embed"|"forward"|"tokenize","texts":[..],"warmup":W,"repeat":R}
//   {"op":"peak","ms":M,"threads":T} -> {"gflops","threads","lanes":4,"build"}: the build's multiply-add
//   peak (wasm_port/peak.cpp) on min(T, the module's threads) threads at once, their sum (T: all of them)
// Replies: {"ok":true,...} or {"ok":false,"error":"...","code":C} (-7: a prompt_name the model lacks), each
// with its request's "id"
// (contract/serve_pipe.py matches them). Arrays of floats/ints travel as base64 of little-endian
// float32/int32. stdout carries replies only: anything else printed (console.log, the wasm's own
// output) goes to stderr. Leaves out: concurrency (one request at a time).
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { DEFAULT_WASM, loadMiniLM } from "./loader.mjs";
import { readSpec, resolvePrompt } from "./spec.mjs";

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
console.log = console.error;   // nothing but replies on stdout
const args = process.argv.slice(2);
const opt = (k, d = null) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const b64 = (ta) => Buffer.from(ta.buffer, ta.byteOffset, ta.byteLength).toString("base64");
const unb64 = (s, T) => { const b = Buffer.from(s, "base64"); return new T(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };

if (args.includes("--print-spec")) {   // for the test that holds this reader equal to python_ref's
  let reply;
  try { reply = { ok: true, spec: await readSpec(opt("--model")) }; } catch (e) {
    reply = { ok: false, error: String(e?.message ?? e), name: e?.name };
  }
  await new Promise((done) => process.stdout.write(JSON.stringify(reply) + "\n", done));   // a pipe: flush before exit
  process.exit(0);
}
let model;
try {
  const spec = opt("--spec") ? JSON.parse(await readFile(opt("--spec"), "utf-8")) : null;
  const relaxed = { auto: "auto", 1: true, 0: false }[opt("--relaxed", "auto")];
  if (relaxed === undefined) throw new Error("--relaxed must be auto, 1 or 0");
  model = await loadMiniLM({ wasm: opt("--wasm", DEFAULT_WASM), modelDir: opt("--model"), spec, relaxed,
                             threads: Math.max(1, Number(opt("--threads", "1")) || 1) });
} catch (e) {   // one line, passed to Python intact (wasm_port/pipeline.py raises ModelDirError with it)
  out({ id: null, ok: false, error: String(e?.message ?? e).split("\n")[0], code: e?.code ?? -6 });
  process.exit(2);
}
let py = null;
if (args.includes("--pyodide")) {
  const { loadPyodideEmbedder } = await import("./pyodide_embed.mjs");
  py = await loadPyodideEmbedder({ model, modelDir: opt("--model") });   // takes model.spec, the same settings
}
const built = () => ({ build: model.build, threads: model.threads, fallback: model.fallback });
const tokenizeOne = (t) => (py ? py.tokenize([t])[0] : Array.from(model.tokenize(t)));
// The prompt goes in front of each text, one string (sentence-transformers'); its tokens counted by the same tokenizer.
const promptLength = (prompt) => (prompt ? tokenizeOne(prompt).length - 1 : 0);
const embed = (texts, prompt = "") => (py ? py.embed(texts.map((t) => prompt + t), promptLength(prompt)) : model.embed(texts, prompt));
const promptOf = (req) => resolvePrompt(model.spec, req.prompt_name ?? null, req.prompt ?? null);
const withPrompt = (prompt, b) => { const p = new TextEncoder().encode(prompt), j = new Uint8Array(p.length + b.length); j.set(p); j.set(b, p.length); return j; };

function pad_rows(rows) {   // id rows -> ids, mask Int32Array (n*t), as contract.api.pad_rows
  const n = rows.length, t = Math.max(0, ...rows.map((r) => r.length));
  const ids = new Int32Array(n * t).fill(model.spec.pad_id), mask = new Int32Array(n * t);
  rows.forEach((r, i) => { ids.set(r, i * t); mask.fill(1, i * t, i * t + r.length); });
  return { ids, mask, n, t };
}

function timed(what, texts, warmup, repeat, prompt = "") {
  let fn;
  if (what === "embed") fn = () => embed(texts, prompt);
  else if (what === "tokenize") fn = () => texts.forEach((t) => tokenizeOne(prompt + t));
  else if (what === "forward") {
    const b = pad_rows(texts.map((t) => tokenizeOne(prompt + t))), pl = promptLength(prompt);
    fn = () => model.forward(b.ids, b.mask, b.n, b.t, pl);
  }
  else throw new Error(`unknown timing target ${what}`);
  for (let i = 0; i < warmup; i++) fn();
  const ms = [];
  for (let i = 0; i < repeat; i++) { const t0 = performance.now(); fn(); ms.push(performance.now() - t0); }
  return ms;
}

function handle(req) {
  switch (req.op) {
    case "info":
      return { dim: model.dim, max_len: model.x.pb_max_len(), memory_bytes: model.memoryBytes, wasm_bytes: model.wasmBytes,
               load_ms: model.loadMs, pyodide: !!py, spec: model.spec, ...built() };
    case "memory": return { memory_bytes: model.memoryBytes };
    case "peak": return { ...model.peak(Math.min(Math.max(req.ms ?? 300, 1), 10000), req.threads ?? model.threads), lanes: 4, build: model.build };
    case "tokenize": { const p = promptOf(req); return { ids: req.texts.map((t) => tokenizeOne(p + t)), prompt_length: promptLength(p) }; }
    case "tokenize_bytes": {
      const p = promptOf(req);
      return { ids: req.b64.map((s) => Array.from(model.tokenize(withPrompt(p, unb64(s, Uint8Array))))), prompt_length: promptLength(p) };
    }
    case "embed": return { n: req.texts.length, dim: model.dim, data: b64(embed(req.texts, promptOf(req))) };
    case "embed_bytes": return { n: req.b64.length, dim: model.dim, data: b64(model.embed(req.b64.map((s) => unb64(s, Uint8Array)), promptOf(req))) };
    case "forward": {
      const out = model.forward(unb64(req.ids, Int32Array), unb64(req.mask, Int32Array), req.n, req.t, req.prompt_length ?? 0);
      return { n: req.n, dim: model.dim, data: b64(out) };
    }
    case "time": return { ms: timed(req.what, req.texts, req.warmup ?? 3, req.repeat ?? 20, promptOf(req)) };
    default: throw new Error(`unknown op ${req.op}`);
  }
}

if (opt("--cold") !== null) {   // cold start: process start -> first embedding, then exit
  const first = embed([opt("--cold")], promptOf({}));
  const total = performance.now();   // Node's performance.now() counts from process start
  out({ ok: true, load_ms: model.loadMs, total_ms: total, dim: model.dim, norm0: Math.hypot(...first.slice(0, model.dim)) });
  process.exit(0);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
out({ id: null, ok: true, ready: true, dim: model.dim, ...built() });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply, id = null;
  try {
    const req = JSON.parse(line);
    id = req?.id ?? null;
    reply = { ok: true, ...handle(req) };
  } catch (e) {
    reply = { ok: false, error: String(e?.message ?? e), code: e?.code ?? -1 };
  }
  out({ ...reply, id });
}
model.close();   // the workers leave the pool; Node then exits
