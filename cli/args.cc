#include "cli/args.h"

#include <charconv>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace harmonia::cli {

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

absl::StatusOr<long long> Args::GetInt(const std::string& name, long long fallback, long long min,
                                       long long max) const {
  auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  long long v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected a whole number from ",
                                                   min, " to ", max, ", got '", s, "'"));
  }
  return v;
}

absl::StatusOr<Args> ParseArgs(const std::string& command, const std::vector<FlagSpec>& specs,
                               int argc, char** argv, int first) {
  Args args;
  auto find = [&](const std::string& name) -> const FlagSpec* {
    for (const FlagSpec& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  bool flags_done = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      args.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = find(name);
    if (spec == nullptr) {
      std::string known;
      for (const FlagSpec& s : specs)
        absl::StrAppend(&known, known.empty() ? "" : ", ", "--", s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("harmonia ", command, ": unknown flag --", name, "; known flags: ", known));
    }
    if (spec->value.empty()) {
      if (value.has_value() && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("harmonia ", command, ": --", name, " takes no value"));
      }
      if (value.value_or("true") == "true") args.flags[name] = "true";
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("harmonia ", command, ": --", name, " needs a value (", spec->value, ")"));
      }
      value = argv[++i];
    }
    args.flags[name] = *value;
  }
  for (const FlagSpec& s : specs) {
    if (s.required && !args.Has(s.name)) {
      return absl::InvalidArgumentError(absl::StrCat("harmonia ", command, ": missing --", s.name,
                                                     " ", s.value, " (", s.help, ")"));
    }
  }
  return args;
}

std::string FlagHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& s : specs) {
    const std::string left = absl::StrCat("--", s.name, s.value.empty() ? "" : " ", s.value);
    absl::StrAppendFormat(&out, "  %-22s %s%s\n", left, s.help, s.required ? " (required)" : "");
  }
  return out;
}

bool WantsHelp(int argc, char** argv, int first, const char* usage,
               const std::vector<FlagSpec>& specs) {
  for (int i = first; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::printf("%s\n%s", usage, FlagHelp(specs).c_str());
      return true;
    }
  }
  return false;
}

}  // namespace harmonia::cli
