#include "metagrad/optim/spec.hpp"

#include <cctype>
#include <cstdlib>
#include <set>

#include "core/check.hpp"

namespace mg::optim {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool is_word(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '/' && c != '-') return false;
  return true;
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

std::string kind_name(Key::Kind kind) {
  switch (kind) {
    case Key::Kind::Number:
      return "a number";
    case Key::Kind::Integer:
      return "an integer";
    case Key::Kind::Flag:
      return "true or false";
    case Key::Kind::Word:
      return "a word";
    case Key::Kind::Words:
      return "words separated by ':'";
    case Key::Kind::Numbers:
      return "numbers separated by ':'";
  }
  return "?";
}

Value parse_value(const Key& key, const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return Error(fmt::format("{}: {}={} is malformed, expected {}", what, key.name, text, kind_name(key.kind)));
  };
  double number = 0;
  switch (key.kind) {
    case Key::Kind::Number:
      if (!parse_number(text, number)) throw bad();
      return number;
    case Key::Kind::Integer:
      if (!parse_number(text, number) || number != static_cast<double>(static_cast<long long>(number))) throw bad();
      return number;
    case Key::Kind::Flag:
      if (text == "true") return true;
      if (text == "false") return false;
      throw bad();
    case Key::Kind::Word:
      if (!is_word(text)) throw bad();
      return text;
    case Key::Kind::Words:
      for (const auto& word : split_list(text))
        if (!is_word(word)) throw bad();
      return text;
    case Key::Kind::Numbers: {
      std::vector<double> numbers;
      for (const auto& item : split_list(text)) {
        if (!parse_number(item, number)) throw bad();
        numbers.push_back(number);
      }
      return numbers;
    }
  }
  throw bad();
}

}  // namespace

ParsedSpec parse_spec(const std::string& spec) {
  const std::string text = trim(spec);
  ParsedSpec parsed;
  const std::size_t open = text.find('(');
  parsed.name = trim(text.substr(0, open));
  MG_CHECK(!parsed.name.empty(), "spec '{}': expected a name, as in adam(lr=1e-3)", spec);
  for (char c : parsed.name)
    MG_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '_',
             "spec '{}': '{}' is not a valid name (letters, digits and _)", spec, parsed.name);
  if (open == std::string::npos) return parsed;
  MG_CHECK(text.back() == ')', "spec '{}': missing ')' at the end", spec);
  const std::string inside = text.substr(open + 1, text.size() - open - 2);
  if (trim(inside).empty()) return parsed;
  std::size_t start = 0;
  while (start <= inside.size()) {
    const std::size_t comma = inside.find(',', start);
    const std::string item = trim(inside.substr(start, comma - start));
    const std::size_t equals = item.find('=');
    MG_CHECK(equals != std::string::npos && equals > 0, "spec '{}': '{}' should be key=value (character {})", spec,
             item, open + 1 + start);
    parsed.arguments.emplace_back(trim(item.substr(0, equals)), trim(item.substr(equals + 1)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parsed;
}

Values resolve(const Schema& schema, const std::vector<std::pair<std::string, std::string>>& arguments,
               const std::string& what) {
  Values values;
  std::set<std::string> given;
  for (const auto& [name, text] : arguments) {
    const auto key = std::find_if(schema.begin(), schema.end(), [&](const Key& k) { return k.name == name; });
    MG_CHECK(key != schema.end(), "{}: unknown key '{}'; valid keys: {}", what, name, describe_keys(schema));
    MG_CHECK(given.insert(name).second, "{}: key '{}' is given twice", what, name);
    const Value value = parse_value(*key, text, what);
    if (key->check) {
      const std::string problem = key->check(value);
      MG_CHECK(problem.empty(), "{}: {}={} is out of range, expected {}", what, name, text, problem);
    }
    values[name] = value;
  }
  for (const auto& key : schema) {
    if (values.count(key.name)) continue;
    MG_CHECK(key.default_value.has_value(), "{}: key '{}' is required; valid keys: {}", what, key.name,
             describe_keys(schema));
    values[key.name] = *key.default_value;
  }
  return values;
}

std::string describe_keys(const Schema& schema) {
  std::string out;
  for (const auto& key : schema) {
    if (!out.empty()) out += ", ";
    out += key.name;
    if (key.default_value) {
      out += '=';
      out += to_string(*key.default_value);
    } else {
      out += " (required)";
    }
  }
  return out.empty() ? "none" : out;
}

std::function<std::string(const Value&)> at_least(double low) {
  return [low](const Value& v) { return std::get<double>(v) >= low ? "" : fmt::format(">= {}", low); };
}

std::function<std::string(const Value&)> greater_than(double low) {
  return [low](const Value& v) { return std::get<double>(v) > low ? "" : fmt::format("> {}", low); };
}

std::function<std::string(const Value&)> in_unit_interval() {
  return [](const Value& v) {
    const double x = std::get<double>(v);
    return x >= 0 && x < 1 ? "" : std::string("in [0, 1)");
  };
}

std::function<std::string(const Value&)> one_of(std::vector<std::string> words) {
  return [words](const Value& v) {
    const auto& w = std::get<std::string>(v);
    if (std::find(words.begin(), words.end(), w) != words.end()) return std::string();
    return fmt::format("one of {}", fmt::join(words, ", "));
  };
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = text.find(':', start);
    items.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) return items;
    start = colon + 1;
  }
}

std::string to_string(const Value& value) {
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  return fmt::format("{}", fmt::join(std::get<std::vector<double>>(value), ":"));
}

}  // namespace mg::optim
