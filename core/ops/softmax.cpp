// logsumexp, softmax and log_softmax along one dim. Forwards subtract the
// max for stability; backwards follow PyTorch's formulas in our own ops.
#include <cmath>
#include <limits>

#include "op.hpp"

namespace mg {
namespace {

void check_floating_input(const Tensor& x, const char* op) {
  MG_CHECK(x.defined(), "{}: the tensor is undefined", op);
  MG_CHECK(is_floating(x.dtype()), "{}: expected a floating tensor, got {}", op, dtype_name(x.dtype()));
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
  check_floating_input(x, "logsumexp");
  dim = wrap_dim(dim, x.dim(), "logsumexp");
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor m = stable_shift(x, dim);
    out = log(sum(exp(x - m), dim, true)) + m;
    if (!keepdim && x.dim() > 0) out = out.squeeze(dim);
  }
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
  check_floating_input(x, "log_softmax");
  dim = wrap_dim(dim, x.dim(), "log_softmax");
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor shifted = x - stable_shift(x, dim);
    out = shifted - log(sum(exp(shifted), dim, true));
  }
  return record(
      "log_softmax", {x}, out,
      [dim](const BackwardArgs& in) { return Grads{in.grad - exp(in.output()) * sum(in.grad, dim, true)}; },
      Save::Output);
}

Tensor softmax(const Tensor& x, std::int64_t dim) {
  check_floating_input(x, "softmax");
  dim = wrap_dim(dim, x.dim(), "softmax");
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor e = exp(x - stable_shift(x, dim));
    out = e / sum(e, dim, true);
  }
  return record(
      "softmax", {x}, out,
      [dim](const BackwardArgs& in) {
        const Tensor& y = in.output();
        return Grads{y * (in.grad - sum(in.grad * y, dim, true))};
      },
      Save::Output);
}

}  // namespace mg
