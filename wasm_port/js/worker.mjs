// wasm_port worker: one thread of minilm_mt.wasm's pool (kernels_wasm_pool.cpp), started by
// js/loader.mjs (MiniLM.startThreads) as a Node worker_thread (workerData) or a browser module Worker
// (its first message). Instantiates the compiled module over the shared memory it is given, never
// runs _initialize (the main instance did: constructors and data are in the shared memory already),
// moves its stack pointer to its own stack (pb_malloc'd by the main thread), says "ready" and parks
// in pb_worker_run, which returns when the pool stops. Leaves out: anything but the kernels' parts
// (no malloc, no IO in here).
import { imports } from "./loader.mjs";

async function run({ module, memory, index, stackTop }, post) {
  try {
    const instance = await WebAssembly.instantiate(module, imports(() => memory, memory));
    instance.exports.stackRestore(stackTop);
    post({ ready: index });
    instance.exports.pb_worker_run(index);
    post({ stopped: index });
  } catch (e) {
    post({ error: String(e?.message ?? e) });
  }
}

if (typeof self === "undefined") {   // Node: worker_threads
  const { parentPort, workerData } = await import("node:worker_threads");
  run(workerData, (m) => parentPort.postMessage(m));
} else {
  self.onmessage = (e) => run(e.data, (m) => self.postMessage(m));
}
