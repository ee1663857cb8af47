#pragma once
// Gradient clipping over a set of parameters (their .grad() is replaced).
#include <vector>

#include "metagrad/core/tensor.hpp"

namespace mg::optim {

// Rescales the gradients so that their global L2 norm is at most max_norm;
// returns the norm before clipping (accumulated in float64).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);
// Clamps every gradient element to [-max_value, max_value].
void clip_grad_value_(const std::vector<Tensor>& params, double max_value);

}  // namespace mg::optim
