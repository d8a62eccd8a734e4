// cpp_port's standalone binaries: the model half. main.cpp (the command line, input, output, the
// --serve loop) is compiled twice, each time linked with one backend chosen at build time:
// - backend_libtorch.cpp -> minilm-embed: BertModel (model.cpp, LibTorch).
// - backend_lite.cpp     -> minilm-embed-lite: wasm_port's portable kernels compiled natively, no
//   LibTorch and no Python: C++ standard library, libc, libm and pthreads only.
// Leaves out: the tokenizer (cpp_port/tokenizer.h, the same in both), devices other than the CPU
// in the lite build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "model_spec.h"

namespace portbench {

class EmbedBackend {
 public:
  virtual ~EmbedBackend() = default;
  virtual int dim() const = 0;
  virtual int threads() const = 0;   // what the forward really runs on
  // ids, mask: int32 (n, t) row-major -> out: float32 (n, dim()), pooled, Dense, normalised as the
  // spec says (prompt_length: the prompt's tokens, left out of pooling where include_prompt is false).
  // Throws std::runtime_error.
  virtual void forward(const int32_t* ids, const int32_t* mask, size_t n, size_t t, int prompt_length, float* out) = 0;
  // The multiply-add peak of the CPU at the kernels' vector width (wasm_port/peak.h), GFLOP/s on
  // `threads` threads, and the floats per vector; -1 and 0 where the backend's kernels are not its own.
  virtual double fma_peak(int threads, int ms) const { (void)threads, (void)ms; return -1; }
  virtual int peak_lanes() const { return 0; }
};

// The weights of spec.dir; threads: 0 = the runtime's default (all cores). Throws ModelDirError for
// a missing or malformed model directory, std::runtime_error for a bad device.
std::unique_ptr<EmbedBackend> load_backend(const ModelSpec& spec, const std::string& device, int threads);

extern const char* const kBinaryName;   // "minilm-embed" | "minilm-embed-lite"
extern const char* const kRuntime;      // what the forward runs on, for --serve's info

}  // namespace portbench
