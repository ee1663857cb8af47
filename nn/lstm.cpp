#include "metagrad/nn/lstm.hpp"

#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/nn/init.hpp"

namespace mg::nn {

LSTMCell::LSTMCell(std::int64_t input_size_, std::int64_t hidden_size_, bool bias, Generator& generator)
    : input_size(input_size_), hidden_size(hidden_size_) {
  MG_CHECK(input_size >= 1 && hidden_size >= 1, "LSTMCell: sizes must be positive, got input {} and hidden {}",
           input_size, hidden_size);
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  weight_ih = Tensor::empty({4 * hidden_size, input_size});
  weight_hh = Tensor::empty({4 * hidden_size, hidden_size});
  if (bias) {
    bias_ih = Tensor::empty({4 * hidden_size});
    bias_hh = Tensor::empty({4 * hidden_size});
  }
  for (Tensor* t : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (t->defined()) init::uniform_(*t, -bound, bound, generator);
  register_parameter("weight_ih", &weight_ih);
  register_parameter("weight_hh", &weight_hh);
  register_parameter("bias_ih", &bias_ih);
  register_parameter("bias_hh", &bias_hh);
}

LstmState LSTMCell::forward(const Tensor& x, const LstmState& state) {
  MG_CHECK(x.defined() && x.dim() == 2 && x.size(1) == input_size,
           "LSTMCell: expected an input of shape [N, {}], got {}", input_size,
           x.defined() ? to_string(x.shape()) : "undefined");
  const std::int64_t n = x.size(0), hs = hidden_size;
  const Tensor h = state.h.defined() ? state.h : zeros({n, hs}, x.dtype());
  const Tensor c = state.c.defined() ? state.c : zeros({n, hs}, x.dtype());
  MG_CHECK(h.shape() == (Shape{n, hs}) && c.shape() == (Shape{n, hs}),
           "LSTMCell: state of shapes {} and {} should both be [{}, {}]", to_string(h.shape()), to_string(c.shape()), n,
           hs);
  const Tensor gates = functional::linear(x, weight_ih, bias_ih) + functional::linear(h, weight_hh, bias_hh);
  const Tensor input_gate = sigmoid(gates.narrow(1, 0, hs));
  const Tensor forget_gate = sigmoid(gates.narrow(1, hs, hs));
  const Tensor cell_gate = tanh(gates.narrow(1, 2 * hs, hs));
  const Tensor output_gate = sigmoid(gates.narrow(1, 3 * hs, hs));
  const Tensor c_next = forget_gate * c + input_gate * cell_gate;
  return {output_gate * tanh(c_next), c_next};
}

LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers, bool bias,
           Generator& generator) {
  MG_CHECK(num_layers >= 1, "LSTM: num_layers must be positive, got {}", num_layers);
  for (std::int64_t layer = 0; layer < num_layers; ++layer)
    cells_.push_back(register_module(
        std::to_string(layer),
        std::make_shared<LSTMCell>(layer == 0 ? input_size : hidden_size, hidden_size, bias, generator)));
}

std::pair<Tensor, std::vector<LstmState>> LSTM::forward(const Tensor& x, std::vector<LstmState> state) {
  MG_CHECK(x.defined() && x.dim() == 3, "LSTM: expected a (T, N, input) sequence, got {}",
           x.defined() ? to_string(x.shape()) : "undefined");
  if (state.empty()) state.resize(cells_.size());
  MG_CHECK(state.size() == cells_.size(), "LSTM: {} states given for {} layers", state.size(), cells_.size());
  std::vector<Tensor> outputs;
  for (std::int64_t t = 0; t < x.size(0); ++t) {
    Tensor input = x.select(0, t);
    for (std::size_t layer = 0; layer < cells_.size(); ++layer) {
      state[layer] = cells_[layer]->forward(input, state[layer]);
      input = state[layer].h;
    }
    outputs.push_back(input);
  }
  return {stack(outputs, 0), state};
}

}  // namespace mg::nn
