// cpp_port glue: pybind11 module cpp_port._core. Takes the model spec python_ref read (its JSON),
// turns Python str (or bytes) into UTF-8 views, checks the bad-input contract (TypeError /
// ValueError naming the index, as python_ref.api's check_texts), then releases the GIL around
// tokenisation (encode_batch, pad_rows) and the LibTorch forward.
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
    tok.set_added_tokens(spec.added_tokens);
    if (load_model) model = BertModel::from_spec(spec, device);
  }

  // encode_batch into int32 rows of max_len; GIL released. Pads to the longest row.
  std::pair<I64, I64> tokenize(const py::handle& seq, int threads, bool bytes) const {
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

  py::array_t<float> forward(I64 ids, I64 mask) const {
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
                           at::from_blob((void*)mask.data(), {n, t}, at::kLong)).contiguous();  // (N, D)
    }
    py::array_t<float> res({(size_t)n, (size_t)model->dim});
    std::memcpy(res.mutable_data(), out.data_ptr<float>(), sizeof(float) * (size_t)(n * model->dim));
    return res;
  }
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "cpp_port native core: C++ tokenizer + LibTorch BERT (see cpp_port/pipeline.py)";
  py::register_exception<portbench::ModelDirError>(m, "ModelDirError", PyExc_ValueError);
  py::class_<Core>(m, "Core")
      .def(py::init<const std::string&, const std::string&, bool>(), py::arg("spec_json"),
           py::arg("device") = "cpu", py::arg("load_model") = true)
      .def("tokenize", [](const Core& c, py::handle texts, int threads) { return c.tokenize(texts, threads, false); },
           py::arg("texts"), py::arg("num_threads") = 1, "list[str] -> (ids, mask) int64 (N, T)")
      .def("tokenize_bytes", [](const Core& c, py::handle texts, int threads) { return c.tokenize(texts, threads, true); },
           py::arg("texts"), py::arg("num_threads") = 1, "list[bytes] (UTF-8, checked) -> (ids, mask)")
      .def("forward", &Core::forward, py::arg("ids"), py::arg("attention_mask"), "-> float32 (N, D)")
      .def_property_readonly("dim", [](const Core& c) { return c.model ? c.model->dim : 0; })
      .def_property_readonly("max_len", [](const Core& c) { return c.tok.max_len(); })
      .def_property_readonly("spec_json", [](const Core& c) { return portbench::spec_to_json(c.spec); });
}
