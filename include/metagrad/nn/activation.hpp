#pragma once
// The activations the model zoo and the task families choose between, as a
// type; names are parsed and printed only where text comes in or goes out.
#include <string>
#include <string_view>

#include "metagrad/core/tensor.hpp"

namespace mg::nn {

// Gelu is the tanh approximation (PyTorch's approximate="tanh"), composed of
// differentiable ops so that it has gradients of every order.
enum class Activation { Relu, Sigmoid, Tanh, Gelu };

Tensor activate(Activation activation, const Tensor& x);

// "relu", "sigmoid", "tanh", "gelu"; anything else throws mg::Error listing them.
Activation parse_activation(std::string_view name);
std::string to_string(Activation activation);

}  // namespace mg::nn
