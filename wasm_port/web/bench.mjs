// Browser bench: one implementation per page load, so cold start is navigation -> first embedding.
// wasm: our module (threads=1: minilm.wasm; threads=N: minilm_mt.wasm with N - 1 Web Workers, where
// the page is cross-origin isolated; else minilm.wasm, and `fallback` says why); pyodide: python_ref's
// tokenizer in Pyodide + minilm.wasm via the JS FFI; tjs: transformers.js (onnxruntime-web's wasm
// backend, fp32; tjs_q8: its q8 dtype, the int8 export onnxruntime_int8 runs; numThreads = threads, not proxied to a worker: on the page's thread, as ours) on the
// local ONNX export, only when that export is of the served model's spec and its head is mean pooling
// + normalise (what tjs applies). Per page: the first call at batch 1 and at batch 32 (cold), then
// p50/p90 after a warm-up at batch 1, 8 and 32 (warm; batch 32: the texts bench/browser/pages.py
// puts in window.__benchTexts, else 32 generated sentences). Reports the threads that ran (ort's
// numThreads after it loaded: it drops to 1 without shared memory), the build and crossOriginIsolated;
// the wasm page also its build's multiply-add peak in this engine (wasm_port/peak.cpp, `peak`), the
// denominator of its peak_fraction at batch 32 (bench/browser/pages.py).
// Leaves out: WebGPU, the network (everything is served from 127.0.0.1).
import { loadMiniLM, relaxedSimdSupported } from "../js/loader.mjs";
import { readSpec } from "../js/spec.mjs";

const canon = (v) => (Array.isArray(v) ? `[${v.map(canon)}]` : v && typeof v === "object"
  ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)}}` : JSON.stringify(v));

const q = new URLSearchParams(location.search);
const impl = q.get("impl"), quick = q.get("quick") === "1", threads = Math.max(1, Number(q.get("threads") ?? 1) || 1);
const ONE = ["A short sentence to embed in the browser."];
const EIGHT = Array.from({ length: 8 }, (_, i) => `Sentence number ${i}: the quick brown fox jumps over the lazy dog.`);
const BATCH = self.__benchTexts?.batch32 ?? Array.from({ length: 32 }, (_, i) =>
  `Sentence number ${i} of the batch: the quick brown fox jumps over the lazy dog, then rests in the shade of a tree.`);

async function setup() {
  if (impl === "tjs" || impl === "tjs_q8") {   // tjs_q8: dtype q8 loads model_quantized.onnx, onnxruntime_int8's export
    const [{ dir, name, ...served }, src] = await Promise.all([readSpec("/model/"), fetch("/onnx/minilm/source.json").then((r) => (r.ok ? r.json() : null))]);
    if (!src || canon(served) !== canon(src.spec) || served.pooling !== "mean" || !served.normalize || served.dense.length)
      throw new Error("transformers.js: the ONNX export is not of the served model, or its head is not mean pooling + normalise");
    const T = await import("../node_modules/@huggingface/transformers/dist/transformers.min.js");
    T.env.allowRemoteModels = false;
    T.env.allowLocalModels = true;
    T.env.localModelPath = "/onnx/";
    const ort = T.env.backends.onnx.wasm;
    ort.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
    ort.numThreads = threads;
    ort.proxy = false;
    const ext = await T.pipeline("feature-extraction", "minilm", { dtype: impl === "tjs_q8" ? "q8" : "fp32", device: "wasm" });
    return { embed: async (t) => (await ext(t, { pooling: "mean", normalize: true })).data, wasmMemory: () => null,
             threads: ort.numThreads, build: "onnxruntime-web", proxy: !!ort.proxy };
  }
  const model = await loadMiniLM({ modelDir: "/model/", threads: impl === "wasm" ? threads : 1 });
  const ran = { threads: model.threads, build: model.build, fallback: model.fallback };
  if (impl === "wasm") return { embed: async (t) => model.embed(t), wasmMemory: () => model.memoryBytes,
                                peak: (ms) => model.peak(ms, model.threads), ...ran };
  if (impl === "pyodide") {
    const { loadPyodideEmbedder } = await import("../js/pyodide_embed.mjs");
    const py = await loadPyodideEmbedder({ model, modelDir: "/model/" });
    return { embed: async (t) => py.embed(t), wasmMemory: () => model.memoryBytes + py.pyodide._module.HEAP8.buffer.byteLength, ...ran };
  }
  throw new Error(`unknown impl ${impl}`);
}

async function timed(embed, texts) {
  const t0 = performance.now();
  await embed(texts);
  return performance.now() - t0;
}

async function latency(embed, texts, warmup, repeat) {
  for (let i = 0; i < warmup; i++) await embed(texts);
  const ms = [];
  for (let i = 0; i < repeat; i++) ms.push(await timed(embed, texts));
  ms.sort((a, b) => a - b);
  const pct = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  return { p50: pct(0.5), p90: pct(0.9), n: ms.length };
}

async function uaMemory() {   // needs cross-origin isolation (COOP/COEP); null where unavailable
  if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
  const r = await Promise.race([performance.measureUserAgentSpecificMemory(), new Promise((ok) => setTimeout(() => ok(null), 20000))]);
  return r ? r.bytes : null;
}

async function run() {
  const s = await setup();
  const t0 = performance.now();
  const first = await s.embed(ONE);
  const cold_ms = performance.now();   // timeOrigin is navigation start
  const first_b1_ms = cold_ms - t0;
  const first_b32_ms = await timed(s.embed, BATCH);
  const [w, r] = quick ? [2, 10] : [5, 50];
  const b1 = await latency(s.embed, ONE, w, r);
  const b8 = await latency(s.embed, EIGHT, w, Math.max(5, r / 2));
  const b32 = await latency(s.embed, BATCH, 1, quick ? 3 : 10);
  const peak = s.peak ? s.peak(quick ? 200 : 400) : null;   // wasm: this engine's multiply-add peak on the page's threads
  return { peak, impl, threads_asked: threads, threads: s.threads, build: s.build, fallback: s.fallback ?? null, proxy: s.proxy ?? false,
           cold_ms, first_b1_ms, first_b32_ms, b1, b8, b32, batch32_texts: BATCH.length,
           wasm_memory_bytes: s.wasmMemory(), ua_memory_bytes: await uaMemory(),
           first: Array.from(first), isolated: self.crossOriginIsolated, relaxed_simd: relaxedSimdSupported() };
}
window.__bench = run().then((r) => { document.getElementById("out").textContent = JSON.stringify(r, null, 1); return r; },
  (e) => ({ impl, error: String(e?.message ?? e) }));
