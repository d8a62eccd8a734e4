// wasm_port demo page logic: load the model once, embed the textarea's lines, fill a cosine table.
// ?threads=N: the threaded build with N threads where the page is cross-origin isolated (the loader's
// choice; `info` says what ran). window.__demo = { ready, embed(texts) -> number[][], info() -> { build,
// threads, fallback, crossOriginIsolated }, peak(ms) -> { gflops, threads } } is what tests/test_browser.py drives. The model's default
// prompt goes in front of every line, or ?prompt_name=NAME's (as sentence-transformers' encode()).
import { loadMiniLM } from "../js/loader.mjs";
import { resolvePrompt } from "../js/spec.mjs";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const ready = loadMiniLM({ modelDir: params.get("model") ?? "/model/", threads: Math.max(1, Number(params.get("threads") ?? 1) || 1) });

function embed(model, texts) {   // -> rows of dim floats (L2-normalised if the model has Normalize)
  const flat = model.embed(texts, resolvePrompt(model.spec, params.get("prompt_name")));
  return texts.map((_, i) => Array.from(flat.subarray(i * model.dim, (i + 1) * model.dim)));
}
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));   // any model: with or without Normalize

function render(texts, rows) {
  const t = $("sims");
  t.replaceChildren();
  const head = t.insertRow();
  head.append(document.createElement("th"));
  for (const s of texts) { const th = document.createElement("th"); th.textContent = s; th.title = s; head.append(th); }
  rows.forEach((a, i) => {
    const tr = t.insertRow();
    const th = document.createElement("th"); th.textContent = texts[i]; th.title = texts[i]; tr.append(th);
    rows.forEach((b) => { tr.insertCell().textContent = cosine(a, b).toFixed(3); });
  });
}

ready.then((model) => {
  $("go").disabled = false;
  $("go").textContent = "Embed";
  $("status").textContent = `${model.spec.name}: pooling ${model.spec.pooling}, ${model.dim} dims; loaded in ` +
    `${model.loadMs.toFixed(0)} ms, wasm memory ${(model.memoryBytes / 2 ** 20).toFixed(0)} MiB, ${model.build} on ${model.threads} thread(s)`;
  $("go").onclick = () => {
    const texts = $("texts").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const t0 = performance.now();
    const rows = embed(model, texts);
    $("status").textContent = `${texts.length} texts embedded in ${(performance.now() - t0).toFixed(1)} ms`;
    render(texts, rows);
  };
}, (e) => { $("status").textContent = `failed: ${e.message}`; });

window.__demo = { ready: ready.then(() => true), embed: async (texts) => embed(await ready, texts),
                  peak: async (ms) => (await ready).peak(ms),   // the build's multiply-add peak in this engine
                  info: async () => { const m = await ready; return { build: m.build, threads: m.threads, fallback: m.fallback,
                                                                     crossOriginIsolated: self.crossOriginIsolated }; } };
