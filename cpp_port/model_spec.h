// cpp_port model spec: the settings of one sentence-transformers model directory, as
// contract/spec.py defines them (field for field, the same names). Two ways in:
// - read_spec(dir): contract/spec.py translated to C++ (nlohmann/json), for minilm-embed, which
//   reads a model directory with no Python. Same checks, same order, same one-line refusals;
//   tests hold it equal to python_ref's on every model variant.
// - spec_from_json(text): python_ref's ModelSpec.to_json(), how the pybind module receives it.
// No torch here. Leaves out: nothing spec.py reads.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer.h"

namespace portbench {

// A model directory is missing, malformed or unsupported; what() is one clear line.
struct ModelDirError : std::runtime_error { using std::runtime_error::runtime_error; };

struct DenseSpec {
  std::string path;              // folder, e.g. "2_Dense" (model.safetensors: linear.weight, linear.bias)
  int in_features = 0, out_features = 0;
  bool bias = true;
  std::string activation;        // "tanh" | "identity"
};

// A string or nothing (JSON null): default_prompt_name.
struct OptString {
  bool set = false;
  std::string value;
};

struct ModelSpec {
  std::string dir, name;
  std::string model_type = "bert";   // "bert" | "distilbert"
  std::string hidden_act = "gelu";   // gelu | gelu_new | gelu_pytorch_tanh | gelu_fast | relu
  // BERT's tensor names per module ("encoder.layer.{i}.attention.self.query") -> model.safetensors' ("" : absent)
  std::map<std::string, std::string> tensor_names;
  std::string tensor_prefix = "bert.";   // a task model's checkpoint: "bert." / "distilbert." before every name
  int hidden_size = 0, num_attention_heads = 0, num_hidden_layers = 0, intermediate_size = 0;
  int vocab_size = 0, max_position_embeddings = 0, type_vocab_size = 0;
  double layer_norm_eps = 1e-12;
  int max_seq_length = 0;
  bool clean_text = true, handle_chinese_chars = true, strip_accents = true, lowercase = true;
  int32_t cls_id = -1, sep_id = -1, unk_id = -1, pad_id = 0;
  std::vector<std::pair<std::string, int32_t>> added_tokens;   // matched verbatim in the raw text
  std::string pooling;           // "mean" | "cls" | "max" | "mean_sqrt_len_tokens"
  bool include_prompt = true;
  std::vector<DenseSpec> dense;  // after pooling, in order
  bool normalize = false;
  std::map<std::string, std::string> prompts;   // config_sentence_transformers.json, query/document included
  OptString default_prompt_name;

  int dim() const { return dense.empty() ? hidden_size : dense.back().out_features; }
  TokenizerOptions tokenizer_options() const;
  // Tensor `name` (BERT's: "encoder.layer.3.output.dense.weight") as model.safetensors names it (tensor_prefix
  // aside); "" where the architecture has none (DistilBERT's token types).
  std::string tensor_name(const std::string& name) const;
  // The prompt put in front of every text, as sentence-transformers' encode() picks it: `prompt` if set,
  // else prompts[prompt_name] (std::invalid_argument, one line, for a name the model lacks), else the
  // default prompt's, else "" (no prompt).
  std::string resolve_prompt(const OptString& prompt_name, const OptString& prompt) const;
};

ModelSpec read_spec(const std::string& dir);          // throws ModelDirError
ModelSpec spec_from_json(const std::string& text);    // throws ModelDirError
std::string spec_to_json(const ModelSpec& spec);

// The one way every C++ reader opens a model file: a read-only fd of a regular file (a FIFO, a
// device or a directory is refused without blocking: ModelDirError naming the path). Caller closes.
int open_regular_file(const std::string& path);
// Whole file as bytes (through open_regular_file); throws ModelDirError naming the path.
std::string read_file(const std::string& path);

}  // namespace portbench
