// The storage contract, run against every backend (PostgreSQL joins with its
// test-server harness; the parameter list grows, the tests stay).
#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace harmonia::store {
namespace {

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harmonia-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    url_ = "sqlite:" + dir_ + "/store.db";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::unique_ptr<Store> Open() {
    absl::StatusOr<std::unique_ptr<Store>> s = OpenStore(url_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::string dir_;
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

TEST_P(StoreContract, InputsNeedTheirCustomerAndABadBatchWritesNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  auto bad = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                  {"C9", "onc", false, "q1", "4", "rep", 20000}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(bad.status().message(), "input of unknown customer 'C9': import customers first");
  EXPECT_EQ(*store->CountInputs(), 0);
}

TEST_P(StoreContract, SameKeyReimportedKeepsTheLastValue) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->UpsertCustomers({{"C1", "DE", "pcp", "gp", "A"}}).ok());
  // Two rows with one key in a batch: the last is the value, written once.
  auto a = store->UpsertInputs({{"C1", "onc", false, "q1", "4", "rep", 20000},
                                {"C1", "onc", false, "q1", "5", "rep", 20000},
                                {"C1", "onc", true, "decile", "7", "external", 20000}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->written, 2);
  EXPECT_EQ(a->unchanged, 0);
  EXPECT_EQ(*store->CountInputs(), 2);
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "5", "rep", 20000}})->unchanged, 1)
      << "the stored value is the batch's last";
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "3", "rep", 20000}})->written, 1);
  EXPECT_EQ(store->UpsertInputs({{"C1", "onc", false, "q1", "3", "rep", 20001}})->written, 1)
      << "another as_of is another key";
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
  EXPECT_EQ((*store->GetRuleSet("onc", 3))->source_text, "text v3");
  EXPECT_FALSE(store->GetRuleSet("onc", 1)->has_value());
  EXPECT_FALSE(store->GetRuleSet("imm", std::nullopt)->has_value());
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite"));

TEST(SqliteStore, AStoreNewerThanTheBinaryIsRefused) {
  char tmpl[] = "/tmp/harmonia-store-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/store.db";
  ASSERT_TRUE(OpenStore("sqlite:" + path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto refused = OpenStore("sqlite:" + path);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "store " + path + " has schema version 99, newer than this harmonia (" +
                std::to_string(kSchemaVersion) + "): upgrade harmonia to use it");
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST(OpenStore, UnknownSchemesAreRefusedWithTheAccepted) {
  auto s = OpenStore("mysql://x");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "store URL 'mysql://x': expected sqlite:PATH or postgresql://USER@HOST:PORT/DB");
  EXPECT_EQ(OpenStore("sqlite:").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace harmonia::store
