#pragma once
// mg::nn::Module: a tree of modules owning named parameters (trained) and
// buffers (state such as running statistics), addressed by dotted names
// ("layer1.0.conv1.weight").
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metagrad/core/tensor.hpp"

namespace mg::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The forward pass of modules that map one tensor to one tensor.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }
  // A short type name for messages ("Linear", "Conv2d", ...).
  virtual std::string type_name() const = 0;

  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  // The number of scalars in parameters() (the model's size).
  std::int64_t parameter_count() const;
  NamedTensors named_buffers() const;
  // Parameters and buffers, module by module in registration order.
  NamedTensors state_dict() const;
  // Copies values into this module's tensors. Every name must match one of
  // ours with the same shape and dtype (else mg::Error, and nothing changes).
  void load_state_dict(const NamedTensors& state);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Calls fn on every submodule, then on this one (e.g. initialisation).
  void apply(const std::function<void(Module&)>& fn);

  // Each parameter's slot, for swapping in replacement tensors.
  std::vector<std::pair<std::string, Tensor*>> named_parameter_slots();

 protected:
  // The slot is a member of the derived module; its tensor becomes a leaf
  // that requires grad.
  void register_parameter(const std::string& name, Tensor* slot);
  void register_buffer(const std::string& name, Tensor* slot);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const;

  std::vector<std::pair<std::string, Tensor*>> parameters_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Runs module.forward(input) with some parameters replaced by the given
// tensors (e.g. fast weights that are graph nodes in meta-learning), without
// changing the module: the originals are back in place when it returns.
Tensor functional_call(Module& module, const std::map<std::string, Tensor>& parameters, const Tensor& input);

}  // namespace mg::nn
