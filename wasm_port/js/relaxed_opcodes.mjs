// wasm_port build step (CMakeLists.txt, after linking minilm_relaxed*.wasm): emscripten 3.1.6's
// clang-14 and binaryen 108 know relaxed SIMD only by its prototype encoding, f32x4.fma =
// 0xfd 0xaf 0x01, which engines that ship relaxed SIMD (the final spec: Chromium 114+, Node 20 behind
// --experimental-wasm-relaxed-simd) reject; the final f32x4.relaxed_madd is 0xfd 0x85 0x02, with the
// same operands (a, b, c) -> a * b + c. This rewrites exactly those instructions, found by decoding
// every instruction of every function body (so a 0xfd 0xaf byte pair inside an immediate is never
// touched), in place and at the same length, then refuses the result unless the engine it runs in
// validates it (WebAssembly.validate) and no prototype f32x4.fma is left.
//   node --experimental-wasm-relaxed-simd js/relaxed_opcodes.mjs IN.wasm [OUT.wasm]   (OUT defaults to IN)
// Leaves out: every other prototype relaxed opcode (one in the code fails validation, so the build
// fails), modules with the GC, exception or memory64 proposals (an unknown opcode fails the build).
import { readFileSync, writeFileSync } from "node:fs";

const PROTO_FMA = 0xaf, FINAL_MADD = 0x105;

export function rewrite(bytes) {
  const b = new Uint8Array(bytes);
  let p = 8, count = 0;
  const fail = (msg) => { throw new Error(`relaxed_opcodes: ${msg} at byte ${p}`); };
  const u = () => { let v = 0, s = 0, x; do { x = b[p++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return v; };
  const skip = (n) => { p += n; };
  const memarg = () => { u(); u(); };
  function simd(start) {
    const op = u();
    if (op <= 0x0b || op === 0x5c || op === 0x5d) memarg();
    else if (op === 0x0c || op === 0x0d) skip(16);
    else if (op >= 0x15 && op <= 0x22) skip(1);
    else if (op >= 0x54 && op <= 0x5b) { memarg(); skip(1); }
    else if (op === PROTO_FMA) {   // same byte length: a padded LEB128 where the lengths differ
      const len = p - start;
      for (let i = 0, v = FINAL_MADD; i < len; i++, v = Math.floor(v / 128)) b[start + i] = (v % 128) | (i < len - 1 ? 0x80 : 0);
      count++;
    }
  }
  function misc() {
    const op = u();
    if (op <= 7) return;
    if (op === 8) { u(); skip(1); } else if (op === 9 || op === 13 || (op >= 15 && op <= 17)) u();
    else if (op === 10) skip(2); else if (op === 11) skip(1); else if (op === 12 || op === 14) { u(); u(); }
    else fail(`unknown 0xfc opcode ${op}`);
  }
  function atomic() {
    const op = u();
    if (op === 3) skip(1); else if (op <= 2 || (op >= 0x10 && op <= 0x4e)) memarg(); else fail(`unknown 0xfe opcode ${op}`);
  }
  function instr() {
    const op = b[p++];
    if (op === 0x02 || op === 0x03 || op === 0x04) { if (b[p] >= 0x40 && b[p] < 0x80) p++; else u(); }
    else if (op === 0x0c || op === 0x0d || op === 0x10 || (op >= 0x20 && op <= 0x26) || op === 0xd2) u();
    else if (op === 0x0e) { for (let n = u(); n >= 0; n--) u(); }
    else if (op === 0x11) { u(); u(); }
    else if (op === 0x1c) { skip(u()); }
    else if (op >= 0x28 && op <= 0x3e) memarg();
    else if (op === 0x3f || op === 0x40 || op === 0xd0) skip(1);
    else if (op === 0x41 || op === 0x42) { while (b[p++] & 0x80); }
    else if (op === 0x43) skip(4);
    else if (op === 0x44) skip(8);
    else if (op === 0xfc) misc();
    else if (op === 0xfd) simd(p);
    else if (op === 0xfe) atomic();
    else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b ||
               (op >= 0x45 && op <= 0xc4) || op === 0xd1)) fail(`unknown opcode 0x${op.toString(16)}`);
  }
  if (b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) fail("not a wasm module");
  while (p < b.length) {
    const id = b[p++], size = u(), end = p + size;
    if (id === 10) {
      for (let n = u(); n > 0; n--) {
        const bodyEnd = u() + p;
        for (let l = u(); l > 0; l--) { u(); p++; }   // locals: count, valtype
        while (p < bodyEnd) instr();
        if (p !== bodyEnd || b[p - 1] !== 0x0b) fail("a function body did not end where its size says");
      }
      if (p !== end) fail("the code section did not end where its size says");
    }
    p = end;
  }
  return { bytes: b, count };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [src, dst = src] = process.argv.slice(2);
  const { bytes, count } = rewrite(readFileSync(src));
  const left = rewrite(bytes.slice()).count;   // a second pass finds no prototype f32x4.fma left
  if (!count || left) throw new Error(`relaxed_opcodes: ${src}: rewrote ${count} f32x4.fma, ${left} left`);
  if (!WebAssembly.validate(bytes))
    throw new Error(`relaxed_opcodes: ${src}: the rewritten module does not validate here (node ${process.version}: run with --experimental-wasm-relaxed-simd)`);
  writeFileSync(dst, bytes);
  console.log(`relaxed_opcodes: ${dst}: ${count} x f32x4.fma (0xfd 0xaf 0x01) -> f32x4.relaxed_madd (0xfd 0x85 0x02); validates`);
}
