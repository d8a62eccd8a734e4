// wasm_port Pyodide path: python_ref's pure-Python tokenizer running inside Pyodide (npm `pyodide`,
// core only, offline), calling the wasm model (a loaded MiniLM from loader.mjs) through the JS FFI.
// The tokenizer takes the wasm model's own spec (model.spec), so both halves use the same settings.
// Works unchanged in Node and the browser: the .py sources, vocab.txt and the spec are read or
// fetched and written into Pyodide's file system. Leaves out: numpy and other binary packages.
import { readBytes } from "./loader.mjs";

const here = (p) => new URL(p, import.meta.url);
const PY_FILES = {   // Pyodide path -> source, relative to this file
  "python_ref/__init__.py": null,
  "python_ref/tokenizer.py": "../../python_ref/tokenizer.py",
  "python_ref/added_tokens.py": "../../python_ref/added_tokens.py",
  "python_ref/unicode_compat.py": "../../python_ref/unicode_compat.py",
  "contract/__init__.py": null,
  "contract/texts.py": "../../contract/texts.py",
  "contract/spec.py": "../../contract/spec.py",
  "contract/spec_tokenizer.py": "../../contract/spec_tokenizer.py",
  "wasm_port_embed.py": "../pyodide/embed.py",
};

export async function loadPyodideEmbedder({ model, modelDir, indexURL }) {
  const t0 = performance.now();
  const { loadPyodide } = await import(here("../node_modules/pyodide/pyodide.mjs"));
  const isNode = typeof process !== "undefined" && !!process.versions?.node;
  const base = indexURL ?? (isNode ? here("../node_modules/pyodide/").pathname : here("../node_modules/pyodide/").href);
  const py = await loadPyodide({ indexURL: base });
  const dir = "/home/pyodide/";
  py.FS.mkdirTree(dir + "python_ref");
  py.FS.mkdirTree(dir + "contract");
  py.FS.mkdirTree("/model");
  for (const [dst, src] of Object.entries(PY_FILES))
    py.FS.writeFile(dir + dst, src ? new Uint8Array(await readBytes(here(src))) : new Uint8Array());
  const vocabUrl = String(modelDir).endsWith("/") ? `${modelDir}vocab.txt` : `${modelDir}/vocab.txt`;
  py.FS.writeFile("/model/vocab.txt", new Uint8Array(await readBytes(vocabUrl)));
  py.FS.writeFile("/model/spec.json", new TextEncoder().encode(JSON.stringify(model.spec)));
  py.registerJsModule("wasm_model", {
    forward: (ids, mask, n, t, promptLength = 0) => model.forward(Int32Array.from(ids), Int32Array.from(mask), n, t, promptLength),
  });
  py.runPython(`import sys; sys.path.insert(0, "${dir}")`);
  const mod = py.pyimport("wasm_port_embed");
  const tokenize = mod.tokenize, embed = mod.embed;
  return {
    pyodide: py,
    loadMs: performance.now() - t0,
    tokenize: (texts) => tokenize(texts),
    embed: (texts, promptLength = 0) => embed(texts, promptLength),
  };
}
