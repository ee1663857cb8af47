#pragma once
// JSON files of learned optimizers, written atomically (temp file + rename).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../../core/check.hpp"

namespace mg::optim::learned {

inline void write_json(const std::string& path, const nlohmann::json& value) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    MG_CHECK(out.good(), "cannot write '{}'", path);
    out << value.dump() << '\n';
    MG_CHECK(out.good(), "writing '{}' failed", path);
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace mg::optim::learned
