#pragma once
// LSTM layers with PyTorch's gate layout (input, forget, cell, output) and
// default initialisation U(-1/sqrt(hidden), 1/sqrt(hidden)).
#include <cstdint>
#include <utility>
#include <vector>

#include "metagrad/core/generator.hpp"
#include "metagrad/nn/module.hpp"

namespace mg::nn {

struct LstmState {
  Tensor h, c;  // (N, hidden) each
};

class LSTMCell : public Module {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true,
           Generator& generator = default_generator());
  using Module::forward;  // (not a one-tensor module: throws)
  // One step: x (N, input_size); an undefined state starts from zeros.
  LstmState forward(const Tensor& x, const LstmState& state);
  std::string type_name() const override { return "LSTMCell"; }
  std::int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // (4H, I), (4H, H), (4H), (4H)
};

// Stacked LSTM cells named "0", "1", ... run over a (T, N, input_size) sequence.
class LSTM : public Module {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers = 1, bool bias = true,
       Generator& generator = default_generator());
  using Module::forward;  // (not a one-tensor module: throws)
  // The last layer's outputs (T, N, hidden) and every layer's final state.
  std::pair<Tensor, std::vector<LstmState>> forward(const Tensor& x, std::vector<LstmState> state = {});
  std::string type_name() const override { return "LSTM"; }

 private:
  std::vector<std::shared_ptr<LSTMCell>> cells_;
};

}  // namespace mg::nn
