// `metagrad data fetch DATASET`: downloads, verifies and unpacks an
// official dataset into the data folder every subcommand reads by default
// (library: data/fetch.hpp). Ctrl-C stops it with nothing half-written; the
// next fetch resumes the download.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/core/error.hpp"
#include "metagrad/data/fetch.hpp"

namespace mg::apps {
namespace {

struct Options {
  std::string dataset;
  data::FetchOptions fetch;
  bool progress = true;
};

// "cifar-10-binary.tar.gz  [#########.........]  45%  73.1 / 162.2 MB": redrawn
// at most ten times a second on a terminal.
std::function<void(const data::FetchProgress&)> progress_bar() {
  if (!::isatty(::fileno(stderr))) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](const data::FetchProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (now - *last < std::chrono::milliseconds(100) && p.bytes != p.total) return;
    *last = now;
    constexpr int kWidth = 30;
    const double done = p.total > 0 ? static_cast<double>(p.bytes) / static_cast<double>(p.total) : 0.0;
    const int filled = static_cast<int>(done * kWidth);
    std::fprintf(stderr, "\r%s  [%s%s]  %3.0f%%  %.1f / %.1f MB   ", p.file.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), 100 * done, static_cast<double>(p.bytes) / 1e6,
                 static_cast<double>(p.total) / 1e6);
  };
}

void run(Options o) {
  if (o.progress) o.fetch.progress = progress_bar();
  std::string dir;
  {
    InterruptScope interrupt;
    o.fetch.stop = &interrupt.requested();
    try {
      dir = data::fetch(o.dataset, o.fetch);
    } catch (const Interrupted& e) {
      if (o.fetch.progress) std::fputc('\n', stderr);
      std::fprintf(stderr, "interrupted: %s\n", e.what());
      throw CLI::RuntimeError(130);
    } catch (...) {
      if (o.fetch.progress) std::fputc('\n', stderr);
      throw;
    }
  }
  if (o.fetch.progress) std::fputc('\n', stderr);
  std::printf("%s is in %s\n", o.dataset.c_str(), dir.c_str());
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Datasets: download the official ones");
  cmd->require_subcommand(1);
  auto o = std::make_shared<Options>();
  auto* fetch = cmd->add_subcommand("fetch",
                                    "Download, verify and unpack an official dataset into the default data folder "
                                    "($XDG_DATA_HOME/metagrad, else ~/.local/share/metagrad)");
  fetch->add_option("dataset", o->dataset, "cifar10, cifar100, mnist or fashion-mnist")
      ->required()
      ->check(CLI::IsMember(data::fetchable_datasets()));
  fetch->add_option("--dir", o->fetch.root, "Data folder to fetch into (the dataset lands in DIR/DATASET)");
  fetch->add_option("--url", o->fetch.base_url, "Base URL of a mirror: its files are BASE/<official file name>");
  fetch
      ->add_option("--checksums", o->fetch.checksums_file,
                   "A sha256sum-format list (MD5 or SHA-256) replacing the published sums, for a mirror")
      ->check(CLI::ExistingFile);
  fetch->add_option("--timeout", o->fetch.timeout_seconds, "Fail a transfer that stalls this many seconds")
      ->check(CLI::Range(1, 86400));
  fetch->add_flag("!--no-progress", o->progress, "No progress bar");
  fetch->callback([o] { run(*o); });
}

}  // namespace mg::apps
