"""cpp_port: the whole pipeline in C++ (tokenizer) and LibTorch C++ (model), reached from Python
through pybind11 (cpp_port._core, GIL released) and as the standalone binary `minilm-embed`."""
