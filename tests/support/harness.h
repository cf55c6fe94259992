// A throwaway Harmonia deployment for cross-process tests: a temp folder with
// a tokens file (one principal per role, token = "<principal>-token"), a
// market's country file, a rules service and country workers as real
// processes on loopback, each with its own SQLite store.
//
//   Harness h;                       // SetUp: folder, tokens, DE.yaml, worker store
//   ASSERT_TRUE(h.StartRules().ok());
//   ASSERT_TRUE(h.StartWorker().ok());
//   h.Publish(HARMONIA_SOURCE_DIR "/rules/oncology.yaml");
//
// Destroying it kills what still runs and removes the folder.
#ifndef HARMONIA_TESTS_SUPPORT_HARNESS_H_
#define HARMONIA_TESTS_SUPPORT_HARNESS_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/support/process.h"

namespace harmonia::testing {

struct HarnessOptions {
  std::string cli;     // the harmonia binary
  std::string rules;   // harmonia-rules
  std::string worker;  // harmonia-worker
  std::string source_dir;
  // The DE market: tests/golden/DE.yaml without its schedule, unless given.
  std::string country_text;
  // Imported into the worker's store (customers.csv, answers.csv, metrics.csv).
  std::string data_dir;  // empty = tests/golden/data
};

class Harness {
 public:
  // Principals in the tokens file: ops@hq (global_ops), olaf.ops
  // (country_ops:DE), anna.rep (field:DE), vera.view (viewer:DE), worker-de
  // (service), pierre.rep (field:FR), fanny.ops (country_ops:FR).
  static const std::vector<std::pair<std::string, std::string>>& Principals();

  explicit Harness(HarnessOptions options);
  ~Harness();
  // Folder, tokens, country file, the worker's store imported. Call first.
  absl::Status SetUp(const std::string& name);

  absl::Status StartRules(const std::vector<std::string>& extra = {});
  absl::Status StartWorker(const std::vector<std::string>& extra = {});
  // `harmonia rules publish` as ops@hq; its exit code.
  ProcessResult Publish(const std::string& file);
  // Runs the CLI with HARMONIA_TOKEN set for `principal`.
  ProcessResult Cli(std::vector<std::string> args, const std::string& principal);

  const std::filesystem::path& dir() const { return dir_; }
  std::string worker_store() const { return "sqlite:" + (dir_ / "worker.db").string(); }
  std::string worker_log() const { return (dir_ / "worker.log").string(); }
  Daemon* rules() { return rules_.get(); }
  Daemon* worker() { return worker_.get(); }
  void StopRules() { rules_.reset(); }
  int StopWorker();
  void KillWorker();

 private:
  HarnessOptions options_;
  std::filesystem::path dir_;
  std::string rules_listen_ = "127.0.0.1:0";
  std::unique_ptr<Daemon> rules_, worker_;
};

}  // namespace harmonia::testing

#endif  // HARMONIA_TESTS_SUPPORT_HARNESS_H_
