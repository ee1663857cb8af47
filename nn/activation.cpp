#include "metagrad/nn/activation.hpp"

#include <array>
#include <cmath>
#include <numbers>

#include "core/check.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::nn {
namespace {

constexpr std::array<std::pair<Activation, std::string_view>, 4> kNames{{{Activation::Relu, "relu"},
                                                                         {Activation::Sigmoid, "sigmoid"},
                                                                         {Activation::Tanh, "tanh"},
                                                                         {Activation::Gelu, "gelu"}}};

// x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
Tensor gelu_tanh(const Tensor& x) {
  const double scale = std::sqrt(2.0 / std::numbers::pi);
  return x * 0.5 * (tanh((x + x * x * x * 0.044715) * scale) + 1.0);
}

}  // namespace

Tensor activate(Activation activation, const Tensor& x) {
  switch (activation) {
    case Activation::Relu:
      return relu(x);
    case Activation::Sigmoid:
      return sigmoid(x);
    case Activation::Tanh:
      return tanh(x);
    case Activation::Gelu:
      return gelu_tanh(x);
  }
  throw Error(fmt::format("activation: unknown value {}", static_cast<int>(activation)));
}

Activation parse_activation(std::string_view name) {
  for (const auto& [activation, text] : kNames)
    if (text == name) return activation;
  throw Error(fmt::format("unknown activation '{}' (expected relu, sigmoid, tanh or gelu)", name));
}

std::string to_string(Activation activation) {
  for (const auto& [value, text] : kNames)
    if (value == activation) return std::string(text);
  throw Error(fmt::format("activation: unknown value {}", static_cast<int>(activation)));
}

}  // namespace mg::nn
