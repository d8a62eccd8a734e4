// minilm-embed-lite's model half (embed_backend.h): wasm_port's portable kernels compiled natively
// (wasm_port/kernels.h), tensors bound in place into the memory-mapped model.safetensors (and the
// Dense folders' files; the kernels' BERT names found through the spec's tensor_names, so a DistilBERT
// file too), checked finite by the reader. The linear weights are then copied once into
// the GEMM's panels (K::pack_weights: 4 bytes per weight, ~42 MB for all-MiniLM-L6-v2) and the
// mapping's pages dropped again, so the resident set is the panels plus what the forward touches
// of the rest (the word-embedding table: only the pages of the ids it meets). F16/BF16 or
// misaligned tensors are widened into owned buffers. Leaves out: devices other than the CPU.
#include <thread>

#include "embed_backend.h"
#include "peak.h"
#include "kernels.h"
#include "safetensors.h"

namespace portbench {

const char* const kBinaryName = "minilm-embed-lite";
const char* const kRuntime = "portable kernels (native)";

namespace {

namespace K = portbench_wasm;

K::Config config_of(const ModelSpec& s) {
  K::Config c;
  c.hidden = s.hidden_size, c.heads = s.num_attention_heads, c.layers = s.num_hidden_layers;
  c.intermediate = s.intermediate_size, c.vocab = s.vocab_size, c.max_pos = s.max_position_embeddings;
  c.type_vocab = s.type_vocab_size, c.eps = float(s.layer_norm_eps);
  const char* acts[] = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu"};   // K::Act's order
  c.act = -1;
  for (int k = 0; k < 5; ++k)
    if (s.hidden_act == acts[k]) c.act = k;
  c.include_prompt = s.include_prompt;
  c.pooling = s.pooling == "cls" ? K::POOL_CLS : s.pooling == "max" ? K::POOL_MAX
            : s.pooling == "mean_sqrt_len_tokens" ? K::POOL_MEAN_SQRT_LEN : K::POOL_MEAN;
  c.normalize = s.normalize;
  if (s.dense.size() > size_t(K::kMaxDense))
    throw ModelDirError("modules.json: " + std::to_string(s.dense.size()) + " Dense layers (at most " +
                        std::to_string(K::kMaxDense) + " supported)");
  c.n_dense = int(s.dense.size());
  for (int k = 0; k < c.n_dense; ++k)
    c.dense[k] = K::DenseCfg{s.dense[k].in_features, s.dense[k].out_features, s.dense[k].bias,
                             s.dense[k].activation == "tanh"};
  return c;
}

class LiteBackend : public EmbedBackend {
 public:
  LiteBackend(const ModelSpec& spec, const std::string& device, int threads) {
    if (device != "cpu") throw std::runtime_error(std::string(kBinaryName) + " runs on cpu only, not '" + device + "'");
    K::Slot* slots = nullptr;
    int n = 0;
    if (const char* e = K::model_init(m_, config_of(spec), &slots, &n, /*storage=*/false))
      throw ModelDirError("config.json: " + std::string(e));
    std::unique_ptr<K::Slot[]> own(slots);
    files_.push_back(SafeTensors::open(spec.dir + "/model.safetensors"));
    for (const DenseSpec& d : spec.dense) files_.push_back(SafeTensors::open(spec.dir + "/" + d.path + "/model.safetensors"));
    for (int i = 0; i < n; ++i) {
      const K::Slot& s = slots[i];
      std::string name = s.name, prefix = spec.tensor_prefix;
      const SafeTensors* f = files_[0].get();
      if (name.compare(0, 6, "dense.") == 0) {   // "dense.K.linear.weight": linear.weight of the K-th Dense folder
        const size_t dot = name.find('.', 6);
        f = files_[1 + std::stoul(name.substr(6, dot - 6))].get();
        name = name.substr(dot + 1), prefix = "";
      } else {
        name = spec.tensor_name(name);   // BERT's name -> the file's
      }
      const std::vector<int64_t> shape = s.ndim == 1 ? std::vector<int64_t>{s.cols} : std::vector<int64_t>{s.rows, s.cols};
      const TensorView& t = f->get(name, shape, prefix);
      if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
        *s.view = reinterpret_cast<const float*>(t.data);   // in place: the mapping is the storage
      } else {
        owned_.emplace_back(new float[t.numel]);
        SafeTensors::to_f32(t, owned_.back().get());
        *s.view = owned_.back().get();
      }
    }
    if (const char* e = K::pack_weights(m_)) throw std::runtime_error(e);
    for (const auto& f : files_) f->release_pages();   // the panels are what the matmuls read now
    const int want = threads > 0 ? threads : int(std::thread::hardware_concurrency());
    threads_ = K::set_threads(want > 0 ? want : 1);
  }
  int dim() const override { return m_.cfg.out_dim(); }
  int threads() const override { return threads_; }
  void forward(const int32_t* ids, const int32_t* mask, size_t n, size_t t, int prompt_length, float* out) override {
    if (const char* e = K::model_forward(m_, ids, mask, int(n), int(t), out, prompt_length)) throw std::runtime_error(e);
  }
  double fma_peak(int threads, int ms) const override { return K::fma_peak_gflops(threads, ms); }
  int peak_lanes() const override { return K::peak_lanes(); }

 private:
  K::Model m_;
  std::vector<std::shared_ptr<SafeTensors>> files_;   // the mappings the model's views point into
  std::vector<std::unique_ptr<float[]>> owned_;
  int threads_ = 1;
};

}  // namespace

std::unique_ptr<EmbedBackend> load_backend(const ModelSpec& spec, const std::string& device, int threads) {
  return std::make_unique<LiteBackend>(spec, device, threads);
}

}  // namespace portbench
