#pragma once
// JSON files of learned optimizers and experiments: read with errors that
// name the file and `what` it should be, written atomically (temp file +
// rename).
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "metagrad/core/files.hpp"

namespace mg::optim::learned {

inline nlohmann::json read_json(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  MG_CHECK(in.good(), "{} '{}' cannot be read", what, path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{} '{}' is not valid JSON ({})", what, path, e.what()));
  }
}

inline void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomically(path, value.dump() + '\n');
}

// A learned optimizer's weights: a JSON list of exactly `count` finite
// numbers. `optimizer`, `source` (e.g. "weight file 'PATH'") and `shape`
// (e.g. "preprocess=none, hidden=20") name what expects them in the errors.
inline std::vector<double> weight_list(const nlohmann::json& list, const std::string& optimizer,
                                       const std::string& source, std::size_t count, const std::string& shape) {
  MG_CHECK(list.is_array(), "{}: {} should hold a JSON list of {} numbers", optimizer, source, count);
  MG_CHECK(list.size() == count, "{}: {} has {} numbers, expected {}{}", optimizer, source, list.size(), count,
           shape.empty() ? "" : " (" + shape + ")");
  std::vector<double> values;
  values.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    MG_CHECK(list[i].is_number() && std::isfinite(list[i].get<double>()), "{}: {}: entry {} is not a finite number",
             optimizer, source, i);
    values.push_back(list[i].get<double>());
  }
  return values;
}

// ... read from the file at `path`.
inline std::vector<double> read_weight_list(const std::string& path, const std::string& optimizer, std::size_t count,
                                            const std::string& shape) {
  return weight_list(read_json(path, optimizer + ": weight file"), optimizer, "weight file '" + path + "'", count,
                     shape);
}

}  // namespace mg::optim::learned
