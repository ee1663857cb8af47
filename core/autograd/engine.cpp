// The backward pass: a topological sweep over the recorded graph (Kahn's
// algorithm on dependency counts). Broadcast gradients are summed to each
// input's shape here, in one place, so backward rules need not do it.
#include "metagrad/core/autograd/engine.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "accumulate_grad.hpp"
#include "core/check.hpp"
#include "core/kernels/copy.hpp"
#include "core/profiling.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::autograd {
namespace {

using NodePtr = std::shared_ptr<Node>;

// Whether the sweep visits `child`: nodes numbered below `min_topo` cannot
// lead to any node whose gradient is wanted (Node::topo).
bool visits(const NodePtr& child, std::uint64_t min_topo) { return child && child->topo >= min_topo; }

// How many edges from reachable nodes point at each node.
std::unordered_map<Node*, int> count_dependencies(const std::vector<NodePtr>& roots, std::uint64_t min_topo) {
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (const auto& root : roots)
    if (seen.insert(root.get()).second) stack.push_back(root.get());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& child : node->next) {
      if (!visits(child, min_topo)) continue;
      ++dependencies[child.get()];
      if (seen.insert(child.get()).second) stack.push_back(child.get());
    }
  }
  return dependencies;
}

// Nodes from which some target is reachable: the only ones worth running
// when just the gradients of `targets` are wanted.
std::unordered_set<Node*> nodes_leading_to(const std::vector<NodePtr>& roots,
                                           const std::unordered_map<Node*, std::vector<std::size_t>>& targets,
                                           std::uint64_t min_topo) {
  std::unordered_map<Node*, bool> leads;
  // Iterative post-order DFS.
  std::vector<std::pair<Node*, std::size_t>> stack;
  for (const auto& root : roots) {
    if (leads.count(root.get())) continue;
    leads[root.get()] = false;
    stack.emplace_back(root.get(), 0);
    while (!stack.empty()) {
      auto& [node, next_child] = stack.back();
      if (next_child < node->next.size()) {
        const NodePtr& edge = node->next[next_child++];
        Node* child = edge.get();
        if (visits(edge, min_topo) && !leads.count(child)) {
          leads[child] = false;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      bool result = targets.count(node) > 0;
      for (const auto& child : node->next) result = result || (visits(child, min_topo) && leads[child.get()]);
      leads[node] = result;
      stack.pop_back();
    }
  }
  std::unordered_set<Node*> needed;
  for (const auto& [node, result] : leads)
    if (result) needed.insert(node);
  return needed;
}

Tensor root_gradient(const Tensor& output, const Tensor& grad_output, std::size_t i) {
  if (!grad_output.defined()) {
    MG_CHECK(output.numel() == 1,
             "backward: output {} has shape {}; a gradient can be created implicitly only for a scalar "
             "output, so pass grad_outputs of that shape",
             i, to_string(output.shape()));
    return ones_like(output);
  }
  MG_CHECK(grad_output.shape() == output.shape(), "backward: grad_output {} has shape {} but output {} has shape {}", i,
           to_string(grad_output.shape()), i, to_string(output.shape()));
  return grad_output.dtype() == output.dtype() ? grad_output : grad_output.to(output.dtype());
}

// Brings a gradient to the shape and dtype of the input it belongs to.
Tensor fit_to_input(Tensor grad, const InputInfo& input, const Node& node) {
  if (grad.shape() != input.shape) {
    MG_CHECK(broadcast_shapes(input.shape, grad.shape(), "backward") == grad.shape(),
             "backward of '{}' returned a gradient of shape {} for an input of shape {}", node.name(),
             to_string(grad.shape()), to_string(input.shape));
    grad = sum_to(grad, input.shape);
  }
  if (grad.dtype() != input.dtype) grad = grad.to(input.dtype);
  return grad;
}

// The gradients reaching each node so far. A sum the sweep made itself is
// its own, so later terms are added into it in place (without a graph); a
// slice's gradient goes straight into its part of the input's sum.
class GradientSums {
 public:
  explicit GradientSums(bool create_graph) : in_place_(!create_graph) {}

  void add(Node* node, Tensor grad) {
    Sum& sum = sums_[node];
    if (!sum.value.defined()) {
      sum.value = std::move(grad);
      return;
    }
    sum.fill_unwritten();
    if (in_place_ && sum.owned)
      kernels::add_into(*sum.value.impl(), *grad.impl());
    else
      sum.own(sum.value + grad);
  }

  // Adds `grad` into `slice` of the sum for an input of `input`'s shape.
  void add_to_slice(Node* node, const InputInfo& input, const Node::Slice& slice, const Tensor& grad) {
    Sum& sum = sums_[node];
    const bool fresh = !sum.value.defined();
    if (fresh) {
      sum.own(empty_with_strides(input.shape, slice.input_layout, input.dtype));
      sum.leave_unwritten_outside(slice);
    } else if (!sum.owned) {
      sum.own(sum.value.clone());
    }
    Tensor part = sum.value.slice(slice.dim, slice.start, slice.end, slice.step);
    if (fresh || sum.take_unwritten(slice)) {
      kernels::copy(*part.impl(), *grad.impl());
    } else {
      sum.fill_unwritten();
      kernels::add_into(*part.impl(), *grad.to(input.dtype).impl());
    }
  }

  bool can_add_to_slice() const { return in_place_; }

  // Removes and returns the sum for `node` (undefined if none reached it).
  Tensor take(Node* node) {
    auto it = sums_.find(node);
    if (it == sums_.end()) return {};
    it->second.fill_unwritten();
    Tensor value = std::move(it->second.value);
    sums_.erase(it);
    return value;
  }

 private:
  // A sum made by a slice's gradient is zero outside the slice. Those parts
  // are filled with zeros only when something other than a gradient for
  // exactly one of them comes: an LSTM's [h'; c'], read as h' and c', is
  // then written once and never zero-filled.
  struct Sum {
    Tensor value;
    bool owned = false;  // made by the sweep, aliased by nothing else
    std::int64_t unwritten_dim = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> unwritten;  // [start, end) along unwritten_dim

    void own(Tensor made) {
      value = std::move(made);
      owned = true;
    }
    void leave_unwritten_outside(const Node::Slice& slice) {
      const std::int64_t size = value.size(slice.dim);
      if (slice.step != 1) {
        value.zero_();
        return;
      }
      unwritten_dim = slice.dim;
      if (slice.start > 0) unwritten.emplace_back(0, slice.start);
      if (slice.end < size) unwritten.emplace_back(slice.end, size);
    }
    // Whether `slice` is exactly one unwritten part, which it then writes.
    bool take_unwritten(const Node::Slice& slice) {
      if (slice.dim != unwritten_dim || slice.step != 1) return false;
      const auto it = std::find(unwritten.begin(), unwritten.end(), std::pair{slice.start, slice.end});
      if (it == unwritten.end()) return false;
      unwritten.erase(it);
      return true;
    }
    void fill_unwritten() {
      for (const auto& [start, end] : unwritten) value.narrow(unwritten_dim, start, end - start).zero_();
      unwritten.clear();
    }
  };
  bool in_place_;
  std::unordered_map<Node*, Sum> sums_;
};

// Runs the backward sweep. With `inputs`, returns the gradients reaching
// them and leaves .grad() alone; without, accumulates into the leaves.
std::vector<Tensor> run_backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                                 bool keep_graph, bool create_graph, const std::vector<Tensor>* inputs,
                                 bool allow_unused) {
  const profiler::Scope scope(profiler::Kind::Autograd);  // the ops it runs take their own time from it
  MG_CHECK(!outputs.empty(), "backward: no outputs given");
  MG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "backward: {} grad_outputs for {} outputs",
           grad_outputs.size(), outputs.size());
  GradModeGuard mode(create_graph);

  std::vector<NodePtr> roots;
  GradientSums sums(create_graph);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& output = outputs[i];
    MG_CHECK(output.defined(), "backward: output {} is undefined", i);
    MG_CHECK(output.requires_grad(), "backward: output {} does not require grad and has no grad_fn", i);
    Tensor seed = root_gradient(output, grad_outputs.empty() ? Tensor() : grad_outputs[i], i);
    NodePtr node = gradient_edge(output);
    sums.add(node.get(), std::move(seed));
    roots.push_back(std::move(node));
  }

  std::unordered_map<Node*, std::vector<std::size_t>> targets;
  std::vector<NodePtr> target_nodes;  // keeps accumulators created here alive
  if (inputs) {
    for (std::size_t j = 0; j < inputs->size(); ++j) {
      const Tensor& input = (*inputs)[j];
      MG_CHECK(input.defined() && input.requires_grad(), "grad: input {} does not require grad", j);
      NodePtr node = gradient_edge(input);
      targets[node.get()].push_back(j);
      target_nodes.push_back(std::move(node));
    }
  }
  // With inputs, nothing numbered below the lowest target matters; a full
  // backward() reaches every leaf (topo 0).
  std::uint64_t min_topo = 0;
  if (inputs) {
    min_topo = UINT64_MAX;
    for (const auto& node : target_nodes) min_topo = std::min(min_topo, node->topo);
  }
  const auto needed = inputs ? nodes_leading_to(roots, targets, min_topo) : std::unordered_set<Node*>{};

  auto dependencies = count_dependencies(roots, min_topo);
  std::vector<NodePtr> ready;
  for (const auto& root : roots)
    if (dependencies[root.get()] == 0 && std::find(ready.begin(), ready.end(), root) == ready.end())
      ready.push_back(root);

  std::vector<Tensor> captured(inputs ? inputs->size() : 0);
  while (!ready.empty()) {
    NodePtr node = std::move(ready.back());
    ready.pop_back();
    Tensor grad = sums.take(node.get());
    if (auto it = targets.find(node.get()); it != targets.end())
      for (std::size_t j : it->second) captured[j] = grad;

    const bool skip = inputs ? (!needed.count(node.get()) || dynamic_cast<AccumulateGrad*>(node.get())) : false;
    if (grad.defined() && !skip && node->slice && sums.can_add_to_slice()) {
      if (node->next[0]) sums.add_to_slice(node->next[0].get(), node->inputs[0], *node->slice, grad);
      grad = Tensor();
      if (!keep_graph) node->release();
    } else if (grad.defined() && !skip) {
      Grads grads = node->apply(grad);
      grad = Tensor();
      MG_CHECK(grads.empty() || grads.size() == node->next.size(),
               "backward of '{}' returned {} gradients for {} inputs", node->name(), grads.size(), node->next.size());
      for (std::size_t i = 0; i < grads.size(); ++i) {
        if (!node->next[i] || !grads[i].defined()) continue;
        sums.add(node->next[i].get(), fit_to_input(std::move(grads[i]), node->inputs[i], *node));
      }
      if (!keep_graph) node->release();
    }
    for (const auto& child : node->next)
      if (visits(child, min_topo) && --dependencies[child.get()] == 0) ready.push_back(child);
  }

  if (inputs && !allow_unused)
    for (std::size_t j = 0; j < captured.size(); ++j)
      MG_CHECK(captured[j].defined(),
               "grad: input {} (shape {}) is not used by the outputs' graph; pass allow_unused=true to get an "
               "undefined gradient for it",
               j, to_string((*inputs)[j].shape()));
  return captured;
}

}  // namespace

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  return run_backward(outputs, grad_outputs, retain_graph || create_graph, create_graph, &inputs, allow_unused);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, const GradOptions& o) {
  return grad(outputs, inputs, o.grad_outputs, o.retain_graph, o.create_graph, o.allow_unused);
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  run_backward(outputs, grad_outputs, retain_graph || create_graph, create_graph, nullptr, false);
}

}  // namespace mg::autograd
