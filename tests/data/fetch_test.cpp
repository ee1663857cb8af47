// Dataset downloads (mg::data::fetch) against a tiny HTTP/1.1 server the test
// runs itself on 127.0.0.1: whole downloads, resumed ones, HTTP errors, bad
// checksums, a stop request, no server; and the MD5 and SHA-256 digests.
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../support/testing.hpp"
#include "metagrad/data/fetch.hpp"

namespace {

namespace fs = std::filesystem;

// An HTTP/1.1 server on an ephemeral port of 127.0.0.1 serving files from
// memory, one connection per request. It answers GET and HEAD with 200, a
// `Range: bytes=N-` with 206, an unknown path with 404, and records the
// method and Range header of every request.
class TestServer {
 public:
  struct Request {
    std::string method, range;  // range: the Range header, "" when absent
  };

  TestServer() {
    std::signal(SIGPIPE, SIG_IGN);  // the client may hang up while we write
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(listener_, 16) == 0);
    socklen_t length = sizeof address;
    REQUIRE(getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~TestServer() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void put(const std::string& path, const std::string& bytes) {
    const std::lock_guard<std::mutex> lock(mutex_);
    files_[path] = bytes;
  }

  // The first GET of `path` announces the whole length but sends only the
  // first half of the body, then closes the connection.
  void drop_first_get(const std::string& path) {
    const std::lock_guard<std::mutex> lock(mutex_);
    drops_.insert(path);
  }

  std::vector<Request> requests(const std::string& path) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = requests_.find(path);
    return it == requests_.end() ? std::vector<Request>{} : it->second;
  }

  // The Range header of each GET of `path`, in order.
  std::vector<std::string> get_ranges(const std::string& path) const {
    std::vector<std::string> ranges;
    for (const auto& r : requests(path))
      if (r.method == "GET") ranges.push_back(r.range);
    return ranges;
  }

 private:
  void run() {
    while (!stopping_) {
      pollfd listening{listener_, POLLIN, 0};
      if (poll(&listening, 1, 50) <= 0) continue;
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      serve(client);
      close(client);
    }
  }

  void serve(int client) {
    const timeval timeout{5, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    std::istringstream lines(request.substr(0, request.find("\r\n\r\n")));
    std::string method, path, line, range;
    lines >> method >> path;
    std::getline(lines, line);  // the rest of the request line
    while (std::getline(lines, line)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name != "range") continue;
      range = line.substr(colon + 1);
      range.erase(0, range.find_first_not_of(" \t"));
      range.erase(range.find_last_not_of(" \t\r") + 1);
    }

    std::string body;
    bool found = false, drop = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      requests_[path].push_back({method, range});
      if (const auto it = files_.find(path); it != files_.end()) {
        found = true;
        body = it->second;
      }
      drop = method == "GET" && drops_.erase(path) > 0;
    }

    std::string head, payload;
    if (!found) {
      payload = "not found\n";
      head = "HTTP/1.1 404 Not Found\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n";
    } else if (range.rfind("bytes=", 0) != 0) {
      payload = body;
      head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n";
    } else {
      const auto from = static_cast<std::size_t>(std::strtoull(range.c_str() + 6, nullptr, 10));
      const std::string size = std::to_string(body.size());
      if (from >= body.size()) {
        head = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nContent-Range: bytes */" + size + "\r\n";
      } else {
        payload = body.substr(from);
        head = "HTTP/1.1 206 Partial Content\r\nContent-Length: " + std::to_string(payload.size()) +
               "\r\nContent-Range: bytes " + std::to_string(from) + "-" + std::to_string(body.size() - 1) + "/" + size +
               "\r\n";
      }
    }
    head += "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    if (method == "HEAD") payload.clear();
    if (drop) payload.resize(payload.size() / 2);
    send_all(client, head + payload);
    // Close gracefully: end our side, then wait for the client to hang up,
    // so that nothing unread turns the close into a reset that loses data.
    shutdown(client, SHUT_WR);
    while (recv(client, buffer, sizeof buffer, 0) > 0) {
    }
  }

  static void send_all(int client, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(client, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> files_;
  std::set<std::string> drops_;
  std::map<std::string, std::vector<Request>> requests_;
};

// A port nothing listens on: one the system just handed out and took back.
int unused_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(s);
  return ntohs(address.sin_port);
}

fs::path scratch_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("metagrad-fetch-test-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Pseudo-random bytes, so the archives barely compress and take many reads.
std::string noise(std::size_t count, std::uint32_t seed) {
  std::string bytes(count, '\0');
  for (auto& b : bytes) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<char>(seed >> 24);
  }
  return bytes;
}

std::string gzip(const std::string& bytes) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);  // 16: gzip
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  REQUIRE(status == Z_STREAM_END);
  return out;
}

la_ssize_t append_to_string(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// A .tar.gz holding `folder`/ and `files` in it, as the CIFAR archives are laid out.
std::string tar_gz(const std::string& folder, const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  archive* a = archive_write_new();
  REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
  REQUIRE(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
  REQUIRE(archive_write_open(a, &out, nullptr, append_to_string, nullptr) == ARCHIVE_OK);
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, (folder + "/").c_str());
  archive_entry_set_filetype(entry, AE_IFDIR);
  archive_entry_set_perm(entry, 0755);
  REQUIRE(archive_write_header(a, entry) == ARCHIVE_OK);
  for (const auto& [name, bytes] : files) {
    archive_entry_clear(entry);
    archive_entry_set_pathname(entry, (folder + "/" + name).c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    REQUIRE(archive_write_header(a, entry) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, bytes.data(), bytes.size()) == static_cast<la_ssize_t>(bytes.size()));
  }
  archive_entry_free(entry);
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

constexpr int kCifarRecords = 3;  // per batch file

// The label of record `r` of CIFAR batch `batch` (1-5: data_batch_N, 6: test_batch).
int cifar_label(int batch, int r) { return (7 * batch + 3 * r) % 10; }

std::string cifar_batch(int batch) {
  std::string bytes;
  for (int r = 0; r < kCifarRecords; ++r) {
    bytes += static_cast<char>(cifar_label(batch, r));
    bytes += noise(3072, static_cast<std::uint32_t>(100 * batch + r));
  }
  return bytes;
}

const std::string& cifar_archive() {
  static const std::string archive = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (int b = 1; b <= 5; ++b) files.emplace_back("data_batch_" + std::to_string(b) + ".bin", cifar_batch(b));
    files.emplace_back("test_batch.bin", cifar_batch(6));
    std::string names;
    for (const char* name : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
      names += std::string(name) + "\n";
    files.emplace_back("batches.meta.txt", names);
    return tar_gz("cifar-10-batches-bin", files);
  }();
  return archive;
}

void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift);
}

std::string idx_images(std::uint32_t count, std::uint32_t seed) {
  std::string bytes;
  put32(bytes, 0x803);
  put32(bytes, count);
  put32(bytes, 28);
  put32(bytes, 28);
  return bytes + noise(count * 28 * 28, seed);
}

std::string idx_labels(std::uint32_t count) {
  std::string bytes;
  put32(bytes, 0x801);
  put32(bytes, count);
  for (std::uint32_t i = 0; i < count; ++i) bytes += static_cast<char>((3 * i + 1) % 10);
  return bytes;
}

constexpr std::uint32_t kTrainImages = 5, kTestImages = 3;

// The four gzip-compressed IDX files of Fashion-MNIST, by name.
const std::map<std::string, std::string>& fashion_files() {
  static const std::map<std::string, std::string> files = {
      {"train-images-idx3-ubyte.gz", gzip(idx_images(kTrainImages, 1))},
      {"train-labels-idx1-ubyte.gz", gzip(idx_labels(kTrainImages))},
      {"t10k-images-idx3-ubyte.gz", gzip(idx_images(kTestImages, 2))},
      {"t10k-labels-idx1-ubyte.gz", gzip(idx_labels(kTestImages))},
  };
  return files;
}

const std::string kCifarName = "cifar-10-binary.tar.gz";

// A fresh data folder and a checksum list beside it, a server holding the
// test's archives, and options pointing `fetch` at them.
struct Setup {
  explicit Setup(const std::string& name) : dir(scratch_dir(name)), root(dir / "data"), sums(dir / "SHA256SUMS") {
    server.put("/" + kCifarName, cifar_archive());
    for (const auto& [file, bytes] : fashion_files()) server.put("/" + file, bytes);
    write_sums();
    options.root = root.string();
    options.base_url = server.url();
    options.checksums_file = sums.string();
    options.timeout_seconds = 30;  // a hung transfer fails the test instead of blocking it
  }

  // The sha256sum-format list of the test's files; `overrides` replace sums.
  void write_sums(const std::map<std::string, std::string>& overrides = {}) const {
    std::map<std::string, std::string> digests = {{kCifarName, mg::data::sha256_hex(cifar_archive())}};
    for (const auto& [file, bytes] : fashion_files()) digests[file] = mg::data::sha256_hex(bytes);
    for (const auto& [file, digest] : overrides) digests[file] = digest;
    std::string text;
    for (const auto& [file, digest] : digests) text += digest + "  " + file + "\n";
    write(sums, text);
  }

  std::string dataset(const std::string& name) const { return mg::data::dataset_dir(name, root.string()); }

  // Nothing left in root/.downloads (the folder may be gone altogether).
  bool downloads_empty() const {
    const auto downloads = root / ".downloads";
    return !fs::exists(downloads) || fs::is_empty(downloads);
  }

  fs::path dir, root, sums;
  TestServer server;
  mg::data::FetchOptions options;
};

}  // namespace

TEST_CASE("fetching CIFAR-10 unpacks the archive into a folder the reader reads, and only once") {
  Setup s("cifar10");
  std::int64_t most_bytes = 0;
  std::set<std::string> reported;
  s.options.progress = [&](const mg::data::FetchProgress& p) {
    reported.insert(p.file);
    most_bytes = std::max(most_bytes, p.bytes);
  };
  const std::string dir = mg::data::fetch("cifar10", s.options);
  CHECK(dir == s.dataset("cifar10"));
  CHECK(fs::path(dir).lexically_normal() == (s.root / "cifar10").lexically_normal());
  for (const char* name : {"data_batch_1.bin", "data_batch_5.bin", "test_batch.bin", "batches.meta.txt"})
    CHECK_MESSAGE(fs::exists(fs::path(dir) / name), name);
  CHECK(reported == std::set<std::string>{kCifarName});
  CHECK(most_bytes == static_cast<std::int64_t>(cifar_archive().size()));

  const auto train = mg::data::cifar10(dir, true);
  const auto test = mg::data::cifar10(dir, false);
  REQUIRE(train->size() == 5 * kCifarRecords);
  REQUIRE(test->size() == kCifarRecords);
  for (int i = 0; i < 5 * kCifarRecords; ++i)
    CHECK(train->get(i).label == cifar_label(i / kCifarRecords + 1, i % kCifarRecords));
  for (int i = 0; i < kCifarRecords; ++i) CHECK(test->get(i).label == cifar_label(6, i));
  CHECK(s.downloads_empty());

  const auto requests = s.server.requests("/" + kCifarName).size();
  CHECK(requests >= 1);
  CHECK(mg::data::fetch("cifar10", s.options) == dir);
  CHECK(s.server.requests("/" + kCifarName).size() == requests);
}

TEST_CASE("fetching Fashion-MNIST keeps its four gzip files as they are") {
  Setup s("fashion-mnist");
  const std::string dir = mg::data::fetch("fashion-mnist", s.options);
  CHECK(dir == s.dataset("fashion-mnist"));
  for (const auto& [file, bytes] : fashion_files()) {
    REQUIRE_MESSAGE(fs::exists(fs::path(dir) / file), file);
    CHECK(mg::data::sha256_file((fs::path(dir) / file).string()) == mg::data::sha256_hex(bytes));
  }
  const auto train = mg::data::mnist_like(dir, true, "fashion-mnist");
  const auto test = mg::data::mnist_like(dir, false, "fashion-mnist");
  CHECK(train->size() == kTrainImages);
  CHECK(test->size() == kTestImages);
  CHECK(test->get(2).label == 7);
  CHECK(s.downloads_empty());
}

TEST_CASE("a connection dropped mid-file fails the fetch, and the next fetch resumes where it stopped") {
  Setup s("resume");
  const std::string path = "/" + kCifarName;
  s.server.drop_first_get(path);
  CHECK_THROWS_AS(mg::data::fetch("cifar10", s.options), mg::Error);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));

  const std::string dir = mg::data::fetch("cifar10", s.options);
  CHECK(mg::data::cifar10(dir, true)->size() == 5 * kCifarRecords);
  CHECK(mg::data::cifar10(dir, false)->get(1).label == cifar_label(6, 1));
  const auto ranges = s.server.get_ranges(path);
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0] == "");
  CHECK(ranges[1] == "bytes=" + std::to_string(cifar_archive().size() / 2) + "-");
  CHECK(s.downloads_empty());
}

TEST_CASE("an HTTP error names the status and the file, and leaves no dataset") {
  Setup s("not-found");
  TestServer empty;
  s.options.base_url = empty.url();
  CHECK_THROWS_WITH_AS(mg::data::fetch("cifar10", s.options), doctest::Contains("404"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::data::fetch("cifar10", s.options), doctest::Contains(kCifarName.c_str()), mg::Error);
  CHECK(empty.get_ranges("/" + kCifarName).size() == 2);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));
}

TEST_CASE("a checksum mismatch names both digests, deletes the download and leaves no dataset") {
  Setup s("checksum");
  const std::string expected = mg::data::sha256_hex("not the archive");
  const std::string actual = mg::data::sha256_hex(cifar_archive());
  s.write_sums({{kCifarName, expected}});
  CHECK_THROWS_WITH_AS(mg::data::fetch("cifar10", s.options), doctest::Contains(expected.c_str()), mg::Error);
  CHECK_THROWS_WITH_AS(mg::data::fetch("cifar10", s.options), doctest::Contains(actual.c_str()), mg::Error);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));
  CHECK(s.downloads_empty());
}

TEST_CASE("a stop request interrupts the fetch and leaves no dataset") {
  Setup s("stop");
  const std::atomic<bool> stop{true};
  s.options.stop = &stop;
  CHECK_THROWS_AS(mg::data::fetch("cifar10", s.options), mg::Interrupted);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));
}

TEST_CASE("a stop request mid-download (Ctrl-C) keeps what arrived, and the next fetch resumes from there") {
  Setup s("stop-midway");
  const std::string path = "/" + kCifarName;
  std::atomic<bool> stop{false};
  s.options.stop = &stop;
  s.options.progress = [&](const mg::data::FetchProgress& p) {
    if (p.bytes > 0) stop = true;  // as the signal thread does on Ctrl-C
  };
  CHECK_THROWS_AS(mg::data::fetch("cifar10", s.options), mg::Interrupted);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));
  const fs::path part = fs::path(s.options.root) / ".downloads" / kCifarName;
  REQUIRE(fs::exists(part));
  const auto kept = fs::file_size(part);
  CHECK(kept > 0);
  stop = false;
  s.options.progress = nullptr;
  const std::string dir = mg::data::fetch("cifar10", s.options);
  CHECK(mg::data::cifar10(dir, true)->size() == 5 * kCifarRecords);
  const auto ranges = s.server.get_ranges(path);
  REQUIRE(!ranges.empty());
  CHECK(ranges[0] == "");
  if (kept < cifar_archive().size()) {  // the rest only
    REQUIRE(ranges.size() == 2);
    CHECK(ranges[1] == "bytes=" + std::to_string(kept) + "-");
  } else {  // all of it had arrived: nothing is downloaded again
    CHECK(ranges.size() == 1);
  }
}

TEST_CASE("no server at the address is an error naming the address or the connection") {
  Setup s("no-server");
  const std::string address = "127.0.0.1:" + std::to_string(unused_port());
  s.options.base_url = "http://" + address;
  std::string message;
  try {
    mg::data::fetch("cifar10", s.options);
  } catch (const mg::Error& e) {
    message = e.what();
  }
  REQUIRE_MESSAGE(!message.empty(), "fetch succeeded with no server");
  CHECK_MESSAGE((message.find(address) != std::string::npos || message.find("connect") != std::string::npos), message);
  CHECK_FALSE(fs::exists(s.dataset("cifar10")));
}

TEST_CASE("MD5 and SHA-256 match the published test vectors") {
  CHECK(mg::data::md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(mg::data::md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  std::string digits;
  for (int i = 0; i < 8; ++i) digits += "1234567890";
  CHECK(mg::data::md5_hex(digits) == "57edf4a22be3c955ac49da2e2107b67a");
  CHECK(mg::data::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(mg::data::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(mg::data::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  const auto dir = scratch_dir("digests");
  write(dir / "abc", "abc");
  CHECK(mg::data::md5_file((dir / "abc").string()) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(mg::data::sha256_file((dir / "abc").string()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("a checksum list reads as digests by file name, and a malformed line is an error") {
  const auto dir = scratch_dir("checksum-list");
  const auto list = dir / "SHA256SUMS";
  write(list,
        "d41d8cd98f00b204e9800998ecf8427e  empty.txt\n"
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc.txt\n");
  const auto sums = mg::data::read_checksums(list.string());
  CHECK(sums.size() == 2);
  CHECK(sums.at("empty.txt") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(sums.at("abc.txt") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  write(list, "d41d8cd98f00b204e9800998ecf8427e  empty.txt\nnot-a-checksum-line\n");
  CHECK_THROWS_AS(mg::data::read_checksums(list.string()), mg::Error);
}

TEST_CASE("the official sources name their files, and an unknown dataset lists the known ones") {
  const auto datasets = mg::data::fetchable_datasets();
  for (const char* name : {"cifar10", "cifar100", "mnist", "fashion-mnist"})
    CHECK_MESSAGE(std::find(datasets.begin(), datasets.end(), name) != datasets.end(), name);
  for (const auto& name : datasets) {
    const auto source = mg::data::official_source(name);
    CHECK_MESSAGE(!source.base_url.empty(), name);
    CHECK_MESSAGE(!source.files.empty(), name);
    for (const auto& file : source.files)
      CHECK_MESSAGE((file.checksum.size() == 32 || file.checksum.size() == 64), file.name);
  }
  const auto cifar = mg::data::official_source("cifar10");
  CHECK(std::any_of(cifar.files.begin(), cifar.files.end(), [](const auto& f) { return f.name == kCifarName; }));
  CHECK_THROWS_WITH_AS(mg::data::official_source("nope"), doctest::Contains("cifar10"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::data::official_source("nope"), doctest::Contains("fashion-mnist"), mg::Error);
}
