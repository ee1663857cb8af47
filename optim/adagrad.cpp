// Adagrad (Duchi et al.) with learning-rate decay and an initial accumulator (torch.optim.Adagrad).
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

struct Adagrad {
  static constexpr std::array<const char*, 1> kState{"sum"};
  static bool active(std::size_t, const ParamGroup&) { return true; }
  static double initial(std::size_t, const ParamGroup& g) { return g.number("initial_accumulator_value"); }

  template <class D>
  struct Coefficients {
    D clr, eps, weight_decay;
    bool maximize, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(clr), E(eps), E(weight_decay), maximize, with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double t, ParamState&) {
    return {h("lr") / (1 + (t - 1) * h("lr_decay")), h("eps"), h("weight_decay"), h.flag("maximize"),
            h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool) {
    T g = decayed_gradient(p, grad, c);
    s[0] = multiply_add(g, g, s[0]);  // sum.addcmul_(g, g, value=1)
    p = p - c.clr * g / (sqrt_safe(s[0]) + c.eps);
  }
};

const bool registered =
    register_optimizer({"adagrad",
                        "Adagrad with lr decay and an initial accumulator (torch.optim.Adagrad)",
                        {{"lr", Key::Kind::Number, Value(1e-2), at_least(0)},
                         {"lr_decay", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"initial_accumulator_value", Key::Kind::Number, Value(0.0), at_least(0)},
                         {"eps", Key::Kind::Number, Value(1e-10), at_least(0)},
                         {"maximize", Key::Kind::Flag, Value(false), {}}},
                        [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
                          return std::make_unique<RuleOptimizer<Adagrad>>("adagrad", std::move(groups));
                        }});

}  // namespace
}  // namespace mg::optim
