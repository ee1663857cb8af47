#pragma once
// Numerical gradient checks: analytical Jacobians from the autograd engine
// against central finite differences. Use float64 inputs.
#include <cstdint>
#include <functional>
#include <vector>

#include "metagrad/core/tensor.hpp"

namespace mg::autograd {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool raise = true;       // throw mg::Error describing the first mismatch
  std::uint64_t seed = 0;  // for the random grad_outputs of gradgradcheck
};

using MultiFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
using Function = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d(fn)/d(input) for every input that requires grad.
bool gradcheck(const MultiFunction& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});
bool gradcheck(const Function& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

// Checks the gradients of the gradients: gradcheck of
// (inputs, v) -> grad(fn(inputs), inputs, v, create_graph) with a random v.
bool gradgradcheck(const MultiFunction& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});
bool gradgradcheck(const Function& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace mg::autograd
