// cpp_port model: see model.h. The same ATen ops as python_ref/model.py, so LibTorch runs the same
// kernels, except that the per-token stages run on packed real tokens (Packing) where python_ref
// keeps the padded (N, T) layout; attention and pooling see the padded layout as upstream does.
// model.safetensors is read by safetensors.h (torch-free, shared with minilm-embed-lite): tensors
// here view its mapping; every shape is checked against the spec, one ModelDirError line if not.
#include "model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "safetensors.h"

namespace portbench {
namespace {

// A tensor viewing the mapping (no copy) when it is F32 and aligned; else a float copy.
at::Tensor view_of(const TensorView& t) {
  const at::ScalarType st = t.dtype == DType::F16 ? at::kHalf : t.dtype == DType::BF16 ? at::kBFloat16 : at::kFloat;
  if (reinterpret_cast<uintptr_t>(t.data) % at::elementSize(st) == 0)   // from_blob needs non-const; nothing writes
    return at::from_blob(const_cast<uint8_t*>(t.data), t.shape, at::TensorOptions().dtype(st));
  at::Tensor out = at::empty(t.shape, at::TensorOptions().dtype(st));
  std::memcpy(out.data_ptr(), t.data, t.nbytes);
  return out;
}

}  // namespace

BertModel BertModel::from_spec(const ModelSpec& spec, const std::string& device) {
  const std::string& dir = spec.dir;
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw ModelDirError("model directory not found: " + dir);
  BertModel m;
  m.spec = spec;
  m.dim = spec.dim(), m.heads = spec.num_attention_heads, m.eps = spec.layer_norm_eps, m.act = spec.hidden_act;
  m.layers.resize((size_t)spec.num_hidden_layers);
  auto file = SafeTensors::open(dir + "/model.safetensors");   // shapes and values checked here, in one line
  m.mappings.push_back(file);
  m.device = device;
  at::Device dev(device);  // throws c10::Error (a std::exception) for a bad name
  const int64_t D = spec.hidden_size, F = spec.intermediate_size;
  auto g = [&](const std::string& k, const std::vector<int64_t>& shape) {   // k: BERT's name
    return view_of(file->get(spec.tensor_name(k), shape, spec.tensor_prefix)).to(dev, at::kFloat).contiguous();
  };
  m.word = g("embeddings.word_embeddings.weight", {spec.vocab_size, D});
  m.pos = g("embeddings.position_embeddings.weight", {spec.max_position_embeddings, D});
  if (spec.type_vocab_size) m.type0 = g("embeddings.token_type_embeddings.weight", {spec.type_vocab_size, D})[0];
  m.ln_w = g("embeddings.LayerNorm.weight", {D});
  m.ln_b = g("embeddings.LayerNorm.bias", {D});
  for (size_t i = 0; i < m.layers.size(); ++i) {
    std::string p = "encoder.layer." + std::to_string(i) + ".", a = p + "attention.self.";
    Layer& L = m.layers[i];
    L.qkv_w = at::cat({g(a + "query.weight", {D, D}), g(a + "key.weight", {D, D}), g(a + "value.weight", {D, D})});
    L.qkv_b = at::cat({g(a + "query.bias", {D}), g(a + "key.bias", {D}), g(a + "value.bias", {D})});
    L.ao_w = g(p + "attention.output.dense.weight", {D, D}); L.ao_b = g(p + "attention.output.dense.bias", {D});
    L.ln1_w = g(p + "attention.output.LayerNorm.weight", {D}); L.ln1_b = g(p + "attention.output.LayerNorm.bias", {D});
    L.ff1_w = g(p + "intermediate.dense.weight", {F, D}); L.ff1_b = g(p + "intermediate.dense.bias", {F});
    L.ff2_w = g(p + "output.dense.weight", {D, F}); L.ff2_b = g(p + "output.dense.bias", {D});
    L.ln2_w = g(p + "output.LayerNorm.weight", {D}); L.ln2_b = g(p + "output.LayerNorm.bias", {D});
  }
  for (const DenseSpec& d : spec.dense) {  // sentence-transformers' Dense folders: linear.weight, linear.bias
    auto df = SafeTensors::open(dir + "/" + d.path + "/model.safetensors");
    m.mappings.push_back(df);
    Dense layer;
    layer.tanh = d.activation == "tanh";
    layer.w = view_of(df->get("linear.weight", {d.out_features, d.in_features})).to(dev, at::kFloat).contiguous();
    if (d.bias) layer.b = view_of(df->get("linear.bias", {d.out_features})).to(dev, at::kFloat).contiguous();
    m.dense.push_back(layer);
  }
  return m;
}

at::Tensor BertModel::forward(const at::Tensor& ids_in, const at::Tensor& mask_in, int64_t prompt_length) const {
  c10::InferenceMode guard;
  at::Tensor ids = ids_in.to(word.device()), mask = mask_in.to(word.device());  // (N, T)
  if (ids.size(0) == 0) return at::zeros({0, dim}, at::kFloat);
  Packing pk;
  pk.n = ids.size(0), pk.t = ids.size(1);
  pk.keep = mask.reshape(-1).nonzero().squeeze(1);                                  // (M,)
  pk.on = pk.keep.size(0) < pk.n * pk.t;
  at::Tensor x = pk.unpad(embeddings_forward(*this, ids));                           // (M, D)
  at::Tensor bias = (1.0 - mask.unsqueeze(1).unsqueeze(1).to(x.scalar_type()))
                    * std::numeric_limits<float>::lowest();                          // (N, 1, 1, T)
  for (const Layer& p : layers) x = layer_forward(x, bias, p, heads, eps, act, pk);
  at::Tensor padded = pk.pad(x);                                                      // (N, T, D)
  if (prompt_length > 0 && !spec.include_prompt) {   // the prompt's positions masked for pooling only
    mask = mask.clone();
    mask.slice(1, 0, std::min<int64_t>(prompt_length, mask.size(1))).zero_();
  }
  const std::string& mode = spec.pooling;
  at::Tensor y = mode == "cls" ? cls_pool(padded, mask) : mode == "max" ? max_pool(padded, mask)
               : mode == "mean_sqrt_len_tokens" ? mean_sqrt_len_pool(padded, mask) : mean_pool(padded, mask);  // (N, D)
  for (const Dense& d : dense) y = dense_forward(y, d);                               // (N, E)
  return (spec.normalize ? l2_normalize(y) : y).cpu();
}

at::Tensor Packing::pad(const at::Tensor& x) const {
  if (!on) return x.view({n, t, x.size(-1)});
  return at::zeros({n * t, x.size(-1)}, x.options()).index_copy_(0, keep, x).view({n, t, x.size(-1)});
}

at::Tensor Packing::unpad(const at::Tensor& x) const {
  at::Tensor flat = x.reshape({n * t, x.size(-1)});
  return on ? flat.index_select(0, keep) : flat;
}

at::Tensor embeddings_forward(const BertModel& m, const at::Tensor& ids) {
  int64_t t = ids.size(1);
  if (t > m.pos.size(0)) throw std::runtime_error("sequence longer than max_position_embeddings");
  at::Tensor x = at::embedding(m.word, ids) + m.pos.slice(0, 0, t);                 // (N, T, D)
  if (m.type0.defined()) x = x + m.type0;                                             // token type 0 (BERT)
  return at::layer_norm(x, {m.spec.hidden_size}, m.ln_w, m.ln_b, m.eps);
}

at::Tensor attention_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, const Packing& pk) {
  int64_t n = pk.n, t = pk.t, d = x.size(-1);
  at::Tensor qkv = pk.pad(at::linear(x, p.qkv_w, p.qkv_b));                          // (N, T, 3D)
  auto qkvs = qkv.view({n, t, 3, heads, d / heads}).permute({2, 0, 3, 1, 4}).unbind(0);  // each (N, H, T, D/H)
  at::Tensor y = at::scaled_dot_product_attention(qkvs[0], qkvs[1], qkvs[2], bias, 0.0, false,
                                                  1.0 / std::sqrt((double)(d / heads)));
  y = pk.unpad(y.transpose(1, 2).reshape({n, t, d}));                               // (M, D)
  return at::linear(y, p.ao_w, p.ao_b);
}

at::Tensor ffn_forward(const at::Tensor& x, const Layer& p, const std::string& act) {
  at::Tensor h = at::linear(x, p.ff1_w, p.ff1_b);                                     // (M, F)
  // config.json's hidden_act, each as transformers.activations writes it
  if (act == "gelu") h = at::gelu(h);                                                 // exact erf GELU
  else if (act == "gelu_pytorch_tanh") h = at::gelu(h, "tanh");
  else if (act == "gelu_new") h = 0.5 * h * (1.0 + at::tanh(std::sqrt(2.0 / M_PI) * (h + 0.044715 * at::pow(h, 3.0))));
  else if (act == "gelu_fast") h = 0.5 * h * (1.0 + at::tanh(h * 0.7978845608 * (1.0 + 0.044715 * h * h)));
  else if (act == "relu") h = at::relu(h);
  else throw std::runtime_error("hidden_act " + act);                                 // the spec reader refuses it first
  return at::linear(h, p.ff2_w, p.ff2_b);                                            // (M, D)
}

at::Tensor layer_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, double eps,
                         const std::string& act, const Packing& pk) {
  int64_t d = x.size(-1);
  at::Tensor y = at::layer_norm(x + attention_forward(x, bias, p, heads, pk), {d}, p.ln1_w, p.ln1_b, eps);
  return at::layer_norm(y + ffn_forward(y, p, act), {d}, p.ln2_w, p.ln2_b, eps);
}

at::Tensor mean_pool(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor m = mask.unsqueeze(-1).to(x.scalar_type());                              // (N, T, 1)
  return (x * m).sum(1) / m.sum(1).clamp_min(1e-9);                                  // (N, D)
}

at::Tensor mean_sqrt_len_pool(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor m = mask.unsqueeze(-1).to(x.scalar_type());                              // (N, T, 1)
  return (x * m).sum(1) / m.sum(1).clamp_min(1e-9).sqrt();                           // (N, D)
}

at::Tensor cls_pool(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor first = mask.to(at::kInt).argmax(1);                                    // (N,) first real position
  return x.gather(1, first.view({-1, 1, 1}).expand({-1, 1, x.size(2)})).squeeze(1);  // (N, D)
}

at::Tensor max_pool(const at::Tensor& x, const at::Tensor& mask) {
  return std::get<0>(x.masked_fill(mask.unsqueeze(-1) == 0, -INFINITY).max(1));      // (N, D)
}

at::Tensor dense_forward(const at::Tensor& x, const Dense& d) {
  at::Tensor y = at::linear(x, d.w, d.b);                                            // (N, E)
  return d.tanh ? at::tanh(y) : y;
}

at::Tensor l2_normalize(const at::Tensor& x) {
  // What torch.nn.functional.normalize(x, p=2, dim=1) computes.
  return x / x.norm(2, {1}, true).clamp_min(1e-12).expand_as(x);                     // (N, D), unit rows
}

}  // namespace portbench
