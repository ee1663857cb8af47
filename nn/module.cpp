#include "metagrad/nn/module.hpp"

#include <set>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"

namespace mg::nn {

Tensor Module::forward(const Tensor&) {
  throw Error(type_name() + ": this module does not map one tensor to one tensor; call its own forward");
}

void Module::register_parameter(const std::string& name, Tensor* slot) {
  MG_CHECK(name.find('.') == std::string::npos && !name.empty(), "{}: invalid parameter name '{}'", type_name(), name);
  if (slot->defined() && !slot->requires_grad()) slot->requires_grad_();
  parameters_.emplace_back(name, slot);
}

void Module::register_buffer(const std::string& name, Tensor* slot) {
  MG_CHECK(name.find('.') == std::string::npos && !name.empty(), "{}: invalid buffer name '{}'", type_name(), name);
  buffers_.emplace_back(name, slot);
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  MG_CHECK(module != nullptr, "{}: submodule '{}' is null", type_name(), name);
  MG_CHECK(name.find('.') == std::string::npos && !name.empty(), "{}: invalid submodule name '{}'", type_name(), name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const {
  if (parameters)
    for (const auto& [name, slot] : parameters_)
      if (slot->defined()) out.emplace_back(prefix + name, *slot);
  if (buffers)
    for (const auto& [name, slot] : buffers_)
      if (slot->defined()) out.emplace_back(prefix + name, *slot);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();
  return count;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const NamedTensors own = state_dict();
  std::map<std::string, Tensor> mine(own.begin(), own.end());
  std::set<std::string> seen;
  // Validate everything before touching anything.
  for (const auto& [name, value] : state) {
    auto it = mine.find(name);
    MG_CHECK(it != mine.end(), "load_state_dict: {} has no parameter or buffer named '{}'", type_name(), name);
    MG_CHECK(value.shape() == it->second.shape() && value.dtype() == it->second.dtype(),
             "load_state_dict: '{}' has shape {} ({}) but the module expects {} ({})", name, to_string(value.shape()),
             dtype_name(value.dtype()), to_string(it->second.shape()), dtype_name(it->second.dtype()));
    MG_CHECK(seen.insert(name).second, "load_state_dict: '{}' appears twice", name);
  }
  for (const auto& [name, value] : own)
    MG_CHECK(seen.count(name), "load_state_dict: '{}' is missing from the state", name);
  NoGradGuard no_grad;
  for (const auto& [name, value] : state) mine[name].copy_(value);
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, slot] : parameters_)
    if (slot->defined()) slot->set_grad(Tensor());
  for (auto& [name, child] : children_) child->zero_grad();
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, child] : children_) child->apply(fn);
  fn(*this);
}

std::vector<std::pair<std::string, Tensor*>> Module::named_parameter_slots() {
  std::vector<std::pair<std::string, Tensor*>> out(parameters_.begin(), parameters_.end());
  for (auto& [name, child] : children_)
    for (auto& [child_name, slot] : child->named_parameter_slots()) out.emplace_back(name + "." + child_name, slot);
  return out;
}

Tensor functional_call(Module& module, const std::map<std::string, Tensor>& parameters, const Tensor& input) {
  struct Swap {
    Tensor* slot;
    Tensor original;
  };
  std::vector<Swap> swapped;
  std::size_t used = 0;
  for (auto& [name, slot] : module.named_parameter_slots()) {
    auto it = parameters.find(name);
    if (it == parameters.end()) continue;
    MG_CHECK(it->second.shape() == slot->shape(), "functional_call: '{}' has shape {} but the parameter is {}", name,
             to_string(it->second.shape()), to_string(slot->shape()));
    swapped.push_back({slot, *slot});
    ++used;
  }
  MG_CHECK(used == parameters.size(), "functional_call: {} of the {} given tensors name no parameter of {}",
           parameters.size() - used, parameters.size(), module.type_name());
  // Restore the originals however forward exits.
  struct Restore {
    std::vector<Swap>& swaps;
    ~Restore() {
      for (auto& s : swaps) *s.slot = s.original;
    }
  } restore{swapped};
  for (auto& [name, slot] : module.named_parameter_slots())
    if (auto it = parameters.find(name); it != parameters.end()) *slot = it->second;
  return module.forward(input);
}

}  // namespace mg::nn
