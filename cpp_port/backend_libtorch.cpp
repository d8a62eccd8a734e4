// minilm-embed's model half (embed_backend.h): cpp_port's BertModel on LibTorch.
// Leaves out: everything but the hand-over of ids and vectors (model.cpp does the forward).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "embed_backend.h"
#include "model.h"

namespace portbench {

const char* const kBinaryName = "minilm-embed";
const char* const kRuntime = "libtorch";

namespace {

class TorchBackend : public EmbedBackend {
 public:
  TorchBackend(const ModelSpec& spec, const std::string& device, int threads)
      : model_(BertModel::from_spec(spec, device)) {
    if (threads > 0) at::set_num_threads(threads);
  }
  int dim() const override { return model_.dim; }
  int threads() const override { return at::get_num_threads(); }
  void forward(const int32_t* ids, const int32_t* mask, size_t n, size_t t, int prompt_length, float* out) override {
    at::Tensor i = at::empty({(int64_t)n, (int64_t)t}, at::kLong), m = at::empty({(int64_t)n, (int64_t)t}, at::kLong);
    int64_t *pi = i.data_ptr<int64_t>(), *pm = m.data_ptr<int64_t>();
    for (size_t k = 0; k < n * t; ++k) pi[k] = ids[k], pm[k] = mask[k];
    at::Tensor emb = model_.forward(i, m, prompt_length).contiguous();   // (N, E)
    std::memcpy(out, emb.data_ptr<float>(), n * (size_t)model_.dim * sizeof(float));
  }

 private:
  BertModel model_;
};

}  // namespace

std::unique_ptr<EmbedBackend> load_backend(const ModelSpec& spec, const std::string& device, int threads) {
  return std::make_unique<TorchBackend>(spec, device, threads);
}

}  // namespace portbench
