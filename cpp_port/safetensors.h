// cpp_port safetensors reader, no torch: what model.cpp (LibTorch: cpp_port._core, minilm-embed)
// and the portable-kernel binary (minilm-embed-lite) read model.safetensors with. The format is an
// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, raw data;
// its own C++ reader is Rust-only, so this is ~150 lines with nlohmann/json. It
// - opens regular files only (a FIFO, device or directory is refused at once, never waited on),
// - maps the file read-only (tensors are views into the mapping, never copies),
// - checks every offset and size without 64-bit overflow, and dtype against shape,
// - refuses NaN or Inf in any floating-point tensor (one pass at load, block by block, each block's
//   pages dropped from this process again, so only what the forward reads becomes resident).
// Every fault is one ModelDirError line naming the file and the tensor. Leaves out: writing, dtypes
// other than F32/F16/BF16/I64 (listed, never converted), big-endian hosts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_spec.h"

namespace portbench {

enum class DType { F32, F16, BF16, I64, Other };

struct TensorView {
  std::string name, dtype_name;
  DType dtype = DType::Other;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;   // into the mapping; valid while the SafeTensors lives
  uint64_t numel = 0;
  size_t nbytes = 0;
};

class SafeTensors {
 public:
  // Maps `path`, checks the header and every float tensor; throws ModelDirError.
  static std::shared_ptr<SafeTensors> open(const std::string& path);
  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // `name`, or prefix + name (checkpoints saved from BertModel vs BertForX: the spec's tensor_prefix,
  // "bert." / "distilbert."); nullptr if absent.
  const TensorView* find(const std::string& name, const std::string& prefix = "") const;
  // find() that must succeed, with this shape and a float dtype: else ModelDirError naming both.
  const TensorView& get(const std::string& name, const std::vector<int64_t>& shape, const std::string& prefix = "") const;
  // The tensor's values as float32 (F32 copied, F16/BF16 widened) into out[numel].
  static void to_f32(const TensorView& t, float* out);
  // Drop the mapping's resident pages from this process (the page cache keeps them).
  void release_pages() const;

 private:
  SafeTensors() = default;
  std::string path_;
  void* base_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
};

// A regular file's bytes (a FIFO, device or directory is refused, not waited on); ModelDirError.
// Used for vocab.txt by the binaries until model_spec.h's own helper lands.
std::string read_regular_file(const std::string& path);

// "(384, 384)": shapes in messages, as Python prints a tuple.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace portbench
