// The `harmonia` subcommands. Each takes the whole argv and the index of its
// first own argument, prints to stdout/stderr and returns the exit status:
// 0 success, 1 failure of the machine (I/O), 2 bad usage or invalid input files.
#ifndef HARMONIA_CLI_COMMANDS_H_
#define HARMONIA_CLI_COMMANDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "engine/rule_set.h"

namespace harmonia::cli {

int RunEvaluate(int argc, char** argv, int first);
int RunRulesValidate(int argc, char** argv, int first);
int RunCountriesValidate(int argc, char** argv, int first);
int RunGen(int argc, char** argv, int first);
int RunImport(int argc, char** argv, int first);
int RunRulesPublish(int argc, char** argv, int first);
int RunCycleRun(int argc, char** argv, int first);
int RunExport(int argc, char** argv, int first);
// A daemon's gRPC health (no token).
int RunHealth(int argc, char** argv, int first);
// Against a store (--store) or the services (--server).
int RunReport(int argc, char** argv, int first);
int RunAuditLog(int argc, char** argv, int first);
// Against a store (--store).
int RunAuditVerify(int argc, char** argv, int first);

// Against the rules service (--server).
int RunRulesValidateRemote(int argc, char** argv, int first);
int RunRulesPublishRemote(int argc, char** argv, int first);
int RunRulesRollback(int argc, char** argv, int first);
int RunRulesList(int argc, char** argv, int first);
int RunRulesShow(int argc, char** argv, int first);
int RunRulesDiff(int argc, char** argv, int first);
int RunRulesPreview(int argc, char** argv, int first);

// Against a country worker (--server).
int RunRefineSubmit(int argc, char** argv, int first);
int RunRefineList(int argc, char** argv, int first);
int RunRefineDecide(int argc, char** argv, int first, const std::string& verb);
int RunCycleRunRemote(int argc, char** argv, int first);
int RunCycleStatus(int argc, char** argv, int first);
int RunCycleList(int argc, char** argv, int first);
int RunAssignments(int argc, char** argv, int first);
int RunProfileSubmit(int argc, char** argv, int first);
int RunExplain(int argc, char** argv, int first);
// `harmonia typing-tool fit|test` (cli/typing_tool.cc).
int RunTypingTool(int argc, char** argv, int first, const std::string& verb);

// Who runs this command, for the store's records and audit log: $USER, or
// "uid:N" when it is not set.
std::string CliPrincipal();

// What `--format` and `--as` ask of `harmonia export` and `evaluate`: the
// directives columns or plain assignments.csv, as CSV or JSON Lines (as
// defaults to jsonl when `out` ends in .jsonl or .ndjson). `changes`: the
// changes export, which always has the directives columns. InvalidArgument
// naming the flag and its allowed values.
struct OutputFormat {
  bool directives = false;
  bool jsonl = false;
};
absl::StatusOr<OutputFormat> ParseOutputFormat(const Args& args, const std::string& out,
                                               bool changes);
// The flags ParseOutputFormat reads, for a command's flag list.
std::vector<FlagSpec> OutputFormatFlags();

// Compiles a rule-set file, printing its issues to stderr. Null on errors.
std::shared_ptr<const engine::RuleSet> LoadRuleSetFile(const std::string& path,
                                                       bool print_warnings);

}  // namespace harmonia::cli

#endif  // HARMONIA_CLI_COMMANDS_H_
