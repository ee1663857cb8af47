// The authors' code's LSTM initialisation (LstmInit::Code, optimizers.md
// 5.7) against the float64 transcription of its rules in
// fixtures/lstm_code_init.json (generate_lstm_code_init.py): every block of
// section 5.1's layout within two standard deviations of its shift, with
// the mean and standard deviation of its truncated normal, the forget bias
// at +1 and b_hh zero; pooled over 200 seeds.
#include <cmath>

#include "../support/testing.hpp"

namespace {

namespace learned = mg::optim::learned;

}  // namespace

TEST_CASE("lstm(init=code) draws every block of the weight layout from its truncated normal") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/lstm_code_init.json");
  for (const std::string preprocess : {"log_sign", "none"}) {
    CAPTURE(preprocess);
    learned::LstmConfig config;
    config.preprocess = learned::parse_preprocess(preprocess);
    const auto& expected = fixture[preprocess];
    REQUIRE(config.parameter_count() == expected["parameter_count"].get<std::int64_t>());
    constexpr int kSeeds = 200;
    std::vector<std::vector<double>> draws;
    for (int seed = 0; seed < kSeeds; ++seed) {
      mg::Generator g(static_cast<std::uint64_t>(seed));
      draws.push_back(
          learned::initial_weights(config, g, mg::DType::Float64, learned::LstmInit::Code).to_vector<double>());
    }
    CHECK(draws[0] != draws[1]);
    for (const auto& block : expected["blocks"]) {
      const std::string name = block["name"];
      CAPTURE(name);
      const auto offset = block["offset"].get<std::size_t>(), size = block["size"].get<std::size_t>();
      const double bound = block["bound"], shift = block["shift"], mean = block["mean"], std = block["std"];
      double sum = 0, squares = 0, farthest = 0;
      for (const auto& phi : draws)
        for (std::size_t i = offset; i < offset + size; ++i) {
          sum += phi[i];
          squares += phi[i] * phi[i];
          farthest = std::max(farthest, std::abs(phi[i] - shift));
        }
      const double n = static_cast<double>(size) * kSeeds, sample_mean = sum / n;
      const double sample_std = std::sqrt(squares / n - sample_mean * sample_mean);
      if (std == 0) {
        CHECK(farthest == 0);  // b_hh
        continue;
      }
      CHECK(farthest <= bound);
      CHECK(farthest > 0.9 * bound);  // the tails are reached: not a narrower normal
      CHECK(std::abs(sample_mean - mean) < 5 * std / std::sqrt(n));
      CHECK(std::abs(sample_std - std) < 5 * std / std::sqrt(2 * n) + 1e-3 * std);
    }
  }
}
