// cpp_port model: the BERT encoder of python_ref/model.py in LibTorch C++ (ATen ops only), with
// the same stage names: embeddings_forward, attention_forward, ffn_forward, layer_forward, then the
// sentence-transformers head the model spec asks for: mean_pool / cls_pool / max_pool /
// mean_sqrt_len_pool, dense_forward, l2_normalize. Unlike python_ref, the per-token stages run on
// the real tokens only, packed (see Packing). Reads model.safetensors itself (safetensors.h, no Python); the
// settings come from a ModelSpec (model_spec.h). CPU, or CUDA when this LibTorch has it.
// Leaves out: dropout, the pooler, training, other architectures.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model_spec.h"

namespace portbench {

struct Layer {
  at::Tensor qkv_w, qkv_b;   // (3D, D), (3D,): query, key, value stacked
  at::Tensor ao_w, ao_b;     // (D, D) attention output
  at::Tensor ln1_w, ln1_b;   // (D,)
  at::Tensor ff1_w, ff1_b;   // (F, D)
  at::Tensor ff2_w, ff2_b;   // (D, F)
  at::Tensor ln2_w, ln2_b;   // (D,)
};

struct Dense {
  at::Tensor w, b;           // (E, D_in), (E,) or undefined (no bias)
  bool tanh = false;         // else identity
};

struct BertModel {
  ModelSpec spec;
  int dim = 0, heads = 0;    // dim: output width (after Dense); heads: attention heads
  double eps = 1e-12;
  std::string act = "gelu";  // config.json hidden_act
  at::Tensor word, pos, type0, ln_w, ln_b;  // (V, D), (P, D), (D,) or undefined (no token types), (D,), (D,)
  std::vector<Layer> layers;
  std::vector<Dense> dense;
  std::string device = "cpu";
  std::vector<std::shared_ptr<void>> mappings;  // keep the mmap'd safetensors alive while tensors view them

  // Throws ModelDirError for missing/malformed weights, std::runtime_error for a bad device.
  static BertModel from_spec(const ModelSpec& spec, const std::string& device = "cpu");
  // ids, mask: int64 (N, T) on any device -> float32 (N, E) on CPU: pooled, Dense, normalised as the spec says;
  // prompt_length: the prompt's tokens at the start of each row, left out of pooling if include_prompt is false.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask, int64_t prompt_length = 0) const;
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
at::Tensor ffn_forward(const at::Tensor& x, const Layer& p, const std::string& act);
at::Tensor layer_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, double eps,
                         const std::string& act, const Packing& pk);
at::Tensor mean_pool(const at::Tensor& x, const at::Tensor& mask);           // x (N, T, D), mask (N, T) -> (N, D)
at::Tensor mean_sqrt_len_pool(const at::Tensor& x, const at::Tensor& mask);
at::Tensor cls_pool(const at::Tensor& x, const at::Tensor& mask);
at::Tensor max_pool(const at::Tensor& x, const at::Tensor& mask);
at::Tensor dense_forward(const at::Tensor& x, const Dense& d);                 // (N, D_in) -> (N, E)
at::Tensor l2_normalize(const at::Tensor& x);

}  // namespace portbench
