// cpp_port glue: pybind11 module cpp_port._core. Takes the model spec python_ref read (its JSON),
// turns Python str (or bytes) into UTF-8 views, checks the bad-input contract (TypeError /
// ValueError naming the index, as python_ref.api's check_texts), then releases the GIL around
// tokenisation (encode_batch, pad_rows: num_threads >= 1, clamped to max_threads) and the LibTorch forward.
// Returns numpy: ids/mask int64 (N, T), embeddings float32 (N, D). Leaves out: torch tensors
// across the boundary (numpy only, so this module never links libtorch_python).
#include <ATen/ATen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>

#include "model.h"
#include "model_spec.h"
#include "tokenizer.h"

namespace py = pybind11;
using portbench::BertModel;
using portbench::Tokenizer;
namespace portbench { void bind_tape(py::module_& m); }  // tape.cpp

namespace {

using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Keeps every text object alive while the GIL is released, and the UTF-8 view of each.
struct Texts {
  std::vector<py::object> keep;
  std::vector<std::string_view> views;
};

Texts collect(const py::handle& seq, bool want_bytes) {
  if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr()))
    throw py::type_error(std::string("texts must be a sequence of ") + (want_bytes ? "bytes" : "str") +
                         ", not a single " + Py_TYPE(seq.ptr())->tp_name);
  Texts t;
  for (py::handle item : py::iter(seq)) t.keep.push_back(py::reinterpret_borrow<py::object>(item));
  t.views.reserve(t.keep.size());
  for (size_t i = 0; i < t.keep.size(); ++i) {
    PyObject* o = t.keep[i].ptr();
    std::string idx = "texts[" + std::to_string(i) + "]";
    if (want_bytes) {
      if (!PyBytes_Check(o)) throw py::type_error(idx + " is " + Py_TYPE(o)->tp_name + ", not bytes");
      t.views.emplace_back(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
      continue;
    }
    if (!PyUnicode_Check(o)) throw py::type_error(idx + " is " + Py_TYPE(o)->tp_name + ", not str");
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);  // cached in the object; ASCII: no copy at all
    if (!s) {
      PyErr_Clear();
      Py_ssize_t at = 0, len = PyUnicode_GET_LENGTH(o);
      while (at < len && !Py_UNICODE_IS_SURROGATE(PyUnicode_READ_CHAR(o, at))) ++at;
      throw py::value_error(idx + " is not valid Unicode (lone surrogate at " + std::to_string(at) + ")");
    }
    t.views.emplace_back(s, (size_t)n);
  }
  return t;
}

struct Core {
  portbench::ModelSpec spec;
  Tokenizer tok;
  std::optional<BertModel> model;

  // spec_json: python_ref.spec.ModelSpec.to_json() of the model directory (its dir field says where).
  Core(const std::string& spec_json, const std::string& device, bool load_model)
      : spec(portbench::spec_from_json(spec_json)),
        tok(portbench::read_file(spec.dir + "/vocab.txt"), spec.tokenizer_options()) {
    if (!tok.error().empty()) throw portbench::ModelDirError(tok.error());
    tok.set_added_tokens(spec.added_tokens);
    if (load_model) model = BertModel::from_spec(spec, device);
  }

  // encode_batch into int32 rows of max_len; GIL released. Pads to the longest row.
  // threads: >= 1; more than Tokenizer::max_threads() (or than texts) are not started.
  std::pair<I64, I64> tokenize(const py::handle& seq, int threads, bool bytes) const {
    if (threads < 1) throw py::value_error("num_threads must be >= 1, not " + std::to_string(threads));
    Texts t = collect(seq, bytes);
    size_t n = t.views.size(), L = (size_t)tok.max_len();
    std::vector<int32_t> rows(n * L), lens(n);
    portbench::EncodeError err;
    size_t bad = 0;
    bool ok;
    {
      py::gil_scoped_release nogil;
      ok = tok.encode_batch(t.views.data(), n, rows.data(), lens.data(), threads, bytes, &err, &bad);
    }
    if (!ok)
      throw py::value_error("texts[" + std::to_string(bad) + "] is not valid UTF-8: " + err.what +
                            " at byte " + std::to_string(err.byte_offset));
    size_t T = portbench::padded_len(lens.data(), n);
    I64 ids({n, T}), mask({n, T});
    portbench::pad_rows(rows.data(), L, lens.data(), n, T, tok.pad_id(), ids.mutable_data(), mask.mutable_data());
    return {ids, mask};
  }

  py::array_t<float> forward(I64 ids, I64 mask, int64_t prompt_length) const {
    if (!model) throw std::runtime_error("cpp_port._core.Core was built without a model");
    if (ids.ndim() != 2 || mask.ndim() != 2 || ids.shape(0) != mask.shape(0) || ids.shape(1) != mask.shape(1))
      throw py::value_error("ids and attention_mask must both be int64 (N, T)");
    int64_t n = ids.shape(0), t = ids.shape(1), vocab = model->word.size(0);
    for (int64_t k = 0; k < n * t; ++k)
      if (ids.data()[k] < 0 || ids.data()[k] >= vocab) throw py::value_error("token id out of range");
    if (t > model->pos.size(0)) throw py::value_error("sequence longer than max_position_embeddings");
    at::Tensor out;
    {
      py::gil_scoped_release nogil;
      out = model->forward(at::from_blob((void*)ids.data(), {n, t}, at::kLong),
                           at::from_blob((void*)mask.data(), {n, t}, at::kLong), prompt_length).contiguous();  // (N, D)
    }
    py::array_t<float> res({(size_t)n, (size_t)model->dim});
    std::memcpy(res.mutable_data(), out.data_ptr<float>(), sizeof(float) * (size_t)(n * model->dim));
    return res;
  }
};

}  // namespace

// Per-op calibration for bench/attribution/overhead.py: nanoseconds per call of one tiny ATen op issued
// from C++ (dispatcher + allocator + kernel: what a C++ port pays too), n calls after a warm-up, GIL
// released. Shapes match overhead.py's Python twin: x (1, 2, d), x2 and src2 (2, d), w (d, d), b (d,),
// q (1, 3, 2, d/3), bias (1, 1, 1, 2), ids/mask (1, 2) int64, keep (2,). Unknown kind: ValueError.
#include <chrono>
double op_cost(const std::string& kind, int64_t n, int64_t d) {
  py::gil_scoped_release nogil;
  auto f = at::TensorOptions().dtype(at::kFloat);
  // As a forward meets them (bench/attribution/ops.py tiny() is the twin): weights and the input ids and
  // mask are ordinary tensors, made before it; activations are made inside it, inference tensors
  // (an op on ordinary tensors costs more, in Python and in C++ alike)
  at::Tensor w = at::randn({d, d}, f), b = at::randn({d}, f);
  at::Tensor ids = at::arange(2, at::kLong).view({1, 2}), mask = at::ones({1, 2}, at::kLong);
  c10::InferenceMode guard;
  at::Tensor x = at::randn({1, 2, d}, f), x2 = at::randn({2, d}, f), src2 = at::randn({2, d}, f);
  at::Tensor q = at::randn({1, 3, 2, d / 3}, f), bias = at::zeros({1, 1, 1, 2}, f), keep = at::arange(2, at::kLong);
  auto run = [n](auto op) {
    for (int64_t i = 0; i < std::min<int64_t>(n, 100); ++i) op();
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) op();
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (double)n;
  };
  if (kind == "none") return run([&] { return x; });
  if (kind == "attr") return run([&] { return x.sizes()[0]; });
  if (kind == "linear") return run([&] { return at::linear(x, w, b); });
  if (kind == "layer_norm") return run([&] { return at::layer_norm(x, {d}, b, b, 1e-12); });
  if (kind == "sdpa") return run([&] { return at::scaled_dot_product_attention(q, q, q, bias, 0.0, false, 0.5); });
  if (kind == "gelu") return run([&] { return at::gelu(x); });
  if (kind == "add") return run([&] { return x + x; });
  if (kind == "mul") return run([&] { return x * x; });
  if (kind == "rsub") return run([&] { return 1.0 - x; });
  if (kind == "div") return run([&] { return x / x; });
  if (kind == "sum") return run([&] { return x.sum(1); });
  if (kind == "clamp") return run([&] { return x.clamp_min(1e-9); });
  if (kind == "view") return run([&] { return x.view({2, d}); });
  if (kind == "reshape") return run([&] { return x.reshape({2, d}); });
  if (kind == "permute") return run([&] { return x.permute({2, 0, 1}); });
  if (kind == "transpose") return run([&] { return x.transpose(1, 2); });
  if (kind == "unsqueeze") return run([&] { return x.unsqueeze(-1); });
  if (kind == "squeeze") return run([&] { return x.squeeze(0); });
  if (kind == "unbind") return run([&] { return x.unbind(0); });
  if (kind == "to") return run([&] { return mask.to(at::kFloat); });
  if (kind == "index") return run([&] { return w.index({ids}); });
  if (kind == "getitem") return run([&] { return x.slice(0, 0, INT64_MAX).unsqueeze(1); });
  if (kind == "normalize")
    return run([&] { return x2 / at::linalg_vector_norm(x2, 2, {1}, true).clamp_min(1e-12).expand_as(x2); });
  if (kind == "nonzero") return run([&] { return keep.nonzero(); });
  if (kind == "index_select") return run([&] { return x2.index_select(0, keep); });
  if (kind == "index_copy") return run([&] { return x2.index_copy_(0, keep, src2); });
  if (kind == "zeros") return run([&] { return at::zeros({2, d}, f); });
  throw py::value_error("op_cost: unknown kind '" + kind + "'");
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "cpp_port native core: C++ tokenizer + LibTorch BERT (see cpp_port/pipeline.py)";
  py::register_exception<portbench::ModelDirError>(m, "ModelDirError", PyExc_ValueError);
  portbench::bind_tape(m);
  m.def("op_cost", &op_cost, py::arg("kind"), py::arg("n"), py::arg("d") = 12, "ns per tiny ATen op from C++");
  py::class_<Core>(m, "Core")
      .def(py::init<const std::string&, const std::string&, bool>(), py::arg("spec_json"),
           py::arg("device") = "cpu", py::arg("load_model") = true)
      .def("tokenize", [](const Core& c, py::handle texts, int threads) { return c.tokenize(texts, threads, false); },
           py::arg("texts"), py::arg("num_threads") = 1, "list[str] -> (ids, mask) int64 (N, T)")
      .def("tokenize_bytes", [](const Core& c, py::handle texts, int threads) { return c.tokenize(texts, threads, true); },
           py::arg("texts"), py::arg("num_threads") = 1, "list[bytes] (UTF-8, checked) -> (ids, mask)")
      .def("forward", &Core::forward, py::arg("ids"), py::arg("attention_mask"), py::arg("prompt_length") = 0,
           "-> float32 (N, D); prompt_length: the prompt's tokens, left out of pooling where include_prompt is false")
      .def_property_readonly("dim", [](const Core& c) { return c.model ? c.model->dim : 0; })
      .def_property_readonly("max_len", [](const Core& c) { return c.tok.max_len(); })
      .def_property_readonly_static("max_threads", [](py::object) { return Tokenizer::max_threads(); })
      .def_property_readonly("spec_json", [](const Core& c) { return portbench::spec_to_json(c.spec); });
}
