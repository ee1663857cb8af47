#pragma once
// Downloading the official datasets (`metagrad data fetch`): over HTTP(S)
// with libcurl, resumable, checked against the published checksums, unpacked
// with libarchive, and moved into place only when complete, so a failed or
// interrupted fetch never leaves a half-written dataset.
//
// Layout of the data folder (default_data_dir()):
//   cifar10/        data_batch_1.bin .. data_batch_5.bin, test_batch.bin, batches.meta.txt
//   cifar100/       train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt
//   mnist/          {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
//   fashion-mnist/  the same four files
//   .downloads/     archives being downloaded (resumed from here), removed when done
// so data::cifar10(dataset_dir("cifar10"), ...) and data::mnist_like(...)
// read them as they are.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mg::data {

// $XDG_DATA_HOME/metagrad when XDG_DATA_HOME is set, else ~/.local/share/metagrad.
std::string default_data_dir();

// The folder of `dataset` (cifar10, cifar100, mnist, fashion-mnist) in `root`.
std::string dataset_dir(const std::string& dataset, const std::string& root = default_data_dir());

// Where a program reads `dataset` from: `given` when not empty; else its
// folder in the default data folder, when there; else, for fashion-mnist,
// Debian's dataset-fashion-mnist package. Throws mg::Error naming the fetch
// command when none holds it.
std::string locate_dataset(const std::string& dataset, const std::string& given = "");

// The datasets `fetch` knows, in a fixed order.
std::vector<std::string> fetchable_datasets();

// One file of a dataset's official distribution.
struct RemoteFile {
  std::string name;      // the file name at the source, e.g. cifar-10-binary.tar.gz
  std::string checksum;  // published digest, hex: MD5 (32 digits) or SHA-256 (64)
};

// The official source of `dataset` and its files (mg::Error for an unknown name).
struct Source {
  std::string base_url;  // a file's URL is base_url + "/" + name
  std::vector<RemoteFile> files;
};
Source official_source(const std::string& dataset);

struct FetchProgress {
  std::string file;
  std::int64_t bytes = 0, total = 0;  // total: 0 while unknown
};

struct FetchOptions {
  std::string root;      // the data folder; empty: default_data_dir()
  std::string base_url;  // non-empty: the files come from here instead (a mirror, a test server)
  // Non-empty: a `sha256sum`-format file ("HEX  NAME" lines, MD5 or SHA-256
  // digests) whose sums replace the published ones, for a mirror whose
  // files differ (Debian's dataset-fashion-mnist recompresses them).
  std::string checksums_file;
  std::function<void(const FetchProgress&)> progress;  // called as bytes arrive
  const std::atomic<bool>* stop = nullptr;             // set: the transfer stops, throws mg::Interrupted
  long timeout_seconds = 0;                            // 0: none; else a stalled transfer fails after this
};

// Downloads what is missing of `dataset` (resuming a partial download),
// verifies every file, unpacks and moves the dataset into
// dataset_dir(dataset, root) in one rename; returns that folder. A
// dataset already there is left as it is. Throws mg::Error naming the file
// and the cause: no connection, an HTTP status, a checksum mismatch (both
// sums; the bad download is deleted), a corrupt archive.
std::string fetch(const std::string& dataset, const FetchOptions& options = {});

// Digests of a file, as lowercase hex.
std::string md5_file(const std::string& path);
std::string sha256_file(const std::string& path);
std::string md5_hex(const std::string& bytes);
std::string sha256_hex(const std::string& bytes);

// The "HEX  NAME" lines of a sha256sum-format file, by file name.
std::map<std::string, std::string> read_checksums(const std::string& path);

}  // namespace mg::data
