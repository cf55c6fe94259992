// Command-line flags for `harmonia <command> [flags] [args]`.
//
// Written here rather than with absl::flags because Abseil's flags are
// process-global: every subcommand would accept (and list in --help) every
// other subcommand's flags. This parser knows each command's own flags, so an
// unknown or misspelt flag is an error naming the flags the command takes.
#ifndef HARMONIA_CLI_ARGS_H_
#define HARMONIA_CLI_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace harmonia::cli {

struct FlagSpec {
  std::string name;   // without the leading "--"
  std::string value;  // placeholder shown in help, e.g. "FILE"; empty = boolean flag
  std::string help;
  bool required = false;
};

struct Args {
  std::map<std::string, std::string> flags;  // name → value ("true" for booleans)
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // InvalidArgument naming the flag when the value is not a whole number in range.
  absl::StatusOr<long long> GetInt(const std::string& name, long long fallback, long long min,
                                   long long max) const;
};

// Parses argv[first..] against `specs`. Accepts --name=value and --name value.
// "--" ends the flags. InvalidArgument for unknown flags (listing the known
// ones), missing values and missing required flags.
absl::StatusOr<Args> ParseArgs(const std::string& command, const std::vector<FlagSpec>& specs,
                               int argc, char** argv, int first);

// "  --rules FILE   the rule-set file (required)" lines for help texts.
std::string FlagHelp(const std::vector<FlagSpec>& specs);

// When argv[first..] holds --help: prints `usage`, a blank line and the
// flags on stdout, and returns true (the command then exits 0).
bool WantsHelp(int argc, char** argv, int first, const char* usage,
               const std::vector<FlagSpec>& specs);

}  // namespace harmonia::cli

#endif  // HARMONIA_CLI_ARGS_H_
