// cpp_port safetensors reader: see safetensors.h.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace portbench {
namespace {

using json = nlohmann::json;

// open(2) without blocking (a FIFO with no writer would block a plain open) and refuse anything
// that is not a regular file. Returns the fd; throws ModelDirError.
int open_regular(const std::string& path, struct stat& st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ModelDirError("cannot open " + path + ": " + std::strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelDirError("cannot read " + path + ": not a regular file");
  }
  return fd;
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::I64: return 8;
    default: return 0;
  }
}

bool non_finite(const uint8_t* p, DType dt, uint64_t i) {   // exponent bits all ones
  if (dt == DType::F32) {
    uint32_t u;
    std::memcpy(&u, p + 4 * i, 4);
    return (u & 0x7F800000u) == 0x7F800000u;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  const uint16_t mask = dt == DType::F16 ? 0x7C00 : 0x7F80;
  return (h & mask) == mask;
}

// Index of the first NaN/Inf in a float tensor, or -1. Reads it in blocks and drops each block's
// pages again (madvise), so checking a 47 MB embedding table never makes it resident at once.
int64_t first_non_finite(const TensorView& t) {
  constexpr uint64_t kBlock = 1 << 20;   // values
  const long page = sysconf(_SC_PAGESIZE);
  for (uint64_t i = 0; i < t.numel; i += kBlock) {
    const uint64_t e = i + kBlock < t.numel ? i + kBlock : t.numel;
    uint32_t any = 0;   // no early exit: the loop vectorises
    for (uint64_t j = i; j < e; ++j) any |= non_finite(t.data, t.dtype, j);
    if (any)
      for (uint64_t j = i; j < e; ++j)
        if (non_finite(t.data, t.dtype, j)) return int64_t(j);
    // Clean private file pages: dropping them only unmaps them here; the page cache keeps them and
    // a later read maps them again. Nothing in the mapping is ever written.
    const size_t w = t.dtype == DType::F32 ? 4 : 2;
    const uintptr_t lo = (uintptr_t(t.data + i * w) + page - 1) / page * page, hi = uintptr_t(t.data + e * w) / page * page;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
  return -1;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {   // zero or subnormal: man * 2^-24
    float f = float(man) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);   // finite only (checked at load)
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string read_regular_file(const std::string& path) {
  struct stat st;
  int fd = open_regular(path, st);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t k = ::read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      ::close(fd);
      throw ModelDirError("cannot read " + path + ": " + std::strerror(errno));
    }
    if (k == 0) break;
    out.append(buf, size_t(k));
  }
  ::close(fd);
  return out;
}

std::shared_ptr<SafeTensors> SafeTensors::open(const std::string& path) {
  struct stat st;
  int fd = open_regular(path, st);
  std::shared_ptr<SafeTensors> f(new SafeTensors());
  f->path_ = path;
  f->size_ = size_t(st.st_size);
  void* base = f->size_ >= 8 ? mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (base == MAP_FAILED) throw ModelDirError("malformed " + path + ": too short or unmappable");
  f->base_ = base;
  const uint8_t* p = static_cast<const uint8_t*>(base);
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; --k) hlen = hlen << 8 | p[k];
  if (hlen > f->size_ - 8) throw ModelDirError("malformed " + path + ": header length past end of file");
  json header = json::parse(p + 8, p + 8 + hlen, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) throw ModelDirError("malformed " + path + ": header is not a JSON object");
  const uint8_t* data = p + 8 + hlen;
  const uint64_t data_size = f->size_ - 8 - hlen;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& why) { return ModelDirError("malformed " + path + ": tensor " + name + ": " + why); };
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() || !info.contains("shape") ||
        !info["shape"].is_array() || !info.contains("data_offsets") || !info["data_offsets"].is_array())
      throw bad("needs dtype, shape and data_offsets");
    TensorView t;
    t.name = name;
    t.dtype_name = info["dtype"].get<std::string>();
    t.dtype = t.dtype_name == "F32" ? DType::F32 : t.dtype_name == "F16" ? DType::F16
            : t.dtype_name == "BF16" ? DType::BF16 : t.dtype_name == "I64" ? DType::I64 : DType::Other;
    uint64_t numel = 1;
    for (const json& d : info["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      if (v > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel)) throw bad("shape overflows");
      t.shape.push_back(int64_t(v));
    }
    const json& off = info["data_offsets"];
    if (off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size) throw bad("data_offsets out of range");   // no sum, no overflow
    uint64_t nbytes = 0;
    if (t.dtype != DType::Other && (__builtin_mul_overflow(numel, uint64_t(dtype_size(t.dtype)), &nbytes) ||
                                   nbytes != e - b))
      throw bad("data_offsets span " + std::to_string(e - b) + " bytes, dtype and shape need " +
                (nbytes ? std::to_string(nbytes) : std::string("more")));
    t.numel = numel;
    t.nbytes = size_t(e - b);
    t.data = data + b;
    if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16) {
      const int64_t at = first_non_finite(t);
      if (at >= 0) throw bad("non-finite value (NaN or Inf) at flat index " + std::to_string(at));
    }
    f->tensors_.push_back(std::move(t));
  }
  return f;
}

SafeTensors::~SafeTensors() {
  if (base_) munmap(base_, size_);
}

void SafeTensors::release_pages() const {   // see first_non_finite: clean pages, nothing written
  if (base_) madvise(base_, size_, MADV_DONTNEED);
}

const TensorView* SafeTensors::find(const std::string& name, const std::string& prefix) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  if (!prefix.empty())
    for (const auto& t : tensors_)
      if (t.name.size() == name.size() + prefix.size() && t.name.compare(0, prefix.size(), prefix) == 0 &&
          t.name.compare(prefix.size(), name.size(), name) == 0)
        return &t;
  return nullptr;
}

const TensorView& SafeTensors::get(const std::string& name, const std::vector<int64_t>& shape,
                                   const std::string& prefix) const {
  const TensorView* t = find(name, prefix);
  if (!t) throw ModelDirError(path_ + " lacks tensor '" + name + "'");
  if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
    throw ModelDirError(path_ + ": tensor " + name + " has dtype " + t->dtype_name + " (F32, F16 or BF16 needed)");
  if (t->shape != shape)
    throw ModelDirError(path_ + ": tensor " + name + " has shape " + shape_str(t->shape) + ", config.json needs " +
                        shape_str(shape));
  return *t;
}

void SafeTensors::to_f32(const TensorView& t, float* out) {
  if (t.dtype == DType::F32) {
    std::memcpy(out, t.data, t.numel * 4);
    return;
  }
  for (uint64_t i = 0; i < t.numel; ++i) {
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    if (t.dtype == DType::BF16) {
      const uint32_t bits = uint32_t(h) << 16;
      std::memcpy(out + i, &bits, 4);
    } else {
      out[i] = half_to_float(h);
    }
  }
}

}  // namespace portbench
