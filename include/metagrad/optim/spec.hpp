#pragma once
// Spec strings: "name(key=value, ...)". Values are numbers (1e-3), booleans
// (true/false), bare words (jordan), colon-separated word lists (bias:bn) or
// colon-separated number lists (1:0:0).
// A schema lists the keys a name accepts, with their kinds, defaults and
// ranges; resolving a spec against it gives every key a checked value.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mg::optim {

using Value = std::variant<double, bool, std::string, std::vector<double>>;
using Values = std::map<std::string, Value>;

struct ParsedSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> arguments;  // raw text, in order
};

// Throws mg::Error pointing at the character where the spec goes wrong.
ParsedSpec parse_spec(const std::string& spec);

struct Key {
  enum class Kind { Number, Integer, Flag, Word, Words, Numbers };
  std::string name;
  Kind kind;
  std::optional<Value> default_value;  // none: the key is required
  // Returns an empty string when valid, else what was expected ("in [0, 1)").
  std::function<std::string(const Value&)> check;
};

using Schema = std::vector<Key>;

// Defaults, overridden by the spec's arguments; unknown keys, malformed or
// out-of-range values and missing required keys throw mg::Error listing what
// is valid. `what` names the thing for messages (e.g. "optimizer adam").
Values resolve(const Schema& schema, const std::vector<std::pair<std::string, std::string>>& arguments,
               const std::string& what);

// "lr=0.001, beta1=0.9, batch_size (required), ...": every key with its default.
std::string describe_keys(const Schema& schema);

// Range checks for schemas.
std::function<std::string(const Value&)> at_least(double low);
std::function<std::string(const Value&)> greater_than(double low);
std::function<std::string(const Value&)> in_unit_interval();  // [0, 1)
std::function<std::string(const Value&)> one_of(std::vector<std::string> words);

std::string to_string(const Value& value);

// The items of a colon-separated list ("bias:bn" -> {"bias", "bn"}).
std::vector<std::string> split_list(const std::string& text);

}  // namespace mg::optim
