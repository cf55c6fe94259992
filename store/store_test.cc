// The storage contract, run against every backend: SQLite on a file in a
// fresh directory, PostgreSQL on a real server (tests/support/
// postgres_server.h) — one server per test process, a fresh database per
// test. PostgreSQL is never skipped: a server that does not start fails the
// test.
#include "store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/internal/postgres_store.h"
#include "tests/support/postgres_server.h"

namespace harmonia::store {
namespace {

using harmonia::testing::PostgresServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The PostgreSQL server of this test process: started by the first test that
// needs it, stopped when the tests end.
class SharedPostgres : public ::testing::Environment {
 public:
  static PostgresServer* Get() {
    if (server_ == nullptr) {
      absl::StatusOr<std::unique_ptr<PostgresServer>> started = PostgresServer::Start({});
      EXPECT_TRUE(started.ok()) << started.status();
      if (started.ok()) server_ = std::move(*started);
    }
    return server_.get();
  }
  void TearDown() override { server_.reset(); }

 private:
  static inline std::unique_ptr<PostgresServer> server_;
};
[[maybe_unused]] const ::testing::Environment* const kSharedPostgres =
    ::testing::AddGlobalTestEnvironment(new SharedPostgres);

std::string PostgresUrl(const PostgresServer& server, const std::string& database,
                        const std::string& password = "") {
  return "postgresql://harmonia" + (password.empty() ? "" : ":" + password) +
         "@127.0.0.1:" + std::to_string(server.port()) + "/" + database;
}

// Runs `sql` on database `url`; the result's error message, empty when it worked.
std::string PgExec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return error;
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      char tmpl[] = "/tmp/harmonia-store-XXXXXX";
      dir_ = mkdtemp(tmpl);
      location_ = dir_ + "/store.db";
      url_ = "sqlite:" + location_;
      return;
    }
    server_ = SharedPostgres::Get();
    ASSERT_NE(server_, nullptr) << "no PostgreSQL server";
    static int databases = 0;
    database_ = "store_test_" + std::to_string(++databases);
    // A linguistic default collation, as production databases have (en_US):
    // bytewise order must come from the store's schema, not from the server.
    const std::string error =
        PgExec(PostgresUrl(*server_, "postgres"),
               "CREATE DATABASE " + database_ +
                   " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
    ASSERT_EQ(error, "");
    url_ = PostgresUrl(*server_, database_);
    location_ = url_;
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
    if (!database_.empty() && server_ != nullptr) {
      EXPECT_EQ(PgExec(PostgresUrl(*server_, "postgres"),
                       "DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)"),
                "");
    }
  }

  bool postgres() const { return GetParam() == "postgresql"; }

  std::unique_ptr<Store> Open() {
    absl::StatusOr<std::unique_ptr<Store>> s = OpenStore(url_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Runs `sql` on the store's database behind the Store's back.
  void ExecRaw(const std::string& sql) {
    if (postgres()) {
      ASSERT_EQ(PgExec(url_, sql), "");
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << sql;
  }

  // Runs `sql` behind the Store's back; the error message, empty when it worked.
  std::string RawError(const std::string& sql) {
    if (postgres()) return PgExec(url_, sql);
    sqlite3* db = nullptr;
    char* error = nullptr;
    sqlite3_open(location_.c_str(), &db);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    sqlite3_close(db);
    return message;
  }

  // The integer that `sql` (one row, one column) returns, read behind the
  // Store's back; -1 on failure (which the test reports).
  int64_t QueryInt(const std::string& sql) {
    int64_t value = -1;
    if (postgres()) {
      PGconn* conn = PQconnectdb(url_.c_str());
      PGresult* r = PQexec(conn, sql.c_str());
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        value = std::atoll(PQgetvalue(r, 0, 0));
      } else {
        ADD_FAILURE() << sql << ": " << PQerrorMessage(conn);
      }
      PQclear(r);
      PQfinish(conn);
      return value;
    }
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_open(location_.c_str(), &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    } else {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  std::string dir_;       // sqlite
  std::string database_;  // postgresql
  PostgresServer* server_ = nullptr;
  std::string location_;  // what messages call the store: the path or the URL
  std::string url_;
};

TEST_P(StoreContract, OpensAtTheCurrentSchemaAndKeepsDataAcrossReopens) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->schema_version(), kSchemaVersion);
    ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "Dr. A"}}).ok());
  }
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again->CountCustomers(), 1);
  auto c = again->GetCustomer("C1");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->name, "Dr. A");
  EXPECT_FALSE(again->GetCustomer("nobody")->has_value());
}

TEST_P(StoreContract, AStoreNewerThanTheBinaryIsRefused) {
  ASSERT_NE(Open(), nullptr);
  ExecRaw("INSERT INTO schema_version VALUES (99)");
  // A password in the URL is never shown (the test server trusts everyone).
  const std::string url = postgres() ? PostgresUrl(*server_, database_, "s3cret") : url_;
  auto refused = OpenStore(url);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "store " + location_ + " has schema version 99, newer than this harmonia (" +
                std::to_string(kSchemaVersion) + "): upgrade harmonia to use it");
}

TEST_P(StoreContract, ConcurrentOpenersOfANewStoreMigrateItOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, &opened] {
      auto store = OpenStore(url_);
      EXPECT_TRUE(store.ok()) << store.status();
      if (store.ok() && (*store)->schema_version() == kSchemaVersion) ++opened;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(opened.load(), 4);
  // One row per migration step, each applied once.
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM schema_version"), kSchemaVersion);
  EXPECT_EQ(QueryInt("SELECT COUNT(DISTINCT version) FROM schema_version"), kSchemaVersion);
}

TEST_P(StoreContract, CustomerImportIsIdempotentAndReportsWhatChanged) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<CustomerRow> rows = {{"C1", "DE", "pcp", "gp", "A"},
                                         {"C2", "FR", "specialist", "onc", "B, with comma"}};
  auto first = store->UpsertCustomers(rows);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->written, 2);
  auto second = store->UpsertCustomers(rows);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->written, 0);
  EXPECT_EQ(second->unchanged, 2);
  auto third = store->UpsertCustomers({{"C2", "FR", "specialist", "onc", "B renamed"}});
  EXPECT_EQ(third->written, 1);
  EXPECT_EQ((*store->GetCustomer("C2"))->name, "B renamed");
}

TEST_P(StoreContract, TheLastCustomerRowOfABatchWins) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto s = store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "first"},
                                   {"C2", "DE", "pcp", "gp", "other"},
                                   {"C1", "FR", "nurse", "x", "last"}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->written, 2);
  EXPECT_EQ(s->unchanged, 0);
  EXPECT_EQ((*store->GetCustomer("C1"))->name, "last");
  EXPECT_EQ((*store->GetCustomer("C1"))->country, "FR");
  auto again = store->UpsertCustomers(
      {{"C1", "DE", "pcp", "gp", "first"}, {"C1", "FR", "nurse", "x", "last"}});
  EXPECT_EQ(again->written, 0);
  EXPECT_EQ(again->unchanged, 1);
}

TEST_P(StoreContract, InputsNeedTheirCustomerAndABadBatchWritesNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  auto bad = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                  {"C9", "onc", false, "q1", "4", "rep", 20000}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(bad.status().message(), "input of unknown customer 'C9': import customers first");
  EXPECT_EQ(*store->CountInputs(), 0);
  // In a larger batch the first unknown customer in batch order is named.
  std::vector<InputRow> rows;
  for (int i = 0; i < 500; ++i) rows.push_back({"C1", "onc", true, "m", "1", "rep", 20000 + i});
  rows.push_back({"C7", "onc", true, "m", "1", "rep", 1});
  rows.push_back({"C1", "onc", true, "m", "2", "rep", 2});
  rows.push_back({"C3", "onc", true, "m", "1", "rep", 1});
  auto larger = store->UpsertInputs(rows);
  EXPECT_EQ(larger.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(larger.status().message(), "input of unknown customer 'C7': import customers first");
  EXPECT_EQ(*store->CountInputs(), 0);
  // The store is still usable.
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000}})->written, 1);
}

// The values of one key, "value@seq" in seq order (the last is the latest).
std::vector<std::string> ValuesOfKey(Store& store, const std::string& customer,
                                     const std::string& input, int32_t as_of) {
  std::vector<std::pair<int64_t, std::string>> found;
  EXPECT_TRUE(store
                  .ScanInputs("DE", "onc",
                              [&](const InputRow& r) {
                                if (r.customer_id == customer && r.input_id == input &&
                                    r.as_of == as_of && !r.is_metric) {
                                  found.emplace_back(r.seq, r.value);
                                }
                              })
                  .ok());
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_GT(found[i].first, 0) << "every value has an import order";
    if (i > 0) {
      EXPECT_GT(found[i].first, found[i - 1].first) << "import orders are distinct";
    }
    out.push_back(found[i].second);
  }
  return out;
}

// Every distinct value of a key is kept with its import order, so a cycle can
// drop an invalid value and still choose the valid one imported before it.
TEST_P(StoreContract, EveryValueOfAKeyIsKeptInImportOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  // Two values under one key in a batch, a repeated row, and a metric with
  // the same id (another key).
  auto a = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                {"C1", "onc", false, "q1", "4", "rep", 20000},
                                {"C1", "onc", false, "q1", "x", "rep", 20000},
                                {"C1", "onc", true, "q1", "7", "external", 20000}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->written, 3);
  EXPECT_EQ(a->unchanged, 0);
  EXPECT_EQ(*store->CountInputs(), 3);
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("4", "x"));
  // The same batch again changes nothing.
  auto again = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                    {"C1", "onc", false, "q1", "x", "rep", 20000},
                                    {"C1", "onc", true, "q1", "7", "external", 20000}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->written, 0);
  EXPECT_EQ(again->unchanged, 3);
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("4", "x"));
  // The latest value imported alone again: nothing to do; an earlier one
  // imported again becomes the latest.
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "x", "rep", 20000}})->unchanged, 1);
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000}})->written, 1);
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("x", "4"));
  // Several values in one batch take the batch's order, whatever was stored.
  auto reorder = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                      {"C1", "onc", false, "q1", "5", "rep", 20000},
                                      {"C1", "onc", false, "q1", "x", "rep", 20000}});
  ASSERT_TRUE(reorder.ok()) << reorder.status();
  EXPECT_EQ(reorder->written, 3);
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("4", "5", "x"));
  // Across batches (a file split into transactions): the later batch's value
  // is the latest.
  ASSERT_TRUE(store->UpsertInputs({{"C1", "onc", false, "q1", "5", "rep", 20000}}).ok());
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("4", "x", "5"));
  // One batch that rewrites a stored key of several values and a stored key
  // of one value (both staged on PostgreSQL).
  ASSERT_TRUE(store->UpsertInputs({{"C1", "onc", false, "q2", "1", "rep", 20000}}).ok());
  auto mixed = store->UpsertInputs({{"C1", "onc", false, "q1", "5", "rep", 20000},
                                    {"C1", "onc", false, "q1", "4", "rep", 20000},
                                    {"C1", "onc", false, "q2", "1", "rep", 20000}});
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->written, 2);
  EXPECT_EQ(mixed->unchanged, 1);
  EXPECT_THAT(ValuesOfKey(*store, "C1", "q1", 20000), ElementsAre("x", "5", "4"));
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "3", "rep", 20001}})->written, 1)
      << "another as_of is another key";
  EXPECT_EQ(*store->CountInputs(), 6);
  // One customer's rows come in key order, then import order.
  auto rows = store->CustomerInputs("C1", "onc");
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::string> got;
  for (const InputRow& r : *rows) {
    got.push_back(absl::StrCat(r.is_metric ? "m " : "q ", r.input_id, "=", r.value, " ", r.as_of));
  }
  EXPECT_THAT(got, ElementsAre("q q1=x 20000", "q q1=5 20000", "q q1=4 20000", "q q1=3 20001",
                               "q q2=1 20000", "m q1=7 20000"));
}

TEST_P(StoreContract, ABulkReimportCountsOnlyWhatChanged) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<CustomerRow> customers;
  std::vector<InputRow> inputs;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "C" + std::to_string(i);
    customers.push_back({id, i % 2 ? "DE" : "FR", "pcp", "gp", "name " + id});
    for (int q = 0; q < 6; ++q) {
      inputs.push_back({id, "onc", q >= 4, "q" + std::to_string(q), std::to_string(i % 5),
                        q % 2 ? "rep" : "external", 20000 + q});
    }
  }
  ASSERT_EQ(store->UpsertCustomers(customers)->written, 5000);
  auto first = store->UpsertInputs(inputs);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->written, 30000);
  for (size_t i = 0; i < inputs.size(); i += 100) inputs[i].value += "!";
  customers[10].specialty = "onc";
  auto customers_again = store->UpsertCustomers(customers);
  EXPECT_EQ(customers_again->written, 1);
  EXPECT_EQ(customers_again->unchanged, 4999);
  // New keys after stored ones in one batch: 1000 new as_of dates.
  for (int i = 0; i < 1000; ++i) {
    inputs.push_back({"C" + std::to_string(i), "onc", false, "q0", "1", "rep", 21000});
  }
  auto again = store->UpsertInputs(inputs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->written, 1300);
  EXPECT_EQ(again->unchanged, 29700);
  EXPECT_EQ(*store->CountInputs(), 31300) << "a changed value is kept beside the earlier one";
  EXPECT_EQ(*store->CountCustomers(), 5000);
}

TEST_P(StoreContract, TextIsStoredVerbatim) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> texts = {
      "tab\there", "line\nbreak", "cr\rreturn", "back\\slash",
      "\\N",       "\\.",         "\\",         "trailing\\",
      "quote\"d",  "it's",        "a, b; c",    "Grüße 東京",
      "",          "{x,\"y\"}",   "$1",         "'); DROP TABLE customers; --"};
  std::vector<CustomerRow> customers;
  std::vector<InputRow> inputs;
  std::vector<AssignmentRow> assignments;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    const std::string id = "id" + std::to_string(i) + t;
    customers.push_back({id, "DE", "pcp", t, t});
    inputs.push_back({id, "onc", false, "q" + t, t, "rep", 20000});
    AssignmentRow a;
    a.customer_id = id;
    a.segment = t;
    a.rule_id = t;
    a.scores = "s=" + t;
    assignments.push_back(a);
  }
  ASSERT_TRUE(store->UpsertCustomers(customers).ok());
  auto in = store->UpsertInputs(inputs);
  ASSERT_TRUE(in.ok()) << in.status();
  for (const CustomerRow& c : customers) {
    auto got = store->GetCustomer(c.customer_id);
    ASSERT_TRUE(got.ok() && got->has_value()) << c.customer_id;
    EXPECT_EQ((*got)->name, c.name);
    EXPECT_EQ((*got)->specialty, c.specialty);
  }
  std::vector<std::string> scanned, expected;
  ASSERT_TRUE(store
                  ->ScanInputs("DE", "onc",
                               [&](const InputRow& r) {
                                 scanned.push_back(r.customer_id + "|" + r.input_id + "|" +
                                                   r.value);
                               })
                  .ok());
  for (const InputRow& r : inputs)
    expected.push_back(r.customer_id + "|" + r.input_id + "|" + r.value);
  std::sort(scanned.begin(), scanned.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(scanned, expected);
  EXPECT_EQ(store->UpsertInputs(inputs)->unchanged, static_cast<int64_t>(inputs.size()));

  const std::string odd = "line\nbreak\tand \\ backslash, 'quotes' \"too\"";
  ASSERT_TRUE(store->PublishRuleSet({odd, 1, odd, odd, odd, 1}).ok());
  EXPECT_EQ((*store->GetRuleSet(odd, std::nullopt))->source_text, odd);
  CycleRecord cycle{0, "DE", odd, 20000, 1, odd, odd, 0, odd, 7};
  auto id = store->CommitCycle(cycle, assignments, {});
  ASSERT_TRUE(id.ok()) << id.status();
  auto got_cycle = store->GetCycle("DE", odd, std::nullopt);
  ASSERT_TRUE(got_cycle.ok() && got_cycle->has_value());
  EXPECT_EQ((*got_cycle)->options, odd);
  EXPECT_EQ((*got_cycle)->country_config, odd);
  EXPECT_EQ((*got_cycle)->summary, odd);
  auto rows = store->GetAssignments(*id);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), assignments.size());
  std::sort(
      assignments.begin(), assignments.end(),
      [](const AssignmentRow& a, const AssignmentRow& b) { return a.customer_id < b.customer_id; });
  for (size_t i = 0; i < rows->size(); ++i) {
    EXPECT_EQ((*rows)[i].customer_id, assignments[i].customer_id);
    EXPECT_EQ((*rows)[i].segment, assignments[i].segment);
    EXPECT_EQ((*rows)[i].rule_id, assignments[i].rule_id);
    EXPECT_EQ((*rows)[i].scores, assignments[i].scores);
  }
}

TEST_P(StoreContract, IdsComeInBytewiseOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> ids = {"b",  "B", "a",  "Z", "é",   "e",  "a b", "ab",
                                        "10", "9", "_x", "~", "a-b", "A1", "Ä",   "z"};
  std::vector<CustomerRow> rows;
  std::vector<AssignmentRow> assignments;
  for (size_t i = 0; i < ids.size(); ++i) {
    rows.push_back({ids[i], i % 4 == 3 ? "FR" : "DE", i % 3 == 2 ? "nurse" : "pcp", "", ""});
    AssignmentRow a;
    a.customer_id = ids[i];
    assignments.push_back(a);
  }
  ASSERT_TRUE(store->UpsertCustomers(rows).ok());
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());  // std::string compares bytes as unsigned char
  EXPECT_EQ(*store->CustomerIds(), sorted);

  std::vector<std::string> in_scope;
  for (const std::string& id : sorted) {
    const size_t i = std::find(ids.begin(), ids.end(), id) - ids.begin();
    if (i % 4 != 3 && i % 3 != 2) in_scope.push_back(id);
  }
  EXPECT_EQ(*store->CustomersInScope("DE", {"pcp", "specialist"}), in_scope);
  EXPECT_EQ(store->CustomersInScope("DE", {})->size(), 0u);
  EXPECT_EQ(store->CustomersInScope("US", {"pcp"})->size(), 0u);

  auto id = store->CommitCycle({0, "DE", "onc", 20000, 1, "", "", 0, "", 0}, assignments, {});
  ASSERT_TRUE(id.ok()) << id.status();
  std::vector<std::string> assigned;
  auto got = store->GetAssignments(*id);
  ASSERT_TRUE(got.ok()) << got.status();
  for (const AssignmentRow& a : *got) assigned.push_back(a.customer_id);
  EXPECT_EQ(assigned, sorted);
}

TEST_P(StoreContract, AuditedInputsAreWrittenWithTheirEntryOrNotAtAll) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  AuditEntry e{0, 100, "anna.rep", "answers.submit", "DE profiling answers", "", "{}"};
  auto ok = store->UpsertInputsAudited({{"C1", "onc", false, "q1", "4", "rep", 20000}}, e);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->written, 1);
  auto bad = store->UpsertInputsAudited({{"C1", "onc", false, "q2", "4", "rep", 20000},
                                         {"C9", "onc", false, "q1", "4", "rep", 20000}},
                                        e);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->CountInputs(), 1) << "the failed batch wrote no row";
  auto audit = store->ListAudit({});
  ASSERT_TRUE(audit.ok());
  int entries = 0;
  for (const AuditEntry& a : *audit) entries += a.action == "answers.submit";
  EXPECT_EQ(entries, 1) << "and no entry";
}

TEST_P(StoreContract, CustomerInputsAreOneCustomersRowsOfOneTherapyArea) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}, {"C2", "DE", "pcp", "gp", "B"}})
          .ok());
  ASSERT_TRUE(store
                  ->UpsertInputs({{"C1", "onc", true, "trx_decile", "7", "external", 20001},
                                  {"C1", "onc", false, "q1", "4", "rep", 20000},
                                  {"C1", "onc", false, "q1", "3", "external", 20002},
                                  {"C1", "dia", false, "q1", "1", "rep", 20000},
                                  {"C2", "onc", false, "q1", "5", "rep", 20000}})
                  .ok());
  auto rows = store->CustomerInputs("C1", "onc");
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::string> got;
  for (const InputRow& r : *rows) {
    got.push_back(absl::StrCat(r.customer_id, " ", r.therapy_area, " ", r.is_metric, " ",
                               r.input_id, "=", r.value, " ", r.source, " ", r.as_of));
  }
  EXPECT_THAT(got, ElementsAre("C1 onc 0 q1=3 external 20002", "C1 onc 0 q1=4 rep 20000",
                               "C1 onc 1 trx_decile=7 external 20001"));
  EXPECT_TRUE(store->CustomerInputs("C9", "onc")->empty());
}

TEST_P(StoreContract, ScanInputsReadsOneCountryAndTherapyArea) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"},
                                     {"C2", "DE", "specialist", "onc", "B"},
                                     {"C3", "FR", "pcp", "gp", "C"}})
                  .ok());
  ASSERT_TRUE(store
                  ->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                  {"C1", "onc", true, "trx_decile", "7", "external", 20001},
                                  {"C2", "onc", false, "q1", "2", "local", 19000},
                                  {"C1", "dia", false, "q1", "1", "rep", 20000},
                                  {"C3", "onc", false, "q1", "5", "rep", 20000}})
                  .ok());
  std::vector<std::string> seen;
  absl::Status s = store->ScanInputs("DE", "onc", [&](const InputRow& r) {
    seen.push_back(r.customer_id + " " + r.therapy_area + " " + (r.is_metric ? "m " : "q ") +
                   r.input_id + "=" + r.value + " " + r.source + " " + std::to_string(r.as_of));
  });
  ASSERT_TRUE(s.ok()) << s;
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen,
            (std::vector<std::string>{"C1 onc m trx_decile=7 external 20001",
                                      "C1 onc q q1=4 rep 20000", "C2 onc q q1=2 local 19000"}));
  int none = 0;
  ASSERT_TRUE(store->ScanInputs("US", "onc", [&](const InputRow&) { ++none; }).ok());
  EXPECT_EQ(none, 0);
}

TEST_P(StoreContract, RuleSetVersionsStrictlyIncrease) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PublishRuleSet({"onc", 3, "text v3", "c3", "ops", 1}).ok());
  absl::Status older = store->PublishRuleSet({"onc", 2, "text v2", "c2", "ops", 2});
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(older.message(), "rule set onc v2: versions must increase; the store holds v3");
  EXPECT_EQ(store->PublishRuleSet({"onc", 3, "again", "c", "ops", 3}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->PublishRuleSet({"onc", 4, "text v4", "c4", "ops", 4}).ok());
  ASSERT_TRUE(store->PublishRuleSet({"dia", 1, "dia", "d1", "ops", 5}).ok());
  auto latest = store->GetRuleSet("onc", std::nullopt);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->version, 4);
  EXPECT_EQ((*latest)->checksum, "c4");
  EXPECT_EQ((*latest)->published_by, "ops");
  EXPECT_EQ((*latest)->published_at_unix, 4);
  EXPECT_EQ((*store->GetRuleSet("onc", 3))->source_text, "text v3");
  EXPECT_FALSE(store->GetRuleSet("onc", 1)->has_value());
  EXPECT_FALSE(store->GetRuleSet("imm", std::nullopt)->has_value());

  auto all = store->ListRuleSets("");
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> listed;
  for (const RuleSetRecord& r : *all) {
    listed.push_back(absl::StrCat(r.therapy_area, " v", r.version, " ", r.checksum));
    EXPECT_EQ(r.source_text, "") << "listing leaves the text out";
  }
  EXPECT_THAT(listed, ElementsAre("dia v1 d1", "onc v3 c3", "onc v4 c4"));
  auto onc = store->ListRuleSets("onc");
  ASSERT_TRUE(onc.ok());
  EXPECT_EQ(onc->size(), 2u);
  EXPECT_TRUE(store->ListRuleSets("imm")->empty());
}

TEST_P(StoreContract, CopiesOfPublishedVersionsArriveInAnyOrderOnce) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PublishRuleSet({"onc", 5, "text v5", "c5", "ops", 1}).ok());
  auto older = store->CopyRuleSet({"onc", 2, "text v2", "c2", "ops", 0}, "worker-de", 7);
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_TRUE(*older) << "an older version is stored: a country may pin it";
  EXPECT_EQ((*store->GetRuleSet("onc", 2))->source_text, "text v2");
  EXPECT_EQ((*store->GetRuleSet("onc", std::nullopt))->version, 5);
  auto same = store->CopyRuleSet({"onc", 5, "text v5", "c5", "ops", 1}, "worker-de", 8);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same) << "already held: nothing written";
  auto other = store->CopyRuleSet({"onc", 5, "forged", "cX", "ops", 1}, "worker-de", 9);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*store->GetRuleSet("onc", 5))->source_text, "text v5");
  auto audit = store->ListAudit({});
  ASSERT_TRUE(audit.ok());
  int copies = 0;
  for (const AuditEntry& e : *audit) {
    if (e.action == "rules.copy") {
      ++copies;
      EXPECT_EQ(e.principal, "worker-de");
      EXPECT_EQ(e.object, "onc v2");
    }
  }
  EXPECT_EQ(copies, 1);
}

TEST_P(StoreContract, ConcurrentPublishersOfOneVersionOneWins) {
  ASSERT_NE(Open(), nullptr);
  std::atomic<int> won{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t, &won, &refused] {
      auto store = OpenStore(url_);
      ASSERT_TRUE(store.ok()) << store.status();
      for (int v = 1; v <= 5; ++v) {
        absl::Status s =
            (*store)->PublishRuleSet({"onc", v, "t" + std::to_string(t), "c", "ops", 0});
        if (s.ok()) {
          ++won;
        } else {
          EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
          ++refused;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(won.load(), 5);
  EXPECT_EQ(refused.load(), 15);
  EXPECT_EQ((*Open()->GetRuleSet("onc", std::nullopt))->version, 5);
}

TEST_P(StoreContract, ConcurrentImportersAllLand) {
  ASSERT_NE(Open(), nullptr);  // create the schema once
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      auto store = OpenStore(url_);
      ASSERT_TRUE(store.ok()) << store.status();
      for (int batch = 0; batch < 10; ++batch) {
        std::vector<CustomerRow> rows;
        for (int i = 0; i < 50; ++i) {
          rows.push_back({"T" + std::to_string(t) + "-" + std::to_string(batch * 50 + i), "DE",
                          "pcp", "gp", "n"});
        }
        auto s = (*store)->UpsertCustomers(rows);
        ASSERT_TRUE(s.ok()) << s.status();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(*Open()->CountCustomers(), 4 * 500);
}

// Overlapping batches from concurrent importers: each key is written once,
// by whoever comes first, and counted unchanged for the others.
TEST_P(StoreContract, ConcurrentImportersOfOverlappingRowsCountEachKeyOnce) {
  ASSERT_NE(Open(), nullptr);
  std::atomic<int64_t> written{0}, unchanged{0}, inputs_written{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t, &written, &unchanged, &inputs_written] {
      auto store = OpenStore(url_);
      ASSERT_TRUE(store.ok()) << store.status();
      std::vector<CustomerRow> customers;
      std::vector<InputRow> inputs;
      for (int i = t * 500; i < t * 500 + 2000; ++i) {
        const std::string id = "C" + std::to_string(100000 + i);
        customers.push_back({id, "DE", "pcp", "gp", "name " + id});
        inputs.push_back({id, "onc", false, "q1", std::to_string(i % 5), "rep", 20000});
      }
      // Each thread in its own order: the store must not deadlock.
      std::rotate(customers.begin(), customers.begin() + 400 * t, customers.end());
      auto s = (*store)->UpsertCustomers(customers);
      ASSERT_TRUE(s.ok()) << s.status();
      written += s->written;
      unchanged += s->unchanged;
      auto in = (*store)->UpsertInputs(inputs);
      ASSERT_TRUE(in.ok()) << in.status();
      inputs_written += in->written;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(written.load(), 3500);
  EXPECT_EQ(unchanged.load(), 4 * 2000 - 3500);
  EXPECT_EQ(inputs_written.load(), 3500);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->CountCustomers(), 3500);
  EXPECT_EQ(*store->CountInputs(), 3500);
}

TEST_P(StoreContract, CyclesAreKeptPerMarketAndTheLatestWins) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->GetCycle("DE", "onc", std::nullopt)->has_value());
  AssignmentRow a{"C1", "early", "A", 12, 4, 6, 1, "rules", "r1", 3, "d1", "innovation=1.5"};
  AssignmentRow b{"C2", "", "C", 0, 0, 0, 0, "conflict", "r1|r2", 3, "d2", "innovation="};
  auto first = store->CommitCycle(
      {0, "DE", "onc", 20000, 3, "tier_bands=broad", "country: DE", 99, "summary 1", 111}, {b, a},
      {});
  ASSERT_TRUE(first.ok()) << first.status();
  auto other = store->CommitCycle({0, "FR", "onc", 20001, 3, "", "", 0, "fr", 112}, {a}, {});
  ASSERT_TRUE(other.ok());
  auto second =
      store->CommitCycle({0, "DE", "onc", 20002, 4, "o", "c", 0, "summary 2", 113}, {a}, {});
  ASSERT_TRUE(second.ok());
  EXPECT_LT(*first, *other);
  EXPECT_LT(*other, *second);

  auto latest = store->GetCycle("DE", "onc", std::nullopt);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->cycle_id, *second);
  EXPECT_EQ((*latest)->summary, "summary 2");
  auto one = store->GetCycle("DE", "onc", *first);
  ASSERT_TRUE(one.ok() && one->has_value());
  const CycleRecord& c = **one;
  EXPECT_EQ(c.country, "DE");
  EXPECT_EQ(c.therapy_area, "onc");
  EXPECT_EQ(c.as_of, 20000);
  EXPECT_EQ(c.rule_set_version, 3);
  EXPECT_EQ(c.options, "tier_bands=broad");
  EXPECT_EQ(c.country_config, "country: DE");
  EXPECT_EQ(c.customers, 2) << "the number of rows committed";
  EXPECT_EQ(c.committed_at_unix, 111);
  EXPECT_FALSE(store->GetCycle("FR", "onc", *first)->has_value()) << "another market's cycle";
  EXPECT_FALSE(store->GetCycle("DE", "dia", std::nullopt)->has_value());

  auto rows = store->GetAssignments(*first);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  const AssignmentRow& r = (*rows)[0];
  EXPECT_EQ(r.customer_id, "C1");
  EXPECT_EQ(r.segment, "early");
  EXPECT_EQ(r.tier, "A");
  EXPECT_EQ(r.calls, 12);
  EXPECT_EQ(r.remote, 4);
  EXPECT_EQ(r.email, 6);
  EXPECT_EQ(r.events, 1);
  EXPECT_EQ(r.decided_by, "rules");
  EXPECT_EQ(r.rule_id, "r1");
  EXPECT_EQ(r.rule_set_version, 3);
  EXPECT_EQ(r.inputs_digest, "d1");
  EXPECT_EQ(r.scores, "innovation=1.5");
  EXPECT_EQ((*rows)[1].segment, "");
  EXPECT_EQ((*rows)[1].rule_id, "r1|r2");
  EXPECT_EQ(store->GetAssignments(*second + 100)->size(), 0u);

  // A cycle with a customer twice is refused whole.
  auto twice = store->CommitCycle({0, "DE", "onc", 20003, 4, "", "", 0, "", 114}, {a, a}, {});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition) << twice.status();
  EXPECT_EQ((*store->GetCycle("DE", "onc", std::nullopt))->cycle_id, *second);
}

// docs/cycle.md step 7: readers see the whole previous cycle or the whole new one.
TEST_P(StoreContract, ACommittedCycleBecomesVisibleAllAtOnce) {
  auto writer = Open();
  ASSERT_NE(writer, nullptr);
  constexpr int kRows = 60000;
  constexpr int kCycles = 3;
  std::vector<AssignmentRow> rows(kRows);
  for (int i = 0; i < kRows; ++i) {
    rows[i].customer_id = "C" + std::to_string(1000000 + i);
    rows[i].decided_by = "rules";
  }
  std::atomic<bool> committing{false}, done{false}, reader_gone{false};
  std::atomic<int> polls{0}, polls_during_commit{0}, partial{0};
  auto read = [&] {
    auto store = OpenStore(url_);
    ASSERT_TRUE(store.ok()) << store.status();
    while (!done) {
      const bool during = committing;
      auto cycle = (*store)->GetCycle("DE", "onc", std::nullopt);
      ASSERT_TRUE(cycle.ok()) << cycle.status();
      if (cycle->has_value()) {
        auto got = (*store)->GetAssignments((**cycle).cycle_id);
        ASSERT_TRUE(got.ok()) << got.status();
        // Every row of the cycle, each from that cycle's commit.
        const bool whole =
            static_cast<int64_t>(got->size()) == (**cycle).customers && got->size() == kRows &&
            std::all_of(got->begin(), got->end(),
                        [&](const AssignmentRow& r) { return r.segment == (**cycle).summary; });
        if (!whole) ++partial;
      }
      ++polls;
      if (during && committing) ++polls_during_commit;
    }
  };
  std::thread reader([&] {
    read();
    reader_gone = true;
  });
  while (polls == 0 && !reader_gone) std::this_thread::yield();
  for (int k = 1; k <= kCycles; ++k) {
    const std::string tag = "cycle " + std::to_string(k);
    for (AssignmentRow& r : rows) r.segment = tag;
    committing = true;
    auto id = writer->CommitCycle({0, "DE", "onc", 20000 + k, 1, "", "", 0, tag, k}, rows, {});
    committing = false;
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) break;
    const int after = polls;
    while (polls < after + 2 && !reader_gone) std::this_thread::yield();  // the reader sees it
  }
  done = true;
  reader.join();
  EXPECT_EQ(partial.load(), 0) << "a reader saw a cycle with rows missing or mixed";
  EXPECT_GT(polls_during_commit.load(), 0) << "the reader never ran during a commit";
}

// A store written by schema v2 (the tables as that release created them):
// opening it migrates to the current schema and keeps every row.
constexpr const char* kSqliteV2 = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1), (2);
CREATE TABLE customers (customer_id TEXT PRIMARY KEY, country TEXT NOT NULL,
  customer_type TEXT NOT NULL, specialty TEXT NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX customers_by_country ON customers (country, customer_id);
CREATE TABLE inputs (customer_id TEXT NOT NULL REFERENCES customers (customer_id),
  therapy_area TEXT NOT NULL, input_id TEXT NOT NULL, source TEXT NOT NULL,
  as_of INTEGER NOT NULL, is_metric INTEGER NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of)) WITHOUT ROWID;
CREATE TABLE rule_sets (therapy_area TEXT NOT NULL, version INTEGER NOT NULL,
  source_text TEXT NOT NULL, checksum TEXT NOT NULL, published_by TEXT NOT NULL,
  published_at INTEGER NOT NULL, PRIMARY KEY (therapy_area, version));
CREATE TABLE cycles (cycle_id INTEGER PRIMARY KEY, country TEXT NOT NULL,
  therapy_area TEXT NOT NULL, as_of INTEGER NOT NULL, rule_set_version INTEGER NOT NULL,
  options TEXT NOT NULL, country_config TEXT NOT NULL, customers INTEGER NOT NULL,
  summary TEXT NOT NULL, committed_at INTEGER NOT NULL);
CREATE INDEX cycles_by_market ON cycles (country, therapy_area, cycle_id);
CREATE TABLE assignments (cycle_id INTEGER NOT NULL REFERENCES cycles (cycle_id),
  customer_id TEXT NOT NULL, segment TEXT NOT NULL, tier TEXT NOT NULL,
  calls INTEGER NOT NULL, remote INTEGER NOT NULL, email INTEGER NOT NULL,
  events INTEGER NOT NULL, decided_by TEXT NOT NULL, rule_id TEXT NOT NULL,
  rule_set_version INTEGER NOT NULL, inputs_digest TEXT NOT NULL, scores TEXT NOT NULL,
  PRIMARY KEY (cycle_id, customer_id)) WITHOUT ROWID;
)sql";

constexpr const char* kPostgresV2 = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1), (2);
CREATE TABLE customers (customer_id TEXT COLLATE "C" PRIMARY KEY,
  country TEXT COLLATE "C" NOT NULL, customer_type TEXT COLLATE "C" NOT NULL,
  specialty TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL);
CREATE INDEX customers_by_country ON customers (country, customer_id);
CREATE TABLE inputs (customer_id TEXT COLLATE "C" NOT NULL,
  therapy_area TEXT COLLATE "C" NOT NULL, input_id TEXT COLLATE "C" NOT NULL,
  source TEXT COLLATE "C" NOT NULL, as_of BIGINT NOT NULL, is_metric BOOLEAN NOT NULL,
  value TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of));
CREATE TABLE rule_sets (therapy_area TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL,
  source_text TEXT COLLATE "C" NOT NULL, checksum TEXT COLLATE "C" NOT NULL,
  published_by TEXT COLLATE "C" NOT NULL, published_at BIGINT NOT NULL,
  PRIMARY KEY (therapy_area, version));
CREATE TABLE cycles (cycle_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  country TEXT COLLATE "C" NOT NULL, therapy_area TEXT COLLATE "C" NOT NULL,
  as_of BIGINT NOT NULL, rule_set_version BIGINT NOT NULL, options TEXT COLLATE "C" NOT NULL,
  country_config TEXT COLLATE "C" NOT NULL, customers BIGINT NOT NULL,
  summary TEXT COLLATE "C" NOT NULL, committed_at BIGINT NOT NULL);
CREATE INDEX cycles_by_market ON cycles (country, therapy_area, cycle_id);
CREATE TABLE assignments (cycle_id BIGINT NOT NULL, customer_id TEXT COLLATE "C" NOT NULL,
  segment TEXT COLLATE "C" NOT NULL, tier TEXT COLLATE "C" NOT NULL, calls BIGINT NOT NULL,
  remote BIGINT NOT NULL, email BIGINT NOT NULL, events BIGINT NOT NULL,
  decided_by TEXT COLLATE "C" NOT NULL, rule_id TEXT COLLATE "C" NOT NULL,
  rule_set_version BIGINT NOT NULL, inputs_digest TEXT COLLATE "C" NOT NULL,
  scores TEXT COLLATE "C" NOT NULL, PRIMARY KEY (cycle_id, customer_id));
)sql";

TEST_P(StoreContract, AVersion2StoreIsMigratedWithEveryRowKept) {
  ExecRaw(postgres() ? kPostgresV2 : kSqliteV2);
  const std::string t = postgres() ? "true" : "1";
  ExecRaw("INSERT INTO customers VALUES ('C1', 'DE', 'pcp', 'gp', 'Dr. A')");
  ExecRaw("INSERT INTO inputs VALUES ('C1', 'onc', 'q1', 'rep', 20000, " + t + ", '7')");
  ExecRaw("INSERT INTO rule_sets VALUES ('onc', 1, 'text', 'sum', 'ops', 5)");
  ExecRaw(std::string("INSERT INTO cycles (") + (postgres() ? "" : "cycle_id, ") +
          "country, therapy_area, as_of, rule_set_version, options, country_config, customers, "
          "summary, committed_at) VALUES (" +
          (postgres() ? "" : "1, ") + "'DE', 'onc', 20000, 1, 'o', 'c', 1, 's', 6)");
  ExecRaw(
      "INSERT INTO assignments VALUES (1, 'C1', 'early', 'A', 1, 2, 3, 4, 'rules', 'r1', 1, "
      "'d', 'x=1')");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), kSchemaVersion);
  EXPECT_EQ((*store->GetCustomer("C1"))->name, "Dr. A");
  EXPECT_EQ(*store->CountInputs(), 1);
  EXPECT_EQ((*store->GetRuleSet("onc", 1))->checksum, "sum");
  auto cycle = store->GetCycle("DE", "onc", std::nullopt);
  ASSERT_TRUE(cycle.ok() && cycle->has_value()) << cycle.status();
  EXPECT_EQ((*cycle)->summary, "s");
  EXPECT_EQ((*cycle)->status, "committed");
  EXPECT_EQ((*cycle)->quality, "{}");
  const std::optional<AssignmentRow> old = *store->GetAssignment(1, "C1");
  EXPECT_EQ(old->segment, "early");
  // Committed before plans existed: no tags, and the plan was the targets.
  EXPECT_EQ(old->tags, "");
  EXPECT_EQ(
      std::vector<int32_t>({old->plan_calls, old->plan_remote, old->plan_email, old->plan_events}),
      std::vector<int32_t>({1, 2, 3, 4}));
  // The migrated key tells an answer from a metric.
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "3", "rep", 20000}})->written, 1);
  EXPECT_EQ(*store->CountInputs(), 2);
  EXPECT_EQ(QueryInt("SELECT MAX(version) FROM schema_version"), kSchemaVersion);
}

TEST_P(StoreContract, AssignmentsKeepTheirTagsAndPlan) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AssignmentRow a{"C1", "early", "A", 12, 4, 6, 1, "rules", "r1", 3, "d1", "s=1"};
  a.tags = "access_barrier|digital_first";
  a.plan_calls = 6;
  a.plan_remote = 7;
  a.plan_email = 9;
  a.plan_events = 1;
  AssignmentRow b{"C2", "", "B", 0, 0, 0, 0, "conflict", "r1|r2", 3, "d2", ""};
  auto id = store->CommitCycle({0, "DE", "onc", 20000, 3, "o", "cfg", 0, "s", 100}, {a, b}, {});
  ASSERT_TRUE(id.ok()) << id.status();
  for (const std::vector<AssignmentRow>& rows :
       {*store->GetAssignments(*id),
        std::vector<AssignmentRow>{**store->GetAssignment(*id, "C1"),
                                   **store->GetAssignment(*id, "C2")}}) {
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].tags, "access_barrier|digital_first");
    EXPECT_EQ(std::vector<int32_t>({rows[0].plan_calls, rows[0].plan_remote, rows[0].plan_email,
                                    rows[0].plan_events}),
              std::vector<int32_t>({6, 7, 9, 1}));
    EXPECT_EQ(rows[1].tags, "");
    EXPECT_EQ(rows[1].plan_calls + rows[1].plan_remote + rows[1].plan_email + rows[1].plan_events,
              0);
  }
}

TEST_P(StoreContract, AssignmentsKeepTheObjectiveBehaviourExactly) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AssignmentRow a{"C1", "early", "A", 1, 0, 0, 0, "rules", "r1", 3, "d1", ""};
  a.objective = 0.1 + 0.2;  // not a short decimal: must come back bit for bit
  AssignmentRow b{"C2", "late", "B", 1, 0, 0, 0, "rules", "r1", 3, "d2", ""};
  AssignmentRow c{"C3", "late", "B", 1, 0, 0, 0, "rules", "r1", 3, "d3", ""};
  c.objective = -1e-300;
  auto id = store->CommitCycle({0, "DE", "onc", 20000, 3, "o", "cfg", 0, "s", 100}, {a, b, c}, {});
  ASSERT_TRUE(id.ok()) << id.status();
  auto rows = store->GetAssignments(*id);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].objective, std::optional<double>(0.1 + 0.2));
  EXPECT_EQ((*rows)[1].objective, std::nullopt);
  EXPECT_EQ((*rows)[2].objective, std::optional<double>(-1e-300));
  EXPECT_EQ((**store->GetAssignment(*id, "C1")).objective, std::optional<double>(0.1 + 0.2));
}

TEST_P(StoreContract, ActivitiesAreKeyedSummedPerCustomerAndKeptPerCountry) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->UpsertCustomers({{"D1", "DE", "physician", "onc", "A"},
                                     {"D2", "DE", "physician", "onc", "B"},
                                     {"F1", "FR", "physician", "onc", "C"}})
                  .ok());
  std::vector<ActivityRow> rows = {
      {"D1", "onc", "calls", 20000, "crm", 2},  {"D1", "onc", "calls", 20001, "crm", 1},
      {"D1", "onc", "email", 20000, "crm", 5},  {"D1", "onc", "calls", 20000, "mail", 1},
      {"D2", "onc", "remote", 20010, "crm", 3}, {"D2", "dia", "calls", 20000, "crm", 9},
      {"F1", "onc", "calls", 20000, "crm", 7},  {"D1", "onc", "calls", 19999, "crm", 4},
      {"D2", "onc", "events", 20020, "crm", 1},  // day 20020: outside [20000, 20020)
  };
  auto written = store->UpsertActivities(rows);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->written, 9);
  // The same file again changes nothing; a new count for a key replaces it,
  // and within one batch the last row of a key is its count.
  written = store->UpsertActivities(rows);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->written, 0);
  EXPECT_EQ(written->unchanged, 9);
  written = store->UpsertActivities(
      {{"D1", "onc", "email", 20000, "crm", 1}, {"D1", "onc", "email", 20000, "crm", 6}});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->written, 1);

  auto totals = [&](const std::string& country, int32_t from, int32_t to) {
    std::vector<std::pair<std::string, ActivityCounts>> out;
    absl::Status s = store->ScanActivityTotals(
        country, "onc", from, to,
        [&](const std::string& id, const ActivityCounts& c) { out.emplace_back(id, c); });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  };
  using Totals = std::vector<std::pair<std::string, ActivityCounts>>;
  EXPECT_EQ(totals("DE", 20000, 20020), (Totals{{"D1", {4, 0, 6, 0}}, {"D2", {0, 3, 0, 0}}}));
  EXPECT_EQ(totals("FR", 0, 100000), (Totals{{"F1", {7, 0, 0, 0}}}));

  // An unknown customer fails the whole batch, naming it; nothing is written.
  auto unknown = store->UpsertActivities(
      {{"D1", "onc", "events", 20005, "crm", 1}, {"X9", "onc", "calls", 20005, "crm", 1}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("X9"));
  EXPECT_TRUE(totals("DE", 20005, 20006).empty());
}

TEST_P(StoreContract, ListsOneCountrysCustomersInIdOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->UpsertCustomers({{"D2", "DE", "nurse", "", "Zoë"},
                                     {"F1", "FR", "physician", "onc", "D"},
                                     {"D10", "DE", "physician", "onc", "Ängström"}})
                  .ok());
  auto de = store->ListCustomers("DE");
  ASSERT_TRUE(de.ok()) << de.status();
  ASSERT_EQ(de->size(), 2u);
  EXPECT_EQ((*de)[0].customer_id, "D10");  // bytewise
  EXPECT_EQ((*de)[0].name, "Ängström");
  EXPECT_EQ((*de)[0].country, "DE");
  EXPECT_EQ((*de)[1].customer_type, "nurse");
  EXPECT_TRUE(store->ListCustomers("ES")->empty());
}

TEST_P(StoreContract, ATerritoryFileReplacesTheAlignmentOfTheCountriesItCovers) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->UpsertCustomers({{"D1", "DE", "physician", "onc", "A"},
                                     {"D2", "DE", "physician", "onc", "B"},
                                     {"D3", "DE", "physician", "onc", "C"},
                                     {"F1", "FR", "physician", "onc", "D"}})
                  .ok());
  auto pairs = [&](const std::string& country, const std::string& rep) {
    std::vector<std::string> out;
    auto rows = store->ListTerritories(country, rep);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) return out;
    for (const TerritoryRow& r : *rows) {
      EXPECT_EQ(r.country, country);
      out.push_back(r.territory + "/" + r.customer_id + "=" + r.rep);
    }
    return out;
  };
  // D1 sits in two territories; the last row of a pair wins.
  auto first = store->ReplaceTerritories({{"D1", "DE-N", "anna"},
                                          {"D1", "DE-S", "ben"},
                                          {"D2", "DE-N", "carl"},
                                          {"D2", "DE-N", "anna"},
                                          {"F1", "FR-P", "paul"}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->written, 4);
  EXPECT_EQ(pairs("DE", ""),
            (std::vector<std::string>{"DE-N/D1=anna", "DE-N/D2=anna", "DE-S/D1=ben"}));
  EXPECT_EQ(pairs("DE", "anna"), (std::vector<std::string>{"DE-N/D1=anna", "DE-N/D2=anna"}));
  EXPECT_EQ(pairs("FR", ""), (std::vector<std::string>{"FR-P/F1=paul"}));
  // The same file again changes nothing.
  auto again = store->ReplaceTerritories({{"D1", "DE-N", "anna"},
                                          {"D1", "DE-S", "ben"},
                                          {"D2", "DE-N", "anna"},
                                          {"F1", "FR-P", "paul"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->written, 0);
  EXPECT_EQ(again->unchanged, 4);
  EXPECT_EQ(again->removed, 0);
  // A new DE alignment: D2 moves to ben, D3 joins, D1 leaves DE-S; FR,
  // which the file does not cover, keeps its alignment.
  auto next = store->ReplaceTerritories(
      {{"D1", "DE-N", "anna"}, {"D2", "DE-N", "ben"}, {"D3", "DE-S", "ben"}});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->written, 2);
  EXPECT_EQ(next->unchanged, 1);
  EXPECT_EQ(next->removed, 1);
  EXPECT_EQ(pairs("DE", "ben"), (std::vector<std::string>{"DE-N/D2=ben", "DE-S/D3=ben"}));
  EXPECT_EQ(pairs("FR", "paul"), (std::vector<std::string>{"FR-P/F1=paul"}));
  EXPECT_TRUE(pairs("FR", "anna").empty());
  // An unknown customer fails the whole file, naming it.
  auto unknown = store->ReplaceTerritories({{"D1", "DE-X", "zoe"}, {"X9", "DE-X", "zoe"}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("X9"));
  EXPECT_TRUE(pairs("DE", "zoe").empty());
}

TEST_P(StoreContract, CycleHistoryIsQueryableWithStatusQualityAndWhoRanIt) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AssignmentRow a{"C1", "early", "A", 12, 4, 6, 1, "rules", "r1", 3, "d1", ""};
  AssignmentRow b{"C2", "late", "B", 1, 0, 0, 0, "rules", "r2", 3, "d2", ""};
  CycleRecord c{0, "DE", "onc", 20000, 3, "o", "cfg", 0, "s1", 100};
  c.quality = R"({"customers":2})";
  c.run_by = "ops@de";
  c.period = 19997;
  auto first = store->CommitCycle(c, {a, b}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  a.segment = "late";
  c.as_of = 20090;
  c.period = 20088;
  c.quality = R"({"customers":1})";
  auto second = store->CommitCycle(c, {a}, {});
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(store->CommitCycle({0, "FR", "onc", 20000, 3, "", "", 0, "", 1}, {a}, {}).ok());

  auto cycles = store->ListCycles("DE", "onc");
  ASSERT_TRUE(cycles.ok()) << cycles.status();
  ASSERT_EQ(cycles->size(), 2u);
  EXPECT_EQ((*cycles)[0].cycle_id, *first);
  EXPECT_EQ((*cycles)[1].cycle_id, *second);
  EXPECT_EQ((*cycles)[0].quality, R"({"customers":2})");
  EXPECT_EQ((*cycles)[0].run_by, "ops@de");
  EXPECT_EQ((*cycles)[0].status, "committed");
  EXPECT_EQ((*cycles)[1].as_of, 20090);
  EXPECT_EQ((*cycles)[0].period, 19997);
  EXPECT_EQ((*cycles)[1].period, 20088);
  EXPECT_TRUE(store->ListCycles("SE", "onc")->empty());
  // A re-run in the second cycle's period replaces it; the first stays.
  c.as_of = 20091;
  auto rerun = store->CommitCycle(c, {a}, {});
  ASSERT_TRUE(rerun.ok()) << rerun.status();
  cycles = store->ListCycles("DE", "onc");
  ASSERT_EQ(cycles->size(), 3u);
  EXPECT_EQ((*cycles)[0].status, "committed");
  EXPECT_EQ((*cycles)[1].status, "replaced");
  EXPECT_EQ((*cycles)[2].status, "committed");
  const int64_t latest_de = *rerun;
  // A report's markets: the latest cycle of each country, by country.
  ASSERT_TRUE(store->CommitCycle({0, "AT", "other", 20000, 3, "", "", 0, "", 1}, {a}, {}).ok());
  auto latest = store->LatestCycles("onc");
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].country, "DE");
  EXPECT_EQ((*latest)[0].cycle_id, latest_de);
  EXPECT_EQ((*latest)[0].quality, R"({"customers":1})");
  EXPECT_EQ((*latest)[1].country, "FR");
  EXPECT_TRUE(store->LatestCycles("none")->empty());
  // "Segment of C1 in onc as of cycle N".
  EXPECT_EQ((*store->GetAssignment(*first, "C1"))->segment, "early");
  EXPECT_EQ((*store->GetAssignment(*second, "C1"))->segment, "late");
  EXPECT_EQ((*store->GetAssignment(*first, "C2"))->tier, "B");
  EXPECT_FALSE(store->GetAssignment(*second, "C2")->has_value());
}

RefinementRecord Refinement(const std::string& request_id, const std::string& customer,
                            RefinementStatus status = RefinementStatus::kAccepted) {
  RefinementRecord r;
  r.request_id = request_id;
  r.country = "DE";
  r.therapy_area = "onc";
  r.customer_id = customer;
  r.segment = "early";
  r.calls_delta = -2;
  r.reason = "knows_customer";
  r.comment = "met at congress, \"quoted\"";
  r.submitted_by = "rep@de";
  r.submitted_at_unix = 1000;
  r.status = status;
  return r;
}

TEST_P(StoreContract, RefinementSubmissionIsIdempotentByRequestId) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RefinementRecord rejected = Refinement("req-2", "C9", RefinementStatus::kRejected);
  rejected.status_reason = "unknown customer C9";
  auto first = store->SubmitRefinements({Refinement("req-1", "C1"), rejected});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_FALSE((*first)[0].duplicate);
  EXPECT_GT((*first)[0].record.refinement_id, 0);
  EXPECT_LT((*first)[0].record.refinement_id, (*first)[1].record.refinement_id);
  EXPECT_EQ((*first)[1].record.status, RefinementStatus::kRejected);

  // A retry (same request id, even with other content) returns the original.
  RefinementRecord retry = Refinement("req-1", "C1");
  retry.segment = "late";
  auto second = store->SubmitRefinements({retry, Refinement("req-3", "C2")});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE((*second)[0].duplicate);
  EXPECT_EQ((*second)[0].record.segment, "early");
  EXPECT_EQ((*second)[0].record.refinement_id, (*first)[0].record.refinement_id);
  EXPECT_FALSE((*second)[1].duplicate);

  auto all = store->ListRefinements("DE", "onc", {});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].request_id, "req-1");
  EXPECT_EQ((*all)[1].request_id, "req-2");
  EXPECT_EQ((*all)[2].request_id, "req-3");
  const RefinementRecord& r = (*all)[0];
  EXPECT_EQ(r.customer_id, "C1");
  EXPECT_EQ(r.calls_delta, -2);
  EXPECT_EQ(r.reason, "knows_customer");
  EXPECT_EQ(r.comment, "met at congress, \"quoted\"");
  EXPECT_EQ(r.submitted_by, "rep@de");
  EXPECT_EQ(r.submitted_at_unix, 1000);
  EXPECT_EQ(r.updated_at_unix, 1000);
  EXPECT_EQ(r.cycles_applied, 0);
  EXPECT_EQ((*all)[1].status_reason, "unknown customer C9");
  auto active = store->ListRefinements("DE", "onc", {RefinementStatus::kAccepted});
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[1].request_id, "req-3");
  EXPECT_TRUE(store->ListRefinements("FR", "onc", {})->empty());
  // Only a validated status may be submitted, and a request id is required.
  auto applied = store->SubmitRefinements({Refinement("req-9", "C1", RefinementStatus::kApplied)});
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(applied.status().message(),
            "refinement req-9: cannot be submitted as applied; expected one of: submitted, "
            "accepted, rejected");
  EXPECT_EQ(store->SubmitRefinements({Refinement("", "C1")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(store->GetRefinement("DE", "onc", "req-9")->has_value());
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "req-3"))->customer_id, "C2");
  EXPECT_FALSE(store->GetRefinement("DE", "onc", "nope")->has_value());
}

TEST_P(StoreContract, ConcurrentSubmittersOfOneRequestIdStoreItOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> originals{0}, duplicates{0};
  ASSERT_NE(Open(), nullptr);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto store = OpenStore(url_);
      ASSERT_TRUE(store.ok()) << store.status();
      for (int k = 0; k < 20; ++k) {
        auto got = (*store)->SubmitRefinements({Refinement("req-" + std::to_string(k), "C1")});
        ASSERT_TRUE(got.ok()) << got.status();
        ++((*got)[0].duplicate ? duplicates : originals);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(originals.load(), 20);
  EXPECT_EQ(duplicates.load(), 60);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM refinements"), 20);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM audit_log WHERE action = 'refinement.submit'"), 20);
}

TEST_P(StoreContract, ARequestIdRepeatedInABatchIsStoredOnceByItsFirstRow) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SubmitRefinements({Refinement("old", "C0")}).ok());
  RefinementRecord a_again = Refinement("a", "C1");
  a_again.segment = "late";
  RefinementRecord old_again = Refinement("old", "C0");
  old_again.segment = "late";
  auto got = store->SubmitRefinements({Refinement("a", "C1"), old_again, Refinement("b", "C2"),
                                       a_again, old_again, Refinement("c", "C3"), a_again});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 7u);
  std::vector<std::string> seen;
  for (const Store::Submitted& s : *got) {
    seen.push_back(s.record.request_id + (s.duplicate ? " duplicate " : " new ") +
                   s.record.segment);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a new early", "old duplicate early", "b new early",
                                            "a duplicate early", "old duplicate early",
                                            "c new early", "a duplicate early"}));
  // New rows get increasing ids in input order; a repeat returns its first
  // row's record as stored.
  const auto id = [&](size_t i) { return (*got)[i].record.refinement_id; };
  EXPECT_LT(id(1), id(0));
  EXPECT_LT(id(0), id(2));
  EXPECT_LT(id(2), id(5));
  EXPECT_EQ(id(3), id(0));
  EXPECT_EQ(id(6), id(0));
  EXPECT_EQ(id(4), id(1));
  EXPECT_EQ((*got)[3].record.customer_id, "C1");
  EXPECT_EQ((*got)[3].record.updated_at_unix, 1000);
  EXPECT_EQ((*got)[3].record.status, RefinementStatus::kAccepted);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM refinements"), 4);

  // One audit entry per stored row, in input order.
  auto log = store->ListAudit({});
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<std::string> objects;
  for (const AuditEntry& e : *log) objects.push_back(e.action + " " + e.object);
  EXPECT_EQ(objects,
            (std::vector<std::string>{
                "refinement.submit DE/onc refinement old", "refinement.submit DE/onc refinement a",
                "refinement.submit DE/onc refinement b", "refinement.submit DE/onc refinement c"}));
}

// Request ids are idempotency keys per (country, therapy area): the same id
// in another country or therapy area is another refinement, never a duplicate
// that would hand back (or hide) the other one.
TEST_P(StoreContract, RequestIdsAreScopedToTheCountryAndTherapyArea) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RefinementRecord fr = Refinement("crm-1", "F1");
  fr.country = "FR";
  fr.comment = "confidential FR comment";
  fr.submitted_by = "rep@fr";
  ASSERT_TRUE(store->SubmitRefinements({fr}).ok());
  auto de = store->SubmitRefinements({Refinement("crm-1", "C1")});
  ASSERT_TRUE(de.ok()) << de.status();
  EXPECT_FALSE((*de)[0].duplicate) << "FR's id is not DE's";
  EXPECT_EQ((*de)[0].record.customer_id, "C1");
  EXPECT_EQ((*de)[0].record.submitted_by, "rep@de");
  RefinementRecord other_ta = Refinement("crm-1", "C1");
  other_ta.therapy_area = "dia";
  auto dia = store->SubmitRefinements({other_ta});
  ASSERT_TRUE(dia.ok()) << dia.status();
  EXPECT_FALSE((*dia)[0].duplicate);
  // Each retried in its own scope: the own original comes back.
  auto retry = store->SubmitRefinements({fr, Refinement("crm-1", "C2")});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE((*retry)[0].duplicate);
  EXPECT_EQ((*retry)[0].record.customer_id, "F1");
  EXPECT_TRUE((*retry)[1].duplicate);
  EXPECT_EQ((*retry)[1].record.customer_id, "C1");
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM refinements"), 3);
  EXPECT_EQ((*store->GetRefinement("FR", "onc", "crm-1"))->comment, "confidential FR comment");
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "crm-1"))->customer_id, "C1");
  EXPECT_FALSE(store->GetRefinement("ES", "onc", "crm-1")->has_value());
  // Deciding one leaves the others as they were.
  ASSERT_TRUE(
      store->DecideRefinement("DE", "onc", "crm-1", RefinementStatus::kWithdrawn, "", "x", 5).ok());
  EXPECT_EQ((*store->GetRefinement("FR", "onc", "crm-1"))->status, RefinementStatus::kAccepted);
  EXPECT_EQ((*store->GetRefinement("DE", "dia", "crm-1"))->status, RefinementStatus::kAccepted);
  auto unknown =
      store->DecideRefinement("ES", "onc", "crm-1", RefinementStatus::kApproved, "", "x", 6);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "no refinement with request id crm-1 in ES onc");
}

TEST_P(StoreContract, TheRefinementLifecycleIsEnforced) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto submitted = store->SubmitRefinements({Refinement("a", "C1", RefinementStatus::kSubmitted),
                                             Refinement("b", "C2", RefinementStatus::kAccepted),
                                             Refinement("c", "C3", RefinementStatus::kAccepted)});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const int64_t id_a = (*submitted)[0].record.refinement_id;
  const int64_t id_b = (*submitted)[1].record.refinement_id;
  const int64_t id_c = (*submitted)[2].record.refinement_id;

  auto approved =
      store->DecideRefinement("DE", "onc", "a", RefinementStatus::kApproved, "", "ops@de", 2000);
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->status, RefinementStatus::kApproved);
  EXPECT_EQ(approved->decided_by, "ops@de");
  EXPECT_EQ(approved->updated_at_unix, 2000);
  auto again =
      store->DecideRefinement("DE", "onc", "a", RefinementStatus::kApproved, "", "ops@de", 2001);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.status().message(), "refinement a is approved: it cannot become approved");
  EXPECT_EQ(store->DecideRefinement("DE", "onc", "zz", RefinementStatus::kRejected, "", "x", 1)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  auto not_a_decision =
      store->DecideRefinement("DE", "onc", "b", RefinementStatus::kApplied, "", "x", 1);
  EXPECT_EQ(not_a_decision.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_a_decision.status().message(),
            "refinement b: 'applied' is not a decision; expected approved, rejected or withdrawn");
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "b"))->status, RefinementStatus::kAccepted)
      << "unchanged";

  // A cycle that started before another committed is refused whole.
  {
    CycleRecord stale{0, "DE", "onc", 20000, 1, "", "", 0, "", 2500};
    stale.based_on_cycle_id = 7;
    auto raced = store->CommitCycle(stale, {}, {});
    EXPECT_EQ(raced.status().code(), absl::StatusCode::kAborted);
    EXPECT_EQ(raced.status().message(),
              "country DE onc: another cycle was committed while this one ran (latest cycle now "
              "none, when it started 7); nothing was written, run it again");
    EXPECT_TRUE(store->ListCycles("DE", "onc")->empty());
  }

  // A cycle applies a and b and rejects c (over the quota, say).
  const AssignmentRow row{"C1", "early", "A", 1, 0, 0, 0, "refinement", "r1", 1, "d", ""};
  CycleRecord cycle{0, "DE", "onc", 20000, 1, "", "", 0, "", 3000};
  auto first = store->CommitCycle(cycle, {row},
                                  {{id_a, RefinementStatus::kApplied, "", true},
                                   {id_b, RefinementStatus::kApplied, "", true},
                                   {id_c, RefinementStatus::kRejected, "over the quota", false}});
  ASSERT_TRUE(first.ok()) << first.status();
  auto a = *store->GetRefinement("DE", "onc", "a");
  EXPECT_EQ(a->status, RefinementStatus::kApplied);
  EXPECT_EQ(a->cycles_applied, 1);
  EXPECT_EQ(a->last_cycle_id, *first);
  EXPECT_EQ(a->updated_at_unix, 3000);
  EXPECT_EQ(a->decided_by, "ops@de") << "the approver is kept";
  auto c = *store->GetRefinement("DE", "onc", "c");
  EXPECT_EQ(c->status, RefinementStatus::kRejected);
  EXPECT_EQ(c->status_reason, "over the quota");
  EXPECT_EQ(c->cycles_applied, 0);

  // A commit whose update the lifecycle forbids writes nothing at all.
  cycle.committed_at_unix = 4000;
  auto forbidden = store->CommitCycle(
      cycle, {row},
      {{id_a, RefinementStatus::kApplied, "", true}, {id_c, RefinementStatus::kApplied, "", true}});
  EXPECT_EQ(forbidden.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(forbidden.status().message(), "refinement c is rejected: it cannot become applied");
  auto unknown =
      store->CommitCycle(cycle, {row}, {{id_c + 100, RefinementStatus::kApplied, "", true}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ListCycles("DE", "onc")->size(), 1u);
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "a"))->cycles_applied, 1);

  // Applied again, then expired; withdrawn is final.
  auto second = store->CommitCycle(cycle, {row},
                                   {{id_a, RefinementStatus::kApplied, "", true},
                                    {id_b, RefinementStatus::kExpired, "superseded", false}});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "a"))->cycles_applied, 2);
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "a"))->last_cycle_id, *second);
  EXPECT_EQ((*store->GetRefinement("DE", "onc", "b"))->status, RefinementStatus::kExpired);
  auto withdrawn =
      store->DecideRefinement("DE", "onc", "a", RefinementStatus::kWithdrawn, "left", "rep@de", 5);
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status();
  EXPECT_EQ(store->DecideRefinement("DE", "onc", "a", RefinementStatus::kApproved, "", "x", 6)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreContract, EveryChangeIsAuditedAndTheLogIsAppendOnly) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PublishRuleSet({"onc", 1, "text", "sum1", "global@hq", 10}).ok());
  ASSERT_TRUE(store->PublishRuleSet({"onc", 2, "text", "sum2", "global@hq", 11}).ok());
  auto submitted = store->SubmitRefinements({Refinement("r1", "C1", RefinementStatus::kSubmitted)});
  ASSERT_TRUE(submitted.ok());
  ASSERT_TRUE(
      store->DecideRefinement("DE", "onc", "r1", RefinementStatus::kApproved, "ok", "ops@de", 12)
          .ok());
  CycleRecord cycle{0, "DE", "onc", 20000, 2, "pull_through=on", "", 0, "", 13};
  cycle.run_by = "scheduler";
  auto id = store->CommitCycle(
      cycle, {}, {{(*submitted)[0].record.refinement_id, RefinementStatus::kApplied, "", true}});
  ASSERT_TRUE(id.ok()) << id.status();
  auto appended = store->AppendAudit({0, 14, "ops@de", "import", "customers.csv", "", "{}"});
  ASSERT_TRUE(appended.ok()) << appended.status();
  // Failed changes leave no entry.
  EXPECT_FALSE(store->PublishRuleSet({"onc", 2, "again", "x", "global@hq", 15}).ok());

  auto log = store->ListAudit({.limit = 100});
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 6u);
  std::vector<std::string> actions;
  for (const AuditEntry& e : *log)
    actions.push_back(e.action + " " + e.object + " by " + e.principal);
  EXPECT_EQ(actions, (std::vector<std::string>{
                         "rules.publish onc v1 by global@hq", "rules.publish onc v2 by global@hq",
                         "refinement.submit DE/onc refinement r1 by rep@de",
                         "refinement.approved DE/onc refinement r1 by ops@de",
                         "cycle.commit DE/onc cycle " + std::to_string(*id) + " by scheduler",
                         "import customers.csv by ops@de"}));
  EXPECT_EQ((*log)[0].before, "");
  EXPECT_EQ((*log)[1].before, R"({"version":1})");
  EXPECT_EQ((*log)[1].after, R"({"version":2,"checksum":"sum2"})");
  EXPECT_EQ((*log)[3].before, R"({"status":"submitted","cycles_applied":0})");
  EXPECT_EQ((*log)[3].after,
            R"({"status":"approved","reason":"ok","decided_by":"ops@de","cycles_applied":0})");
  EXPECT_EQ((*log)[4].after,
            R"({"cycle_id":)" + std::to_string(*id) +
                R"(,"as_of":20000,"rule_set_version":2,"options":"pull_through=on",)"
                R"("assignments":0,"refinements":{"applied":1}})");
  EXPECT_EQ((*log)[5].audit_id, *appended);
  EXPECT_EQ((*log)[4].at_unix, 13);
  auto page = store->ListAudit({.after_id = (*log)[1].audit_id, .limit = 2});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].audit_id, (*log)[2].audit_id);

  // The database itself refuses to change or remove an entry.
  EXPECT_NE(RawError("UPDATE audit_log SET principal = 'someone else'"), "");
  EXPECT_NE(RawError("DELETE FROM audit_log"), "");
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM audit_log WHERE principal = 'global@hq'"), 2);
}

// A store with a few audited changes of every kind: 7 entries.
void AuditSomeChanges(Store& store) {
  ASSERT_TRUE(store.UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  ASSERT_TRUE(store.PublishRuleSet({"onc", 1, "text1", "sum1", "global@hq", 10}).ok());
  RuleSetRecord rollback{"onc", 2, "text1", "sum1", "global@hq", 11};
  rollback.rolled_back_from = 1;
  ASSERT_TRUE(store.PublishRuleSet(rollback).ok());
  ASSERT_TRUE(store.SubmitRefinements({Refinement("r1", "C1"), Refinement("r2", "C1")}).ok());
  ASSERT_TRUE(
      store.DecideRefinement("DE", "onc", "r1", RefinementStatus::kWithdrawn, "", "rep@de", 12)
          .ok());
  ASSERT_TRUE(store.CommitCycle({0, "DE", "onc", 20000, 2, "o", "", 0, "", 13}, {}, {}).ok());
  AuditEntry answers{0, 14, "rep@de", "answers.submit", "DE profiling answers", "", "{}"};
  answers.country = "DE";
  ASSERT_TRUE(
      store.UpsertInputsAudited({{"C1", "onc", false, "q1", "4", "rep", 20000}}, answers).ok());
}

TEST_P(StoreContract, TheAuditLogIsAHashChainThatVerifies) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AuditSomeChanges(*store);
  AuditEntry answers{0, 15, "rep@de", "answers.submit", "DE profiling answers", "", "{}"};
  answers.country = "DE";
  ASSERT_TRUE(
      store->UpsertInputsAudited({{"C1", "onc", false, "q1", "5", "rep", 20000}}, answers).ok());
  auto log = store->ListAudit({});
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 8u);
  std::string previous;
  for (const AuditEntry& e : *log) {
    EXPECT_EQ(e.prev_hash, previous) << e.audit_id;
    EXPECT_EQ(e.hash, AuditHash(e.prev_hash, e)) << e.audit_id;
    previous = e.hash;
  }
  // A rollback is audited as one; profile answers record what they changed.
  EXPECT_EQ((*log)[1].action, "rules.rollback");
  EXPECT_EQ((*log)[1].after, R"({"version":2,"checksum":"sum1","restores_version":1})");
  EXPECT_EQ((*log)[7].before,
            R"({"values":[{"customer_id":"C1","therapy_area":"onc","question_id":"q1",)"
            R"("source":"rep","as_of":"2024-10-04","value":"4"}]})");
  EXPECT_EQ((*log)[7].after,
            R"({"values":[{"customer_id":"C1","therapy_area":"onc","question_id":"q1",)"
            R"("source":"rep","as_of":"2024-10-04","value":"5"}]})");
  EXPECT_EQ((*log)[6].before,
            R"({"values":[{"customer_id":"C1","therapy_area":"onc","question_id":"q1",)"
            R"("source":"rep","as_of":"2024-10-04","value":null}]})");
  EXPECT_EQ((*log)[2].country, "DE");
  EXPECT_EQ((*log)[0].country, "");
  auto verified = VerifyAuditLog(*store);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->intact) << verified->problem;
  EXPECT_EQ(verified->entries, 8);
  EXPECT_EQ(verified->head_id, log->back().audit_id);
  EXPECT_EQ(verified->head_hash, log->back().hash);

  // Reading by who, what, where and when.
  auto by = [&](AuditQuery q) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<AuditEntry>> entries = store->ListAudit(q);
    EXPECT_TRUE(entries.ok()) << entries.status();
    if (entries.ok()) {
      for (const AuditEntry& e : *entries) out.push_back(e.action);
    }
    return out;
  };
  EXPECT_THAT(by({.principal = "rep@de"}),
              ElementsAre("refinement.submit", "refinement.submit", "refinement.withdrawn",
                          "answers.submit", "answers.submit"));
  EXPECT_THAT(by({.action = "refinement."}),
              ElementsAre("refinement.submit", "refinement.submit", "refinement.withdrawn"));
  EXPECT_THAT(by({.action = "rules.rollback"}), ElementsAre("rules.rollback"));
  EXPECT_THAT(by({.country = "FR"}), ElementsAre());
  EXPECT_EQ(by({.country = "DE"}).size(), 6u);
  EXPECT_THAT(by({.since_unix = 13, .until_unix = 15}),
              ElementsAre("cycle.commit", "answers.submit"));
}

// Each way of rewriting the log behind the store's back, on a fresh store:
// what verify names as the first bad entry (0 = the end).
TEST_P(StoreContract, AuditVerifyFindsEveryRewrite) {
  struct Probe {
    std::string name, sqlite, postgres;
    int64_t first_bad;  // 1-based position of the entry named (0 = the end, -1 = a new one)
    std::string says;
  };
  const std::vector<Probe> probes = {
      {"INSERT OR REPLACE of an entry",
       "DROP TRIGGER audit_log_no_replace; INSERT OR REPLACE INTO audit_log SELECT audit_id, at, "
       "'mallory', action, object, state_before, state_after, country, prev_hash, hash FROM "
       "audit_log WHERE audit_id = 3",
       "ALTER TABLE audit_log DISABLE TRIGGER USER; INSERT INTO audit_log OVERRIDING SYSTEM VALUE "
       "SELECT audit_id, at, 'mallory', action, object, state_before, state_after, country, "
       "prev_hash, hash FROM audit_log WHERE audit_id = 3 ON CONFLICT (audit_id) DO UPDATE SET "
       "principal = excluded.principal",
       3, "edited or replaced"},
      {"DROP TRIGGER, then DELETE an entry",
       "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE audit_id = 2",
       "DROP TRIGGER audit_log_append_only ON audit_log; DELETE FROM audit_log WHERE audit_id = 2",
       3, "does not follow entry 1"},
      {"a forged, back-dated INSERT",
       "INSERT INTO audit_log (at, principal, action, object, state_before, state_after) VALUES "
       "(1, 'global@hq', 'rules.publish', 'onc v0', '', '{}')",
       "INSERT INTO audit_log (at, principal, action, object, state_before, state_after) VALUES "
       "(1, 'global@hq', 'rules.publish', 'onc v0', '', '{}')",
       -1, "has no hash"},
      {"an edited entry",
       "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET state_after = '{}' WHERE audit_id "
       "= 4",
       "DROP TRIGGER audit_log_append_only ON audit_log; UPDATE audit_log SET state_after = '{}' "
       "WHERE audit_id = 4",
       4, "edited or replaced"},
      {"the last entry deleted",
       "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE audit_id = 7",
       "DROP TRIGGER audit_log_append_only ON audit_log; DELETE FROM audit_log WHERE audit_id = 7",
       0, "entries were removed from the end"},
  };
  for (const Probe& probe : probes) {
    SCOPED_TRACE(probe.name);
    TearDown();
    SetUp();
    auto store = Open();
    ASSERT_NE(store, nullptr);
    AuditSomeChanges(*store);
    auto log = store->ListAudit({});
    ASSERT_EQ(log->size(), 7u);
    ASSERT_TRUE(VerifyAuditLog(*store)->intact);
    EXPECT_EQ(RawError(postgres() ? probe.postgres : probe.sqlite), "");
    auto verified = VerifyAuditLog(*store);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_FALSE(verified->intact);
    if (probe.first_bad < 0) {
      EXPECT_GT(verified->first_bad_id, log->back().audit_id);
    } else {
      EXPECT_EQ(verified->first_bad_id,
                probe.first_bad == 0 ? 0 : (*log)[probe.first_bad - 1].audit_id);
    }
    EXPECT_THAT(verified->problem, HasSubstr(probe.says));
  }
}

// Ten thousand audited changes of every kind: the chain holds throughout.
TEST_P(StoreContract, AnUntouchedLogVerifiesAfterTenThousandMixedChanges) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AuditSomeChanges(*store);
  int64_t version = 2;
  for (int round = 0; store->ListAudit({.after_id = 0})->size() < 10000; ++round) {
    std::vector<RefinementRecord> batch;
    for (int i = 0; i < 400; ++i)
      batch.push_back(Refinement(absl::StrCat("m", round, "-", i), "C1"));
    ASSERT_TRUE(store->SubmitRefinements(batch).ok());
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(store
                      ->DecideRefinement("DE", "onc", absl::StrCat("m", round, "-", i),
                                         RefinementStatus::kWithdrawn, "", "ops@de", 20 + round)
                      .ok());
    }
    ASSERT_TRUE(store->PublishRuleSet({"onc", ++version, "t", "s", "global@hq", 20 + round}).ok());
    AuditEntry answers{0, 20 + round, "rep@de", "answers.submit", "DE answers", "", "{}"};
    answers.country = "DE";
    ASSERT_TRUE(
        store
            ->UpsertInputsAudited(
                {{"C1", "onc", false, "q1", absl::StrCat(round % 5), "rep", 20000}}, answers)
            .ok());
    ASSERT_TRUE(store->AppendAudit({0, 20 + round, "ops@de", "import", "files", "", "{}"}).ok());
    ASSERT_TRUE(
        store->CommitCycle({0, "DE", "onc", 20000, version, "o", "", 0, "", 20 + round}, {}, {})
            .ok());
  }
  auto verified = VerifyAuditLog(*store);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->intact) << verified->problem;
  EXPECT_GE(verified->entries, 10000);
}

// A store that had a log before the chain (schema 3) keeps those entries
// unhashed, counted in the head as migration 4 leaves it; an unhashed entry
// that is not one of them is found.
TEST_P(StoreContract, EntriesFromBeforeTheChainAreCountedNotHashed) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::string legacy =
      "INSERT INTO audit_log (at, principal, action, object, state_before, state_after) VALUES "
      "(1, 'ops', 'import', 'old', '', '{}')";
  ExecRaw(legacy);
  ExecRaw(legacy);
  ExecRaw(
      "UPDATE audit_head SET last_id = (SELECT MAX(audit_id) FROM audit_log), unchained_entries = "
      "2, unchained_last_id = (SELECT MAX(audit_id) FROM audit_log)");
  ASSERT_TRUE(store->AppendAudit({0, 2, "ops", "import", "new", "", "{}"}).ok());
  auto verified = VerifyAuditLog(*store);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->intact) << verified->problem;
  EXPECT_EQ(verified->before_chain, 2);
  EXPECT_EQ(verified->entries, 3);
  ExecRaw(legacy);
  verified = VerifyAuditLog(*store);
  EXPECT_FALSE(verified->intact);
  EXPECT_THAT(verified->problem, HasSubstr("has no hash and is not one of the 2 entries"));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(OpenStore, UnknownSchemesAreRefusedWithTheAccepted) {
  auto s = OpenStore("mysql://x");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "store URL 'mysql://x': expected sqlite:PATH or postgresql://USER@HOST:PORT/DB");
  EXPECT_EQ(OpenStore("sqlite:").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PostgresStore, SqlStatesMapToTheDocumentedCodes) {
  const struct {
    const char* state;
    absl::StatusCode code;
  } cases[] = {
      {"23505", absl::StatusCode::kFailedPrecondition},  // unique_violation
      {"23503", absl::StatusCode::kFailedPrecondition},  // foreign_key_violation
      {"40001", absl::StatusCode::kAborted},             // serialization_failure
      {"40P01", absl::StatusCode::kAborted},             // deadlock_detected
      {"40002", absl::StatusCode::kInternal},         // transaction_integrity_constraint_violation
      {"08006", absl::StatusCode::kUnavailable},      // connection_failure
      {"53300", absl::StatusCode::kUnavailable},      // too_many_connections
      {"57P01", absl::StatusCode::kUnavailable},      // admin_shutdown
      {"57014", absl::StatusCode::kUnavailable},      // query_canceled
      {"42P01", absl::StatusCode::kInternal},         // undefined_table
      {"42601", absl::StatusCode::kInternal},         // syntax_error
      {"42501", absl::StatusCode::kUnavailable},      // insufficient_privilege: store trouble
      {"25006", absl::StatusCode::kUnavailable},      // read_only_sql_transaction
      {"22021", absl::StatusCode::kInvalidArgument},  // character_not_in_repertoire
      {"XX001", absl::StatusCode::kDataLoss},         // data_corrupted
      {"XX002", absl::StatusCode::kDataLoss},         // index_corrupted
      {"XX000", absl::StatusCode::kInternal},         // internal_error
      {"", absl::StatusCode::kInternal},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(internal::PostgresErrorCode(c.state), c.code) << c.state;
  }
}

TEST(PostgresStore, UrlsAreShownWithoutTheirPassword) {
  const struct {
    const char* url;
    const char* shown;
  } cases[] = {
      {"postgresql://u:secret@db:5432/h", "postgresql://u@db:5432/h"},
      {"postgres://u:p%40ss@db/h?sslmode=require", "postgres://u@db/h?sslmode=require"},
      {"postgresql://u@db/h?password=secret&sslmode=disable",
       "postgresql://u@db/h?sslmode=disable"},
      {"postgresql://db/h?password=x", "postgresql://db/h"},
      {"postgresql://db:5432", "postgresql://db:5432"},
      {"postgresql:///h?host=/tmp", "postgresql:///h?host=/tmp"},
      {"postgresql://u:pw@h1:1,h2:2/db", "postgresql://u@h1:1,h2:2/db"},
      {"postgresql://u@db/h@x", "postgresql://u@db/h@x"},
  };
  for (const auto& c : cases) EXPECT_EQ(internal::RedactPostgresUrl(c.url), c.shown) << c.url;
}

TEST(PostgresStore, AMalformedUrlIsInvalidArgument) {
  auto s = OpenStore("postgresql://u:secret@db/h?no_such_option=1");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_EQ(s.status().message().rfind(
                "postgresql: store URL 'postgresql://u@db/h?no_such_option=1': ", 0),
            0u)
      << s.status();
}

TEST(PostgresStore, AnUnreachableServerIsUnavailable) {
  for (const char* scheme : {"postgresql", "postgres"}) {
    // Nothing listens on port 1 (privileged, never a test server).
    const std::string url =
        std::string(scheme) + "://harmonia:secret@127.0.0.1:1/db?connect_timeout=5";
    auto s = OpenStore(url);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
    const std::string shown = std::string(scheme) + "://harmonia@127.0.0.1:1/db?connect_timeout=5";
    EXPECT_EQ(s.status().message().rfind("postgresql: cannot connect to " + shown + ": ", 0), 0u)
        << s.status();
    EXPECT_EQ(s.status().message().find("secret"), std::string::npos) << s.status();
  }
}

TEST(PostgresStore, ThePostgresSchemeIsAccepted) {
  PostgresServer* server = SharedPostgres::Get();
  ASSERT_NE(server, nullptr);
  const std::string url =
      "postgres://harmonia@127.0.0.1:" + std::to_string(server->port()) + "/" + server->database();
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->schema_version(), kSchemaVersion);
}

TEST(PostgresStore, ALostServerIsUnavailable) {
  // Its own server: this test stops it.
  auto server = PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  auto store = OpenStore((*server)->url());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  ASSERT_TRUE((*server)->Stop().ok());
  auto count = (*store)->CountCustomers();
  EXPECT_EQ(count.status().code(), absl::StatusCode::kUnavailable) << count.status();
  EXPECT_EQ(count.status().message().rfind("postgresql: ", 0), 0u) << count.status();
  auto write = (*store)->UpsertCustomers({{"C2", "DE", "pcp", "gp", "B"}});
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnavailable) << write.status();
  auto reopen = OpenStore((*server)->url());
  EXPECT_EQ(reopen.status().code(), absl::StatusCode::kUnavailable) << reopen.status();
}

TEST(PostgresStore, TextThatIsNotUtf8IsInvalidArgument) {
  PostgresServer* server = SharedPostgres::Get();
  ASSERT_NE(server, nullptr);
  auto store = OpenStore(server->url());
  ASSERT_TRUE(store.ok()) << store.status();
  auto s = (*store)->UpsertCustomers({{"bad\xff", "DE", "pcp", "gp", "A"}});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_EQ(s.status().message().rfind("postgresql: importing customers: ", 0), 0u) << s.status();
  auto lookup = (*store)->GetCustomer(std::string("nul\0id", 6));
  EXPECT_EQ(lookup.status().code(), absl::StatusCode::kInvalidArgument) << lookup.status();
  EXPECT_TRUE((*store)->UpsertCustomers({{"good", "DE", "pcp", "gp", "A"}}).ok());
}

}  // namespace
}  // namespace harmonia::store
