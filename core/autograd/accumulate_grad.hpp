#pragma once
// The sink of the graph for a leaf that requires grad: adds the incoming
// gradient to the leaf's .grad().
#include <memory>

#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/node.hpp"

namespace mg::autograd {

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  Grads apply(const Tensor& grad) override;
  std::string_view name() const override { return "AccumulateGrad"; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The node that receives d(outputs)/d(t): t's grad_fn, or for a leaf its
// (shared, lazily created) AccumulateGrad.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

}  // namespace mg::autograd
