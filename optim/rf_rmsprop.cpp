// RF-RMSProp (paper 5, arXiv:2402.03496, the authors' released code): RMSProp
// without the square root. The second moment is scaled by the batch size B
// and starts at s = 1; weight decay is added after preconditioning. See
// docs/optimizers.md section 8.1.
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

template <bool kMomentum>
struct RfRmsProp {
  static constexpr std::array<const char*, 2> kState{"sq", "momentum_buffer"};
  static bool active(std::size_t i, const ParamGroup&) { return i == 0 || kMomentum; }
  // sq = 1/B, so that B*sq = s starts at 1 (s_init=ones), or 0 (ablation).
  static double initial(std::size_t i, const ParamGroup& g) {
    return i == 0 && g.word("s_init") == "ones" ? 1.0 / batch_factor(g) : 0.0;
  }
  static double batch_factor(const ParamGroup& g) { return g.flag("batch_scaling") ? g.number("batch_size") : 1.0; }

  template <class D>
  struct Coefficients {
    D lr, lr_cov, one_minus_lr_cov, batch, damping, weight_decay, momentum;
    bool maximize, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(lr),       E(lr_cov), E(one_minus_lr_cov), E(batch), E(damping), E(weight_decay),
              E(momentum), maximize,  with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double, ParamState&) {
    const D lr_cov = h("lr_cov");
    return {h("lr"),           lr_cov,        1 - lr_cov, h.constant(batch_factor(h.group)),  h("damping"),
            h("weight_decay"), h("momentum"), false,      h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& g, S& s, const C& c, bool) {
    s[0] = multiply_add(c.lr_cov * g, g, c.one_minus_lr_cov * s[0]);
    T u = g / multiply_add(c.batch, s[0], c.damping);          // no square root; damping outside
    if (c.with_decay) u = multiply_add(c.weight_decay, p, u);  // post-preconditioning
    if constexpr (kMomentum) {
      s[1] = multiply_add(c.momentum, s[1], u);
      u = s[1];
    }
    p = multiply_add(-c.lr, u, p);
  }
};

const bool registered =
    register_optimizer({"rf_rmsprop",
                        "root-free RMSProp: g / (B*s + damping), s starting at 1 (paper 5, authors' code)",
                        {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
                         {"lr_cov", Key::Kind::Number, Value(1e-3), in_unit_interval()},
                         {"damping", Key::Kind::Number, Value(1e-4), at_least(0)},
                         {"momentum", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"batch_size", Key::Kind::Integer, std::nullopt, at_least(1)},
                         {"s_init", Key::Kind::Word, Value(std::string("ones")), one_of({"ones", "zeros"})},
                         {"batch_scaling", Key::Kind::Flag, Value(true), {}}},
                        [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          if (common_setting("rf_rmsprop", "momentum != 0", groups,
                                             [](const ParamGroup& g) { return g.number("momentum") != 0; }))
                            return std::make_unique<RuleOptimizer<RfRmsProp<true>>>("rf_rmsprop", std::move(groups));
                          return std::make_unique<RuleOptimizer<RfRmsProp<false>>>("rf_rmsprop", std::move(groups));
                        }});

}  // namespace
}  // namespace mg::optim
