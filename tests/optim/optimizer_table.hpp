#pragma once
// The shared optimizer table: one row per registered optimizer, with a spec
// that solves the table's problems (problems.hpp). optimizer_table_test.cpp
// runs it; the Python module's tests replay its trajectories
// (tests/python/trajectories.cpp).
#include <string>
#include <vector>

namespace mg::testing {

struct Row {
  std::string name;
  std::string spec;  // on both problems, unless rosen_spec is given
  int quad_budget, rosen_budget;
  std::string rosen_spec = {};  // Rosenbrock's curvature needs a smaller step
  bool converges = true;        // false: what it does depends on learned weights (the learned optimizers' test formula)
  const std::string& spec_for(const std::string& problem) const {
    return problem == "rosen" && !rosen_spec.empty() ? rosen_spec : spec;
  }
};

inline const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      {"sgd", "sgd(lr=0.002, momentum=0.9)", 7000, 1000},
      {"adam", "adam(lr=0.02)", 4000, 4000},
      {"adamw", "adamw(lr=0.02, weight_decay=0)", 4000, 4000},
      {"rmsprop", "rmsprop(lr=0.001, momentum=0.5, centered=true)", 4500, 4500},
      {"adagrad", "adagrad(lr=0.5)", 3000, 19000},
      {"nadam", "nadam(lr=0.02)", 4000, 6000},
      {"smes", "smes(lr=0.02)", 4000, 3000},
      {"rllc", "rllc(lr=0.002, law_lr=1e-4)", 5000, 600},
      {"ab2", "ab2(lr=0.1)", 1000, 21000, "ab2(lr=0.0008)"},
      {"ab3", "ab3(lr=0.05)", 2000, 33000, "ab3(lr=0.0005)"},
      {"heun", "heun(lr=0.2)", 500, 8000, "heun(lr=0.002)"},
      {"rk4", "rk4(lr=0.2)", 500, 8000, "rk4(lr=0.002)"},
      {"rf_rmsprop", "rf_rmsprop(lr=0.002, lr_cov=0.001, damping=0.01, batch_size=1)", 13000, 13000},
      {"rf_adamw", "rf_adamw(lr=0.02, batch_size=1)", 3000, 5000},
      {"if_shampoo", "if_shampoo(lr=0.002, batch_size=1)", 1800, 700},
      {"shampoo", "shampoo(lr=0.5, epsilon=1e-4)", 3000, 17000},
      {"lstm", "lstm(weights=formula)", 0, 0, {}, false},
      {"mlp_lopt", "mlp_lopt(weights=formula)", 0, 0, {}, false},
      {"general", "general(weights=formula)", 0, 0, {}, false},
  };
  return rows;
}

}  // namespace mg::testing
