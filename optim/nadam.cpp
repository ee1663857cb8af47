// NAdam (Dozat), following torch 2.x: the last denominator is
// 1 - mu_product * mu_next (torch 1.13 used mu_product * mu * mu_next).
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

// decoupled_weight_decay as a template parameter keeps the fused loop free
// of a branch that would stop it vectorising.
template <bool kDecoupled>
struct NAdam {
  static constexpr std::array<const char*, 2> kState{"exp_avg", "exp_avg_sq"};
  static constexpr std::array<const char*, 1> kScalarState{"mu_product"};
  static bool active(std::size_t, const ParamGroup&) { return true; }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  struct Coefficients {
    D beta1, beta2, one_minus_beta1, one_minus_beta2, bc2, eps, weight_decay, decay_factor, grad_step, momentum_step;
    bool maximize, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(beta1),        E(beta2),        E(one_minus_beta1), E(one_minus_beta2), E(bc2),   E(eps),
              E(weight_decay), E(decay_factor), E(grad_step),       E(momentum_step),   maximize, with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState& state) {
    MG_CHECK(h.flag("decoupled_weight_decay") == kDecoupled,
             "optimizer nadam: decoupled_weight_decay cannot change after construction");
    const D lr = h("lr"), b1 = h("beta1"), b2 = h("beta2"), wd = h("weight_decay");
    const double decay = h.group.number("momentum_decay");
    const D mu = b1 * (1 - 0.5 * std::pow(0.96, t * decay));
    const D mu_next = b1 * (1 - 0.5 * std::pow(0.96, (t + 1) * decay));
    const D mu_product = scalar_state(state, "mu_product", h) * mu;
    set_scalar_state(state, "mu_product", mu_product);
    return {b1,
            b2,
            1 - b1,
            1 - b2,
            1 - power(b2, t),
            h("eps"),
            wd,
            1 - lr * wd,
            lr * (1 - mu) / (1 - mu_product),
            lr * mu_next / (1 - mu_product * mu_next),
            h.flag("maximize"),
            h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    const T g = decayed_gradient<kDecoupled>(p, grad, c);
    update_moments(s, g, c);
    const T denom = sqrt_safe(s[1] / c.bc2) + c.eps;  // the division is inside the root, unlike Adam
    p = p - c.grad_step * g / denom;
    p = p - c.momentum_step * s[0] / denom;
  }
};

const bool registered =
    register_optimizer({"nadam",
                        "Adam with Nesterov momentum (Dozat; torch.optim.NAdam, 2.x formula)",
                        {{"lr", Key::Kind::Number, Value(2e-3), at_least(0)},
                         {"beta1", Key::Kind::Number, Value(0.9), in_unit_interval()},
                         {"beta2", Key::Kind::Number, Value(0.999), in_unit_interval()},
                         {"eps", Key::Kind::Number, Value(1e-8), at_least(0)},
                         {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"momentum_decay", Key::Kind::Number, Value(4e-3), at_least(0)},
                         {"decoupled_weight_decay", Key::Kind::Flag, Value(false), {}},
                         {"maximize", Key::Kind::Flag, Value(false), {}}},
                        [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          if (common_setting("nadam", "decoupled_weight_decay", groups,
                                             [](const ParamGroup& g) { return g.flag("decoupled_weight_decay"); }))
                            return std::make_unique<RuleOptimizer<NAdam<true>>>("nadam", std::move(groups));
                          return std::make_unique<RuleOptimizer<NAdam<false>>>("nadam", std::move(groups));
                        }});

}  // namespace
}  // namespace mg::optim
