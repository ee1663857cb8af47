#include "metagrad/core/autograd/node.hpp"

#include <algorithm>
#include <mutex>

#include "accumulate_grad.hpp"
#include "core/check.hpp"
#include "core/kernels/copy.hpp"
#include "core/profiling.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::autograd {
namespace {

// The node of one recorded op application.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string_view name, BackwardFn backward) : name_(name), backward_(std::move(backward)) {}

  Grads apply(const Tensor& grad) override {
    MG_CHECK(backward_ != nullptr,
             "backward through '{}' a second time: its saved values were freed by the first backward; "
             "pass retain_graph=true to the first one",
             name_);
    if (!saved_output_) return backward_(BackwardArgs(grad, *this, nullptr));
    // Re-attach the saved output to this node so that a gradient built from it
    // depends on the op's inputs (higher orders).
    auto impl = make_view_impl(*saved_output_, saved_output_->shape, saved_output_->strides, saved_output_->offset);
    impl->requires_grad = true;
    impl->grad_fn = shared_from_this();
    const Tensor output(std::move(impl));
    return backward_(BackwardArgs(grad, *this, &output));
  }

  void release() override {
    backward_ = nullptr;
    saved_output_.reset();
  }

  std::string_view name() const override { return name_; }

  // The output's data and geometry without its history: holding the history
  // would make the node own itself.
  std::shared_ptr<TensorImpl> saved_output_;

 private:
  std::string_view name_;
  BackwardFn backward_;
};

}  // namespace

const Tensor& BackwardArgs::output() const {
  MG_CHECK(output_ != nullptr, "backward of '{}' asked for its output, which it did not save", node_.name());
  return *output_;
}

bool any_requires_grad(const Tensor* tensors, std::size_t count) {
  if (!GradMode::is_enabled()) return false;
  for (std::size_t i = 0; i < count; ++i)
    if (tensors[i].requires_grad()) return true;
  return false;
}

Tensor attach(std::string_view name, const Tensor* inputs, std::size_t count, Tensor output, BackwardFn backward,
              Save save) {
  const profiler::Scope scope(profiler::Kind::Autograd);
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->next.resize(count);
  node->inputs.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined()) continue;
    node->inputs[i] = {input.shape(), input.dtype()};
    if (input.requires_grad()) {
      node->next[i] = gradient_edge(input);
      node->topo = std::max(node->topo, node->next[i]->topo + 1);
    }
  }
  // The output must be a handle of its own, even when an op passes an input
  // through unchanged.
  const TensorImpl& source = *output.impl();
  auto impl = make_view_impl(source, source.shape, source.strides, source.offset);
  impl->requires_grad = true;
  impl->grad_fn = node;
  if (save == Save::Output) node->saved_output_ = make_view_impl(source, source.shape, source.strides, source.offset);
  return Tensor(std::move(impl));
}

Grads AccumulateGrad::apply(const Tensor& grad) {
  Tensor& current = leaf_->grad;
  if (GradMode::is_enabled()) {  // create_graph: the .grad stays differentiable
    current = current.defined() ? current + grad : grad;
  } else if (current.defined()) {
    current = current + grad;
  } else {
    // Store a tensor of our own laid out like the leaf: the incoming one may
    // be a broadcast view, or alias a gradient the caller still holds.
    const bool exclusive = grad.impl_ptr().use_count() == 1 && grad.impl()->storage.use_count() == 1;
    if (exclusive && grad.strides() == dense_strides_like(*leaf_)) {
      current = grad.detach();
    } else {
      current = empty_like(Tensor(leaf_));
      kernels::copy(*current.impl(), *grad.impl());
    }
  }
  for (const auto& [id, hook] : leaf_->grad_accumulated_hooks) hook(Tensor(leaf_));
  return {};
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  TensorImpl& impl = *t.impl();
  if (impl.grad_fn) return impl.grad_fn;
  // Concurrent runs (run_concurrently) record graphs through the same
  // leaves, a learned optimizer's meta-parameters: one accumulator each.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = impl.grad_accumulator.lock()) return existing;
  auto accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
  impl.grad_accumulator = accumulator;
  return accumulator;
}

}  // namespace mg::autograd
