// harmonia: the command-line tool for every Harmonia user job (docs/cli.md).
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace {

constexpr const char* kUsage = R"(harmonia — harmonized customer segmentation

usage: harmonia <command> [flags] [args]

commands:
  evaluate            run one cycle offline from CSV files (docs/files.md)
  rules validate      compile rule-set files, run their tests, report every issue
                      (offline, or on the rules service with --server)
  countries validate  check country files against the rule sets they use
  gen                 generate a synthetic, realistic data set (or a study: --study)
  typing-tool fit     fit a typing tool to a segmentation study (docs/typing-tool.md)
  typing-tool test    type a study's respondents with a typing tool
  import              load customers, answers and metrics into a store
  rules publish       publish a new rule-set version (its tests must pass), into
                      a store (--store) or through the rules service (--server)
  rules list          the published versions (rules service)
  rules show          a published version's text (rules service)
  rules diff          what changed between two versions (rules service)
  rules rollback      republish an earlier version as a new one (rules service)
  rules preview       how a candidate rule set would move a country's customers
  cycle run           run one cycle: in-process against a store (--store), or on
                      the country's worker (--server)
  cycle status        a committed cycle and its quality figures (worker)
  cycle list          the committed cycles (worker)
  refine submit       submit field refinements: a CSV or one from flags (worker)
  refine list         the country's refinements and their status (worker)
  refine approve|reject|withdraw   decide on refinements (worker)
  assignments         query a cycle's assignments (worker)
  explain             one customer's assignment, layer by layer (worker)
  profile submit      submit profiling answers captured in the field (worker)
  export              write a committed cycle's assignments, directives or changes
  report              whether the segmentation works, per market and across
                      markets: tables, --json or --html FILE (store or server)
  audit verify        check the audit log's hash chain end to end (store)
  audit log           read the audit log: who did what, when (store or server)
  health              ask a daemon's gRPC health service (probes, scripts)
  version             print the version

`harmonia <command> --help` describes a command's flags.
)";

// Commands that work both offline and against a server choose by --server.
bool HasServerFlag(int argc, char** argv) {
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--server") == 0 || std::strncmp(argv[i], "--server=", 9) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace harmonia::cli;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::string sub = argc > 2 ? argv[2] : "";
  if (command == "evaluate") return RunEvaluate(argc, argv, 2);
  if (command == "gen") return RunGen(argc, argv, 2);
  if (command == "import") return RunImport(argc, argv, 2);
  if (command == "export") return RunExport(argc, argv, 2);
  if (command == "report") return RunReport(argc, argv, 2);
  if (command == "health") return RunHealth(argc, argv, 2);
  if (command == "audit" && sub == "verify") return RunAuditVerify(argc, argv, 3);
  if (command == "audit" && sub == "log") return RunAuditLog(argc, argv, 3);
  if (command == "rules" && sub == "publish") {
    return HasServerFlag(argc, argv) ? RunRulesPublishRemote(argc, argv, 3)
                                     : RunRulesPublish(argc, argv, 3);
  }
  if (command == "rules" && sub == "rollback") return RunRulesRollback(argc, argv, 3);
  if (command == "rules" && sub == "list") return RunRulesList(argc, argv, 3);
  if (command == "rules" && sub == "show") return RunRulesShow(argc, argv, 3);
  if (command == "rules" && sub == "diff") return RunRulesDiff(argc, argv, 3);
  if (command == "rules" && sub == "preview") return RunRulesPreview(argc, argv, 3);
  if (command == "cycle" && sub == "run") {
    return HasServerFlag(argc, argv) ? RunCycleRunRemote(argc, argv, 3)
                                     : RunCycleRun(argc, argv, 3);
  }
  if (command == "cycle" && sub == "status") return RunCycleStatus(argc, argv, 3);
  if (command == "cycle" && sub == "list") return RunCycleList(argc, argv, 3);
  if (command == "refine" && sub == "submit") return RunRefineSubmit(argc, argv, 3);
  if (command == "refine" && sub == "list") return RunRefineList(argc, argv, 3);
  if (command == "refine" && (sub == "approve" || sub == "reject" || sub == "withdraw")) {
    return RunRefineDecide(argc, argv, 3, sub);
  }
  if (command == "assignments") return RunAssignments(argc, argv, 2);
  if (command == "explain") return RunExplain(argc, argv, 2);
  if (command == "profile" && sub == "submit") return RunProfileSubmit(argc, argv, 3);
  if (command == "rules" && sub == "validate") {
    return HasServerFlag(argc, argv) ? RunRulesValidateRemote(argc, argv, 3)
                                     : RunRulesValidate(argc, argv, 3);
  }
  if (command == "countries" && sub == "validate") return RunCountriesValidate(argc, argv, 3);
  if (command == "typing-tool") return RunTypingTool(argc, argv, 3, sub);
  if (command == "version" || command == "--version") {
    std::printf("harmonia %s\n", HARMONIA_VERSION);
    return 0;
  }
  std::fprintf(stderr, "harmonia: unknown command '%s%s%s'\n\n%s", command.c_str(),
               sub.empty() ? "" : " ", sub.c_str(), kUsage);
  return 2;
}
