// metagrad train: an interrupted and resumed run ends exactly where an
// uninterrupted one does (weights, optimizer state and metrics, bit for bit).
#include <filesystem>
#include <fstream>
#include <thread>

#include "../support/testing.hpp"
#include "apps/training.hpp"
#include "metagrad/optim/experiments/plot.hpp"

namespace {

namespace fs = std::filesystem;

mg::apps::TrainConfig config(const fs::path& dir) {
  mg::apps::TrainConfig c;
  c.model = "mlp";
  c.dataset = "synthetic";
  c.optimizer = "adamw(lr=3e-3)";
  c.schedule = "cosine(t_max=4)";
  c.epochs = 4;
  c.batch_size = 32;
  c.seed = 7;
  c.progress = false;
  c.checkpoint_dir = (dir / "checkpoint").string();
  c.metrics_path = (dir / "metrics.jsonl").string();
  return c;
}

std::vector<nlohmann::json> metrics(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("images_per_s");  // timings differ between runs
    j.erase("wall_s");
    lines.push_back(j);
  }
  return lines;
}

}  // namespace

TEST_CASE("train: an interrupted run resumed from its checkpoint matches an uninterrupted one") {
  const auto root = fs::temp_directory_path() / "metagrad-train-test";
  fs::remove_all(root);
  const auto straight = config(root / "straight"), interrupted = config(root / "interrupted");
  std::atomic<bool> never{false};
  const auto full = mg::apps::train(straight, never);
  REQUIRE(full.epochs.size() == 4);
  CHECK(full.epochs.back().test_accuracy > 0.5);  // it learns

  // Stop somewhere in the second epoch: once the first epoch's checkpoint exists.
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!fs::exists(interrupted.checkpoint_dir + "/checkpoint.mgt")) std::this_thread::yield();
    stop = true;
  });
  const auto first = mg::apps::train(interrupted, stop);
  watcher.join();
  REQUIRE(first.interrupted);
  auto resume = interrupted;
  resume.resume = true;
  const auto rest = mg::apps::train(resume, never);
  CHECK_FALSE(rest.interrupted);

  const auto a = mg::nn::load_tensors(straight.checkpoint_dir + "/checkpoint.mgt");
  const auto b = mg::nn::load_tensors(interrupted.checkpoint_dir + "/checkpoint.mgt");
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    if (a[i].first != "extra.wall") CHECK(a[i].second.to_vector<double>() == b[i].second.to_vector<double>());
  }
  CHECK(metrics(straight.metrics_path) == metrics(interrupted.metrics_path));
}

TEST_CASE("train: bad settings are errors that name them") {
  std::atomic<bool> never{false};
  mg::apps::TrainConfig c;
  c.progress = false;
  c.dataset = "cifar10";
  CHECK_THROWS_WITH_AS(mg::apps::train(c, never), doctest::Contains("--data-dir"), mg::Error);
  c.data_dir = "/nonexistent";
  CHECK_THROWS_WITH_AS(mg::apps::train(c, never), doctest::Contains("/nonexistent/data_batch_1.bin"), mg::Error);
  c = mg::apps::TrainConfig{};
  c.progress = false;
  c.dataset = "synthetic";
  c.optimizer = "adam(lr=fast)";
  CHECK_THROWS_WITH_AS(mg::apps::train(c, never), doctest::Contains("lr=fast is malformed"), mg::Error);
  c.optimizer = "adam";
  c.resume = true;
  CHECK_THROWS_WITH_AS(mg::apps::train(c, never), doctest::Contains("--checkpoint"), mg::Error);
}

TEST_CASE("svg_chart draws one polyline per series with a legend, axes and ticks") {
  mg::optim::experiments::Panel a{
      "Loss", "step", "loss", {{"sgd", {{0, 2.0}, {10, 1.0}, {20, 0.5}}}, {"adam", {{0, 2.0}, {10, 0.8}}}}};
  mg::optim::experiments::Panel b{"Accuracy", "step", "%", {{"sgd", {{20, 80.0}}}, {"adam", {{10, 85.0}}}}};
  const std::string svg = mg::optim::experiments::svg_chart({a, b});
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = svg.find(needle); at != std::string::npos; at = svg.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(count("<polyline") == 4);
  CHECK(count(">sgd<") == 1);  // the legend names each series once
  CHECK(count(">adam<") == 1);
  CHECK(svg.find(">Loss<") != std::string::npos);
  CHECK(count("<text") > 10);  // titles, labels and tick values
  CHECK(svg.find("nan") == std::string::npos);
}
