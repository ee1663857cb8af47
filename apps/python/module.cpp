// The native part of the Python module `metagrad` (metagrad/torch.py is the
// part a user sees): registry optimizers that step memory Python owns, and
// the registry's listing. The Python side hands over PyTorch tensors as
// addresses it has checked (CPU, contiguous, float32 or float64, the right
// shape) and keeps them alive; nothing here copies a parameter or a gradient.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/check.hpp"
#include "metagrad/metagrad.hpp"

namespace py = pybind11;

namespace {

using mg::DType;
using mg::Tensor;

// One parameter as Python describes it: name, address, shape, dtype name.
using ParameterView = std::tuple<std::string, std::uintptr_t, std::vector<std::int64_t>, std::string>;
// Where each parameter and its gradient are now (0: no gradient), in order.
using Locations = std::vector<std::pair<std::uintptr_t, std::uintptr_t>>;

DType dtype_named(const std::string& name) {
  if (name == "float32") return DType::Float32;
  if (name == "float64") return DType::Float64;
  throw mg::Error("metagrad: parameters must be float32 or float64, not " + name);
}

// The Python side holds every tensor it hands over for as long as a step
// uses it, so the storage needs no owner of its own beyond this marker.
Tensor borrow(std::uintptr_t address, const mg::Shape& shape, DType dtype) {
  static const auto held_by_python = std::make_shared<int>(0);
  return Tensor::from_blob(reinterpret_cast<void*>(address), shape, dtype, held_by_python);
}

py::object to_python(const mg::optim::Value& value) {
  return std::visit([](const auto& v) -> py::object { return py::cast(v); }, value);
}

py::array to_numpy(const Tensor& tensor) {
  const Tensor t = tensor.detach().contiguous();
  const auto copy = [&](auto zero) {
    using T = decltype(zero);
    py::array_t<T> out(std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
    if (t.numel() > 0)
      std::memcpy(out.mutable_data(), t.data_ptr<T>(), static_cast<std::size_t>(t.numel()) * sizeof(T));
    return py::array(std::move(out));
  };
  switch (t.dtype()) {
    case DType::Float32:
      return copy(float{});
    case DType::Float64:
      return copy(double{});
    case DType::Int64:
      return copy(std::int64_t{});
  }
  throw mg::Error("metagrad: state tensor of an unsupported dtype");
}

Tensor from_numpy(const std::string& key, const py::array& array) {
  const auto copy = [&](auto zero, DType dtype) {
    using T = decltype(zero);
    const auto contiguous = py::array_t<T, py::array::c_style>::ensure(array);
    Tensor out = Tensor::empty(mg::Shape(array.shape(), array.shape() + array.ndim()), dtype);
    if (out.numel() > 0)
      std::memcpy(out.data_ptr<T>(), contiguous.data(), static_cast<std::size_t>(out.numel()) * sizeof(T));
    return out;
  };
  const py::dtype dtype = array.dtype();
  if (dtype.is(py::dtype::of<float>())) return copy(float{}, DType::Float32);
  if (dtype.is(py::dtype::of<double>())) return copy(double{}, DType::Float64);
  if (dtype.is(py::dtype::of<std::int64_t>())) return copy(std::int64_t{}, DType::Int64);
  throw mg::Error("metagrad: optimizer state '" + key + "' must be float32, float64 or int64, not " +
                  py::str(static_cast<py::handle>(dtype)).cast<std::string>());
}

// A registry optimizer over parameters that live in Python's memory.
class BorrowedOptimizer {
 public:
  BorrowedOptimizer(const std::string& spec, const std::vector<std::vector<ParameterView>>& groups,
                    const std::vector<std::vector<std::pair<std::string, std::string>>>& overrides) {
    MG_CHECK(groups.size() == overrides.size(), "metagrad: {} parameter groups but {} override lists", groups.size(),
             overrides.size());
    std::vector<mg::optim::GroupSpec> specs;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      mg::optim::GroupSpec group{{}, overrides[g]};
      for (const auto& [name, address, shape, dtype] : groups[g]) {
        group.params.emplace_back(name, borrow(address, mg::Shape(shape.begin(), shape.end()), dtype_named(dtype)));
        addresses_.push_back(address);
      }
      specs.push_back(std::move(group));
    }
    optimizer_ = mg::optim::make(spec, specs);
  }

  // One step. `locate` returns where every parameter and its gradient are
  // now; it is called before a plain step and after each closure call.
  py::object step(const std::function<Locations()>& locate, const py::object& closure) {
    const ClearGradients clear{*this};  // the gradients' memory is Python's: no handle outlives the step
    if (closure.is_none()) {
      attach(locate(), /*first=*/true);
      const py::gil_scoped_release release;
      optimizer_->step();
      return py::none();
    }
    py::object first_loss = py::none();
    bool first = true;
    optimizer_->step([&] {
      py::object loss = closure();
      attach(locate(), first);
      if (first) first_loss = std::move(loss);
      first = false;
      return Tensor();
    });
    return first_loss;
  }

  py::dict hyperparameters(std::size_t group) const {
    const auto& groups = optimizer_->param_groups();
    MG_CHECK(group < groups.size(), "metagrad: no parameter group {}", group);
    py::dict out;
    for (const auto& [key, value] : groups[group].hyper) out[py::str(key)] = to_python(value);
    return out;
  }

  void set_hyperparameter(std::size_t group, const std::string& key, double value) {
    mg::optim::set_hyperparameter(*optimizer_, group, key, value);
  }

  py::dict state_dict() const {
    py::dict out;
    for (const auto& [key, tensor] : optimizer_->state_dict()) out[py::str(key)] = to_numpy(tensor);
    return out;
  }

  // Checked as a whole before anything changes (Optimizer::load_state_dict).
  void load_state_dict(const std::vector<std::pair<std::string, py::array>>& state) {
    mg::nn::NamedTensors tensors;
    for (const auto& [key, array] : state) tensors.emplace_back(key, from_numpy(key, array));
    optimizer_->load_state_dict(tensors);
  }

  std::string name() const { return optimizer_->name(); }
  bool requires_closure() const { return optimizer_->requires_closure(); }

 private:
  struct ClearGradients {
    BorrowedOptimizer& self;
    ~ClearGradients() {
      for (auto& group : self.optimizer_->param_groups())
        for (auto& [name, p] : group.params) p.set_grad(Tensor());
    }
  };

  // Points the parameters at their memory (which moves only if Python
  // replaced a tensor's data, and never within a step) and their gradients.
  void attach(const Locations& locations, bool first) {
    MG_CHECK(locations.size() == addresses_.size(), "metagrad: located {} parameters, expected {}", locations.size(),
             addresses_.size());
    std::size_t i = 0;
    for (auto& group : optimizer_->param_groups()) {
      for (auto& [name, p] : group.params) {
        const auto [param, grad] = locations[i];
        if (param != addresses_[i]) {
          MG_CHECK(first, "metagrad: parameter '{}' moved in memory during a step", name);
          p = borrow(param, p.shape(), p.dtype());
          addresses_[i] = param;
        }
        p.set_grad(grad == 0 ? Tensor() : borrow(grad, p.shape(), p.dtype()));
        ++i;
      }
    }
  }

  std::unique_ptr<mg::optim::Optimizer> optimizer_;
  std::vector<std::uintptr_t> addresses_;  // of each parameter, in group order
};

py::list optimizers() {
  py::list out;
  for (const auto& name : mg::optim::available()) {
    const auto& entry = mg::optim::info(name);
    py::dict defaults;
    for (const auto& key : entry.schema)
      defaults[py::str(key.name)] = key.default_value ? to_python(*key.default_value) : py::none();
    py::dict item;
    item["name"] = name;
    item["summary"] = entry.summary;
    item["defaults"] = defaults;
    item["spec"] = name + "(" + mg::optim::describe_keys(entry.schema) + ")";
    out.append(item);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_metagrad, m) {
  m.doc() = "metagrad's native optimizers (use metagrad.torch.Optimizer)";
  m.attr("__version__") = mg::version();
  py::register_exception<mg::Error>(m, "Error", PyExc_ValueError);
  m.def("optimizers", &optimizers, "Every registry optimizer: name, summary, defaults (None: required) and spec");
  m.def("set_num_threads", &mg::set_num_threads, py::arg("threads"), "Threads of metagrad's kernels");
  m.def("get_num_threads", &mg::get_num_threads);
  py::class_<BorrowedOptimizer>(m, "NativeOptimizer")
      .def(py::init<const std::string&, const std::vector<std::vector<ParameterView>>&,
                    const std::vector<std::vector<std::pair<std::string, std::string>>>&>(),
           py::arg("spec"), py::arg("groups"), py::arg("overrides"))
      .def("step", &BorrowedOptimizer::step, py::arg("locate"), py::arg("closure"))
      .def("hyperparameters", &BorrowedOptimizer::hyperparameters, py::arg("group"))
      .def("set_hyperparameter", &BorrowedOptimizer::set_hyperparameter, py::arg("group"), py::arg("key"),
           py::arg("value"))
      .def("state_dict", &BorrowedOptimizer::state_dict)
      .def("load_state_dict", &BorrowedOptimizer::load_state_dict, py::arg("state"))
      .def_property_readonly("name", &BorrowedOptimizer::name)
      .def_property_readonly("requires_closure", &BorrowedOptimizer::requires_closure);
}
