// IF-Shampoo (paper 5, arXiv:2402.03496, the authors' released code):
// inverse- and root-free Shampoo. Each tensor axis n keeps a factor K_n with
// K_n K_n^T approximating the inverse of that axis' preconditioner; K_n is
// updated by a Riemannian-momentum step computed with matmuls only, and the
// gradient is preconditioned as G x_1 K_1 K_1^T ... x_N K_N K_N^T. See
// docs/optimizers.md section 8.3. Differentiable: everything is matmuls.
#include <cmath>

#include "group_rule.hpp"
#include "kronecker.hpp"
#include "metagrad/optim/registry.hpp"
#include "parallel_slots.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

constexpr auto f64 = DType::Float64;

// The tensor's shape without its size-1 axes ([1] if nothing is left).
Shape factor_dims(const Tensor& param) {
  Shape dims;
  for (std::int64_t d : param.shape())
    if (d != 1) dims.push_back(d);
  if (dims.empty()) dims.push_back(1);
  return dims;
}

std::string factor_name(const char* what, std::size_t axis) { return fmt::format("{}{}", what, axis); }

// floor(log4(x)) in integer arithmetic: the largest j with 4^j <= x.
std::int64_t floor_log4(std::int64_t x) {
  std::int64_t j = 0;
  for (std::int64_t power = 4; power <= x; power *= 4) ++j;
  return j;
}

class IfShampoo : public Optimizer {
 public:
  using Optimizer::Optimizer;

 protected:
  std::vector<Tensor> step_all(StepContext& context) override {
    if (context.slots.empty()) return {};
    const bool update_factors = update_now(context);
    return step_slots(context.slots, context.differentiable, kronecker_cost,
                      [&](const Slot& slot) { return step_one(slot, update_factors); });
  }

  std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const override {
    if (field == "momentum_buffer") return Layout{param.shape(), param.dtype()};
    const Shape dims = factor_dims(param);
    for (std::size_t n = 0; n < dims.size(); ++n)
      if (field == factor_name("K", n) || field == factor_name("mK", n))
        return Layout{{dims[n], dims[n]}, param.dtype()};
    return std::nullopt;
  }
  std::optional<Layout> global_layout(const std::string& field) const override {
    if (field == "step" || field == "next_update") return Layout{{}, f64};
    return std::nullopt;
  }

 private:
  // Whether the factors update at this step (the global step s = 0, 1, ...),
  // advancing the counters.
  bool update_now(StepContext& context) const {
    auto& global = *context.global;
    const auto s = global.count("step") ? static_cast<std::int64_t>(global.at("step").item<double>()) : 0;
    const ParamGroup& group = *context.slots.front().group;
    const auto frequency = static_cast<std::int64_t>(group.number("update_freq"));
    bool now;
    if (group.word("update_schedule") == "fixed") {
      now = s % frequency == 0;
    } else {  // log4: every step early on, every update_freq steps later
      const auto next =
          global.count("next_update") ? static_cast<std::int64_t>(global.at("next_update").item<double>()) : 0;
      now = s == next;
      if (now)
        global["next_update"] = scalar_tensor(
            static_cast<double>(s + std::min(std::max<std::int64_t>(floor_log4(s + 1), 1), frequency)), f64);
    }
    global["step"] = scalar_tensor(static_cast<double>(s + 1), f64);
    return now;
  }

  Tensor step_one(const Slot& slot, bool update_factors) const {
    const ParamGroup& group = *slot.group;
    const DType dtype = slot.param.dtype();
    const Shape dims = factor_dims(slot.param);
    const auto max_dense = static_cast<std::int64_t>(group.number("max_dense_dim"));
    const Tensor grad = slot.grad.reshape(dims);
    auto& tensors = slot.state->tensors;
    const auto dense = [&](std::size_t n) { return dims[n] <= max_dense; };
    for (std::size_t n = 0; n < dims.size(); ++n)
      if (dense(n) && !tensors.count(factor_name("K", n))) {
        tensors[factor_name("K", n)] = identity_matrix(dims[n], dtype);
        tensors[factor_name("mK", n)] = zeros({dims[n], dims[n]}, dtype);
      }
    if (update_factors) update_factor_matrices(slot, grad, dims, dense);
    std::vector<Tensor> preconditioners(dims.size());
    for (std::size_t n = 0; n < dims.size(); ++n)
      if (dense(n)) {
        const Tensor& k = tensors.at(factor_name("K", n));
        preconditioners[n] = matmul(k, k.t());
      }
    Tensor p = mode_products(grad, preconditioners).reshape(slot.param.shape());
    if (group.number("weight_decay") != 0)
      p = p + as_dtype(hyper_tensor(slot, "weight_decay"), p) * slot.param;  // post-preconditioning
    if (group.number("momentum") != 0) {
      auto buffer = tensors.find("momentum_buffer");
      p = buffer == tensors.end() ? p : as_dtype(hyper_tensor(slot, "momentum"), p) * buffer->second + p;
      tensors["momentum_buffer"] = p;
    }
    return slot.param - as_dtype(hyper_tensor(slot, "lr"), p) * p;
  }

  template <class Dense>
  void update_factor_matrices(const Slot& slot, const Tensor& grad, const Shape& dims, const Dense& dense) const {
    const ParamGroup& group = *slot.group;
    auto& tensors = slot.state->tensors;
    const DType dtype = grad.dtype();
    const std::size_t order = dims.size();
    double total = 1;
    for (std::int64_t d : dims) total *= static_cast<double>(d);
    // Kt_n = K_n / sqrt(d_n), A_n = Kt_n^T Kt_n, tr_n = trace(A_n) / d_n, all
    // from the factors before this update.
    std::vector<Tensor> scaled(order), transposed(order), gram(order), trace(order);
    double skipped_scale = std::sqrt(group.number("batch_size"));
    for (std::size_t n = 0; n < order; ++n) {
      const double root = std::sqrt(static_cast<double>(dims[n]));
      if (dense(n)) {
        scaled[n] = tensors.at(factor_name("K", n)) / root;
        transposed[n] = scaled[n].t();
        gram[n] = matmul(transposed[n], scaled[n]);
        trace[n] = sum(scaled[n] * scaled[n]) / static_cast<double>(dims[n]);
      } else {  // K_n stays I: Kt_n = I / sqrt(d_n), tr_n = 1 / d_n
        trace[n] = scalar_tensor(1.0 / static_cast<double>(dims[n]), dtype);
        skipped_scale /= root;
      }
    }
    const Tensor y = mode_products(grad * skipped_scale, transposed);
    const Tensor damping = as_dtype(hyper_tensor(slot, "damping") * (0.5 * total), y);
    const Tensor a2 = as_dtype(hyper_tensor(slot, "riemannian_momentum"), y);
    double discount = 1;
    for (const char* fragment : {"norm", "proj", "bias"})
      if (slot.name->find(fragment) != std::string::npos) discount = group.number("lr_cov_discount");
    const Tensor lr_cov = as_dtype(hyper_tensor(slot, "lr_cov") * discount, y);
    std::vector<Tensor> next(order);
    for (std::size_t n = 0; n < order; ++n) {
      if (!dense(n)) continue;
      Tensor others = damping;
      for (std::size_t j = 0; j < order; ++j)
        if (j != n) others = others * trace[j];
      const Tensor step = others * gram[n] +
                          (0.5 * static_cast<double>(dims[n])) * axis_gram(y, static_cast<std::int64_t>(n)) -
                          0.5 * identity_matrix(dims[n], dtype);
      Tensor& momentum = tensors.at(factor_name("mK", n));
      momentum = group.number("riemannian_momentum") == 0 ? step : a2 * momentum + (1.0 - a2) * step;
      const Tensor& k = tensors.at(factor_name("K", n));
      next[n] = k - (lr_cov / maximum(sqrt(sum(momentum * momentum)), scalar_tensor(1.0, dtype))) * matmul(k, momentum);
    }
    for (std::size_t n = 0; n < order; ++n)
      if (dense(n)) tensors[factor_name("K", n)] = next[n];
  }
};

const bool registered = register_optimizer(
    {"if_shampoo",
     "inverse- and root-free Shampoo: Kronecker factors K_n updated with matmuls only (paper 5, authors' code)",
     {{"lr", Key::Kind::Number, Value(1e-3), at_least(0)},
      {"lr_cov", Key::Kind::Number, Value(1e-2), at_least(0)},
      {"damping", Key::Kind::Number, Value(1e-3), at_least(0)},
      {"momentum", Key::Kind::Number, Value(0.9), at_least(0)},
      {"riemannian_momentum", Key::Kind::Number, Value(0.5), in_unit_interval()},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
      {"batch_size", Key::Kind::Integer, std::nullopt, at_least(1)},
      {"update_freq", Key::Kind::Integer, Value(1.0), at_least(1)},
      {"update_schedule", Key::Kind::Word, Value(std::string("fixed")), one_of({"fixed", "log4"})},
      {"lr_cov_discount", Key::Kind::Number, Value(1.0), at_least(0)},
      {"max_dense_dim", Key::Kind::Integer, Value(4096.0), at_least(1)}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       for (const char* key : {"update_freq", "max_dense_dim"})
         common_setting("if_shampoo", key, groups,
                        [&](const ParamGroup& g) { return g.number(key) == groups.front().number(key); });
       common_setting("if_shampoo", "update_schedule", groups, [&](const ParamGroup& g) {
         return g.word("update_schedule") == groups.front().word("update_schedule");
       });
       return std::make_unique<IfShampoo>("if_shampoo", std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
