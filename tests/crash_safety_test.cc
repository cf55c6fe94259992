// Crash safety of the SQLite store (issue #3): `harmonia import` and
// `harmonia cycle run` are killed with SIGKILL at random moments, again and
// again. After every kill the store must open, pass SQLite's integrity check,
// hold no partial cycle, keep every cycle a run reported as committed, and
// hold each cycle's refinement updates and audit entry exactly when it holds
// the cycle.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

const std::string kSource = HARMONIA_SOURCE_DIR;

// Starts the CLI with `args` (from the source folder), stderr into `err_path`.
pid_t Spawn(const std::vector<std::string>& args, const std::string& err_path) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(kSource.c_str()) != 0) _exit(127);
    FILE* err = std::fopen(err_path.c_str(), "w");
    if (err != nullptr) {
      dup2(fileno(err), 1);
      dup2(fileno(err), 2);
    }
    std::vector<char*> argv;
    std::string cli = HARMONIA_CLI;
    argv.push_back(cli.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(cli.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t Query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

struct StoreState {
  bool opened = false;
  bool has_schema = false;
  bool integrity_ok = false;
  int64_t inputs = -1;
  int64_t partial_cycles = -1;  // cycles whose assignment count differs from `customers`
  std::set<int64_t> cycles;
  int64_t customers = -1;
  int64_t refinements = -1;
  int64_t orphan_refinements = -1;  // counting a cycle the store does not hold
  int64_t unaudited_cycles = -1;    // cycles minus cycle.commit audit entries
};

StoreState Inspect(const std::string& path) {
  StoreState s;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return s;
  }
  s.opened = true;
  s.has_schema = Query(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'customers'") == 1;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    s.integrity_ok = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok";
  }
  sqlite3_finalize(st);
  s.customers = Query(db, "SELECT COUNT(*) FROM customers");
  s.inputs = Query(db, "SELECT COUNT(*) FROM inputs");
  if (Query(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'cycles'") == 1) {
    s.partial_cycles = Query(
        db,
        "SELECT COUNT(*) FROM cycles c WHERE c.customers != (SELECT COUNT(*) FROM assignments a "
        "WHERE a.cycle_id = c.cycle_id)");
    if (sqlite3_prepare_v2(db, "SELECT cycle_id FROM cycles", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) s.cycles.insert(sqlite3_column_int64(st, 0));
    }
    sqlite3_finalize(st);
    s.refinements = Query(db, "SELECT COUNT(*) FROM refinements");
    s.orphan_refinements = Query(db,
                                 "SELECT COUNT(*) FROM refinements WHERE last_cycle_id > 0 AND "
                                 "last_cycle_id NOT IN (SELECT cycle_id FROM cycles)");
    s.unaudited_cycles = Query(db,
                               "SELECT (SELECT COUNT(*) FROM cycles) - (SELECT COUNT(*) FROM "
                               "audit_log WHERE action = 'cycle.commit')");
  } else {
    s.partial_cycles = 0;
  }
  sqlite3_close(db);
  return s;
}

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harmonia-crash-XXXXXX";
    dir_ = mkdtemp(tmpl);
    data_ = dir_ + "/data";
    path_ = dir_ + "/store.db";
    url_ = "sqlite:" + path_;
    ASSERT_EQ(Wait(Spawn({"gen", "--rules", "rules/oncology.yaml", "--countries", "DE",
                          "--customers", "20000", "--seed", "3", "--out", data_},
                         dir_ + "/gen.err")),
              0);
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Runs a command to completion and returns its wall time.
  double Time(const std::vector<std::string>& args) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Wait(Spawn(args, dir_ + "/timed.err")), 0) << ReadAll(dir_ + "/timed.err");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // Starts the command and SIGKILLs it after a random delay within `budget`
  // seconds. Returns true when our SIGKILL ended it, false when it finished
  // first (successfully: any other ending fails the test). Its stderr in *err.
  bool RunAndKill(const std::vector<std::string>& args, double budget, std::mt19937* rng,
                  std::string* err) {
    const std::string err_path = dir_ + "/run.err";
    const pid_t pid = Spawn(args, err_path);
    std::uniform_real_distribution<double> delay(0, budget);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(*rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    *err = ReadAll(err_path);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return true;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "run ended badly: " << *err;
    return false;
  }

  std::string dir_, data_, path_, url_;
};

TEST_F(CrashSafety, KilledImportsAndCyclesNeverLeaveAPartialOrCorruptStore) {
  std::mt19937 rng(20261123);
  const std::vector<std::string> import = {"import", "--quiet", "--store", url_, data_};
  // Imports killed at random points until ten were killed mid-way; each later
  // run resumes idempotently.
  const double import_time = Time(import);
  int kills = 0;
  std::string err;
  const int64_t clean_inputs = Inspect(path_).inputs;
  for (int i = 0, import_kills = 0; import_kills < 10 && i < 40; ++i) {
    // A fresh store each time, so every kill lands in real work.
    std::system(("rm -f '" + path_ + "'*").c_str());
    if (RunAndKill(import, import_time * 0.9, &rng, &err)) ++kills, ++import_kills;
    if (access(path_.c_str(), F_OK) != 0) continue;  // killed before the file existed
    StoreState s = Inspect(path_);
    EXPECT_TRUE(s.opened) << "after import run " << i;
    if (!s.has_schema) continue;  // killed before the first migration committed
    EXPECT_TRUE(s.integrity_ok) << "after import run " << i;
    EXPECT_TRUE(s.customers == 0 || s.customers == 20000)
        << "customers are one transaction; saw " << s.customers;
    // Rerunning the import completes whatever the kill interrupted.
    ASSERT_EQ(Wait(Spawn(import, dir_ + "/resume.err")), 0) << ReadAll(dir_ + "/resume.err");
    EXPECT_EQ(Inspect(path_).inputs, clean_inputs) << "after resuming import run " << i;
  }
  EXPECT_EQ(Inspect(path_).customers, 20000);

  // Cycles killed at random points: every reported cycle survives, none is partial.
  ASSERT_EQ(Wait(Spawn({"rules", "publish", "--store", url_, "rules/oncology.yaml"},
                       dir_ + "/publish.err")),
            0);
  const std::vector<std::string> cycle = {
      "cycle", "run",      "--store", url_,         "--country",     "DE",
      "--ta",  "oncology", "--as-of", "2026-11-01", "--refinements", data_ + "/refinements.csv"};
  // Refinement rows of the file (all for DE oncology): stored in one transaction.
  const int64_t refinement_rows = [&] {
    std::istringstream in(ReadAll(data_ + "/refinements.csv"));
    std::string line;
    int64_t n = -1;  // the header
    while (std::getline(in, line)) n += !line.empty();
    return n;
  }();
  ASSERT_GT(refinement_rows, 0);
  const double cycle_time = Time(cycle);
  std::set<int64_t> reported = {1};  // the timed run
  for (int i = 0, cycle_kills = 0; cycle_kills < 10 && i < 40; ++i) {
    if (RunAndKill(cycle, cycle_time * 0.9, &rng, &err)) {
      ++kills, ++cycle_kills;
    } else {
      const size_t at = err.find("cycle ");
      if (at != std::string::npos) reported.insert(std::atoll(err.c_str() + at + 6));
    }
    StoreState s = Inspect(path_);
    EXPECT_TRUE(s.integrity_ok) << "after cycle run " << i;
    EXPECT_EQ(s.partial_cycles, 0) << "after cycle run " << i;
    EXPECT_EQ(s.refinements, refinement_rows) << "after cycle run " << i;
    EXPECT_EQ(s.orphan_refinements, 0) << "after cycle run " << i;
    EXPECT_EQ(s.unaudited_cycles, 0) << "after cycle run " << i;
    for (int64_t id : reported) EXPECT_TRUE(s.cycles.count(id)) << "lost reported cycle " << id;
  }
  EXPECT_GE(kills, 20) << "too few runs were actually killed mid-way to prove anything";
  RecordProperty("kills", kills);
}

}  // namespace
