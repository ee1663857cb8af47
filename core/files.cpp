#include "metagrad/core/files.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "check.hpp"

namespace mg {

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  MG_CHECK(file != nullptr, "cannot write {}: {}", path, std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size() && std::fflush(file) == 0 &&
                       ::fsync(::fileno(file)) == 0;
  const int error = errno;
  std::fclose(file);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int cause = written ? errno : error;
    std::remove(temporary.c_str());
    throw Error(fmt::format("cannot write {}: {}", path, std::strerror(cause)));
  }
}

namespace {

// Whether `line` is a whole record at or before `position`.
bool kept(const std::string& line, const std::string& key, double position) {
  const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return record.is_object() && record.contains(key) && record[key].is_number() && record[key].get<double>() <= position;
}

}  // namespace

std::ofstream open_log(const std::string& path, bool resume, const std::string& key, double position) {
  if (resume && std::filesystem::exists(path)) {
    std::ifstream in(path);
    MG_CHECK(in.good(), "cannot read the log {}", path);
    std::string text, line;
    while (std::getline(in, line))
      if (kept(line, key, position)) text += line + '\n';
    write_file_atomically(path, text);
  }
  std::ofstream log(path, resume ? std::ios::app : std::ios::trunc);
  MG_CHECK(log.good(), "cannot write the log {}", path);
  return log;
}

}  // namespace mg
