// SGD with momentum, dampening, Nesterov and coupled weight decay (torch.optim.SGD).
#include "metagrad/optim/registry.hpp"
#include "rule.hpp"

namespace mg::optim {
namespace {

struct Sgd {
  static constexpr std::array<const char*, 1> kState{"momentum_buffer"};
  static bool active(std::size_t, const ParamGroup& g) { return g.number("momentum") != 0; }
  static double initial(std::size_t, const ParamGroup&) { return 0; }

  template <class D>
  struct Coefficients {
    D lr, momentum, one_minus_dampening, weight_decay;
    bool nesterov, maximize, with_momentum, with_decay;
    template <class E>
    Coefficients<E> as() const {
      return {E(lr),    E(momentum), E(one_minus_dampening), E(weight_decay),
              nesterov, maximize,    with_momentum,          with_decay};
    }
  };

  template <class D>
  static Coefficients<D> coefficients(const Hyper<D>& h, double, ParamState&) {
    return {h("lr"),
            h("momentum"),
            1 - h("dampening"),
            h("weight_decay"),
            h.flag("nesterov"),
            h.flag("maximize"),
            h.group.number("momentum") != 0,
            h.group.number("weight_decay") != 0};
  }

  template <class T, class S, class C>
  MG_RULE_INLINE static void apply(T& p, const T& grad, S& s, const C& c, bool first) {
    T g = decayed_gradient(p, grad, c);
    if (c.with_momentum) {
      T& buf = s[0];
      buf = first ? g : multiply_add(c.one_minus_dampening, g, c.momentum * buf);  // the first step takes g as is
      g = c.nesterov ? multiply_add(c.momentum, buf, g) : buf;
    }
    p = multiply_add(-c.lr, g, p);
  }
};

const bool registered = register_optimizer(
    {"sgd",
     "stochastic gradient descent with momentum (torch.optim.SGD)",
     {{"lr", Key::Kind::Number, Value(1e-3), at_least(0)},
      {"momentum", Key::Kind::Number, Value(0.0), at_least(0)},
      {"dampening", Key::Kind::Number, Value(0.0), at_least(0)},
      {"weight_decay", Key::Kind::Number, Value(0.0), at_least(0)},
      {"nesterov", Key::Kind::Flag, Value(false), {}},
      {"maximize", Key::Kind::Flag, Value(false), {}}},
     [](std::vector<ParamGroup> groups) -> std::unique_ptr<Optimizer> {
       for (const auto& g : groups)
         MG_CHECK(!g.flag("nesterov") || (g.number("momentum") > 0 && g.number("dampening") == 0),
                  "optimizer sgd: nesterov=true needs momentum > 0 and dampening = 0 (got momentum={}, dampening={})",
                  g.number("momentum"), g.number("dampening"));
       return std::make_unique<RuleOptimizer<Sgd>>("sgd", std::move(groups));
     }});

}  // namespace
}  // namespace mg::optim
