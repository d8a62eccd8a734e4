// wasm_port loader: our own small replacement for emscripten's JS glue (3.1.6's glue breaks on
// Node 20's fetch). Runs unchanged in Node and the browser: instantiates dist/minilm.wasm (a
// STANDALONE_WASM reactor) with stub WASI imports, takes the model spec (python_ref's, passed in,
// or read from the directory by js/spec.mjs, its JS translation), and loads vocab.txt,
// model.safetensors and each Dense folder's model.safetensors (headers parsed here, in JS; every
// tensor the config implies checked in them before any weight memory is allocated; tensors copied
// straight into wasm memory). Four builds (wasm_port/CMakeLists.txt), chosen at load: threads > 1 ->
// the threaded one over a shared memory made here, with threads - 1 workers (js/worker.mjs:
// worker_threads in Node, Web Workers in the browser), each an instance of the same module on its own
// stack, parked in the kernels' pool (kernels_wasm_pool.cpp); where shared memory is unavailable (a
// page that is not cross-origin isolated) the single-threaded one, `fallback` saying why. Relaxed SIMD
// (f32x4.relaxed_madd) where the engine validates it (relaxedSimdSupported()), else plain SIMD128.
// m.build says which ran: "simd128", "simd128-mt", "relaxed", "relaxed-mt". The kernels ask for BERT's
// tensor names; the spec's tensor_names say what the file calls them (DistilBERT's included). A prompt
// (embed's, resolved by the caller: js/spec.mjs resolvePrompt) goes in front of every text's bytes, and
// its token count (promptLength) to the forward, which leaves those tokens out of pooling where the
// model's include_prompt is false.
// Leaves out: fp16/bf16 weights (F32 only), streaming the weights in pieces.
import { ACTS, readSpec, tensorName } from "./spec.mjs";

const IS_NODE = typeof process !== "undefined" && !!process.versions?.node;

/** Reads a file (Node, plain path) or fetches a URL (browser, or http(s) in Node) -> ArrayBuffer. */
export async function readBytes(where) {
  if (IS_NODE && !/^https?:/.test(String(where))) {
    const fs = await import("node:fs");
    // O_NONBLOCK: opening a FIFO would wait for a writer; only a regular file is read.
    const fh = await fs.promises.open(where instanceof URL ? where : String(where), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) throw new Error(`${where}: not a regular file`);
      const b = await fh.readFile();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    } finally { await fh.close(); }
  }
  const r = await fetch(where);
  if (!r.ok) throw new Error(`fetch ${where}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

const join = (dir, name) => (String(dir).endsWith("/") ? `${dir}${name}` : `${dir}/${name}`);

export class WasmError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;            // -1 bad argument, -2 invalid UTF-8, -3 out of memory, -4 state, -5 name
  }
}

// The few imports a STANDALONE_WASM module may have: all stubs; nothing here does real IO. `memory`:
// the shared memory minilm_mt.wasm imports (each worker's instance gets the same one).
export function imports(getMemory, memory = null) {
  const view = () => new DataView(getMemory().buffer);
  const wasi = {
    proc_exit: (code) => { throw new WasmError(`wasm called proc_exit(${code})`, -4); },
    fd_write: (fd, iovs, iovcnt, nwritten) => {   // forward stdout/stderr text to the console
      const dv = view();
      let text = "", total = 0;
      for (let i = 0; i < iovcnt; i++) {
        const ptr = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
        text += new TextDecoder().decode(new Uint8Array(getMemory().buffer, ptr, len).slice());   // a copy: no shared views
        total += len;
      }
      (fd === 2 ? console.error : console.log)(text.replace(/\n$/, ""));
      dv.setUint32(nwritten, total, true);
      return 0;
    },
    environ_sizes_get: (count, size) => { view().setUint32(count, 0, true); view().setUint32(size, 0, true); return 0; },
    environ_get: () => 0,
    clock_time_get: (_id, _precision, out) => {
      view().setBigUint64(out, BigInt(Math.round(performance.now() * 1e6)), true);
      return 0;
    },
  };
  const ENOSYS = 52;   // anything else (fd_close, fd_seek, ...): "not supported"
  const fallback = (obj) => new Proxy(obj, { get: (t, k) => (k in t ? t[k] : () => ENOSYS) });
  const env = { emscripten_notify_memory_growth: () => {}, ...(memory ? { memory } : {}) };
  return { wasi_snapshot_preview1: fallback(wasi), env: fallback(env) };
}

/** The memory a module imports (env.memory), from its import section: { initial, maximum, shared }
 * in 64 KiB pages, or null when it defines its own. */
export function memoryImport(bytes) {
  const b = new Uint8Array(bytes instanceof ArrayBuffer ? bytes : bytes.buffer, bytes.byteOffset ?? 0, bytes.byteLength);
  let p = 8;
  const leb = () => { let v = 0, s = 0, x; do { x = b[p++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return v; };
  const name = () => { const n = leb(); p += n; return new TextDecoder().decode(b.subarray(p - n, p)); };
  while (p < b.length) {
    const id = b[p++], size = leb(), end = p + size;
    if (id === 2) {
      for (let i = leb(); i > 0; i--) {
        const mod = name(), field = name(), kind = b[p++];
        if (kind === 0) leb();
        else if (kind === 1) { p++; const f = leb(); leb(); if (f & 1) leb(); }
        else if (kind === 3) p += 2;
        else if (kind === 2) {
          const flags = leb(), initial = leb(), maximum = flags & 1 ? leb() : undefined;
          if (mod === "env" && field === "memory") return { initial, maximum, shared: !!(flags & 2) };
        }
      }
      return null;
    }
    p = end;
  }
  return null;
}

const IS_NODE_MAIN = IS_NODE && typeof self === "undefined";
/** Why a threaded module cannot run here (no SharedArrayBuffer, a page that is not cross-origin
 * isolated, no wasm threads), or null. */
export function threadsUnavailable() {
  if (typeof SharedArrayBuffer === "undefined") return "SharedArrayBuffer is not available (page not cross-origin isolated?)";
  if (!IS_NODE_MAIN && !globalThis.crossOriginIsolated) return "the page is not cross-origin isolated (COOP/COEP)";
  try { new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }); } catch (e) { return `no shared wasm memory (${e.message})`; }
  return null;
}

/** Whether this engine validates f32x4.relaxed_madd with its final opcode (0xfd 0x85 0x02). */
export function relaxedSimdSupported() {
  return WebAssembly.validate(simdProbe([0xfd, 0x85, 0x02]));
}
/** A module of one function () -> v128 applying `op` (a v128 instruction's bytes) to `operands` zero constants. */
export function simdProbe(op, operands = 3) {
  const body = [0, ...new Array(operands).fill(0).flatMap(() => [0xfd, 0x0c, ...new Array(16).fill(0)]), ...op, 0x0b];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0,
    10, body.length + 2, 1, body.length, ...body]);
}

const STACK_BYTES = 256 * 1024;   // each worker's stack (the kernels' frames are small)

/** One worker running js/worker.mjs with `data` -> { worker, ready: Promise, stop() }. */
async function spawnWorker(data) {
  const url = new URL("./worker.mjs", import.meta.url);
  let worker, onMessage, onError;
  const ready = new Promise((ok, bad) => { onMessage = (m) => (m?.error ? bad(new WasmError(`worker: ${m.error}`, -4)) : m?.ready && ok()); onError = (e) => bad(new WasmError(`worker: ${e?.message ?? e}`, -4)); });
  if (IS_NODE_MAIN) {
    const { Worker } = await import("node:worker_threads");
    worker = new Worker(url, { workerData: data });
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.unref();   // a parked worker never keeps Node alive
  } else {
    worker = new Worker(url, { type: "module" });
    worker.onmessage = (e) => onMessage(e.data);
    worker.onerror = (e) => onError(e);
    worker.postMessage(data);
  }
  return { worker, ready };
}

/** A safetensors file (ArrayBuffer) -> { buf, header, base (its data's offset), dataBytes }; `file`
 * is named in errors. As the safetensors library checks: the tensors cover the data exactly, no
 * gap, no overlap (a wrong header length shifts every tensor by a few bytes and still fits otherwise). */
export function readHeader(buf, file = "model.safetensors") {
  const bad = (msg) => new WasmError(`${file}: ${msg}`, -1);
  if (buf.byteLength < 8) throw bad("too short for a safetensors header");
  const n = Number(new DataView(buf).getBigUint64(0, true));
  if (!(n > 0) || n + 8 > buf.byteLength) throw bad("header length past the end of the file");
  let header;
  try { header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(buf, 8, n))); } catch (e) { throw bad(`header is not JSON (${e.message})`); }
  if (header === null || typeof header !== "object" || Array.isArray(header)) throw bad("header is not a JSON object");
  const dataBytes = buf.byteLength - 8 - n;
  const spans = Object.entries(header).filter(([k]) => k !== "__metadata__")
    .map(([k, info]) => [info?.data_offsets?.[0], info?.data_offsets?.[1], k]).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [b0, b1, k] of spans) {
    if (b0 !== covered || !(b1 >= b0)) throw bad(`tensor ${k}: data_offsets ${JSON.stringify([b0, b1])} leave a gap or overlap`);
    covered = b1;
  }
  if (covered !== dataBytes) throw bad(`the tensors cover ${covered} of the file's ${dataBytes} data bytes`);
  return { buf, header, base: 8 + n, dataBytes };
}

export class MiniLM {
  constructor(instance, memory = null) {
    this.x = instance.exports;
    this.mem = memory ?? instance.exports.memory;
    this.dim = 0;
    this.threads = 1;
    this.build = "simd128";
    this.workers = [];
  }
  get memoryBytes() { return this.mem.buffer.byteLength; }
  u8() { return new Uint8Array(this.mem.buffer); }
  check(rc) {
    if (rc < 0) throw new WasmError(this.cstr(this.x.pb_last_error()), rc);
    return rc;
  }
  cstr(ptr) {
    const m = this.u8();
    let end = ptr;
    while (m[end]) end++;
    return new TextDecoder().decode(m.slice(ptr, end));   // a copy: TextDecoder refuses shared views
  }
  alloc(bytes) {
    const p = this.x.pb_malloc(bytes);
    if (!p) throw new WasmError(`out of memory allocating ${bytes} bytes in wasm`, -3);
    return p;
  }
  /** Runs fn(ptr) with `bytes` copied into wasm memory (a null-terminated copy if cstring). */
  withBytes(bytes, fn) {
    const p = this.alloc(bytes.length + 1);
    try {
      this.u8().set(bytes, p);
      this.u8()[p + bytes.length] = 0;
      return fn(p);
    } finally { this.x.pb_free(p); }
  }

  /** Sizes, FFN activation and head (pooling, include_prompt, Dense layers, Normalize) from a model spec
   * (python_ref's to_dict() form). */
  setConfig(spec) {
    this.spec = spec;
    const pooling = ["mean", "cls", "max", "mean_sqrt_len_tokens"].indexOf(spec.pooling);
    const dense = new Int32Array(spec.dense.flatMap((d) => [d.in_features, d.out_features, d.bias ? 1 : 0, d.activation === "tanh" ? 1 : 0]));
    const p = this.alloc(dense.byteLength + 4);
    try {
      new Int32Array(this.mem.buffer, p, dense.length).set(dense);
      this.check(this.x.pb_set_config(spec.hidden_size, spec.num_attention_heads, spec.num_hidden_layers, spec.intermediate_size,
        spec.vocab_size, spec.max_position_embeddings, spec.type_vocab_size, spec.layer_norm_eps, ACTS.indexOf(spec.hidden_act ?? "gelu"),
        pooling, spec.include_prompt === false ? 0 : 1, spec.normalize ? 1 : 0, spec.dense.length, p));
    } finally { this.x.pb_free(p); }
    this.dim = this.x.pb_dim();
  }
  /** Every tensor the config implies (pb_set_config lists them and allocates nothing) is in its
   * file's header (readHeader) as F32 with the config's shape: checked before the first setWeights
   * allocates them all, so a config.json that outgrows its weights (num_hidden_layers 1000) is one
   * line naming the first tensor it lacks, not gigabytes of wasm memory and a wrong message.
   * files: [{ h: readHeader(..), prefix: "" | "dense.K.", file }], the model's file first. */
  checkWeights(files) {
    const have = new Map();   // file name (tensor_prefix dropped; "dense.K." + a Dense folder's) -> [file, key, info]
    for (const { h, prefix, file } of files)
      for (const [key, info] of Object.entries(h.header)) if (key !== "__metadata__") have.set(prefix + this.unprefixed(key, prefix), [file, key, info]);
    const enc = new TextEncoder();
    for (let i = 0; i < this.x.pb_tensor_count(); i++) {
      const name = this.cstr(this.x.pb_tensor_name(i)), dense = /^dense\.(\d+)\./.exec(name), inFile = this.fileName(name);
      if (!have.has(inFile)) throw new WasmError(`${files[dense ? 1 + +dense[1] : 0].file}: lacks tensor '${inFile.slice(dense?.[0].length ?? 0)}'`, -1);
      const [file, key, info] = have.get(inFile), shape = info?.shape;
      const bad = (msg) => new WasmError(`${file}: ${msg}`, -1);
      if (info?.dtype !== "F32") throw bad(`tensor ${key} is ${info?.dtype}; wasm_port loads F32 only`);
      if (!Array.isArray(shape) || !shape.every((v) => Number.isSafeInteger(v) && v >= 0)) throw bad(`tensor ${key}: shape ${JSON.stringify(shape)} is not a list of sizes`);
      if (shape.length > 2 || shape.some((v) => v >= 2 ** 31)) throw bad(`tensor ${key} has shape ${JSON.stringify(shape)}; the config needs 1 or 2 dimensions of its sizes`);
      this.withBytes(enc.encode(name), (p) => { if (this.x.pb_tensor_check(p, shape.length, shape[0] ?? 1, shape[1] ?? 1) < 0) throw bad(this.cstr(this.x.pb_last_error())); });
    }
  }
  /** Copies every tensor the model needs out of a safetensors file (readHeader's) into wasm memory;
   * `prefix` names a Dense folder's tensors ("dense.K."), `file` is named in errors. Each tensor's
   * dtype (F32), shape (the config's: checked in wasm) and data_offsets (inside the data, exactly
   * its bytes) are checked; values are checked for NaN/infinity in wasm. Call ready() once all files are in. */
  setWeights({ buf, header, base, dataBytes }, prefix = "", file = "model.safetensors") {
    const bad = (msg) => new WasmError(`${file}: ${msg}`, -1);
    const wanted = new Map();   // the file's name -> the kernels' (BERT's) name
    for (let i = 0; i < this.x.pb_tensor_count(); i++) {
      const name = this.cstr(this.x.pb_tensor_name(i));
      wanted.set(this.fileName(name), name);
    }
    const enc = new TextEncoder();
    const count = (v) => Number.isSafeInteger(v) && v >= 0;
    for (const [key, info] of Object.entries(header)) {
      const name = wanted.get(prefix + this.unprefixed(key, prefix));
      if (name === undefined) continue;   // pooler, position_ids, ...
      if (info?.dtype !== "F32") throw bad(`tensor ${key} is ${info?.dtype}; wasm_port loads F32 only`);
      const shape = info.shape, off = info.data_offsets;
      if (!Array.isArray(shape) || !shape.every(count)) throw bad(`tensor ${key}: shape ${JSON.stringify(shape)} is not a list of sizes`);
      const numel = shape.reduce((a, b) => a * b, 1);
      if (!Array.isArray(off) || off.length !== 2 || !off.every(count) || off[0] > off[1] || off[1] > dataBytes ||
          off[1] - off[0] !== numel * 4)
        throw bad(`tensor ${key}: data_offsets ${JSON.stringify(off)} do not hold its ${numel} floats inside the file's ${dataBytes} data bytes`);
      this.withBytes(enc.encode(name), (pname) => {
        const dest = shape.length <= 2 && numel < 2 ** 32 ? this.x.pb_tensor_dest(pname, shape.length, shape[0] ?? 1, shape[1] ?? 1) : 0;
        if (!dest) {
          if (shape.length > 2 || numel >= 2 ** 32) throw bad(`tensor ${key} has shape ${JSON.stringify(shape)}; the config needs 1 or 2 dimensions`);
          throw bad(this.cstr(this.x.pb_last_error()));
        }
        this.u8().set(new Uint8Array(buf, base + off[0], off[1] - off[0]), dest);   // bytes: file offsets need not be 4-aligned
        const rc = this.x.pb_tensor_done(pname);
        if (rc < 0) throw bad(this.cstr(this.x.pb_last_error()));
      });
    }
  }
  ready() { this.check(this.x.pb_ready()); }
  /** A kernels' tensor name as the file calls it: BERT's through the spec's tensor_names; "dense.K." ones as they are. */
  fileName(name) { return name.startsWith("dense.") || !this.spec?.tensor_names ? name : tensorName(this.spec, name); }
  /** A tensor's key in its file without the task model's prefix ("bert.", "distilbert."; none in a Dense folder's). */
  unprefixed(key, prefix) {
    const p = prefix ? "" : this.spec?.tensor_prefix ?? "bert.";
    return p && key.startsWith(p) ? key.slice(p.length) : key;
  }
  /** vocab.txt + the spec's tokenizer settings (max_seq_length, normalizer flags, special ids). */
  setVocab(bytes, spec) {
    const flags = (spec.clean_text ? 1 : 0) | (spec.handle_chinese_chars ? 2 : 0) | (spec.strip_accents ? 4 : 0) | (spec.lowercase ? 8 : 0);
    this.withBytes(new Uint8Array(bytes), (p) => this.check(this.x.pb_load_vocab(p, bytes.byteLength, spec.max_seq_length, flags,
      spec.cls_id, spec.sep_id, spec.unk_id, spec.pad_id)));
  }
  /** The spec's added tokens ([content, id] pairs), matched verbatim in raw text (as upstream). */
  setAddedTokens(addedTokens) {
    const enc = new TextEncoder();
    const recs = addedTokens.map(([content, id]) => [id, enc.encode(content)]);
    const buf = new Uint8Array(recs.reduce((a, [, b]) => a + 8 + b.length, 0));
    const dv = new DataView(buf.buffer);
    let p = 0;
    for (const [id, b] of recs) { dv.setInt32(p, id, true); dv.setUint32(p + 4, b.length, true); buf.set(b, p + 8); p += 8 + b.length; }
    this.withBytes(buf, (ptr) => this.check(this.x.pb_set_added_tokens(ptr, buf.byteLength)));
  }

  /** GFLOP/s of multiply-add chains (mul + add; relaxed builds: relaxed_madd) on `threads` of the module's threads at once (their sum;
   * wasm_port/peak.cpp), best over about ms -> { gflops, threads }. A short call first: the engine's
   * optimised code replaces its first tier only between calls from JS. */
  peak(ms = 300, threads = this.threads) {
    const t = Math.max(1, Math.min(threads, this.threads));
    if (this.x.pb_set_threads) this.x.pb_set_threads(t);
    try {
      this.x.pb_fma_peak(50);
      return { gflops: this.x.pb_fma_peak(ms), threads: t };
    } finally { if (this.x.pb_set_threads) this.x.pb_set_threads(this.threads); }
  }

  /** minilm_mt.wasm: starts n - 1 workers over this module's shared memory and waits until each is
   * parked in the pool; returns the threads the kernels then use (fewer if a worker did not start). */
  async startThreads(n, module) {
    if (!(n > 1) || !this.x.pb_set_threads) return this.threads;
    const started = [];
    for (let i = 1; i < n; i++) {
      const stack = this.alloc(STACK_BYTES);   // kept for the workers' lifetime
      started.push(await spawnWorker({ module, memory: this.mem, index: i, stackTop: (stack + STACK_BYTES) & ~15 }));
    }
    this.workers = started.map((w) => w.worker);
    let timer;
    const timeout = new Promise((_, bad) => { timer = setTimeout(() => bad(new WasmError("workers did not start within 30 s", -4)), 30000); });
    try { await Promise.race([Promise.all(started.map((w) => w.ready)), timeout]); } finally { clearTimeout(timer); }
    for (const t0 = performance.now(); this.x.pb_workers_alive() < n - 1;) {   // parked in pb_worker_run
      if (performance.now() - t0 > 30000) throw new WasmError("workers did not park within 30 s", -4);
      await new Promise((ok) => setTimeout(ok, 1));
    }
    this.threads = this.x.pb_set_threads(n);
    return this.threads;
  }
  /** Stops the workers (they leave the pool) and ends them. */
  close() {
    if (!this.workers.length) return;
    this.x.pb_set_threads(0);
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.threads = 1;
  }

  /** One text (string or UTF-8 bytes) -> Int32Array of ids, [CLS] .. [SEP]. */
  tokenize(text) {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    const cap = this.x.pb_max_len();
    const out = this.alloc(cap * 4);
    try {
      const k = this.withBytes(bytes, (p) => this.check(this.x.pb_tokenize(p, bytes.length, out, cap)));
      return new Int32Array(this.mem.buffer, out, k).slice();
    } finally { this.x.pb_free(out); }
  }
  /** The prompt's tokens at the start of each row: the prompt alone, [CLS] counted, its [SEP] not (0: "").
   * As sentence-transformers counts them (_get_prompt_length). */
  promptLength(prompt) { return prompt ? this.tokenize(prompt).length - 1 : 0; }
  /** ids, mask: Int32Array (n*t) -> Float32Array (n*dim), pooled and L2-normalised as the spec says;
   * promptLength: the prompt's tokens at the start of every row. */
  forward(ids, mask, n, t, promptLength = 0) {
    if (ids.length !== n * t || mask.length !== n * t) throw new WasmError("forward: ids/mask length != n*t", -1);
    const pi = this.alloc(n * t * 4 + 4), pm = this.alloc(n * t * 4 + 4), po = this.alloc(n * this.dim * 4 + 4);
    try {
      new Int32Array(this.mem.buffer, pi, n * t).set(ids);
      new Int32Array(this.mem.buffer, pm, n * t).set(mask);
      this.check(this.x.pb_forward(pi, pm, n, t, promptLength, po));
      return new Float32Array(this.mem.buffer, po, n * this.dim).slice();
    } finally { this.x.pb_free(pi); this.x.pb_free(pm); this.x.pb_free(po); }
  }
  /** texts: strings or Uint8Arrays (raw UTF-8) -> Float32Array (n*dim); tokenize + forward in wasm. prompt:
   * in front of each text (prompt + text, one string, as sentence-transformers: its truncation too). */
  embed(texts, prompt = "") {
    const enc = new TextEncoder(), pre = enc.encode(prompt);
    const parts = texts.map((s) => (typeof s === "string" ? enc.encode(s) : s))
      .map((b) => { if (!pre.length) return b; const j = new Uint8Array(pre.length + b.length); j.set(pre); j.set(b, pre.length); return j; });
    const total = parts.reduce((a, p) => a + p.length, 0), n = parts.length;
    const pt = this.alloc(total + 1), pl = this.alloc(n * 4 + 4), po = this.alloc(n * this.dim * 4 + 4);
    try {
      let off = 0;
      parts.forEach((p, i) => { this.u8().set(p, pt + off); off += p.length; new Uint32Array(this.mem.buffer, pl, n)[i] = p.length; });
      this.check(this.x.pb_embed(pt, pl, n, this.promptLength(prompt), po));
      return new Float32Array(this.mem.buffer, po, n * this.dim).slice();
    } finally { this.x.pb_free(pt); this.x.pb_free(pl); this.x.pb_free(po); }
  }
}

/** Instantiates the wasm (path/URL or bytes) and loads a model dir (path in Node, URL in the browser)
 * with its spec: `spec` (python_ref's to_dict() form) if given, else read from the directory.
 * threads > 1: a threaded build with that many threads, where threadsUnavailable() is null; else a
 * single-threaded one, and `fallback` says why. relaxed: "auto" (the relaxed-SIMD build where this
 * engine validates relaxed_madd), true or false. m.build, m.threads: what runs. */
export async function loadMiniLM({ wasm = DEFAULT_WASM, wasmMt = DEFAULT_WASM_MT, wasmRelaxed = DEFAULT_WASM_RELAXED,
                                   wasmRelaxedMt = DEFAULT_WASM_RELAXED_MT, relaxed = "auto", modelDir, spec = null, threads = 1 }) {
  const t0 = performance.now();
  const fallback = threads > 1 ? threadsUnavailable() : null;
  const mt = threads > 1 && !fallback;
  const build = `${(relaxed === "auto" ? relaxedSimdSupported() : relaxed) ? "relaxed" : "simd128"}${mt ? "-mt" : ""}`;
  const src = { simd128: wasm, "simd128-mt": wasmMt, relaxed: wasmRelaxed, "relaxed-mt": wasmRelaxedMt }[build];
  const bytes = src instanceof ArrayBuffer || ArrayBuffer.isView(src) ? src : await readBytes(src);
  const module = await WebAssembly.compile(bytes);
  const lim = memoryImport(bytes);
  let memory = lim ? new WebAssembly.Memory({ initial: lim.initial, maximum: lim.maximum, shared: lim.shared }) : null;
  const instance = await WebAssembly.instantiate(module, imports(() => memory, lim ? memory : null));
  memory ??= instance.exports.memory;
  instance.exports._initialize?.();
  const m = new MiniLM(instance, memory);
  m.fallback = fallback;
  m.build = build;
  m.spec = spec ?? await readSpec(modelDir);
  const files = ["vocab.txt", "model.safetensors", ...m.spec.dense.map((d) => `${d.path}/model.safetensors`)];
  const [vocab, weights, ...dense] = await Promise.all(files.map((f) => readBytes(join(modelDir, f))));
  m.setConfig(m.spec);   // the tensors the config implies: listed, nothing allocated yet
  const parts = [{ h: readHeader(weights), prefix: "", file: "model.safetensors" }, ...dense.map((buf, k) => {
    const file = `${m.spec.dense[k].path}/model.safetensors`;
    return { h: readHeader(buf, file), prefix: `dense.${k}.`, file };
  })];
  m.checkWeights(parts);   // before the first tensor allocates the model's memory
  for (const { h, prefix, file } of parts) m.setWeights(h, prefix, file);
  m.ready();   // checkWeights found every tensor, so this only guards the copy
  m.setVocab(vocab, m.spec);
  m.setAddedTokens(m.spec.added_tokens);
  if (mt) await m.startThreads(threads, module);
  m.loadMs = performance.now() - t0;
  m.wasmBytes = bytes.byteLength;
  return m;
}

/** Default locations of the built modules, relative to this file. */
export const DEFAULT_WASM = new URL("../dist/minilm.wasm", import.meta.url);
export const DEFAULT_WASM_MT = new URL("../dist/minilm_mt.wasm", import.meta.url);
export const DEFAULT_WASM_RELAXED = new URL("../dist/minilm_relaxed.wasm", import.meta.url);
export const DEFAULT_WASM_RELAXED_MT = new URL("../dist/minilm_relaxed_mt.wasm", import.meta.url);
