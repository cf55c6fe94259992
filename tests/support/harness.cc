#include "tests/support/harness.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "auth/auth.h"
#include "common/sha256.h"

namespace harmonia::testing {
namespace {

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& Harness::Principals() {
  static const auto* principals = new std::vector<std::pair<std::string, std::string>>{
      {"ops@hq", "[global_ops]"},       {"olaf.ops", "[country_ops:DE]"},
      {"anna.rep", "[field:DE]"},       {"vera.view", "[viewer:DE]"},
      {"worker-de", "[service]"},       {"pierre.rep", "[field:FR]"},
      {"fanny.ops", "[country_ops:FR]"}};
  return *principals;
}

Harness::Harness(HarnessOptions options) : options_(std::move(options)) {}

Harness::~Harness() {
  worker_.reset();
  rules_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

absl::Status Harness::SetUp(const std::string& name) {
  dir_ = std::filesystem::temp_directory_path() / absl::StrCat("harmonia-", name, "-", getpid());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_ / "countries");
  std::string tokens;
  for (const auto& [principal, roles] : Principals()) {
    absl::StrAppend(&tokens, "- principal: ", principal,
                    "\n  token_sha256: ", Sha256Hex(principal + "-token"), "\n  roles: ", roles,
                    "\n");
  }
  WriteFile(dir_ / "tokens.yaml", tokens);
  WriteFile(dir_ / "worker.token", "worker-de-token\n");
  WriteFile(dir_ / "countries" / "DE.yaml",
            !options_.country_text.empty()
                ? options_.country_text
                : absl::StrReplaceAll(ReadFile(options_.source_dir + "/tests/golden/DE.yaml"),
                                      {{"schedule: \"0 2 1 */3 *\"\n", ""}}));
  const std::string data =
      options_.data_dir.empty() ? options_.source_dir + "/tests/golden/data" : options_.data_dir;
  ProcessResult import = Run({options_.cli, "import", "--quiet", "--store", worker_store(), data});
  if (import.exit_code != 0) {
    return absl::InternalError(absl::StrCat("import failed: ", import.err));
  }
  return absl::OkStatus();
}

absl::Status Harness::StartRules(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {options_.rules,
                                   "--listen",
                                   rules_listen_,
                                   "--store",
                                   "sqlite:" + (dir_ / "rules.db").string(),
                                   "--tokens",
                                   (dir_ / "tokens.yaml").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto d = Daemon::Start(argv, (dir_ / "rules.log").string());
  if (!d.ok()) return d.status();
  rules_ = std::move(*d);
  rules_listen_ = rules_->address();  // a restart comes back on the same port
  return absl::OkStatus();
}

absl::Status Harness::StartWorker(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {options_.worker,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--store",
                                   worker_store(),
                                   "--rules-server",
                                   rules_listen_,
                                   "--rules-token-file",
                                   (dir_ / "worker.token").string(),
                                   "--countries",
                                   "DE",
                                   "--countries-dir",
                                   (dir_ / "countries").string(),
                                   "--tokens",
                                   (dir_ / "tokens.yaml").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto d = Daemon::Start(argv, worker_log());
  if (!d.ok()) return d.status();
  worker_ = std::move(*d);
  return absl::OkStatus();
}

ProcessResult Harness::Publish(const std::string& file) {
  return Run({options_.cli, "rules", "publish", "--server", rules_->address(), "--token",
              "ops@hq-token", file});
}

ProcessResult Harness::Cli(std::vector<std::string> args, const std::string& principal) {
  args.insert(args.begin(), options_.cli);
  return Run(args, {"HARMONIA_TOKEN=" + principal + "-token"});
}

int Harness::StopWorker() {
  const int code = worker_ ? worker_->Stop() : -1;
  worker_.reset();
  return code;
}

void Harness::KillWorker() {
  if (worker_) worker_->Kill();
  worker_.reset();
}

}  // namespace harmonia::testing
