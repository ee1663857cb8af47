#pragma once
// Files that a crash or a Ctrl-C never leaves half-written: whole files are
// replaced atomically, and an append-only JSON-lines log taken up by a
// resumed run holds each record once.
#include <fstream>
#include <string>
#include <string_view>

namespace mg {

// Writes `bytes` to a temporary file beside `path`, flushes it to the disk
// and renames it over `path`: a reader sees the old file or the new one,
// never a part of either. Throws mg::Error naming `path` on failure, leaving
// any old file as it was.
void write_file_atomically(const std::string& path, std::string_view bytes);

// Opens the JSON-lines log at `path` for a run to append to. Without
// `resume` the log starts empty. A resumed run restarts from the checkpoint
// it took at `position`: a stint that died after that checkpoint logged
// records the run will write again, and perhaps a torn last line, so the
// records whose field `key` (such as "epoch" or "step") is beyond
// `position`, and lines that are not complete JSON objects with that
// field, are dropped first.
std::ofstream open_log(const std::string& path, bool resume, const std::string& key, double position);

}  // namespace mg
