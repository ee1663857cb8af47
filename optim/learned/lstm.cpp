// The coordinatewise LSTM optimizer (optimizers.md sections 5.1 and 5.2).
#include "metagrad/optim/learned/lstm.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.hpp"
#include "json_file.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/nn/init.hpp"
#include "metagrad/nn/serialize.hpp"
#include "metagrad/optim/registry.hpp"
#include "optim/rule.hpp"

namespace mg::optim::learned {

Preprocess parse_preprocess(const std::string& name) {
  if (name == "log_sign") return Preprocess::LogSign;
  MG_CHECK(name == "none", "lstm: preprocess must be log_sign or none, not '{}'", name);
  return Preprocess::None;
}

const char* to_string(Preprocess preprocess) { return preprocess == Preprocess::LogSign ? "log_sign" : "none"; }

std::int64_t LstmConfig::parameter_count() const {
  const std::int64_t h = hidden, g = 4 * hidden;
  return g * features() + g * h + 2 * g + g * h + g * h + 2 * g + h + 1;
}

Tensor preprocess(const Tensor& gradient, const LstmConfig& config) {
  const Tensor g = gradient.reshape({1, gradient.numel()});
  if (config.preprocess == Preprocess::None) return g.t();
  // The branch form, so that derivatives are exact in second-order mode;
  // the log never sees a value that would make its masked-out derivative inf.
  const DType dtype = g.dtype();
  const Tensor magnitude = abs(g);
  const Tensor large = ge(magnitude, scalar_tensor(std::exp(-config.p), dtype));
  const Tensor log_part =
      where(large, log(where(large, magnitude, scalar_tensor(1.0, dtype))) / config.p, scalar_tensor(-1.0, dtype));
  const Tensor sign_part = where(large, sign(g), g * std::exp(config.p));
  return cat({log_part, sign_part}, 0).t();  // stored feature-major, as the network reads it
}

namespace {

// The views of phi in the section 5.1 layout.
struct Weights {
  Tensor w1_ih, w1_hh, b1_ih, b1_hh, w2_ih, w2_hh, b2_ih, b2_hh, out_w, out_b;
};

Weights unpack(const Tensor& phi, const LstmConfig& config) {
  MG_CHECK(phi.dim() == 1 && phi.numel() == config.parameter_count(),
           "lstm: the weights have {} numbers, expected {} for preprocess={} hidden={}", phi.numel(),
           config.parameter_count(), to_string(config.preprocess), config.hidden);
  const std::int64_t h = config.hidden, g = 4 * h;
  std::int64_t offset = 0;
  const auto vector = [&](std::int64_t size) {
    Tensor t = phi.narrow(0, offset, size);
    offset += size;
    return t;
  };
  const auto matrix = [&](std::int64_t rows, std::int64_t cols) { return vector(rows * cols).reshape({rows, cols}); };
  Weights w;
  w.w1_ih = matrix(g, config.features());
  w.w1_hh = matrix(g, h);
  w.b1_ih = vector(g);
  w.b1_hh = vector(g);
  w.w2_ih = matrix(g, h);
  w.w2_hh = matrix(g, h);
  w.b2_ih = vector(g);
  w.b2_hh = vector(g);
  w.out_w = matrix(1, h);
  w.out_b = vector(1);
  return w;
}

// torch.nn.LSTMCell (gates i, f, g, o in blocks of `hidden` rows) on every
// coordinate at once, feature-major (x: (I, n), h and c: (H, n)): one GEMM
// [W_ih W_hh] [x; h] and the fused elementwise part (mg::lstm_cell).
std::pair<Tensor, Tensor> cell(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                               const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, std::int64_t hidden) {
  // The gates are handed over, so the cell keeps its activations in their memory.
  const Tensor out = lstm_cell(matmul(cat({w_ih, w_hh}, 1), cat({x, h}, 0)), (b_ih + b_hh).reshape({4 * hidden, 1}), c);
  return {out.narrow(0, 0, hidden), out.narrow(0, hidden, hidden)};
}

// The authors' code's start (LstmInit::Code), in float64: per layer, the
// gate weights and the bias drawn in the order of Sonnet's variables (the
// [input; hidden] matrix, then the bias), all with stddev 1/sqrt(fan in).
Tensor code_initial_weights(const LstmConfig& config, Generator& generator) {
  Tensor phi = zeros({config.parameter_count()}, DType::Float64);
  Weights w = unpack(phi, config);  // views of phi
  const std::int64_t h = config.hidden;
  const auto gates = [&](Tensor& w_ih, Tensor& w_hh, Tensor& b_ih) {
    const double deviation = 1 / std::sqrt(static_cast<double>(w_ih.size(1) + h));
    Tensor matrix = zeros({4 * h, w_ih.size(1) + h}, DType::Float64);
    nn::init::truncated_normal_(matrix, deviation, generator);
    w_ih.copy_(matrix.narrow(1, 0, w_ih.size(1)));
    w_hh.copy_(matrix.narrow(1, w_ih.size(1), h));
    nn::init::truncated_normal_(b_ih, deviation, generator);
    Tensor forget = b_ih.narrow(0, h, h);  // the f block of i, f, g, o
    forget.copy_(forget + 1.0);
  };
  gates(w.w1_ih, w.w1_hh, w.b1_ih);
  gates(w.w2_ih, w.w2_hh, w.b2_ih);
  const double deviation = 1 / std::sqrt(static_cast<double>(h));
  nn::init::truncated_normal_(w.out_w, deviation, generator);
  nn::init::truncated_normal_(w.out_b, deviation, generator);
  return phi;
}

}  // namespace

std::pair<Tensor, LstmCoordinateState> lstm_step(const Tensor& phi, const LstmConfig& config, const Tensor& gradient,
                                                 const LstmCoordinateState& state) {
  const Weights w = unpack(phi.to(gradient.dtype()), config);
  const Tensor x = preprocess(gradient, config).t();  // (I, n)
  const std::int64_t n = x.size(1), h = config.hidden;
  const auto or_zeros = [&](const Tensor& t) { return t.defined() ? t : zeros({h, n}, gradient.dtype()); };
  auto [h1, c1] = cell(x, or_zeros(state.h1), or_zeros(state.c1), w.w1_ih, w.w1_hh, w.b1_ih, w.b1_hh, h);
  auto [h2, c2] = cell(h1, or_zeros(state.h2), or_zeros(state.c2), w.w2_ih, w.w2_hh, w.b2_ih, w.b2_hh, h);
  const Tensor delta = (matmul(w.out_w, h2) + w.out_b) * config.scale;
  return {delta.reshape({n}), {h1, c1, h2, c2}};
}

Tensor formula_weights(std::int64_t count, DType dtype) {
  std::vector<double> values(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<double>(static_cast<std::int64_t>((37 * i + 11) % 101) - 50) / 256;
  return Tensor::from_vector(values, {count}).to(dtype);
}

Tensor formula_weights(const LstmConfig& config, DType dtype) {
  return formula_weights(config.parameter_count(), dtype);
}

Tensor initial_weights(const LstmConfig& config, Generator& generator, DType dtype, LstmInit init) {
  if (init == LstmInit::Code) return code_initial_weights(config, generator).to(dtype);
  const double bound = 1 / std::sqrt(static_cast<double>(config.hidden));
  Tensor phi = rand({config.parameter_count()}, generator, DType::Float64) * (2 * bound) - bound;
  if (init == LstmInit::ZeroOutput) {
    Weights w = unpack(phi, config);  // views of phi
    w.out_w.zero_();
    w.out_b.zero_();
  }
  return phi.to(dtype);
}

Tensor load_weights(const std::string& path_or_shipped, const LstmConfig& config, DType dtype) {
  const std::vector<double> values =
      weight_values(path_or_shipped, "lstm", static_cast<std::size_t>(config.parameter_count()),
                    fmt::format("preprocess={}, hidden={}", to_string(config.preprocess), config.hidden));
  return Tensor::from_vector(values, {config.parameter_count()}).to(dtype);
}

void save_weights(const std::string& path, const Tensor& phi) { write_json(path, phi.to_vector<double>()); }

std::string net_weights_file(const std::string& path, const std::string& net, std::size_t nets) {
  std::filesystem::path file = path;
  if (nets > 1) file.replace_extension("." + net + file.extension().string());
  return file.string();
}

namespace {

LstmConfig config_of(const ParamGroup& group) {
  return {parse_preprocess(group.word("preprocess")), group.number("p"), group.number("scale"),
          static_cast<std::int64_t>(group.number("hidden"))};
}

const char* const kStates[] = {"h1", "c1", "h2", "c2"};

class LstmOptimizer : public Optimizer {
 public:
  LstmOptimizer(std::vector<ParamGroup> groups, std::map<std::string, Tensor> nets)
      : Optimizer("lstm", std::move(groups)), config_(config_of(param_groups().front())), nets_(std::move(nets)) {
    for (const auto& group : param_groups()) {
      MG_CHECK(nets_.count(group.word("net")), "lstm: no weights for net '{}'", group.word("net"));
      unpack(nets_.at(group.word("net")), config_);  // checks the length
    }
  }

 protected:
  // The parameters on one net are stepped as one block of coordinates (the
  // section 5.1 network is coordinatewise, so this changes no number): one
  // GEMM per layer over the whole model instead of a dozen small ops for
  // every bias. Each parameter's state is its block of the joint state.
  std::vector<Tensor> step_all(StepContext& context) override {
    std::map<std::string, std::vector<std::size_t>> by_net;
    for (std::size_t i = 0; i < context.slots.size(); ++i) by_net[context.slots[i].group->word("net")].push_back(i);
    std::vector<Tensor> updated(context.slots.size());
    for (const auto& [net, members] : by_net) {
      Tensor phi = nets_.at(net);
      if (!context.differentiable) phi = phi.detach();
      std::vector<Tensor> grads;
      for (std::size_t i : members) grads.push_back(context.slots[i].grad.reshape({-1}));
      auto [delta, next] = lstm_step(phi, config_, join(grads, 0), joint_state(net, context.slots, members));
      std::int64_t offset = 0;
      Joint& joint = joints_[net] = {next, {}};
      for (std::size_t i : members) {
        const Slot& slot = context.slots[i];
        const std::int64_t n = slot.param.numel();
        auto& tensors = slot.state->tensors;
        for (std::size_t f = 0; f < std::size(kStates); ++f) {
          tensors[kStates[f]] = field(next, f).narrow(1, offset, n);
          joint.parts.push_back(tensors[kStates[f]]);
        }
        updated[i] = slot.param + delta.narrow(0, offset, n).reshape(slot.param.shape());  // the net learns the sign
        offset += n;
      }
    }
    return updated;
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    for (const char* name : kStates)
      if (field == name) return Layout{{config_.hidden, param.numel()}, param.dtype()};
    return std::nullopt;
  }

 private:
  // The joint state of a net's last step, and the blocks of it its
  // parameters were given (held, so that no new tensor can take the
  // address of one and pass for it).
  struct Joint {
    LstmCoordinateState state;
    std::vector<Tensor> parts;
  };

  static Tensor& field(LstmCoordinateState& s, std::size_t f) {
    return f == 0 ? s.h1 : f == 1 ? s.c1 : f == 2 ? s.h2 : s.c2;
  }

  static Tensor join(const std::vector<Tensor>& parts, std::int64_t dim) {
    return parts.size() == 1 ? parts.front() : cat(parts, dim);
  }

  // The members' states as one block: the joint state of the net's last
  // step when they still hold exactly its blocks (no copy); otherwise their
  // states joined (after a checkpoint was loaded or the state detached), or
  // nothing at the start. A joint state no longer held is dropped first, so
  // that the graph it records (a whole unroll's, in meta-training) is freed
  // before this step allocates.
  LstmCoordinateState joint_state(const std::string& net, const std::vector<Slot>& slots,
                                  const std::vector<std::size_t>& members) {
    std::vector<Tensor> held;  // member by member, field by field
    for (std::size_t i : members)
      for (const char* name : kStates) {
        const auto& tensors = slots[i].state->tensors;
        held.push_back(tensors.count(name) ? tensors.at(name) : Tensor());
      }
    if (auto it = joints_.find(net); it != joints_.end()) {
      if (same_tensors(held, it->second.parts)) return it->second.state;
      joints_.erase(it);
    }
    if (std::none_of(held.begin(), held.end(), [](const Tensor& t) { return t.defined(); })) return {};
    LstmCoordinateState joined;
    for (std::size_t f = 0; f < std::size(kStates); ++f) {
      std::vector<Tensor> blocks;
      for (std::size_t m = 0; m < members.size(); ++m) {
        const Slot& slot = slots[members[m]];
        const Tensor& block = held[m * std::size(kStates) + f];
        blocks.push_back(block.defined() ? block : zeros({config_.hidden, slot.param.numel()}, slot.grad.dtype()));
      }
      field(joined, f) = join(blocks, 1);
    }
    return joined;
  }

  static bool same_tensors(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const Tensor& x, const Tensor& y) { return x.impl() == y.impl(); });
  }

  LstmConfig config_;
  std::map<std::string, Tensor> nets_;
  std::map<std::string, Joint> joints_;
};

Schema lstm_schema() {
  return {{"weights", Key::Kind::Word, Value(std::string("shipped")), {}},
          {"preprocess", Key::Kind::Word, Value(std::string("log_sign")), one_of({"log_sign", "none"})},
          {"p", Key::Kind::Number, Value(10.0), greater_than(0)},
          {"scale", Key::Kind::Number, Value(0.1), {}},
          {"hidden", Key::Kind::Integer, Value(20.0), at_least(1)},
          {"net", Key::Kind::Word, Value(std::string("default")), {}}};
}

// Every group must agree on the network's shape.
void check_common(const std::vector<ParamGroup>& groups) {
  for (const char* key : {"preprocess", "p", "scale", "hidden"})
    common_setting("lstm", key, groups,
                   [&](const ParamGroup& g) { return g.hyper.at(key) == groups.front().hyper.at(key); });
}

const bool registered = register_optimizer(
    {"lstm",
     "learned coordinatewise LSTM optimizer (paper 2); weights=shipped (the LSTM meta-trained on mlp, "
     "optim/learned/pretrained/mlp.json, compiled in; the default settings), PATH of a JSON list of P numbers, or "
     "formula (tests)",
     lstm_schema(), [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       check_common(groups);
       const LstmConfig config = config_of(groups.front());
       std::map<std::string, Tensor> nets;
       std::map<std::string, std::string> source;  // net -> weights
       for (const auto& group : groups) {
         const std::string& net = group.word("net");
         const std::string& weights = group.word("weights");
         auto [it, fresh] = source.emplace(net, weights);
         MG_CHECK(it->second == weights, "lstm: net '{}' is given two weight sources, '{}' and '{}'", net, it->second,
                  weights);
         if (fresh)
           nets[net] = weights == "formula" ? formula_weights(config, DType::Float64)
                                            : load_weights(weights, config, DType::Float64);
       }
       return std::make_unique<LstmOptimizer>(std::move(groups), std::move(nets));
     }});

}  // namespace

std::unique_ptr<Optimizer> make_lstm_optimizer(const std::map<std::string, Tensor>& nets, const LstmConfig& config,
                                               const NamedParameters& params, const NetOf& net_of) {
  // One group per run of consecutive parameters on the same net, so that the
  // groups keep the parameters' order (differentiable_step's order).
  std::vector<std::pair<std::string, NamedParameters>> runs;
  for (const auto& [name, p] : params) {
    const std::string net = net_of ? net_of(name) : "default";
    if (runs.empty() || runs.back().first != net) runs.emplace_back(net, NamedParameters{});
    runs.back().second.emplace_back(name, p);
  }
  std::vector<ParamGroup> groups;
  for (auto& [net, members] : runs) {
    const std::vector<std::pair<std::string, std::string>> arguments = {{"weights", "given"},
                                                                        {"net", net},
                                                                        {"preprocess", to_string(config.preprocess)},
                                                                        {"p", fmt::format("{:.17g}", config.p)},
                                                                        {"scale", fmt::format("{:.17g}", config.scale)},
                                                                        {"hidden", std::to_string(config.hidden)}};
    Values hyper = resolve(info("lstm").schema, arguments, "optimizer lstm");
    groups.push_back({std::move(members), std::move(hyper)});
  }
  return std::make_unique<LstmOptimizer>(std::move(groups), nets);
}

}  // namespace mg::optim::learned
