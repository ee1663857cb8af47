// Files a crash never leaves half-written: atomic replacement, and logs that
// a resumed run takes up without repeating a record.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../support/testing.hpp"

namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("metagrad-files-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_plain(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("write_file_atomically replaces the file whole and leaves no temporary") {
  const std::string path = scratch("report.md");
  write_plain(path, "old contents, longer than the new ones\n");
  mg::write_file_atomically(path, "new\n");
  CHECK(read(path) == "new\n");
  CHECK_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
  mg::write_file_atomically(path, "");
  CHECK(read(path).empty());
}

TEST_CASE("write_file_atomically into a missing folder names the file and creates nothing") {
  const std::string path = scratch("no-such-folder") + "/report.md";
  CHECK_THROWS_WITH_AS(mg::write_file_atomically(path, "text"), doctest::Contains(path.c_str()), mg::Error);
  CHECK_FALSE(fs::exists(fs::path(path).parent_path()));
}

TEST_CASE("open_log: a resumed run drops the records after its checkpoint and a torn last line") {
  const std::string path = scratch("metrics.jsonl");
  const std::string before = "{\"epoch\": 1, \"loss\": 3.5}\n{\"epoch\": 2, \"loss\": 2.5}\n";
  // Epochs 3 and 4 were logged after the checkpoint at epoch 2, then the run died mid-line.
  write_plain(path, before + "{\"epoch\": 3, \"loss\": 2.0}\n{\"epoch\": 4, \"loss\": 1.5}\n{\"epoch\": 5, \"lo");
  {
    std::ofstream log = mg::open_log(path, /*resume=*/true, "epoch", 2);
    log << "{\"epoch\": 3, \"loss\": 2.25}\n";
  }
  CHECK(read(path) == before + "{\"epoch\": 3, \"loss\": 2.25}\n");

  SUBCASE("lines without the position field are dropped too") {
    write_plain(path, before + "not json\n[1, 2]\n{\"step\": 1}\n");
    mg::open_log(path, true, "epoch", 10);
    CHECK(read(path) == before);
  }
  SUBCASE("a fresh run starts an empty log") {
    mg::open_log(path, /*resume=*/false, "epoch", 0);
    CHECK(read(path).empty());
  }
  SUBCASE("a resumed run without a log starts one") {
    fs::remove(path);
    mg::open_log(path, true, "epoch", 7) << "{\"epoch\": 8}\n";
    CHECK(read(path) == "{\"epoch\": 8}\n");
  }
}
