// Shampoo (Gupta et al.), as configured in paper 5's runs (Meta's
// DistributedShampoo, grafting off): per-axis statistics L_k of the gradient,
// preconditioned with their inverse 2N-th roots computed every
// precondition_frequency steps by a symmetric eigen-decomposition (LAPACK,
// float64). Tensors with an axis above max_preconditioner_dim fall back to a
// diagonal (Adagrad-type) preconditioner. See docs/optimizers.md section 8.4.
//
// Not differentiable: the eigen-roots have no derivative here; if_shampoo is
// the root-free alternative that is.
#include <cmath>

#include "group_rule.hpp"
#include "kronecker.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/optim/registry.hpp"
#include "parallel_slots.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

constexpr auto f64 = DType::Float64;

std::string factor_name(const char* what, std::int64_t axis) { return fmt::format("{}{}", what, axis); }

// Q diag(lambda^(-1/root)) Q^T of a symmetric matrix, its eigenvalues first
// shifted up to be non-negative, plus epsilon.
Tensor inverse_root(const Tensor& matrix, double root, double epsilon) {
  const SymmetricEigen eigen = eigh(matrix);
  auto values = eigen.values.to_vector<double>();
  const double shift = std::min(*std::min_element(values.begin(), values.end()), 0.0);
  for (double& v : values) v = std::pow(v - shift + epsilon, -1.0 / root);
  const auto d = static_cast<std::int64_t>(values.size());
  return matmul(eigen.vectors * Tensor::from_vector(values, {1, d}), eigen.vectors.t());
}

class Shampoo : public Optimizer {
 public:
  using Optimizer::Optimizer;

 protected:
  std::vector<Tensor> step_all(StepContext& context) override {
    MG_CHECK(!context.differentiable,
             "shampoo: differentiable mode is not supported (its eigen-roots have no derivative here); if_shampoo is "
             "the root-free, differentiable alternative");
    if (context.slots.empty()) return {};
    auto& global = *context.global;
    const double t = (global.count("step") ? global.at("step").item<double>() : 0.0) + 1;
    global["step"] = scalar_tensor(t, f64);
    return step_slots(context.slots, context.differentiable, kronecker_cost,
                      [t](const Slot& slot) { return step_one(slot, t); });
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    if (field == "exp_avg" || field == "momentum_buffer" || field == "exp_avg_sq")
      return Layout{param.shape(), param.dtype()};
    for (std::int64_t k = 0; k < param.dim(); ++k)
      if (field == factor_name("L", k) || field == factor_name("Linv", k))
        return Layout{{param.size(k), param.size(k)}, f64};
    return std::nullopt;
  }
  std::optional<Layout> global_layout(const std::string& field) const override {
    if (field == "step") return Layout{{}, f64};
    return std::nullopt;
  }

 private:
  static bool full(const ParamGroup& group, const Tensor& param) {
    for (std::int64_t d : param.shape())
      if (d > static_cast<std::int64_t>(group.number("max_preconditioner_dim"))) return false;
    return true;
  }

  static Tensor step_one(const Slot& slot, double t) {
    const ParamGroup& group = *slot.group;
    auto& tensors = slot.state->tensors;
    const Tensor& theta = slot.param;
    const double lr = group.number("lr"), b1 = group.number("beta1"), b2 = group.number("beta2"),
                 epsilon = group.number("epsilon"), wd = group.number("weight_decay"),
                 momentum = group.number("momentum");
    const bool decoupled = group.flag("decoupled_weight_decay"), corrected = group.flag("bias_correction");
    Tensor g = slot.grad;
    if (!decoupled && wd != 0) g = g + wd * theta;
    const bool is_full = full(group, theta);
    const auto accumulate = [&](const char* name, const Tensor& fresh) {
      auto it = tensors.find(name);
      const Tensor old = it == tensors.end() ? zeros_like(fresh) : it->second;
      tensors[name] = b2 < 1 ? b2 * old + (1 - b2) * fresh : old + fresh;
    };
    if (is_full) {
      const Tensor g64 = g.to(f64);
      for (std::int64_t k = 0; k < theta.dim(); ++k) accumulate(factor_name("L", k).c_str(), axis_gram(g64, k));
    } else {
      accumulate("exp_avg_sq", g * g);
    }
    const double bc2 = corrected && b2 < 1 ? 1 - std::pow(b2, t) : 1.0;
    const double frequency = group.number("precondition_frequency");
    const double start_step = group.number("start_preconditioning_step");
    const double start = start_step == -1 ? frequency : start_step;
    const double exponent_override = group.number("exponent_override");
    const double root = exponent_override != 0 ? exponent_override : 2.0 * static_cast<double>(theta.dim());
    if (is_full && std::fmod(t, frequency) == 0 && t >= start)
      for (std::int64_t k = 0; k < theta.dim(); ++k)
        tensors[factor_name("Linv", k)] = inverse_root(tensors.at(factor_name("L", k)) / bc2, root, epsilon);

    Tensor d = g;
    if (b1 != 0) {
      auto it = tensors.find("exp_avg");
      const Tensor f = (it == tensors.end() ? zeros_like(g) : b1 * it->second) + (1 - b1) * g;
      tensors["exp_avg"] = f;
      d = f / (corrected ? 1 - std::pow(b1, t) : 1.0);
    }
    if (is_full) {
      if (t >= start) {
        // Not computed yet (a start step between two precondition steps): identity.
        std::vector<Tensor> inverses(static_cast<std::size_t>(theta.dim()));
        for (std::int64_t k = 0; k < theta.dim(); ++k)
          if (auto it = tensors.find(factor_name("Linv", k)); it != tensors.end())
            inverses[static_cast<std::size_t>(k)] = it->second;
        d = mode_products(d.to(f64), inverses).to(theta.dtype());
      }
    } else {
      d = d / (sqrt(tensors.at("exp_avg_sq") / bc2) + epsilon);
    }
    Tensor next = theta;
    if (decoupled && wd != 0) {
      if (momentum == 0)
        next = theta * (1 - lr * wd);
      else
        d = d + wd * theta;
    }
    if (momentum != 0) {
      auto it = tensors.find("momentum_buffer");
      const Tensor buffer = it == tensors.end() ? d : momentum * it->second + d;
      tensors["momentum_buffer"] = buffer;
      d = group.flag("nesterov") ? d + momentum * buffer : buffer;
    }
    return next - lr * d;
  }
};

const bool registered = register_optimizer(
    {"shampoo",
     "Shampoo: per-axis preconditioners with inverse 2N-th roots by eigen-decomposition (paper 5's baseline)",
     {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
      {"beta1", Key::Kind::Number, Value(0.9), in_unit_interval()},
      {"beta2", Key::Kind::Number, Value(1.0),
       [](const Value& v) {
         const double x = std::get<double>(v);
         return x > 0 && x <= 1 ? std::string() : std::string("in (0, 1]");
       }},
      {"epsilon", Key::Kind::Number, Value(1e-12), greater_than(0)},
      {"momentum", Key::Kind::Number, Value(0.0), at_least(0)},
      {"nesterov", Key::Kind::Flag, Value(false), {}},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
      {"decoupled_weight_decay", Key::Kind::Flag, Value(true), {}},
      {"precondition_frequency", Key::Kind::Integer, Value(1.0), at_least(1)},
      {"start_preconditioning_step", Key::Kind::Integer, Value(-1.0), at_least(-1)},
      {"bias_correction", Key::Kind::Flag, Value(true), {}},
      {"max_preconditioner_dim", Key::Kind::Integer, Value(1024.0), at_least(1)},
      {"exponent_override", Key::Kind::Number, Value(0.0), at_least(0)}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       return std::make_unique<Shampoo>("shampoo", std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
