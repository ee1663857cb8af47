#pragma once
// A node of the recorded graph: the backward rule of one op application.
// Every op has exactly one differentiable output; `next[i]` is the node that
// produced the op's i-th input (null when that input needs no gradient).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg::autograd {

using Grads = std::vector<Tensor>;

struct InputInfo {
  Shape shape;
  DType dtype;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  // Gradients w.r.t. each forward input (undefined where not needed), given
  // the gradient w.r.t. the output. The engine sums each to its input's
  // shape and dtype, so rules may return broadcast-shaped gradients.
  virtual Grads apply(const Tensor& grad_output) = 0;
  // Drops what was saved for backward once the graph is no longer needed.
  virtual void release() {}
  virtual std::string_view name() const = 0;

  bool needs_input_grad(std::size_t i) const { return next[i] != nullptr; }

  std::vector<std::shared_ptr<Node>> next;
  std::vector<InputInfo> inputs;
  // 1 + the largest topo of `next` (leaves: 0). A path from a node to
  // another only exists when its topo is larger, so a gradient wanted at
  // some nodes never needs to look below the smallest of their numbers: the
  // inner gradients of an unrolled loop then cost one step's graph, not the
  // whole history.
  std::uint64_t topo = 0;
  // Set when the op is a slice of its one input: the input's gradient is
  // then the output's, placed in that slice of zeros, which the engine adds
  // straight into the input's gradient instead of building the zeros.
  struct Slice {
    std::int64_t dim, start, end, step;
    Shape input_layout;  // the input's dense strides (channels-last stays so), which its gradient takes
  };
  std::optional<Slice> slice;
};

// What a backward rule sees when it runs.
class BackwardArgs {
 public:
  BackwardArgs(const Tensor& gradient, const Node& node, const Tensor* output)
      : grad(gradient), node_(node), output_(output) {}
  const Tensor& grad;  // gradient w.r.t. the op's output
  bool needs(std::size_t input) const { return node_.needs_input_grad(input); }
  // The op's output, still connected to its graph (only when saved).
  const Tensor& output() const;

 private:
  const Node& node_;
  const Tensor* output_;
};

using BackwardFn = std::function<Grads(const BackwardArgs&)>;
enum class Save { Nothing, Output };

// True when grad mode is on and any of the tensors requires grad.
bool any_requires_grad(const Tensor* tensors, std::size_t count);
// Makes `output` the result of a recorded op (see record()).
Tensor attach(std::string_view name, const Tensor* inputs, std::size_t count, Tensor output, BackwardFn backward,
              Save save);

// Records `output` as computed from `inputs` by an op whose gradient is
// `backward`, when any input requires grad; otherwise returns output as is.
// Inputs a rule needs are captured by the lambda; the output is saved only
// when asked (Save::Output), because it would otherwise stay alive as long as
// the graph does.
template <class F>
Tensor record(std::string_view name, std::initializer_list<Tensor> inputs, Tensor output, F&& backward,
              Save save = Save::Nothing) {
  if (!any_requires_grad(inputs.begin(), inputs.size())) return output;
  return attach(name, inputs.begin(), inputs.size(), std::move(output), BackwardFn(std::forward<F>(backward)), save);
}
template <class F>
Tensor record(std::string_view name, const std::vector<Tensor>& inputs, Tensor output, F&& backward,
              Save save = Save::Nothing) {
  if (!any_requires_grad(inputs.data(), inputs.size())) return output;
  return attach(name, inputs.data(), inputs.size(), std::move(output), BackwardFn(std::forward<F>(backward)), save);
}

}  // namespace mg::autograd
