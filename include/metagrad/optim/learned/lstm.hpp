#pragma once
// The learned LSTM optimizer of "Learning to learn by gradient descent by
// gradient descent" (optimizers.md section 5): two LSTM cells and a linear
// output applied to every coordinate independently, with shared weights phi
// (one flat tensor in the section 5.1 layout). The registry's
// `lstm(weights=PATH|formula, ...)` loads phi from a file; meta-training
// builds the optimizer from phi tensors that require grad, so that
// differentiable_step() carries meta-gradients to them.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

// Section 5.1's features of a gradient: (log|g|/p, sign g) or g itself.
enum class Preprocess { LogSign, None };
Preprocess parse_preprocess(const std::string& name);  // log_sign | none
const char* to_string(Preprocess preprocess);

struct LstmConfig {
  Preprocess preprocess = Preprocess::LogSign;
  double p = 10;       // log_sign's threshold exp(-p)
  double scale = 0.1;  // delta = scale * (out_W h2 + out_b)
  std::int64_t hidden = 20;

  std::int64_t features() const { return preprocess == Preprocess::LogSign ? 2 : 1; }
  // P: 5301 for log_sign, 5221 for none (hidden 20).
  std::int64_t parameter_count() const;
};

// The section 5.1 preprocessing of a flat gradient: (n, features).
Tensor preprocess(const Tensor& gradient, const LstmConfig& config);

// Per-coordinate state, feature-major: (hidden, n) each (a column per
// coordinate, so the cell's loops run along the coordinates); zeros at the
// start of a run.
struct LstmCoordinateState {
  Tensor h1, c1, h2, c2;
};

// One step of the network for n coordinates: the update delta (n) and the
// next state. Differentiable in phi, the gradient and the state.
std::pair<Tensor, LstmCoordinateState> lstm_step(const Tensor& phi, const LstmConfig& config, const Tensor& gradient,
                                                 const LstmCoordinateState& state);

// How meta-training starts phi. Uniform: section 5.1's U(-1/sqrt(hidden),
// 1/sqrt(hidden)) for every entry. ZeroOutput (the default): the same with
// the output layer (out_W, out_b) zero. Measured on mlp and quadratic: from
// the uniform start the optimizer's first updates are noise of about
// scale * |out_W h2| per coordinate whatever the gradient, they raise the
// loss, and the first meta-gradients learn to silence them: the do-nothing
// plateau (mlp's loss stays ln 10), where the weak signal that would teach
// the net to follow the gradient is lost. From a zero output the optimizer
// starts by doing nothing, and out_W's first meta-gradient is the
// correlation of the LSTM's state with the coming gradients: descent.
// Code (optimizers.md 5.7, the authors' released code): every gate weight
// and bias of a layer from a normal of standard deviation 1/sqrt(fan in),
// fan in = the layer's inputs + hidden (Sonnet's one [input, hidden]
// matrix), truncated at two standard deviations; the output layer's weights
// and bias likewise with fan in = hidden; b_hh = 0 and +1 on the forget
// block of b_ih (Sonnet's forget bias inside the sigmoid).
enum class LstmInit { ZeroOutput, Uniform, Code };

// Weights: the test formula of section 9.1, phi[i] = (((37 i + 11) mod 101) - 50) / 256;
// the meta-training initialisation; and JSON files holding a list of P
// numbers (written atomically).
Tensor formula_weights(const LstmConfig& config, DType dtype = DType::Float32);
Tensor formula_weights(std::int64_t count, DType dtype = DType::Float32);  // any learned optimizer's P
Tensor initial_weights(const LstmConfig& config, Generator& generator, DType dtype = DType::Float32,
                       LstmInit init = LstmInit::ZeroOutput);
Tensor load_weights(const std::string& path_or_shipped, const LstmConfig& config, DType dtype = DType::Float32);
void save_weights(const std::string& path, const Tensor& phi);
// Where one of several nets' weights go: PATH with the net's name before the
// extension (optimizer.conv.json); PATH itself for a single net.
std::string net_weights_file(const std::string& path, const std::string& net, std::size_t nets);

// An `lstm` optimizer over named parameters driven by live weight tensors
// (meta-training: phi requires grad): `net_of` names the net each parameter
// uses (the CNN task has "conv" and "fc"); without it every parameter uses
// "default".
using NetOf = std::function<std::string(const std::string& parameter_name)>;
std::unique_ptr<Optimizer> make_lstm_optimizer(const std::map<std::string, Tensor>& nets, const LstmConfig& config,
                                               const NamedParameters& params, const NetOf& net_of = {});

}  // namespace mg::optim::learned
