#pragma once
#include <vector>

#include "metagrad/core/tensor.hpp"

namespace mg::autograd {

// Gradients of `outputs` (weighted by `grad_outputs`; may be empty for scalar
// outputs) with respect to `inputs`, without touching any .grad(). With
// create_graph the results are themselves differentiable (higher orders);
// the graph is then kept, as it is with retain_graph. An input that the
// outputs do not depend on is an error unless allow_unused, which gives an
// undefined tensor for it.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

// The same with its options by name:
//   autograd::grad({loss}, params, GradOptions{.retain_graph = true, .create_graph = second_order})
struct GradOptions {
  std::vector<Tensor> grad_outputs{};  // empty for scalar outputs
  bool retain_graph = false, create_graph = false, allow_unused = false;
};
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options);

// Accumulates gradients into the .grad() of every leaf the outputs depend on.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

}  // namespace mg::autograd
