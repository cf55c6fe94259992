// End to end: the real `harmonia` binary on the hand-checked data set in
// tests/golden/ (see tests/golden/README.md for why each row is what it is).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/csv.h"
#include "tests/support/postgres_server.h"

namespace {

const std::string kSource = HARMONIA_SOURCE_DIR;
const std::string kGolden = kSource + "/tests/golden";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CliRun {
  int status = -1;
  std::string err;
};

// Runs the CLI with `args` from the source folder; stderr is captured.
CliRun Harmonia(const std::string& args) {
  char tmpl[] = "/tmp/harmonia-e2e-XXXXXX";
  const int fd = mkstemp(tmpl);
  close(fd);
  const std::string cmd =
      "cd '" + kSource + "' && '" + HARMONIA_CLI + "' " + args + " 2>'" + tmpl + "' >/dev/null";
  CliRun r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = ReadAll(tmpl);
  unlink(tmpl);
  return r;
}

// Drops the lines that carry timings, so stderr can be compared exactly.
std::string WithoutTimings(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find("  load ") == 0) continue;
    out += line + "\n";
  }
  return out;
}

class EvaluateGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harmonia-e2e-dir-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

const char* kBase =
    "evaluate --rules rules/oncology.yaml --country tests/golden/DE.yaml "
    "--data tests/golden/data --as-of 2026-11-01 ";

TEST_F(EvaluateGolden, FirstCycleMatchesTheHandCheckedAssignmentsAndMessages) {
  const std::string out = dir_ + "/assignments.csv";
  CliRun r =
      Harmonia(std::string(kBase) + "--refinements tests/golden/data/refinements.csv --out " + out);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ReadAll(out), ReadAll(kGolden + "/expected/cycle1.csv"));
  EXPECT_EQ(WithoutTimings(r.err), ReadAll(kGolden + "/expected/cycle1.stderr"));
}

TEST_F(EvaluateGolden, PullThroughKeepsThePreviousRefinedSegment) {
  const std::string out = dir_ + "/assignments.csv";
  CliRun r =
      Harmonia(std::string(kBase) + "--previous tests/golden/data/previous.csv --out " + out);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ReadAll(out), ReadAll(kGolden + "/expected/cycle2.csv"));
}

TEST_F(EvaluateGolden, IdenticalInputGivesByteIdenticalOutputWhateverTheThreads) {
  const std::string a = dir_ + "/a.csv", b = dir_ + "/b.csv";
  const std::string refs = "--refinements tests/golden/data/refinements.csv ";
  ASSERT_EQ(Harmonia(std::string(kBase) + refs + "--threads 1 --out " + a).status, 0);
  ASSERT_EQ(Harmonia(std::string(kBase) + refs + "--threads 3 --out " + b).status, 0);
  const std::string first = ReadAll(a);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, ReadAll(b));
}

TEST_F(EvaluateGolden, BadInvocationsExplainThemselves) {
  CliRun r = Harmonia("evaluate --rules rules/oncology.yaml");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing --country"), std::string::npos) << r.err;
  r = Harmonia(std::string(kBase) + "--out " + dir_ + "/x.csv --colour red");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown flag --colour"), std::string::npos) << r.err;
  r = Harmonia(
      "evaluate --rules rules/oncology.yaml --country tests/golden/DE.yaml --data "
      "tests/golden/data --as-of 2026-02-30 --out " +
      dir_ + "/x.csv");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'2026-02-30' is not a date"), std::string::npos) << r.err;
  r = Harmonia(
      "evaluate --rules rules/oncology.yaml --country tests/golden/DE.yaml --data "
      "/nonexistent --as-of 2026-11-01 --out " +
      dir_ + "/x.csv");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent/customers.csv"), std::string::npos) << r.err;
  // An empty file name (an unset variable) is an error, not "no file".
  r = Harmonia(std::string(kBase) + "--previous '' --out " + dir_ + "/x.csv");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--previous: empty; give a file"), std::string::npos) << r.err;
}

// `gen` data end to end: a 12-customer DE universe (seed 5), evaluated with the
// shipped DE country file. tests/golden/README.md checks three rows by hand.
TEST_F(EvaluateGolden, GeneratedDataGivesTheCheckedAssignments) {
  ASSERT_EQ(Harmonia("gen --rules rules/oncology.yaml --countries DE --customers 12 --seed 5 "
                     "--refinements 3 --out " +
                     dir_ + "/data")
                .status,
            0);
  const std::string out = dir_ + "/assignments.csv";
  CliRun r = Harmonia("evaluate --rules rules/oncology.yaml --country countries/DE.yaml --data " +
                      dir_ + "/data --as-of 2026-11-01 --refinements " + dir_ +
                      "/data/refinements.csv --out " + out);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ReadAll(out), ReadAll(kGolden + "/expected/gen-de-12.csv"));
}

TEST_F(EvaluateGolden, ImportLoadsGoodRowsReportsBadOnesAndIsIdempotent) {
  const std::string url = "sqlite:" + dir_ + "/store.db";
  CliRun first = Harmonia("import --store " + url + " tests/golden/data");
  EXPECT_EQ(first.status, 0) << first.err;
  for (const char* line :
       {"customers.csv:12:1: customer_id: duplicate 'D006' (first on line 9)\n",
        "customers.csv:13: expected 5 fields, got 2\n",
        "answers.csv:46:1: customer_id: unknown customer 'D999' (not in customers.csv nor the "
        "store)\n",
        "answers.csv:47:24: as_of: '2026-13-01' is not a date (YYYY-MM-DD, 1900-01-01 to "
        "2199-12-31)\n",
        "  customers.csv: 9 rows loaded (9 written, 0 unchanged), 2 rejected\n",
        "  answers.csv: 45 rows loaded (45 written, 0 unchanged), 5 rejected\n",
        "  metrics.csv: 13 rows loaded (13 written, 0 unchanged), 0 rejected\n",
        "activities.csv:7:1: customer_id: unknown customer 'D999' (not in customers.csv nor the "
        "store)\n",
        "activities.csv:8:15: activity: 'visit' is not an activity; expected one of: calls, "
        "remote, email, events\n",
        "activities.csv:9:21: date: '2026-11-31' is not a date (YYYY-MM-DD, 1900-01-01 to "
        "2199-12-31)\n",
        "activities.csv:10:32: count: '-1' is not a whole number from 0 to 100000\n",
        "activities.csv:11: source: 0 bytes; expected 1 to 64 (the system that reported the "
        "activity, e.g. crm)\n",
        "  activities.csv: 5 rows loaded as 4 counts (4 written, 0 unchanged), 5 rejected\n",
        "territories.csv:7:1: customer_id: unknown customer 'D999' (not in customers.csv nor the "
        "store)\n",
        "territories.csv:8: territory: 0 bytes; expected 1 to 128\n",
        "  territories.csv: 5 rows loaded (5 written, 0 unchanged, 0 pairs no longer in the "
        "alignment removed), 2 rejected\n"}) {
    EXPECT_NE(first.err.find(line), std::string::npos) << line << "\nin:\n" << first.err;
  }
  CliRun again = Harmonia("import --quiet --store " + url + " tests/golden/data");
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("  answers.csv: 45 rows loaded (0 written, 45 unchanged), 5 rejected"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("  metrics.csv: 13 rows loaded (0 written, 13 unchanged), 0 rejected"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("  activities.csv: 5 rows loaded as 4 counts (0 written, 4 unchanged), "
                           "5 rejected"),
            std::string::npos)
      << again.err;
  EXPECT_NE(again.err.find("  territories.csv: 5 rows loaded (0 written, 5 unchanged, 0 pairs no "
                           "longer in the alignment removed), 2 rejected"),
            std::string::npos)
      << again.err;
  CliRun bad = Harmonia("import --store mysql://x tests/golden/data");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("expected sqlite:PATH or postgresql://"), std::string::npos) << bad.err;
}

// `audit verify` passes on the store as the CLI left it and names the first
// bad entry once a row is rewritten behind its back; `audit log` filters.
TEST_F(EvaluateGolden, AuditVerifyAndLogFromTheStore) {
  const std::string path = dir_ + "/store.db", url = "sqlite:" + path;
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " tests/golden/data").status, 0);
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  ASSERT_EQ(Harmonia("cycle run --store " + url +
                     " --country DE --ta oncology --countries tests/golden --as-of 2026-11-01 "
                     "--refinements tests/golden/data/refinements.csv")
                .status,
            0);
  const std::string out = dir_ + "/out.txt";
  auto run_out = [&](const std::string& args) {
    const std::string cmd =
        "cd '" + kSource + "' && '" + HARMONIA_CLI + "' " + args + " >'" + out + "' 2>&1";
    const int raw = std::system(cmd.c_str());
    return std::make_pair(WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ReadAll(out));
  };
  auto [ok_status, ok_text] = run_out("audit verify --store " + url);
  EXPECT_EQ(ok_status, 0) << ok_text;
  EXPECT_NE(ok_text.find("audit log intact: 8 entries; head: entry 8, hash "), std::string::npos)
      << ok_text;
  auto [log_status, log_text] =
      run_out("audit log --store " + url + " --country DE --action refinement. --who rep.ben");
  EXPECT_EQ(log_status, 0) << log_text;
  EXPECT_NE(log_text.find("refinement.submit      by rep.ben  DE/oncology refinement R4  [DE]"),
            std::string::npos)
      << log_text;
  EXPECT_EQ(log_text.find("rep.anna"), std::string::npos) << log_text;

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET principal = "
                         "'someone' WHERE audit_id = 4",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto [bad_status, bad_text] = run_out("audit verify --store " + url);
  EXPECT_EQ(bad_status, 1);
  EXPECT_EQ(bad_text,
            "audit log NOT intact after 4 entries: audit entry 4 (refinement.submit by "
            "'someone'): its content does not match its hash: it was edited or replaced\n");
}

// The n=1 plan through a whole cycle, derived by hand (tests/golden/README.md
// "The n=1 plan through a cycle"): target_scale 1.2, channel_preference on,
// refinement deltas before the plan, largest-remainder ties, min_calls, zero
// calls and a missing preference answer.
TEST_F(EvaluateGolden, PlanThroughACycleIsTheHandDerivedOne) {
  const std::string out = dir_ + "/plan.csv";
  CliRun r = Harmonia(
      "evaluate --rules rules/oncology.yaml --country tests/golden/plan/ES.yaml --data "
      "tests/golden/plan --as-of 2026-11-01 --refinements tests/golden/plan/refinements.csv "
      "--format directives --out " +
      out);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = ReadAll(out);
  harmonia::csv::Reader reader(text);
  std::vector<std::string_view> f;
  harmonia::csv::ParseError error;
  ASSERT_TRUE(reader.Next(&f, &error));
  std::map<std::string, size_t> col;
  for (size_t k = 0; k < f.size(); ++k) col[std::string(f[k])] = k;
  std::map<std::string, std::string> got;
  while (reader.Next(&f, &error)) {
    std::vector<std::string> cells;
    for (const char* c : {"segment", "calls", "remote", "email", "events", "decided_by", "tags",
                          "plan_calls", "plan_remote", "plan_email", "plan_events"}) {
      cells.emplace_back(f[col.at(c)]);
    }
    const std::string row = absl::StrJoin(cells, ",");
    got[std::string(f[col.at("customer_id")])] = row;
  }
  // segment, targets (x1.2, rounded half up, after the refinement), decided_by, tags, plan.
  // Every P row answers q2 5 and q4 3: evidence = -1.6 + 1.5 + 1.0 = 0.9 >= 0.8, so b3 tags
  // evidence_need.
  const std::map<std::string, std::string> want = {
      // digital, C = 14: 7, 3.5, 3.5; the tie between remote and email goes to remote.
      {"P01", "early_adopter,14,5,7,2,rules,evidence_need|digital_first,7,9,10,2"},
      // +3 calls first, C = 17: 8.5, 4.25, 4.25; the remainder to calls.
      {"P02", "early_adopter,17,5,7,2,refinement,evidence_need|digital_first,9,9,11,2"},
      // remote, -12: C = 2: 0.8 calls, 1.2 remote; the remainder to calls (0.8).
      {"P03", "early_adopter,2,5,7,2,refinement,evidence_need,1,6,7,2"},
      // -20: calls never below 0; C = 0 keeps the targets.
      {"P04", "early_adopter,0,5,7,2,refinement,evidence_need,0,5,7,2"},
      // Refined to conservative (A: 11, 2, 2, 2 after scaling) +1: C = 12 splits exactly.
      {"P05", "conservative,12,2,2,2,refinement,evidence_need|digital_first,6,5,5,2"},
      // face_to_face has no mix row, P07 did not answer q7: the targets.
      {"P06", "early_adopter,14,5,7,2,rules,evidence_need,14,5,7,2"},
      {"P07", "early_adopter,14,5,7,2,rules,evidence_need,14,5,7,2"},
      // remote, -13: C = 1: 0.4, 0.6 gives the call to remote; min_calls 1 moves it back.
      {"P08", "early_adopter,1,5,7,2,refinement,evidence_need,1,5,7,2"},
  };
  for (const auto& [id, row] : want) {
    ASSERT_TRUE(got.contains(id)) << id;
    EXPECT_EQ(got[id], row) << id;
  }
  EXPECT_EQ(got.size(), 25u);
}

// Did the plan work, on the hand-checked data (tests/golden/README.md
// "Activities"): cycle 1's plan against data/activities.csv, in cycle 2's
// figures one quarter later.
TEST_F(EvaluateGolden, FollowUpFiguresAreTheHandDerivedOnes) {
  const std::string url = "sqlite:" + dir_ + "/store.db", out = dir_ + "/report.txt";
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " tests/golden/data").status, 0);
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  auto run = [&](const std::string& day) {
    return Harmonia("cycle run --store " + url +
                    " --country DE --ta oncology --countries tests/golden --as-of " + day)
        .status;
  };
  auto report = [&] {
    const std::string cmd = "cd '" + kSource + "' && '" + HARMONIA_CLI + "' report --store " + url +
                            " --ta oncology --country DE >'" + out + "' 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return ReadAll(out);
  };
  const char* const kFigures[] = {
      "  Did it work: the plan of cycle 1, activities from 2026-11-01 to 2027-02-01 (0 "
      "touchpoints of customers outside it)\n",
      // D001: 2 calls (two rows of one key) and 3 emails of 12, 4, 6, 2.
      "    early_adopter       A          1        1    24       5       20.8%         0.0%   "
      "2/12     0/4    3/6     0/2\n",
      // D007: 4 calls of 5, 4, 4, 0; D003 nothing of 8, 6, 6, 0.
      "    pragmatist          B          1        1    13       4       30.8%         0.0%    "
      "4/5     0/4    0/4     0/0\n",
      // 11 touchpoints of 83: D002's 2 remote calls included.
      "    market                         7        7    83      11       13.3%         0.0%   "
      "6/33    2/20   3/27     0/3\n",
      "  plan attainment        13.3%\n"};
  ASSERT_EQ(run("2026-11-01"), 0);
  ASSERT_EQ(run("2027-02-01"), 0);
  std::string text = report();
  for (const char* line : kFigures) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  // Calls done in this period (2027-02-10) belong to this period's plan: a
  // re-run inside the period (2027-02-15) shows the same figures.
  ASSERT_EQ(std::system(("mkdir -p '" + dir_ + "/more'").c_str()), 0);
  std::ofstream(dir_ + "/more/activities.csv")
      << "customer_id,therapy_area,activity,date,count,source\n"
      << "D001,oncology,calls,2027-02-10,5,crm\n";
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " " + dir_ + "/more").status, 0);
  ASSERT_EQ(run("2027-02-15"), 0);
  text = report();
  for (const char* line : kFigures) {
    EXPECT_NE(text.find(line), std::string::npos) << "re-run: " << line << "\nin:\n" << text;
  }
  // The next quarter has no activity reported but those 5 calls (in its
  // plan's period): figures for them; a quarter later still, nothing
  // reported: no figures, a warning instead of a 0% attainment.
  ASSERT_EQ(run("2027-05-01"), 0);
  text = report();
  EXPECT_NE(text.find("activities from 2027-02-01 to 2027-05-01"), std::string::npos) << text;
  ASSERT_EQ(run("2027-08-01"), 0);
  text = report();
  EXPECT_EQ(text.find("Did it work"), std::string::npos) << text;
  EXPECT_NE(text.find("! DE: did it work: no activities reported from 2027-05-01 to 2027-08-01; "
                      "import the CRM's activities.csv to compare cycle 4's plan with what was "
                      "done"),
            std::string::npos)
      << text;
}

// A new rule-set version that measures another objective behaviour: the
// attainment still counts, the behaviour change is not compared across
// metrics.
TEST_F(EvaluateGolden, FollowUpComparesNoBehaviourAcrossObjectiveMetrics) {
  const std::string url = "sqlite:" + dir_ + "/store.db", out = dir_ + "/report.txt";
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " tests/golden/data").status, 0);
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  const std::string cycle =
      "cycle run --store " + url + " --country DE --ta oncology --countries tests/golden --as-of ";
  ASSERT_EQ(Harmonia(cycle + "2026-11-01").status, 0);
  std::string v4 = ReadAll(kSource + "/rules/oncology.yaml");
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"\nversion: 3\n", "\nversion: 4\n"},
        {"objective_behavior: trx_share", "objective_behavior: event_attendance"}}) {
    const size_t at = v4.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    v4.replace(at, from.size(), to);
  }
  std::ofstream(dir_ + "/oncology-v4.yaml") << v4;
  ASSERT_EQ(Harmonia("rules publish --store " + url + " " + dir_ + "/oncology-v4.yaml").status, 0);
  ASSERT_EQ(Harmonia(cycle + "2027-02-01").status, 0);
  const std::string cmd = "cd '" + kSource + "' && '" + HARMONIA_CLI + "' report --store " + url +
                          " --ta oncology --country DE >'" + out + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string text = ReadAll(out);
  EXPECT_NE(text.find("    market                         7        7    83      11       13.3%"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("! DE: did it work: cycle 1 measured the objective behaviour trx_share, "
                      "this cycle event_attendance: its change is not compared"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("change of "), std::string::npos) << text;
}

// Text that is not UTF-8, or holds a NUL byte, is rejected at import with its
// line, column and field, and never stored; the good rows load.
TEST_F(EvaluateGolden, ImportRejectsTextThatIsNotUtf8AndKeepsTheGoodRows) {
  const std::string data = dir_ + "/data";
  ASSERT_EQ(std::system(("mkdir -p '" + data + "'").c_str()), 0);
  std::ofstream(data + "/customers.csv", std::ios::binary)
      << "customer_id,country,customer_type,specialty,name\n"
      << "D001,DE,specialist,oncology,Dr. J\xC3\xBCrgen Weiß\n"
      << "D002,DE,specialist,oncology,Dr. J\xFCrgen\n"
      << std::string(
             "D0\0"
             "03,DE,specialist,oncology,Dr. C\n",
             35);
  std::ofstream(data + "/answers.csv", std::ios::binary)
      << "customer_id,therapy_area,question_id,value,source,as_of\n"
      << "D001,oncology,q1,4,rep,2026-10-01\n"
      << "D001,oncology,q2,4\xA0,rep,2026-10-01\n";
  std::ofstream(data + "/metrics.csv", std::ios::binary)
      << "customer_id,therapy_area,metric_id,value,source,as_of\n";
  const std::string url = "sqlite:" + dir_ + "/store.db";
  CliRun run = Harmonia("import --store " + url + " " + data);
  EXPECT_EQ(run.status, 0) << run.err;
  for (const char* line :
       {"customers.csv:3:34: name: not UTF-8 text: byte 0xFC at position 6 is not valid UTF-8; "
        "text must be UTF-8 without NUL bytes\n",
        "customers.csv:4:3: customer_id: a NUL byte at position 3; text must be UTF-8 without NUL "
        "bytes\n",
        "answers.csv:3:19: value: not UTF-8 text: byte 0xA0 at position 2 is not valid UTF-8; "
        "text must be UTF-8 without NUL bytes\n",
        "  customers.csv: 1 rows loaded (1 written, 0 unchanged), 2 rejected\n",
        "  answers.csv: 1 rows loaded (1 written, 0 unchanged), 1 rejected\n"}) {
    EXPECT_NE(run.err.find(line), std::string::npos) << line << "\nin:\n" << run.err;
  }
}

// The store path gives what the offline path gives: publish, import, run a
// cycle, export — byte for byte the `evaluate` output on the same files.
TEST_F(EvaluateGolden, StoreCycleExportEqualsEvaluate) {
  const std::string url = "sqlite:" + dir_ + "/store.db";
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  CliRun again = Harmonia("rules publish --store " + url + " rules/oncology.yaml");
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.err.find("versions must increase; the store holds v3"), std::string::npos)
      << again.err;
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " tests/golden/data").status, 0);
  const std::string cycle = "cycle run --store " + url +
                            " --country DE --ta oncology --countries tests/golden "
                            "--as-of 2026-11-01";
  CliRun run = Harmonia(cycle);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("cycle 1 committed: DE oncology v3 as of 2026-11-01, 7 customers"),
            std::string::npos)
      << run.err;
  const std::string exported = dir_ + "/export.csv", evaluated = dir_ + "/evaluate.csv";
  ASSERT_EQ(
      Harmonia("export --store " + url + " --country DE --ta oncology --out " + exported).status,
      0);
  ASSERT_EQ(Harmonia(std::string(kBase) + "--out " + evaluated).status, 0);
  EXPECT_EQ(ReadAll(exported), ReadAll(evaluated));
  EXPECT_EQ(ReadAll(exported), [&] {
    // Cycle 1 of the golden set without refinements: D006 stays conservative by r6.
    std::string golden = ReadAll(kGolden + "/expected/cycle1.csv");
    const std::string refined = "D006,DE,oncology,conservative,C,0,0,1,0,refinement,r6,";
    const size_t at = golden.find(refined);
    if (at != std::string::npos) {
      golden.replace(at, refined.size(), "D006,DE,oncology,conservative,C,2,0,1,0,rules,r6,");
    }
    return golden;
  }());
  // A second cycle on the same inputs: every customer pulled through, and the
  // export equals `evaluate --previous <cycle 1>`.
  run = Harmonia(cycle);
  EXPECT_NE(run.err.find("pull_through 7"), std::string::npos) << run.err;
  const std::string second = dir_ + "/export2.csv", evaluated2 = dir_ + "/evaluate2.csv";
  ASSERT_EQ(
      Harmonia("export --store " + url + " --country DE --ta oncology --out " + second).status, 0);
  ASSERT_EQ(Harmonia(std::string(kBase) + "--previous " + exported + " --out " + evaluated2).status,
            0);
  EXPECT_EQ(ReadAll(second), ReadAll(evaluated2));
  // Cycle 1 stays queryable.
  const std::string first_again = dir_ + "/export1.csv";
  ASSERT_EQ(Harmonia("export --store " + url + " --country DE --ta oncology --cycle 1 --out " +
                     first_again)
                .status,
            0);
  EXPECT_EQ(ReadAll(first_again), ReadAll(exported));
  CliRun missing =
      Harmonia("export --store " + url + " --country FR --ta oncology --out " + exported);
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("no committed cycle of FR oncology in the store"), std::string::npos);
}

// Refinements through the store: stored first, checked by the cycle exactly as
// `evaluate` checks them, and kept with their lifecycle across cycles.
TEST_F(EvaluateGolden, StoreCycleAppliesStoredRefinementsAsEvaluateDoes) {
  const std::string url = "sqlite:" + dir_ + "/store.db";
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  ASSERT_EQ(Harmonia("import --quiet --store " + url + " tests/golden/data").status, 0);
  const std::string cycle = "cycle run --store " + url +
                            " --country DE --ta oncology --countries tests/golden "
                            "--as-of 2026-11-01 --refinements tests/golden/data/refinements.csv";
  CliRun run = Harmonia(cycle);
  ASSERT_EQ(run.status, 0) << run.err;
  for (const char* line :
       {"refinements.csv: 5 refinements stored, 0 already in the store\n",
        "refinements.csv:2: refinement R1 expired: superseded by the later refinement, "
        "request R5\n",
        "refinements.csv:3: refinement R2 rejected: customer 'F001' is out of scope: country "
        "is FR\n",
        "refinements.csv:4: refinement R3 rejected: unknown segment 'teleporter'",
        "refinements.csv:5: refinement R4 rejected: over quota: at most 1 customer",
        "refinements.csv:6: refinement R5 applied\n",
        "  refinements: 1 applied of 5 considered (quota 1); 0 awaiting approval\n"}) {
    EXPECT_NE(run.err.find(line), std::string::npos) << line << "\nin:\n" << run.err;
  }
  const std::string exported = dir_ + "/export.csv";
  ASSERT_EQ(
      Harmonia("export --store " + url + " --country DE --ta oncology --out " + exported).status,
      0);
  EXPECT_EQ(ReadAll(exported), ReadAll(kGolden + "/expected/cycle1.csv"));

  // The same file again, the same day: stored once, and a re-run inside the
  // cycle period (quarterly: the one starting 2026-10-01) replaces that
  // period's result and keeps R5 (valid for 1 period).
  run = Harmonia(cycle);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("refinements.csv: 0 refinements stored, 5 already in the store"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("a re-run in the period starting 2026-10-01: replaces cycle 1 (its "
                         "refinements stay valid)"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("refinements.csv:6: refinement R5 applied"), std::string::npos) << run.err;
  const std::string second = dir_ + "/export2.csv";
  ASSERT_EQ(
      Harmonia("export --store " + url + " --country DE --ta oncology --out " + second).status, 0);
  EXPECT_NE(ReadAll(second).find("D006,DE,oncology,conservative,C,0,0,1,0,refinement,r6,3,"),
            std::string::npos)
      << ReadAll(second);

  // The next period (2027-01-01): R5's one period is over; it expires and
  // the cycle equals `evaluate --previous <cycle 2>` without refinements but
  // for D006: the store knows its refinement expired, so the refined row is
  // not pulled through and the rules decide again (docs/decisions.md 11).
  const std::string next = "cycle run --store " + url +
                           " --country DE --ta oncology --countries tests/golden "
                           "--as-of 2027-01-05";
  run = Harmonia(next);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("refinement R5 expired: valid for 1 cycle period(s) from the one "
                         "starting 2026-10-01 (first applied in cycle 1); this cycle's period "
                         "starts 2027-01-01"),
            std::string::npos)
      << run.err;
  const std::string third = dir_ + "/export3.csv", evaluated = dir_ + "/evaluate3.csv";
  ASSERT_EQ(Harmonia("export --store " + url + " --country DE --ta oncology --out " + third).status,
            0);
  ASSERT_EQ(Harmonia("evaluate --rules rules/oncology.yaml --country tests/golden/DE.yaml "
                     "--data tests/golden/data --as-of 2027-01-05 --previous " +
                     second + " --out " + evaluated)
                .status,
            0);
  std::string expected = ReadAll(evaluated);
  const std::string pulled = "D006,DE,oncology,conservative,C,0,0,1,0,pull_through,r6,3,";
  const size_t at = expected.find(pulled);
  ASSERT_NE(at, std::string::npos) << expected;
  expected.replace(at, pulled.size(), "D006,DE,oncology,conservative,C,2,0,1,0,rules,r6,3,");
  EXPECT_EQ(ReadAll(third), expected);

  // A bad calls_delta is rejected when stored, with its line.
  std::ofstream(dir_ + "/bad.csv")
      << "request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,submitted_by\n"
         "B1,D001,oncology,,lots,new_information,,rep.anna\n"
         "B2,D002,oncology,,1,new_information,,rep.anna\n"
         "B2,D003,oncology,,2,new_information,,rep.anna\n";
  run = Harmonia("cycle run --store " + url +
                 " --country DE --ta oncology --countries tests/golden --as-of 2026-11-01 "
                 "--refinements " +
                 dir_ + "/bad.csv");
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("bad.csv:2: refinement rejected: calls_delta 'lots' is not a whole "
                         "number from -10000 to 10000"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.csv:4: refinement rejected: request_id 'B2' repeated (line 3 has "
                         "it)"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.csv: 2 refinements stored, 0 already in the store, 1 not stored"),
            std::string::npos)
      << run.err;
}

// The same loop on PostgreSQL (a real server started here), importing with
// three writer connections: the export is the golden first cycle.
TEST_F(EvaluateGolden, PostgresStoreGivesTheGoldenCycleWithParallelImportWriters) {
  absl::StatusOr<std::unique_ptr<harmonia::testing::PostgresServer>> server =
      harmonia::testing::PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  CliRun import = Harmonia("import --quiet --writers 3 --store " + url + " tests/golden/data");
  ASSERT_EQ(import.status, 0) << import.err;
  EXPECT_NE(import.err.find("answers.csv: 45 rows loaded (45 written, 0 unchanged)"),
            std::string::npos)
      << import.err;
  CliRun again = Harmonia("import --quiet --writers 3 --store " + url + " tests/golden/data");
  EXPECT_NE(again.err.find("answers.csv: 45 rows loaded (0 written, 45 unchanged)"),
            std::string::npos)
      << again.err;
  // Keys given two values (one of them invalid) keep both, in file order.
  EXPECT_NE(again.err.find("metrics.csv: 13 rows loaded (0 written, 13 unchanged)"),
            std::string::npos)
      << again.err;
  CliRun run = Harmonia("cycle run --store " + url +
                        " --country DE --ta oncology --countries tests/golden --as-of 2026-11-01 "
                        "--refinements tests/golden/data/refinements.csv");
  ASSERT_EQ(run.status, 0) << run.err;
  const std::string exported = dir_ + "/export.csv";
  ASSERT_EQ(
      Harmonia("export --store " + url + " --country DE --ta oncology --out " + exported).status,
      0);
  EXPECT_EQ(ReadAll(exported), ReadAll(kGolden + "/expected/cycle1.csv"));
}

// Every path gives the same answer: on generated data for every shipped
// market (several sources, stale, future and invalid values, keys with
// several values), `evaluate` and import → publish → cycle run → export
// agree byte for byte, on SQLite and on PostgreSQL — through the cycle's one
// assembly (docs/architecture.md).
TEST_F(EvaluateGolden, EvaluateAndTheStoreAgreeOnEveryShippedMarket) {
  ASSERT_EQ(Harmonia("gen --rules rules --countries BR,DE,ES,FR,JP,SE,US --customers 400 "
                     "--seed 12 --refinements 0 --out " +
                     dir_ + "/data")
                .status,
            0);
  absl::StatusOr<std::unique_ptr<harmonia::testing::PostgresServer>> server =
      harmonia::testing::PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::string> stores = {"sqlite:" + dir_ + "/store.db", (*server)->url()};
  for (const std::string& url : stores) {
    for (const char* ta : {"oncology", "diabetes", "immunology"}) {
      ASSERT_EQ(
          Harmonia(absl::StrCat("rules publish --store ", url, " rules/", ta, ".yaml")).status, 0);
    }
    CliRun import = Harmonia("import --quiet --store " + url + " " + dir_ + "/data");
    ASSERT_EQ(import.status, 0) << import.err;
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> markets = {
      {"BR", {"oncology", "diabetes"}},
      {"DE", {"oncology", "diabetes", "immunology"}},
      {"ES", {"oncology", "immunology"}},
      {"FR", {"oncology", "immunology"}},
      {"JP", {"oncology", "diabetes"}},
      {"SE", {"diabetes"}},
      {"US", {"oncology", "diabetes", "immunology"}}};
  int compared = 0;
  for (const auto& [cc, tas] : markets) {
    for (const std::string& ta : tas) {
      SCOPED_TRACE(cc + " " + ta);
      const std::string offline = dir_ + "/evaluate.csv";
      CliRun evaluated = Harmonia(absl::StrCat("evaluate --quiet --rules rules/", ta,
                                               ".yaml --country countries/", cc, ".yaml --data ",
                                               dir_, "/data --as-of 2026-11-01 --out ", offline));
      ASSERT_EQ(evaluated.status, 0) << evaluated.err;
      ASSERT_GT(ReadAll(offline).size(), 200u) << "customers in scope";
      const std::string offline_directives = dir_ + "/evaluate-directives.csv";
      evaluated = Harmonia(absl::StrCat("evaluate --quiet --format directives --rules rules/", ta,
                                        ".yaml --country countries/", cc, ".yaml --data ", dir_,
                                        "/data --as-of 2026-11-01 --out ", offline_directives));
      ASSERT_EQ(evaluated.status, 0) << evaluated.err;
      for (const std::string& url : stores) {
        CliRun run = Harmonia(absl::StrCat("cycle run --store ", url, " --country ", cc, " --ta ",
                                           ta, " --as-of 2026-11-01"));
        ASSERT_EQ(run.status, 0) << run.err;
        const std::string exported = dir_ + "/export.csv";
        ASSERT_EQ(Harmonia(absl::StrCat("export --store ", url, " --country ", cc, " --ta ", ta,
                                        " --out ", exported))
                      .status,
                  0);
        EXPECT_EQ(ReadAll(exported), ReadAll(offline)) << url;
        // The directives (tags and the n=1 plan included) agree too.
        ASSERT_EQ(Harmonia(absl::StrCat("export --format directives --store ", url, " --country ",
                                        cc, " --ta ", ta, " --out ", exported))
                      .status,
                  0);
        EXPECT_EQ(ReadAll(exported), ReadAll(offline_directives)) << url;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 2 * 15);
}

// Parses a CSV file into rows of fields by column name, keyed by customer_id.
std::map<std::string, std::map<std::string, std::string>> ReadByCustomer(const std::string& path) {
  const std::string text = ReadAll(path);
  harmonia::csv::Reader reader(text);
  std::vector<std::string_view> fields;
  harmonia::csv::ParseError error;
  std::vector<std::string> header;
  std::map<std::string, std::map<std::string, std::string>> rows;
  while (reader.Next(&fields, &error)) {
    EXPECT_TRUE(error.message.empty()) << path << ":" << error.line << ": " << error.message;
    if (header.empty()) {
      header.assign(fields.begin(), fields.end());
      continue;
    }
    EXPECT_EQ(fields.size(), header.size()) << path << ":" << reader.record_line();
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < fields.size() && i < header.size(); ++i) {
      row[header[i]] = std::string(fields[i]);
    }
    rows[row["customer_id"]] = std::move(row);
  }
  return rows;
}

// The changes export after a second cycle lists exactly the customers whose
// segment, tier, targets, tags or plan differ between the two cycles' full
// directives exports (docs/files.md), with the previous values; checked here
// by diffing the two full exports independently of the export's own code.
TEST_F(EvaluateGolden, ChangesExportListsExactlyWhatDiffersBetweenTwoFullExports) {
  // 700 customers, of whom the first 600 are loaded before cycle 1 (the
  // generator keys each customer by its number: the 600 are the same).
  ASSERT_EQ(Harmonia("gen --rules rules --countries ES --customers 700 --seed 3 --refinements 0 "
                     "--out " +
                     dir_ + "/all")
                .status,
            0);
  ASSERT_EQ(Harmonia("gen --rules rules --countries ES --customers 600 --seed 3 --refinements 0 "
                     "--out " +
                     dir_ + "/first")
                .status,
            0);
  // Between the cycles: five customers become nurses (out of scope: they
  // leave) and forty answer the channel and access questions anew.
  std::string customers = "customer_id,country,customer_type,specialty,name\n";
  std::string answers = "customer_id,therapy_area,question_id,value,source,as_of\n";
  for (int i = 1; i <= 5; ++i) {
    customers += absl::StrFormat("ES%09d,ES,nurse,oncology,Nurse %d\n", i * 7, i);
  }
  for (int i = 1; i <= 40; ++i) {
    answers += absl::StrFormat("ES%09d,oncology,q7,%s,rep,2027-02-01\n", i * 11,
                               i % 2 ? "digital" : "remote");
    answers += absl::StrFormat("ES%09d,oncology,q11,5,rep,2027-02-01\n", i * 11);
  }
  std::system(("mkdir -p '" + dir_ + "/moved'").c_str());
  std::ofstream(dir_ + "/moved/customers.csv") << customers;
  std::ofstream(dir_ + "/moved/answers.csv") << answers;
  std::ofstream(dir_ + "/moved/metrics.csv")
      << "customer_id,therapy_area,metric_id,value,source,as_of\n";

  absl::StatusOr<std::unique_ptr<harmonia::testing::PostgresServer>> server =
      harmonia::testing::PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const std::string& url : {"sqlite:" + dir_ + "/store.db", (*server)->url()}) {
    SCOPED_TRACE(url);
    auto run = [&](const std::string& args) {
      CliRun r = Harmonia(args);
      EXPECT_EQ(r.status, 0) << args << "\n" << r.err;
      return r;
    };
    run("rules publish --store " + url + " rules/oncology.yaml");
    run("import --quiet --store " + url + " " + dir_ + "/first");
    run("cycle run --store " + url + " --country ES --ta oncology --as-of 2026-11-01");
    run("export --format directives --store " + url + " --country ES --ta oncology --out " + dir_ +
        "/one.csv");
    run("import --quiet --store " + url + " " + dir_ + "/all");
    run("import --quiet --store " + url + " " + dir_ + "/moved");
    run("cycle run --store " + url + " --country ES --ta oncology --as-of 2027-03-01");
    run("export --format directives --store " + url + " --country ES --ta oncology --out " + dir_ +
        "/two.csv");
    // Each store is new: its first cycle is cycle 1.
    run("export --store " + url + " --country ES --ta oncology --changed-since 1 --out " + dir_ +
        "/changes.csv");

    const auto one = ReadByCustomer(dir_ + "/one.csv");
    const auto two = ReadByCustomer(dir_ + "/two.csv");
    const auto changes = ReadByCustomer(dir_ + "/changes.csv");
    const std::vector<std::string> compared = {
        "segment", "tier",       "calls",       "remote",     "email",      "events",
        "tags",    "plan_calls", "plan_remote", "plan_email", "plan_events"};
    std::map<std::string, std::string> expected;  // customer → change
    for (const auto& [customer, row] : two) {
      auto was = one.find(customer);
      if (was == one.end()) {
        expected[customer] = "entered";
        continue;
      }
      for (const std::string& column : compared) {
        if (row.at(column) != was->second.at(column)) expected[customer] = "changed";
      }
    }
    for (const auto& [customer, row] : one) {
      if (!two.count(customer)) expected[customer] = "left";
    }
    std::map<std::string, std::string> listed;
    for (const auto& [customer, row] : changes) listed[customer] = row.at("change");
    EXPECT_EQ(listed, expected);
    int kinds[3] = {0, 0, 0};
    for (const auto& [customer, kind] : expected) {
      ++kinds[kind == "entered" ? 0 : kind == "left" ? 1 : 2];
    }
    EXPECT_GE(kinds[0], 50) << "entered";
    EXPECT_EQ(kinds[1], 5) << "left";
    EXPECT_GE(kinds[2], 20) << "changed";
    // Each listed row carries the new directives and the previous values.
    for (const auto& [customer, row] : changes) {
      SCOPED_TRACE(customer);
      const std::string& kind = row.at("change");
      if (kind != "left") {
        for (const auto& [column, value] : two.at(customer)) EXPECT_EQ(row.at(column), value);
      } else {
        EXPECT_EQ(row.at("segment"), "");
      }
      for (const std::string& column : compared) {
        EXPECT_EQ(row.at("prev_" + column), kind == "entered" ? "" : one.at(customer).at(column));
      }
    }
  }
}

// A pin must name a version that exists: newer than the rule-set file is an
// error at the pin; with --store, one the store has not published is too.
TEST_F(EvaluateGolden, CountriesValidateChecksPinsAgainstWhatIsPublished) {
  const std::string country = ReadAll(kSource + "/tests/golden/DE.yaml");
  const std::string pinned = dir_ + "/DE.yaml";
  auto pin = [&](int version) {
    std::string text = country;
    const std::string at = "  oncology:\n";
    text.replace(text.find(at), at.size(),
                 at + "    rule_set_version: " + std::to_string(version) + "\n");
    std::ofstream(pinned) << text;
  };
  pin(9);
  CliRun future = Harmonia("countries validate " + pinned);
  EXPECT_EQ(future.status, 2);
  EXPECT_NE(future.err.find("DE.yaml:9:23: error: therapy area 'oncology' rule_set_version: v9 "
                            "is not published (the newest rule set is v3)"),
            std::string::npos)
      << future.err;
  const std::string url = "sqlite:" + dir_ + "/store.db";
  ASSERT_EQ(Harmonia("rules publish --store " + url + " rules/oncology.yaml").status, 0);
  pin(2);
  EXPECT_EQ(Harmonia("countries validate " + pinned).status, 0);
  CliRun unpublished = Harmonia("countries validate --store " + url + " " + pinned);
  EXPECT_EQ(unpublished.status, 2);
  EXPECT_NE(unpublished.err.find("DE.yaml:9:23: error: therapy area oncology rule_set_version: v2 "
                                 "is not published in the store (published: 3)"),
            std::string::npos)
      << unpublished.err;
  pin(3);
  EXPECT_EQ(Harmonia("countries validate --store " + url + " " + pinned).status, 0);
}

TEST(RulesValidate, ShippedFilesAreValidAndBrokenOnesFailWithEveryError) {
  CliRun ok =
      Harmonia("rules validate rules/oncology.yaml rules/diabetes.yaml rules/immunology.yaml");
  EXPECT_EQ(ok.status, 0) << ok.err;
  CliRun bad =
      Harmonia("rules validate rules/oncology.yaml tests/data/rules/broken/many_errors.yaml");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("many_errors.yaml: invalid ("), std::string::npos) << bad.err;
  CliRun countries = Harmonia(
      "countries validate countries/DE.yaml countries/FR.yaml "
      "countries/US.yaml countries/JP.yaml countries/ES.yaml "
      "countries/SE.yaml countries/BR.yaml");
  EXPECT_EQ(countries.status, 0) << countries.err;
}

}  // namespace
