// logsumexp, softmax and log_softmax along one dim. Forwards subtract the
// max for stability; backwards follow PyTorch's formulas in our own ops.
#include <cmath>
#include <limits>

#include "op.hpp"

namespace mg {
namespace {

// Checks op's input and returns dim wrapped into [0, x.dim()).
std::int64_t checked_dim(const Tensor& x, std::int64_t dim, const char* op) {
  MG_CHECK(x.defined(), "{}: the tensor is undefined", op);
  MG_CHECK(is_floating(x.dtype()), "{}: expected a floating tensor, got {}", op, dtype_name(x.dtype()));
  return wrap_dim(dim, x.dim(), op);
}

// The forward's value, computed outside the graph (record() adds the node).
template <class Forward>
Tensor untracked(Forward forward) {
  NoGradGuard no_grad;
  return forward();
}

// The max along dim (kept), with infinities replaced by 0 so that x - max
// stays finite where a whole row is +-inf.
Tensor stable_shift(const Tensor& x, std::int64_t dim) {
  Tensor m = max(x, dim, true);
  const Tensor infinite = eq(abs(m), scalar_tensor(std::numeric_limits<double>::infinity(), x.dtype()));
  return where(infinite, scalar_tensor(0.0, x.dtype()), m);
}

}  // namespace

Tensor logsumexp(const Tensor& x, std::int64_t dim, bool keepdim) {
  dim = checked_dim(x, dim, "logsumexp");
  const Tensor out = untracked([&] {
    const Tensor m = stable_shift(x, dim);
    const Tensor kept = log(sum(exp(x - m), dim, true)) + m;
    return !keepdim && x.dim() > 0 ? kept.squeeze(dim) : kept;
  });
  return record(
      "logsumexp", {x}, out,
      [x, dim, keepdim](const BackwardArgs& in) {
        const bool expand = !keepdim && x.dim() > 0;
        const Tensor grad = expand ? in.grad.unsqueeze(dim) : in.grad;
        const Tensor result = expand ? in.output().unsqueeze(dim) : in.output();
        return Grads{grad * exp(x - result)};
      },
      Save::Output);
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  dim = checked_dim(x, dim, "log_softmax");
  const Tensor out = untracked([&] {
    const Tensor shifted = x - stable_shift(x, dim);
    return shifted - log(sum(exp(shifted), dim, true));
  });
  return record(
      "log_softmax", {x}, out,
      [dim](const BackwardArgs& in) { return Grads{in.grad - exp(in.output()) * sum(in.grad, dim, true)}; },
      Save::Output);
}

Tensor softmax(const Tensor& x, std::int64_t dim) {
  dim = checked_dim(x, dim, "softmax");
  const Tensor out = untracked([&] {
    const Tensor e = exp(x - stable_shift(x, dim));
    return e / sum(e, dim, true);
  });
  return record(
      "softmax", {x}, out,
      [dim](const BackwardArgs& in) {
        const Tensor& y = in.output();
        return Grads{y * (in.grad - sum(in.grad * y, dim, true))};
      },
      Save::Output);
}

}  // namespace mg
