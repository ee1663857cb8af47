#pragma once
// mg::Error: the one exception type metagrad throws for anything a user can
// fix — bad shapes, bad files, bad hyperparameters, bad flags. Its message
// names the offending thing and what was expected.
#include <stdexcept>
#include <string>

namespace mg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A long job stopped on request (Ctrl-C) at a point it can resume from.
class Interrupted : public Error {
 public:
  using Error::Error;
};

}  // namespace mg
