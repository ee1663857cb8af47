// RMSprop (Hinton), optionally centred and with momentum (torch.optim.RMSprop).
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

// centered and momentum decide which states exist; as template parameters
// they leave the fused loop without branches, so it vectorises.
template <bool kCentered, bool kMomentum>
struct RmsProp {
  static constexpr std::array<const char*, 3> kState{"square_avg", "grad_avg", "momentum_buffer"};
  static bool active(std::size_t i, const ParamGroup&) {
    return i == 0 || (i == 1 && kCentered) || (i == 2 && kMomentum);
  }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  struct Coefficients {
    D lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
    bool centered, with_momentum, maximize, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(lr),       E(alpha), E(one_minus_alpha), E(eps),   E(weight_decay),
              E(momentum), centered, with_momentum,      maximize, with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double, ParamState&) {
    MG_CHECK(h.flag("centered") == kCentered && (h.group.number("momentum") > 0) == kMomentum,
             "optimizer rmsprop: centered and momentum > 0 cannot change after construction");
    const D alpha = h("alpha");
    return {h("lr"),
            alpha,
            1 - alpha,
            h("eps"),
            h("weight_decay"),
            h("momentum"),
            h.flag("centered"),
            h.group.number("momentum") > 0,
            h.flag("maximize"),
            h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    T g = decayed_gradient(p, grad, c);
    T& square_avg = s[0];
    square_avg = multiply_add(c.one_minus_alpha * g, g, c.alpha * square_avg);
    T avg = square_avg;
    if constexpr (kCentered) {
      s[1] = multiply_add(c.one_minus_alpha, g, c.alpha * s[1]);
      avg = multiply_add(-s[1], s[1], square_avg);  // square_avg.addcmul(grad_avg, grad_avg, value=-1)
    }
    avg = sqrt_safe(avg) + c.eps;  // eps outside the root; no bias correction
    if constexpr (kMomentum) {
      s[2] = c.momentum * s[2] + g / avg;
      p = multiply_add(-c.lr, s[2], p);
    } else {
      p = p - c.lr * g / avg;
    }
  }
};

const bool registered = register_optimizer(
    {"rmsprop",
     "RMSprop, optionally centred and with momentum (torch.optim.RMSprop)",
     {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
      {"alpha", Key::Kind::Number, Value(0.99), in_unit_interval()},
      {"eps", Key::Kind::Number, Value(1e-8), at_least(0)},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
      {"momentum", Key::Kind::Number, Value(0.0), at_least(0)},
      {"centered", Key::Kind::Flag, Value(false), {}},
      {"maximize", Key::Kind::Flag, Value(false), {}}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       const bool centered =
           common_setting("rmsprop", "centered", groups, [](const ParamGroup& g) { return g.flag("centered"); });
       const bool momentum = common_setting("rmsprop", "momentum > 0", groups,
                                            [](const ParamGroup& g) { return g.number("momentum") > 0; });
       if (centered && momentum)
         return std::make_unique<RuleOptimizer<RmsProp<true, true>>>("rmsprop", std::move(groups));
       if (centered) return std::make_unique<RuleOptimizer<RmsProp<true, false>>>("rmsprop", std::move(groups));
       if (momentum) return std::make_unique<RuleOptimizer<RmsProp<false, true>>>("rmsprop", std::move(groups));
       return std::make_unique<RuleOptimizer<RmsProp<false, false>>>("rmsprop", std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
