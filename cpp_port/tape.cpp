// cpp_port tape: a Python torch forward's own ATen ops, recorded at the dispatcher (bench/attribution/tape.py)
// and replayed from LibTorch C++ on the forward's own tensors, no Python between them: what the same
// ops cost as a C++ port issues them (the overhead model's kernels, bench/attribution/overhead.py). Each
// op is called through the dispatcher's boxed interface (one code path for any op; the tape's own
// per-op cost is priced apart on tiny tensors), each intermediate released after its last use, as a
// C++ port's temporaries are. Inputs the forward did not make (weights, ids, mask, constants) are
// viewed in place from their data pointers (numpy-style: this module never links libtorch_python).
// Leaves out: CUDA tensors, ops that write to an input, argument types other than those decoded below.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <map>

namespace py = pybind11;

namespace portbench {
namespace {

at::ScalarType dtype_of(const std::string& name) {
  static const std::map<std::string, at::ScalarType> by_name = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool}};
  auto it = by_name.find(name);
  if (it == by_name.end()) throw py::value_error("tape: dtype " + name + " not supported");
  return it->second;
}

// One recorded op: its handle, its arguments (tensor positions filled from slots at run time), the
// slots its tensor results go to (-1: dropped) and the slots to release after it.
struct Step {
  c10::OperatorHandle op;
  std::vector<c10::IValue> args;
  std::vector<std::pair<size_t, int>> tensor_args;             // (position, slot)
  std::vector<std::pair<size_t, std::vector<int>>> list_args;  // (position, slots; -1 = None)
  std::vector<bool> optional_list;                             // per list_args entry: Tensor?[]
  std::vector<int> outs, release;
};

class Tape {
 public:
  // steps: [(name, overload, [(tag, value)], [out slots], [release slots])]; inputs: [(slot, data_ptr,
  // sizes, strides, dtype name)] (the caller keeps those tensors alive); nslots: slots in all.
  Tape(const py::list& steps, const py::list& inputs, int nslots) : slots_(nslots), inputs_(nslots, false) {
    for (auto in : inputs) {
      auto t = in.cast<py::tuple>();
      int s = t[0].cast<int>();
      auto sizes = t[2].cast<std::vector<int64_t>>(), strides = t[3].cast<std::vector<int64_t>>();
      slots_.at(s) = at::from_blob(reinterpret_cast<void*>(t[1].cast<uintptr_t>()), sizes, strides,
                                   at::TensorOptions().dtype(dtype_of(t[4].cast<std::string>())));
      inputs_[s] = true;
    }
    for (auto st : steps) steps_.push_back(decode(st.cast<py::tuple>()));
  }

  // One replay, GIL released; seconds it took.
  double run() {
    py::gil_scoped_release nogil;
    auto t0 = std::chrono::steady_clock::now();
    {
      c10::InferenceMode guard;   // as python_ref's forward runs
      std::vector<c10::IValue> stack;
      for (const Step& s : steps_) {
        stack = s.args;
        for (auto& [pos, slot] : s.tensor_args) stack[pos] = slots_[slot];
        for (size_t i = 0; i < s.list_args.size(); ++i) stack[s.list_args[i].first] = list_of(s.list_args[i].second, s.optional_list[i]);
        s.op.callBoxed(stack);
        size_t k = 0;
        for (const c10::IValue& v : stack) {
          if (v.isTensor()) put(s.outs, k++, v.toTensor());
          else if (v.isTensorList())
            for (const at::Tensor& x : v.toTensorList()) put(s.outs, k++, x);
        }
        for (int r : s.release) slots_[r] = at::Tensor();
      }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // The tensor in a slot (after run: the forward's results) as float32 numpy, for checking.
  py::array_t<float> output(int slot) const {
    at::Tensor t = slots_.at(slot);
    if (!t.defined()) throw py::value_error("tape: slot " + std::to_string(slot) + " is empty");
    t = t.to(at::kFloat).contiguous();
    std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
    py::array_t<float> out(shape);
    std::memcpy(out.mutable_data(), t.data_ptr<float>(), t.numel() * sizeof(float));
    return out;
  }

  size_t live() const {   // slots holding a tensor the tape made (inputs excluded)
    size_t n = 0;
    for (size_t i = 0; i < slots_.size(); ++i) n += slots_[i].defined() && !inputs_[i];
    return n;
  }

 private:
  std::vector<at::Tensor> slots_;
  std::vector<bool> inputs_;
  std::vector<Step> steps_;

  void put(const std::vector<int>& outs, size_t k, const at::Tensor& x) {
    if (k < outs.size() && outs[k] >= 0) slots_[outs[k]] = x;
  }

  c10::IValue list_of(const std::vector<int>& slots, bool optional) const {
    if (!optional) {
      c10::List<at::Tensor> l;
      for (int s : slots) l.push_back(slots_[s]);
      return l;
    }
    c10::List<std::optional<at::Tensor>> l;
    for (int s : slots) l.push_back(s < 0 ? std::optional<at::Tensor>() : std::optional<at::Tensor>(slots_[s]));
    return l;
  }

  Step decode(const py::tuple& t) {
    auto name = t[0].cast<std::string>(), overload = t[1].cast<std::string>();
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!handle) throw py::value_error("tape: no operator " + name + "." + overload);
    Step s{*handle, {}, {}, {}, {}, t[3].cast<std::vector<int>>(), t[4].cast<std::vector<int>>()};
    for (auto a : t[2].cast<py::list>()) {
      auto p = a.cast<py::tuple>();
      auto tag = p[0].cast<std::string>();
      size_t pos = s.args.size();
      if (tag == "T") s.tensor_args.push_back({pos, p[1].cast<int>()}), s.args.emplace_back();
      else if (tag == "L" || tag == "O") {
        s.list_args.push_back({pos, p[1].cast<std::vector<int>>()});
        s.optional_list.push_back(tag == "O");
        s.args.emplace_back();
      } else if (tag == "N") s.args.emplace_back();
      else if (tag == "b") s.args.emplace_back(p[1].cast<bool>());
      else if (tag == "i") s.args.emplace_back(p[1].cast<int64_t>());
      else if (tag == "f") s.args.emplace_back(p[1].cast<double>());
      else if (tag == "I") s.args.emplace_back(p[1].cast<std::vector<int64_t>>());
      else if (tag == "s") s.args.emplace_back(p[1].cast<std::string>());
      else if (tag == "dtype") s.args.emplace_back(dtype_of(p[1].cast<std::string>()));
      else if (tag == "device") s.args.emplace_back(c10::Device(p[1].cast<std::string>()));
      else if (tag == "layout" && p[1].cast<std::string>() == "strided") s.args.emplace_back(at::kStrided);
      else if (tag == "memory_format") {
        auto f = p[1].cast<std::string>();
        s.args.emplace_back(f == "contiguous_format" ? at::MemoryFormat::Contiguous : f == "preserve_format"
                            ? at::MemoryFormat::Preserve : throw py::value_error("tape: memory format " + f));
      } else throw py::value_error("tape: argument " + tag + " of " + name + " not supported");
    }
    if (s.args.size() != handle->schema().arguments().size())
      throw py::value_error("tape: " + name + " takes " + std::to_string(handle->schema().arguments().size()) + " arguments");
    return s;
  }
};

}  // namespace

void bind_tape(py::module_& m) {
  py::class_<Tape>(m, "Tape", "A recorded forward's ATen ops, replayed from C++ (bench/attribution/tape.py builds it)")
      .def(py::init<const py::list&, const py::list&, int>(), py::arg("steps"), py::arg("inputs"), py::arg("nslots"))
      .def("run", &Tape::run, "one replay -> seconds")
      .def("output", &Tape::output, py::arg("slot"), "a slot's tensor as float32 numpy")
      .def_property_readonly("live", &Tape::live);
}

}  // namespace portbench
