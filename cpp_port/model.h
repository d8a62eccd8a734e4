// cpp_port model: the BERT encoder of python_ref/model.py in LibTorch C++ (ATen ops only), with
// the same stage names: embeddings_forward, attention_forward, ffn_forward, layer_forward,
// mean_pool, l2_normalize. Reads config.json and model.safetensors itself (no Python). CPU, or
// CUDA when this LibTorch has it. Leaves out: dropout, the pooler, training, other architectures.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace portbench {

// A model directory is missing or malformed; what() is one clear line.
struct ModelDirError : std::runtime_error { using std::runtime_error::runtime_error; };

struct Layer {
  at::Tensor qkv_w, qkv_b;   // (3D, D), (3D,): query, key, value stacked
  at::Tensor ao_w, ao_b;     // (D, D) attention output
  at::Tensor ln1_w, ln1_b;   // (D,)
  at::Tensor ff1_w, ff1_b;   // (F, D)
  at::Tensor ff2_w, ff2_b;   // (D, F)
  at::Tensor ln2_w, ln2_b;   // (D,)
};

struct BertModel {
  int dim = 0, heads = 0, max_positions = 0;
  double eps = 1e-12;
  at::Tensor word, pos, type0, ln_w, ln_b;  // (V, D), (P, D), (D,), (D,), (D,)
  std::vector<Layer> layers;
  std::string device = "cpu";
  std::shared_ptr<void> mapping;  // keeps the mmap'd safetensors alive while tensors view it

  // Throws ModelDirError for a missing/malformed directory, std::runtime_error for a bad device.
  static BertModel from_dir(const std::string& dir, const std::string& device = "cpu");
  // ids, mask: int64 (N, T) on any device -> float32 (N, D) on CPU, pooled and L2-normalised.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
};

// Padding removal (what python_ref leaves out): the per-token stages run on the M real tokens
// only, packed (M, D); attention alone needs the padded (N, T) layout and scatters into it.
struct Packing {
  int64_t n = 0, t = 0;
  at::Tensor keep;      // (M,) int64 indices of mask == 1 positions in the flattened (N*T)
  bool on = false;      // false when there is no padding: then packed == padded
  at::Tensor pad(const at::Tensor& x) const;    // (M, C) -> (N, T, C), zeros at padding
  at::Tensor unpad(const at::Tensor& x) const;  // (N, T, C) -> (M, C)
};

at::Tensor embeddings_forward(const BertModel& m, const at::Tensor& ids);
at::Tensor attention_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, const Packing& pk);
at::Tensor ffn_forward(const at::Tensor& x, const Layer& p);
at::Tensor layer_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, double eps,
                         const Packing& pk);
at::Tensor mean_pool(const at::Tensor& x, const at::Tensor& mask);
at::Tensor l2_normalize(const at::Tensor& x);

// Whole file as bytes; throws ModelDirError naming the path.
std::string read_file(const std::string& path);
// <dir>/tokenizer.json's added_tokens with normalized=false (matched verbatim in raw text, as
// upstream does), for Tokenizer::set_added_tokens. Throws ModelDirError if the file is malformed.
std::vector<std::pair<std::string, int32_t>> read_added_tokens(const std::string& dir);

}  // namespace portbench
