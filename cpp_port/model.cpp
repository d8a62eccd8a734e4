// cpp_port model: see model.h. The same ATen ops as python_ref/model.py, so LibTorch runs the same
// kernels, except that the per-token stages run on packed real tokens (Packing) where python_ref
// keeps the padded (N, T) layout; attention and pooling see the padded layout as upstream does.
// safetensors is parsed here (8-byte little-endian header length, a JSON header, raw data): the
// format's C++ reader is Rust-only, and it is 40 lines with nlohmann/json.
#include "model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace portbench {
namespace {

using json = nlohmann::json;

struct Mapping {  // a read-only mmap of a whole file
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() { if (data != MAP_FAILED) munmap(data, size); }
};

// name -> tensor viewing the mapping (no copy). Only what BERT checkpoints use: F32/F16/BF16.
std::map<std::string, at::Tensor> load_safetensors(const std::string& path, std::shared_ptr<Mapping>& keep) {
  int fd = open(path.c_str(), O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    throw ModelDirError("cannot open " + path);
  }
  keep = std::make_shared<Mapping>();
  keep->size = (size_t)st.st_size;
  if (keep->size >= 8) keep->data = mmap(nullptr, keep->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (keep->data == MAP_FAILED) throw ModelDirError("cannot read " + path + " (too short or unmappable)");
  const char* base = (const char*)keep->data;
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; --k) hlen = hlen << 8 | (uint8_t)base[k];
  if (hlen > keep->size - 8) throw ModelDirError("malformed " + path + ": header length past end of file");
  json header = json::parse(base + 8, base + 8 + hlen, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) throw ModelDirError("malformed " + path + ": header is not a JSON object");
  const char* data = base + 8 + hlen;
  size_t data_size = keep->size - 8 - hlen;
  std::map<std::string, at::Tensor> out;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      std::string dt = info.at("dtype").get<std::string>();
      auto shape = info.at("shape").get<std::vector<int64_t>>();
      auto off = info.at("data_offsets").get<std::vector<uint64_t>>();
      at::ScalarType st = dt == "F32" ? at::kFloat : dt == "F16" ? at::kHalf : dt == "BF16" ? at::kBFloat16
                        : dt == "I64" ? at::kLong : at::kByte;
      if (st == at::kByte) continue;  // dtypes a BERT encoder never needs
      uint64_t numel = 1;
      for (int64_t s : shape) { if (s < 0) throw std::runtime_error("negative dim"); numel *= (uint64_t)s; }
      if (off.size() != 2 || off[0] > off[1] || off[1] > data_size || off[1] - off[0] != numel * at::elementSize(st))
        throw std::runtime_error("data_offsets out of range");
      // from_blob needs a non-const pointer; the mapping is read-only and nothing writes to it.
      out[name] = at::from_blob((void*)(data + off[0]), shape, at::TensorOptions().dtype(st));
    } catch (const std::exception& e) {
      throw ModelDirError("malformed " + path + ": tensor " + name + ": " + e.what());
    }
  }
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
  m.dim = spec.dim(), m.heads = spec.num_attention_heads, m.eps = spec.layer_norm_eps;
  m.layers.resize((size_t)spec.num_hidden_layers);
  std::shared_ptr<Mapping> keep;
  auto t = load_safetensors(dir + "/model.safetensors", keep);
  m.mappings.push_back(keep);
  m.device = device;
  at::Device dev(device);  // throws c10::Error (a std::exception) for a bad name
  auto g = [&](const std::string& k) {
    auto it = t.find(k);
    if (it == t.end()) it = t.find("bert." + k);
    if (it == t.end()) throw ModelDirError(dir + "/model.safetensors lacks tensor '" + k + "'");
    return it->second.to(dev, at::kFloat).contiguous();
  };
  m.word = g("embeddings.word_embeddings.weight");
  m.pos = g("embeddings.position_embeddings.weight");
  m.type0 = g("embeddings.token_type_embeddings.weight")[0];
  m.ln_w = g("embeddings.LayerNorm.weight");
  m.ln_b = g("embeddings.LayerNorm.bias");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    std::string p = "encoder.layer." + std::to_string(i) + ".", a = p + "attention.self.";
    Layer& L = m.layers[i];
    L.qkv_w = at::cat({g(a + "query.weight"), g(a + "key.weight"), g(a + "value.weight")});
    L.qkv_b = at::cat({g(a + "query.bias"), g(a + "key.bias"), g(a + "value.bias")});
    L.ao_w = g(p + "attention.output.dense.weight"); L.ao_b = g(p + "attention.output.dense.bias");
    L.ln1_w = g(p + "attention.output.LayerNorm.weight"); L.ln1_b = g(p + "attention.output.LayerNorm.bias");
    L.ff1_w = g(p + "intermediate.dense.weight"); L.ff1_b = g(p + "intermediate.dense.bias");
    L.ff2_w = g(p + "output.dense.weight"); L.ff2_b = g(p + "output.dense.bias");
    L.ln2_w = g(p + "output.LayerNorm.weight"); L.ln2_b = g(p + "output.LayerNorm.bias");
  }
  if (m.word.dim() != 2 || m.word.size(0) != spec.vocab_size || m.word.size(1) != spec.hidden_size ||
      m.pos.dim() != 2 || m.pos.size(0) < spec.max_seq_length)
    throw ModelDirError("model.safetensors: embedding shapes do not match config.json");
  for (const DenseSpec& d : spec.dense) {  // sentence-transformers' Dense folders: linear.weight, linear.bias
    std::string file = d.path + "/model.safetensors";
    auto dt = load_safetensors(dir + "/" + file, keep);
    m.mappings.push_back(keep);
    Dense layer;
    layer.tanh = d.activation == "tanh";
    auto w = dt.find("linear.weight"), b = dt.find("linear.bias");
    if (w == dt.end() || w->second.sizes() != at::IntArrayRef({d.out_features, d.in_features}) ||
        (d.bias && (b == dt.end() || b->second.sizes() != at::IntArrayRef({d.out_features}))))
      throw ModelDirError(file + ": linear.weight/bias do not match " + d.path + "/config.json");
    layer.w = w->second.to(dev, at::kFloat).contiguous();
    if (d.bias) layer.b = b->second.to(dev, at::kFloat).contiguous();
    m.dense.push_back(layer);
  }
  return m;
}

at::Tensor BertModel::forward(const at::Tensor& ids_in, const at::Tensor& mask_in) const {
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
  for (const Layer& p : layers) x = layer_forward(x, bias, p, heads, eps, pk);
  at::Tensor padded = pk.pad(x);                                                      // (N, T, D)
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
  at::Tensor x = at::embedding(m.word, ids) + m.pos.slice(0, 0, t) + m.type0;       // (N, T, D)
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

at::Tensor ffn_forward(const at::Tensor& x, const Layer& p) {
  at::Tensor h = at::gelu(at::linear(x, p.ff1_w, p.ff1_b));                           // (M, F), erf GELU
  return at::linear(h, p.ff2_w, p.ff2_b);                                            // (M, D)
}

at::Tensor layer_forward(const at::Tensor& x, const at::Tensor& bias, const Layer& p, int heads, double eps,
                         const Packing& pk) {
  int64_t d = x.size(-1);
  at::Tensor y = at::layer_norm(x + attention_forward(x, bias, p, heads, pk), {d}, p.ln1_w, p.ln1_b, eps);
  return at::layer_norm(y + ffn_forward(y, p), {d}, p.ln2_w, p.ln2_b, eps);
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
