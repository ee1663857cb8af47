#pragma once
// What the per-parameter MLP optimizers (mlp_lopt, general) share: their
// weights' layout, W1[inputs x hidden] | b1 | W2[hidden x hidden] | b2 |
// W3[hidden x outputs] | b3 (`x @ W` convention), the ReLU network applied
// to every row of x, and constant feature rows.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "metagrad/core/ops.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

struct MlpWeights {
  Tensor w1, b1, w2, b2, w3, b3;
};

// The network's views of phi from `offset` on (advanced past them).
inline MlpWeights unpack_mlp(const Tensor& phi, std::int64_t inputs, std::int64_t hidden, std::int64_t outputs,
                             std::int64_t& offset) {
  const auto take = [&](Shape shape) {
    std::int64_t size = 1;
    for (std::int64_t d : shape) size *= d;
    Tensor t = phi.narrow(0, offset, size).reshape(shape);
    offset += size;
    return t;
  };
  MlpWeights w;
  w.w1 = take({inputs, hidden});
  w.b1 = take({1, hidden});
  w.w2 = take({hidden, hidden});
  w.b2 = take({1, hidden});
  w.w3 = take({hidden, outputs});
  w.b3 = take({1, outputs});
  return w;
}

// relu(relu(x W1 + b1) W2 + b2) W3 + b3 on every row of x.
inline Tensor mlp_forward(const MlpWeights& w, const Tensor& x) {
  const Tensor h1 = relu(matmul(x, w.w1) + w.b1);
  const Tensor h2 = relu(matmul(h1, w.w2) + w.b2);
  return matmul(h2, w.w3) + w.b3;
}

template <std::size_t N>
Tensor constant_row(const std::array<double, N>& values, DType dtype) {
  return Tensor::from_vector(std::vector<double>(values.begin(), values.end()), {1, static_cast<std::int64_t>(N)})
      .to(dtype);
}

// A learned optimizer whose statistics are per tensor, so that each tensor
// steps on its own (one pass of GEMMs over its coordinates), with one step
// count for the whole optimizer (global state "step"): subclasses give one
// tensor's step.
class PerTensorOptimizer : public Optimizer {
 public:
  PerTensorOptimizer(std::string name, std::vector<ParamGroup> groups, Tensor phi)
      : Optimizer(std::move(name), std::move(groups)), phi_(std::move(phi)) {}

 protected:
  // One tensor's step at step count t (0 before the first step): in place
  // under no-grad (plain), or returning a new parameter that is a graph node
  // (differentiable). Returns the new parameter.
  virtual Tensor step_tensor(const Slot& slot, bool differentiable, std::int64_t t) = 0;

  // The weights: phi itself in differentiable mode; in a plain step, phi
  // without history in `dtype`, converted once per step.
  Tensor weights(bool differentiable, DType dtype) {
    if (differentiable) return phi_;
    auto it = plain_.find(dtype);
    if (it == plain_.end()) it = plain_.emplace(dtype, phi_.detach().to(dtype).contiguous()).first;
    return it->second;
  }

  std::vector<Tensor> step_all(StepContext& context) override {
    auto& global = *context.global;
    const auto t = static_cast<std::int64_t>(global.count("step") ? global.at("step").item<double>() : 0.0);
    plain_.clear();
    std::vector<Tensor> updated;
    for (const Slot& slot : context.slots) updated.push_back(step_tensor(slot, context.differentiable, t));
    global["step"] = scalar_tensor(static_cast<double>(t + 1), DType::Float64);
    return updated;
  }

  std::optional<Layout> global_layout(const std::string& field) const override {
    if (field == "step") return Layout{{}, DType::Float64};
    return std::nullopt;
  }

  Tensor phi_;

 private:
  std::map<DType, Tensor> plain_;
};

}  // namespace mg::optim::learned
