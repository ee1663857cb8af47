// Analytical Jacobians (one backward per output element) against central
// finite differences (two forwards per input element), in float64.
#include "metagrad/core/autograd/gradcheck.hpp"

#include <cmath>

#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/engine.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::autograd {
namespace {

// The address of the j-th element (row-major order) of a float64 tensor.
double* element(const Tensor& t, std::int64_t j) {
  const TensorImpl& impl = *t.impl();
  std::int64_t offset = 0;
  for (std::int64_t d = static_cast<std::int64_t>(impl.shape.size()) - 1; d >= 0; --d) {
    offset += (j % impl.shape[d]) * impl.strides[d];
    j /= impl.shape[d];
  }
  return t.data_ptr<double>() + offset;
}

std::vector<double> flatten_outputs(const std::vector<Tensor>& outputs) {
  std::vector<double> values;
  for (const auto& o : outputs) {
    if (!o.defined()) continue;
    const auto v = o.to_vector<double>();
    values.insert(values.end(), v.begin(), v.end());
  }
  return values;
}

std::vector<std::size_t> differentiable(const std::vector<Tensor>& inputs) {
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    MG_CHECK(inputs[i].dtype() == DType::Float64, "gradcheck: input {} is {}; finite differences need float64 inputs",
             i, dtype_name(inputs[i].dtype()));
    indices.push_back(i);
  }
  return indices;
}

// jacobian[input][element of input][element of outputs]
using Jacobian = std::vector<std::vector<std::vector<double>>>;

Jacobian numerical_jacobian(const MultiFunction& fn, const std::vector<Tensor>& inputs,
                            const std::vector<std::size_t>& wrt, double eps) {
  // Grad mode stays on: fn may itself take gradients (gradgradcheck).
  Jacobian jacobian;
  for (std::size_t i : wrt) {
    auto& columns = jacobian.emplace_back();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      double* x = element(inputs[i], j);
      const double saved = *x;
      *x = saved + eps;
      const auto plus = flatten_outputs(fn(inputs));
      *x = saved - eps;
      const auto minus = flatten_outputs(fn(inputs));
      *x = saved;
      auto& column = columns.emplace_back(plus.size());
      for (std::size_t k = 0; k < plus.size(); ++k) column[k] = (plus[k] - minus[k]) / (2 * eps);
    }
  }
  return jacobian;
}

Jacobian analytical_jacobian(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                             const std::vector<std::size_t>& wrt) {
  std::vector<Tensor> wrt_inputs;
  for (std::size_t i : wrt) wrt_inputs.push_back(inputs[i]);
  std::vector<Tensor> differentiable_outputs;
  std::vector<std::int64_t> output_offsets;
  std::int64_t total = 0;
  for (const auto& o : outputs) {
    if (!o.defined()) continue;
    if (o.requires_grad()) {
      differentiable_outputs.push_back(o);
      output_offsets.push_back(total);
    }
    total += o.numel();
  }
  Jacobian jacobian;
  for (std::size_t i : wrt)
    jacobian.emplace_back(static_cast<std::size_t>(inputs[i].numel()), std::vector<double>(total, 0.0));
  for (std::size_t o = 0; o < differentiable_outputs.size(); ++o) {
    for (std::int64_t e = 0; e < differentiable_outputs[o].numel(); ++e) {
      std::vector<Tensor> grad_outputs;
      for (std::size_t p = 0; p < differentiable_outputs.size(); ++p) {
        Tensor g = zeros_like(differentiable_outputs[p]);
        if (p == o) *element(g, e) = 1.0;
        grad_outputs.push_back(g);
      }
      const auto grads = grad(differentiable_outputs, wrt_inputs, grad_outputs, true, false, true);
      for (std::size_t w = 0; w < wrt.size(); ++w) {
        if (!grads[w].defined()) continue;
        const auto values = grads[w].to_vector<double>();
        for (std::size_t j = 0; j < values.size(); ++j) jacobian[w][j][output_offsets[o] + e] = values[j];
      }
    }
  }
  return jacobian;
}

}  // namespace

bool gradcheck(const MultiFunction& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  const auto wrt = differentiable(inputs);
  MG_CHECK(!wrt.empty(), "gradcheck: no input requires grad");
  const auto outputs = fn(inputs);
  const Jacobian analytical = analytical_jacobian(outputs, inputs, wrt);
  const Jacobian numerical = numerical_jacobian(fn, inputs, wrt, options.eps);
  for (std::size_t w = 0; w < wrt.size(); ++w)
    for (std::size_t j = 0; j < numerical[w].size(); ++j)
      for (std::size_t k = 0; k < numerical[w][j].size(); ++k) {
        const double a = analytical[w][j][k], n = numerical[w][j][k];
        if (std::abs(a - n) <= options.atol + options.rtol * std::abs(n)) continue;
        if (!options.raise) return false;
        throw Error(
            fmt::format("gradcheck: Jacobian mismatch for input {} (shape {}), element {}, output element {}: "
                        "analytical {:.10g}, numerical {:.10g}",
                        wrt[w], to_string(inputs[wrt[w]].shape()), j, k, a, n));
      }
  return true;
}

bool gradcheck(const Function& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return gradcheck(MultiFunction([&fn](const std::vector<Tensor>& x) { return std::vector<Tensor>{fn(x)}; }), inputs,
                   options);
}

bool gradgradcheck(const MultiFunction& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  const auto wrt = differentiable(inputs);
  MG_CHECK(!wrt.empty(), "gradgradcheck: no input requires grad");
  Generator generator(options.seed);
  std::vector<Tensor> extended = inputs;
  std::vector<std::size_t> differentiable_outputs;
  const auto outputs = fn(inputs);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    if (!outputs[o].defined() || !outputs[o].requires_grad()) continue;
    differentiable_outputs.push_back(o);
    extended.push_back(randn(outputs[o].shape(), generator, DType::Float64).requires_grad_());
  }
  const std::size_t n_inputs = inputs.size();
  const MultiFunction first_derivative = [&](const std::vector<Tensor>& xs) {
    const std::vector<Tensor> primal(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n_inputs));
    const auto outs = fn(primal);
    std::vector<Tensor> selected, wrt_inputs;
    for (std::size_t o : differentiable_outputs) selected.push_back(outs[o]);
    for (std::size_t i : wrt) wrt_inputs.push_back(primal[i]);
    const std::vector<Tensor> vs(xs.begin() + static_cast<std::ptrdiff_t>(n_inputs), xs.end());
    auto grads = grad(selected, wrt_inputs, vs, true, true, true);
    for (std::size_t w = 0; w < grads.size(); ++w)
      if (!grads[w].defined()) grads[w] = zeros_like(wrt_inputs[w]);
    return grads;
  };
  return gradcheck(first_derivative, extended, options);
}

bool gradgradcheck(const Function& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return gradgradcheck(MultiFunction([&fn](const std::vector<Tensor>& x) { return std::vector<Tensor>{fn(x)}; }),
                       inputs, options);
}

}  // namespace mg::autograd
