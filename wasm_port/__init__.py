"""wasm_port: BERT forward in portable SIMD C++ kernels compiled to WebAssembly, plus cpp_port's
tokenizer; driven from Python through a long-lived Node process (see pipeline.py)."""
