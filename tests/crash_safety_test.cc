// Crash safety of the store, on a SQLite file and on a real
// PostgreSQL server: `harmonia import` and `harmonia cycle run` are killed
// with SIGKILL at random moments, again and again. After every kill the store
// must open, pass the integrity check (SQLite's integrity_check; amcheck's
// B-tree checks on PostgreSQL),
// hold no partial cycle, keep every cycle a run reported as committed, and
// hold each cycle's refinement updates and audit entry exactly when it holds
// the cycle.
#include <gtest/gtest.h>
#include <libpq-fe.h>
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

#include "tests/support/postgres_server.h"

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

// One connection to the store behind harmonia's back: runs a query of one
// integer, or -1 when it fails.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual bool ok() const = 0;
  virtual int64_t Int(const std::string& sql) = 0;
  virtual std::vector<int64_t> Ints(const std::string& sql) = 0;
  virtual bool IntegrityOk() = 0;
};

class SqliteProbe : public Probe {
 public:
  explicit SqliteProbe(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }
  ~SqliteProbe() override { sqlite3_close(db_); }
  bool ok() const override { return db_ != nullptr; }
  int64_t Int(const std::string& sql) override {
    std::vector<int64_t> v = Ints(sql);
    return v.size() == 1 ? v[0] : -1;
  }
  std::vector<int64_t> Ints(const std::string& sql) override {
    std::vector<int64_t> out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  bool IntegrityOk() override {
    sqlite3_stmt* st = nullptr;
    bool ok = false;
    if (sqlite3_prepare_v2(db_, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      ok = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok";
    }
    sqlite3_finalize(st);
    return ok;
  }

 private:
  sqlite3* db_ = nullptr;
};

class PostgresProbe : public Probe {
 public:
  explicit PostgresProbe(const std::string& url) : conn_(PQconnectdb(url.c_str())) {}
  ~PostgresProbe() override { PQfinish(conn_); }
  bool ok() const override { return PQstatus(conn_) == CONNECTION_OK; }
  int64_t Int(const std::string& sql) override {
    std::vector<int64_t> v = Ints(sql);
    return v.size() == 1 ? v[0] : -1;
  }
  std::vector<int64_t> Ints(const std::string& sql) override {
    std::vector<int64_t> out;
    PGresult* r = PQexec(conn_, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) out.push_back(std::atoll(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    return out;
  }
  // amcheck: every B-tree index of the store's tables is consistent with
  // its table (bt_index_check with heapallindexed raises an error otherwise).
  bool IntegrityOk() override {
    PQclear(PQexec(conn_, "CREATE EXTENSION IF NOT EXISTS amcheck"));
    const int64_t checked =
        Int("SELECT COUNT(bt_index_check(c.oid, true)) FROM pg_index i JOIN pg_class c ON c.oid = "
            "i.indexrelid JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE a.amname = 'btree' AND n.nspname = 'public'");
    return checked > 0;
  }

 private:
  PGconn* conn_;
};

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

StoreState Inspect(Probe& db) {
  StoreState s;
  if (!db.ok()) return s;
  s.opened = true;
  s.has_schema = db.Int("SELECT MAX(version) FROM schema_version") >= 1;
  if (!s.has_schema) return s;
  s.integrity_ok = db.IntegrityOk();
  s.customers = db.Int("SELECT COUNT(*) FROM customers");
  s.inputs = db.Int("SELECT COUNT(*) FROM inputs");
  s.partial_cycles = db.Int(
      "SELECT COUNT(*) FROM cycles c WHERE c.customers != (SELECT COUNT(*) FROM "
      "assignments a WHERE a.cycle_id = c.cycle_id)");
  for (int64_t id : db.Ints("SELECT cycle_id FROM cycles")) s.cycles.insert(id);
  s.refinements = db.Int("SELECT COUNT(*) FROM refinements");
  s.orphan_refinements = db.Int(
      "SELECT COUNT(*) FROM refinements WHERE last_cycle_id > 0 AND last_cycle_id NOT IN "
      "(SELECT cycle_id FROM cycles)");
  s.unaudited_cycles = db.Int(
      "SELECT (SELECT COUNT(*) FROM cycles) - (SELECT COUNT(*) FROM audit_log WHERE action = "
      "'cycle.commit')");
  return s;
}

class CrashSafety : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harmonia-crash-XXXXXX";
    dir_ = mkdtemp(tmpl);
    data_ = dir_ + "/data";
    if (GetParam() == "postgresql") {
      absl::StatusOr<std::unique_ptr<harmonia::testing::PostgresServer>> started =
          harmonia::testing::PostgresServer::Start({});
      ASSERT_TRUE(started.ok()) << started.status();
      server_ = std::move(*started);
    }
    ASSERT_EQ(Wait(Spawn({"gen", "--rules", "rules/oncology.yaml", "--countries", "DE",
                          "--customers", "20000", "--seed", "3", "--out", data_},
                         dir_ + "/gen.err")),
              0);
    FreshStore();
  }
  void TearDown() override {
    server_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Points url_ at a new, empty store.
  void FreshStore() {
    ++stores_;
    if (server_ == nullptr) {
      path_ = dir_ + "/store" + std::to_string(stores_) + ".db";
      url_ = "sqlite:" + path_;
      return;
    }
    const std::string name = "crash_" + std::to_string(stores_);
    PostgresProbe admin(server_->url());
    ASSERT_TRUE(admin.ok());
    admin.Ints("CREATE DATABASE " + name);
    url_ = "postgresql://harmonia@127.0.0.1:" + std::to_string(server_->port()) + "/" + name;
  }

  // Whether anything of the store exists yet (a killed run may not have
  // created the SQLite file).
  bool StoreExists() const { return server_ != nullptr || access(path_.c_str(), F_OK) == 0; }

  StoreState InspectStore() {
    if (server_ != nullptr) {
      PostgresProbe probe(url_);
      return Inspect(probe);
    }
    SqliteProbe probe(path_);
    return Inspect(probe);
  }

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

  std::unique_ptr<harmonia::testing::PostgresServer> server_;
  int stores_ = 0;
  std::string dir_, data_, path_, url_;
};

TEST_P(CrashSafety, KilledImportsAndCyclesNeverLeaveAPartialOrCorruptStore) {
  std::mt19937 rng(20261123);
  auto import = [&] {
    return std::vector<std::string>{"import", "--quiet", "--store", url_, data_};
  };
  // Imports killed at random points until ten were killed mid-way; each later
  // run resumes idempotently.
  const double import_time = Time(import());
  int kills = 0;
  std::string err;
  const int64_t clean_inputs = InspectStore().inputs;
  ASSERT_GT(clean_inputs, 0);
  for (int i = 0, import_kills = 0; import_kills < 10 && i < 40; ++i) {
    // A fresh store each time, so every kill lands in real work.
    FreshStore();
    if (RunAndKill(import(), import_time * 0.9, &rng, &err)) ++kills, ++import_kills;
    if (!StoreExists()) continue;  // killed before the file existed
    StoreState s = InspectStore();
    EXPECT_TRUE(s.opened) << "after import run " << i;
    if (!s.has_schema) continue;  // killed before the first migration committed
    EXPECT_TRUE(s.integrity_ok) << "after import run " << i;
    EXPECT_TRUE(s.customers == 0 || s.customers == 20000)
        << "customers are one transaction; saw " << s.customers;
    // Rerunning the import completes whatever the kill interrupted.
    ASSERT_EQ(Wait(Spawn(import(), dir_ + "/resume.err")), 0) << ReadAll(dir_ + "/resume.err");
    EXPECT_EQ(InspectStore().inputs, clean_inputs) << "after resuming import run " << i;
  }
  EXPECT_EQ(InspectStore().customers, 20000);

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
    StoreState s = InspectStore();
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

INSTANTIATE_TEST_SUITE_P(Backends, CrashSafety, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
