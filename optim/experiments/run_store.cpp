#include "run_store.hpp"

#include <cstdio>
#include <filesystem>

#include "../learned/json_file.hpp"

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

nlohmann::json RunStore::run(const std::string& key, const std::function<nlohmann::json()>& compute) {
  const std::string path = path_of(key);
  ++done_;
  if (std::filesystem::exists(path)) {
    const nlohmann::json stored = learned::read_json(path, "stored run");
    MG_CHECK(stored.contains("key") && stored["key"] == key && stored.contains("result"),
             "stored run '{}' does not belong to run '{}'; delete it to recompute", path, key);
    run_seconds_ += stored.value("seconds", 0.0);
    return stored["result"];
  }
  if (stop_.load()) throw Interrupted(fmt::format("{}: stopped before run '{}'", label_, key));
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json result = compute();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  learned::write_json(path, {{"key", key}, {"result", result}, {"seconds", seconds}});
  ++computed_;
  compute_seconds_ += seconds;
  run_seconds_ += seconds;
  if (progress_) {
    const double remaining = static_cast<double>(std::max<std::int64_t>(planned_ - done_, 0));
    std::fprintf(stderr, "%s [%lld/%lld] %s: %.1f s, ETA %.0f s\n", label_.c_str(), static_cast<long long>(done_),
                 static_cast<long long>(std::max(planned_, done_)), key.c_str(), seconds,
                 remaining * compute_seconds_ / static_cast<double>(computed_));
  }
  return result;
}

}  // namespace mg::optim::experiments
