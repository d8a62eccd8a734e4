// cpp_port's standalone binaries (main.cpp, serve.cpp): the pipeline they share. Embedder is
// tokenizer + the build's backend (embed_backend.h), run on at most kMaxBatchTokens padded tokens at
// a time; the stdin mode and the --serve loop both call it. A prompt (ModelSpec::resolve_prompt's) goes
// in front of every text, and its tokens are counted as sentence-transformers counts them
// (prompt_length). Leaves out: argument parsing (main.cpp).
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "embed_backend.h"
#include "model_spec.h"
#include "tokenizer.h"

namespace portbench {

// A fault of one input text (invalid UTF-8, a vector that is not finite): which one, and why.
struct InputError : std::runtime_error {
  size_t index;
  InputError(size_t i, const std::string& what) : std::runtime_error(what), index(i) {}
};

// forward() runs the backend on at most this many padded tokens (rows x longest row) at a time:
// python_ref.api.MAX_BATCH_TOKENS, so both binaries bound their working set as every port does.
constexpr size_t kMaxBatchTokens = 16384;

struct Embedder {
  ModelSpec spec;
  Tokenizer tok;
  std::unique_ptr<EmbedBackend> model;

  Embedder(const ModelSpec& spec, const std::string& device, int threads);   // throws ModelDirError
  // prompt + each text -> ids, mask int32 (N, T), pad_rows'd; returns T. Throws InputError.
  size_t tokenize(const std::vector<std::string>& texts, std::vector<int32_t>& ids, std::vector<int32_t>& mask,
                  const std::string& prompt = "") const;
  // The prompt's tokens at the start of each row: the prompt alone, [CLS] counted, its [SEP] not (0: no prompt).
  int prompt_length(const std::string& prompt) const;
  // ids, mask (N, T) -> (N, E), every value finite (else InputError naming the row); the backend
  // sees at most kMaxBatchTokens padded tokens per call; prompt_length: as tokenize's rows have it.
  std::vector<float> forward(const int32_t* ids, const int32_t* mask, size_t n, size_t t, int prompt_length = 0) const;
  std::vector<float> embed(const std::vector<std::string>& texts, const std::string& prompt = "") const;
};

// --serve: JSON requests on stdin, one reply line each on stdout, until EOF (serve.cpp). Returns 0.
int serve(const Embedder& e);

}  // namespace portbench
