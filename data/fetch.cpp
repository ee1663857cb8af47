// `metagrad data fetch`: the official archives over HTTP(S) (libcurl),
// resumed from where an interrupted download stopped, checked against the
// published sums, unpacked (libarchive) into a staging folder beside the
// dataset's and renamed into place only when everything is there.
#include "metagrad/data/fetch.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "core/check.hpp"
#include "metagrad/data/dataset.hpp"

namespace mg::data {
namespace fs = std::filesystem;
namespace {

struct KnownDataset {
  std::string name;
  Source source;
  bool archive;                       // one .tar.gz to unpack (CIFAR); else the files stay as they are (IDX .gz)
  std::vector<std::string> required;  // files the dataset folder must hold afterwards
};

const std::vector<KnownDataset>& datasets() {
  static const std::vector<std::string> idx = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  // The sums the sources publish: the CIFAR page's MD5s, Fashion-MNIST's
  // README, and MNIST's as torchvision checks them on its mirror.
  static const std::vector<KnownDataset> all = {
      {"cifar10",
       {"https://www.cs.toronto.edu/~kriz", {{"cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"}}},
       true,
       {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
        "test_batch.bin"}},
      {"cifar100",
       {"https://www.cs.toronto.edu/~kriz", {{"cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"}}},
       true,
       {"train.bin", "test.bin"}},
      {"mnist",
       {"https://ossci-datasets.s3.amazonaws.com/mnist",
        {{idx[0], "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
         {idx[1], "d53e105ee54ea40749a09fcbcd1e9432"},
         {idx[2], "9fb629c4189551a2d022fa330f9573f3"},
         {idx[3], "ec29112dd5afa0611ce80d1b7f02629c"}}},
       false,
       idx},
      {"fashion-mnist",
       {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        {{idx[0], "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
         {idx[1], "25c81989df183df01b3e8a0aad5dffbe"},
         {idx[2], "bef4ecab320f06d8554ea6380940ec79"},
         {idx[3], "bb300cfdad3c16e7a12a480ee83cd310"}}},
       false,
       idx},
  };
  return all;
}

const KnownDataset& find_dataset(const std::string& name) {
  for (const auto& d : datasets())
    if (d.name == name) return d;
  throw Error(fmt::format("unknown dataset '{}' (expected one of: {})", name, fmt::join(fetchable_datasets(), ", ")));
}

std::string digest_like(const std::string& expected, const std::string& path) {
  return expected.size() == 32 ? md5_file(path) : sha256_file(path);
}

// libcurl's global state, set up once for the process.
void init_curl() {
  static const bool done = [] {
    MG_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "data fetch: libcurl could not start");
    return true;
  }();
  (void)done;
}

struct Transfer {
  std::FILE* out;
  const FetchOptions* options;
  FetchProgress progress;
  std::int64_t resumed_from;
  bool stopped = false;
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return std::fwrite(data, size, count, t->out) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->options->stop && t->options->stop->load()) {
    t->stopped = true;
    return 1;  // aborts the transfer
  }
  t->progress.bytes = t->resumed_from + static_cast<std::int64_t>(now);
  t->progress.total = total > 0 ? t->resumed_from + static_cast<std::int64_t>(total) : 0;
  if (t->options->progress) t->options->progress(t->progress);
  return 0;
}

// Downloads `url` into `part`, continuing after the bytes already there.
// Returns false when the server would not resume (it sent the file from
// the start), after emptying `part`, so the caller can try once more.
bool download(const std::string& url, const std::string& part, const std::string& name, const FetchOptions& o) {
  init_curl();
  const std::int64_t have = fs::exists(part) ? static_cast<std::int64_t>(fs::file_size(part)) : 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(part.c_str(), "ab"), &std::fclose);
  MG_CHECK(out != nullptr, "data fetch: cannot write {}", part);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  MG_CHECK(curl != nullptr, "data fetch: libcurl could not start a transfer");
  Transfer t{out.get(), &o, {name, have, 0}, have};
  char error[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "metagrad-data-fetch");
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(have));
  if (o.timeout_seconds > 0) {  // a transfer below 1 byte/s for that long has stalled
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.timeout_seconds);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.timeout_seconds);
  }
  const CURLcode code = curl_easy_perform(c);
  out.reset();  // flushed: what arrived stays for the next attempt
  if (t.stopped)
    throw Interrupted(fmt::format("data fetch: stopped while downloading {}; run it again to resume", name));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  // The server ignores ranges, or the part is already whole (but wrong): start over.
  if (code == CURLE_RANGE_ERROR || (code == CURLE_HTTP_RETURNED_ERROR && status == 416 && have > 0)) {
    fs::resize_file(part, 0);
    return false;
  }
  if (code == CURLE_HTTP_RETURNED_ERROR)
    throw Error(fmt::format("data fetch: {} answered HTTP {} for {}", url, status, name));
  if (code != CURLE_OK) {
    const std::int64_t now = fs::exists(part) ? static_cast<std::int64_t>(fs::file_size(part)) : 0;
    throw Error(fmt::format("data fetch: downloading {} from {} failed after {} bytes: {}; run it again to resume",
                            name, url, now, error[0] != '\0' ? error : curl_easy_strerror(code)));
  }
  return true;
}

// Unpacks the regular files of a .tar.gz into `dir` under their base names
// (CIFAR's archives hold one folder of them); nothing outside `dir` is ever written.
void unpack(const std::string& archive_path, const std::string& dir) {
  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), &archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  MG_CHECK(archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) == ARCHIVE_OK,
           "data fetch: cannot open the archive {}: {}", archive_path, archive_error_string(in.get()));
  archive_entry* entry = nullptr;
  int status;
  while ((status = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string name = fs::path(archive_entry_pathname(entry)).filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::ofstream out(fs::path(dir) / name, std::ios::binary);
    const void* block;
    size_t size;
    la_int64_t offset;
    int read;
    while ((read = archive_read_data_block(in.get(), &block, &size, &offset)) == ARCHIVE_OK)
      out.write(static_cast<const char*>(block), static_cast<std::streamsize>(size));
    MG_CHECK(read == ARCHIVE_EOF && out.good(), "data fetch: the archive {} is corrupt at {}: {}", archive_path, name,
             archive_error_string(in.get()));
  }
  MG_CHECK(status == ARCHIVE_EOF, "data fetch: the archive {} is corrupt: {}", archive_path,
           archive_error_string(in.get()));
}

// A folder removed when it goes out of scope, unless kept.
class Staging {
 public:
  explicit Staging(fs::path path) : path_(std::move(path)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~Staging() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::string default_data_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] != '\0')
    return (fs::path(xdg) / "metagrad").string();
  const char* home = std::getenv("HOME");
  MG_CHECK(home != nullptr && home[0] != '\0',
           "no default data folder: neither XDG_DATA_HOME nor HOME is set (give --data-dir)");
  return (fs::path(home) / ".local" / "share" / "metagrad").string();
}

std::string dataset_dir(const std::string& dataset, const std::string& root) {
  return (fs::path(root) / dataset).string();
}

std::string locate_dataset(const std::string& dataset, const std::string& given) {
  if (!given.empty()) return given;
  const std::string fetched = dataset_dir(dataset);
  if (fs::exists(fetched)) return fetched;
  if (dataset == "fashion-mnist" && fs::exists(kFashionMnistDir)) return kFashionMnistDir;
  throw Error(fmt::format("no {} data in {}: run `metagrad data fetch {}` (or give --data-dir DIR){}", dataset, fetched,
                          dataset, dataset == "fashion-mnist" ? ", or install Debian's dataset-fashion-mnist" : ""));
}

std::vector<std::string> fetchable_datasets() {
  std::vector<std::string> names;
  for (const auto& d : datasets()) names.push_back(d.name);
  return names;
}

Source official_source(const std::string& dataset) { return find_dataset(dataset).source; }

std::map<std::string, std::string> read_checksums(const std::string& path) {
  std::ifstream in(path);
  MG_CHECK(in.good(), "cannot read the checksum list {}", path);
  std::map<std::string, std::string> sums;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string hex, name;
    fields >> hex >> name;
    if (!name.empty() && name[0] == '*') name = name.substr(1);  // sha256sum's binary-mode marker
    const bool is_hex = !hex.empty() && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
    MG_CHECK(is_hex && (hex.size() == 32 || hex.size() == 64) && !name.empty(),
             "{}: line {} is not 'HEX  NAME' with an MD5 or SHA-256 digest: '{}'", path, number, line);
    for (auto& ch : hex) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    sums[fs::path(name).filename().string()] = hex;
  }
  return sums;
}

std::string fetch(const std::string& name, const FetchOptions& options) {
  const KnownDataset& dataset = find_dataset(name);
  FetchOptions o = options;
  if (o.root.empty()) o.root = default_data_dir();
  const fs::path target = dataset_dir(name, o.root);
  if (fs::exists(target)) return target.string();
  std::vector<RemoteFile> files = dataset.source.files;
  if (!o.checksums_file.empty()) {
    const auto sums = read_checksums(o.checksums_file);
    for (auto& file : files) {
      const auto it = sums.find(file.name);
      MG_CHECK(it != sums.end(), "{} has no checksum for {}", o.checksums_file, file.name);
      file.checksum = it->second;
    }
  }
  const std::string base = o.base_url.empty() ? dataset.source.base_url : o.base_url;
  const fs::path downloads = fs::path(o.root) / ".downloads";
  fs::create_directories(downloads);
  for (const auto& file : files) {
    const std::string part = (downloads / file.name).string();
    const std::string url = base + "/" + file.name;
    if (fs::exists(part) && digest_like(file.checksum, part) == file.checksum) continue;  // complete already
    if (!download(url, part, file.name, o)) download(url, part, file.name, o);
    const std::string actual = digest_like(file.checksum, part);
    if (actual != file.checksum) {
      fs::remove(part);
      throw Error(fmt::format("data fetch: {} from {} has checksum {}, expected {} (deleted; run it again)", file.name,
                              url, actual, file.checksum));
    }
  }
  const Staging staging(fs::path(o.root) / fmt::format(".{}.partial-{}", name, ::getpid()));
  for (const auto& file : files) {
    const fs::path part = downloads / file.name;
    if (dataset.archive)
      unpack(part.string(), staging.path().string());
    else
      fs::copy_file(part, staging.path() / file.name);
  }
  for (const auto& required : dataset.required)
    MG_CHECK(fs::exists(staging.path() / required), "data fetch: the {} archive has no {}", name, required);
  fs::rename(staging.path(), target);  // the dataset appears whole, or not at all
  for (const auto& file : files) fs::remove(downloads / file.name);
  std::error_code ignored;
  fs::remove(downloads, ignored);  // only when empty
  return target.string();
}

}  // namespace mg::data
