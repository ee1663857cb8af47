#pragma once
// JSON files of learned optimizers and experiments: read with errors that
// name the file and `what` it should be, written atomically (temp file +
// rename).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../../core/check.hpp"

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

// Readers never see a half-written file: the text goes to a temporary file
// that then replaces `path`.
inline void write_file(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    MG_CHECK(out.good(), "cannot write '{}'", path);
    out << text;
    MG_CHECK(out.good(), "writing '{}' failed", path);
  }
  std::filesystem::rename(temporary, path);
}

inline void write_json(const std::string& path, const nlohmann::json& value) { write_file(path, value.dump() + '\n'); }

}  // namespace mg::optim::learned
