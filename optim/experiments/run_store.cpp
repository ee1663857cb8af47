#include "run_store.hpp"

#include <cstdio>
#include <filesystem>

#include "metagrad/core/distributed.hpp"
#include "optim/learned/json_file.hpp"

namespace mg::optim::experiments {

RunStore::RunStore(std::string dir, std::string label, bool progress, const std::atomic<bool>& stop)
    : dir_(std::move(dir) + "/runs"), label_(std::move(label)), progress_(progress), stop_(stop) {
  std::filesystem::create_directories(dir_);
}

// A readable prefix of the key and a hash of all of it (keys hold spec
// strings with characters no file name should have).
std::string RunStore::path_of(const std::string& key) const {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : key) hash = (hash ^ c) * 1099511628211ULL;
  std::string readable;
  for (char c : key.substr(0, 48)) readable += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return fmt::format("{}/{}-{:016x}.json", dir_, readable, hash);
}

nlohmann::json RunStore::record(const std::string& key, const std::function<nlohmann::json()>& compute) {
  const std::string path = path_of(key);
  if (std::filesystem::exists(path)) {
    const nlohmann::json stored = learned::read_json(path, "stored run");
    MG_CHECK(stored.contains("key") && stored["key"] == key && stored.contains("result"),
             "stored run '{}' does not belong to run '{}'; delete it to recompute", path, key);
    return {{"key", key}, {"result", stored["result"]}, {"seconds", stored.value("seconds", 0.0)}, {"computed", false}};
  }
  if (stop_.load()) throw Interrupted(fmt::format("{}: stopped before run '{}'", label_, key));
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json result = compute();
  const double seconds = result.is_object() && result.contains("wall_s")
                             ? result["wall_s"].get<double>()
                             : std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  learned::write_json(path, {{"key", key}, {"result", result}, {"seconds", seconds}});
  return {{"key", key}, {"result", result}, {"seconds", seconds}, {"computed", true}};
}

nlohmann::json RunStore::count(const nlohmann::json& record) {
  const std::lock_guard lock(tally_mutex_);
  const double seconds = record["seconds"].get<double>();
  ++done_;
  run_seconds_ += seconds;
  if (record["computed"].get<bool>()) {
    ++computed_;
    compute_seconds_ += seconds;
    if (progress_ && distributed::is_main()) {
      const double remaining = static_cast<double>(std::max<std::int64_t>(planned_ - done_, 0));
      std::fprintf(stderr, "%s [%lld/%lld] %s: %.1f s, ETA %.0f s\n", label_.c_str(), static_cast<long long>(done_),
                   static_cast<long long>(std::max(planned_, done_)), record["key"].get<std::string>().c_str(), seconds,
                   remaining * compute_seconds_ / static_cast<double>(computed_));
    }
  }
  return record["result"];
}

nlohmann::json RunStore::run(const std::string& key, const std::function<nlohmann::json()>& compute) {
  if (distributed::world_size() == 1) return count(record(key, compute));
  const std::string text = distributed::is_main() ? record(key, compute).dump() : std::string();
  return count(nlohmann::json::parse(distributed::broadcast(text)));
}

std::vector<nlohmann::json> RunStore::run_all(const std::vector<std::string>& keys,
                                              const std::function<nlohmann::json(std::size_t)>& compute) {
  // Each run is counted as it finishes, so that progress lines (and a Ctrl-C
  // between them) come while the batch goes on; other ranks' runs are
  // counted once their results arrive.
  std::vector<char> counted(keys.size(), 0);
  const auto records = distributed::spread(keys.size(), [&](std::size_t i) {
    nlohmann::json finished = record(keys[i], [&] { return compute(i); });
    count(finished);
    counted[i] = 1;
    return finished.dump();
  });
  std::vector<nlohmann::json> results;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const nlohmann::json finished = nlohmann::json::parse(records[i]);
    results.push_back(counted[i] ? finished["result"] : count(finished));
  }
  return results;
}

}  // namespace mg::optim::experiments
