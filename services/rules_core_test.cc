// RulesCore without gRPC: publishing, rollback, diff, watch and preview
// against a real SQLite store.
#include "services/rules_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/date.h"
#include "common/file.h"
#include "common/sha256.h"
#include "cycle/cycle.h"
#include "engine/country_config.h"
#include "tests/support/golden_store.h"

namespace harmonia::services {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

auth::Principal Ops() { return {"ops@hq", {{auth::Role::kGlobalOps, ""}}}; }
auth::Principal Worker() { return {"worker-de", {{auth::Role::kService, ""}}}; }
auth::Principal Rep() { return {"anna.rep", {{auth::Role::kField, "DE"}}}; }

std::string Read(const std::string& relative) {
  absl::StatusOr<std::string> text =
      ReadFileToString(std::string(HARMONIA_SOURCE_DIR) + "/" + relative, 1 << 22);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

class RulesCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("rules_core_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    url_ = "sqlite:" + (dir_ / "store.db").string();
    auto core = RulesCore::Create({.store_url = url_, .store_connections = 2});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::move(*core);
    oncology_ = Read("rules/oncology.yaml");
  }
  void TearDown() override {
    core_.reset();
    std::filesystem::remove_all(dir_);
  }

  // oncology with another version number and u2 sending to conservative.
  std::string Candidate(int version) {
    std::string text =
        absl::StrReplaceAll(oncology_, {{"version: 3", absl::StrCat("version: ", version)}});
    return absl::StrReplaceAll(
        text, {{"{id: u2, when: {event_attendance: \">= 6\"}, segment: evidence_seeker}",
                "{id: u2, when: {event_attendance: \">= 6\"}, segment: conservative}"}});
  }

  // The golden data set in the store and one committed cycle of DE oncology.
  void CommitGoldenCycle() {
    auto db = store::OpenStore(url_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(testing::ImportGolden(**db, HARMONIA_SOURCE_DIR).ok());
    ASSERT_TRUE(core_->Publish(Ops(), oncology_, "oncology.yaml").ok());

    country_text_ = Read("tests/golden/DE.yaml");
    auto compiled = engine::CompileRuleSet(oncology_, "oncology.yaml");
    engine::CountryLoadResult country = engine::LoadCountryConfig(
        country_text_, "DE.yaml", [&](const std::string&) { return compiled.rule_set.get(); });
    ASSERT_TRUE(country.config);
    country_ = *country.config;
    auto run = cycle::RunStoreCycle(**db, {.country = &country_,
                                           .country_text = country_text_,
                                           .therapy_area = "oncology",
                                           .as_of = *ParseIsoDate("2026-11-01"),
                                           .now_unix = 1,
                                           .run_by = "test"});
    ASSERT_TRUE(run.ok()) << run.status();
  }

  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<RulesCore> core_;
  std::string oncology_;
  std::string country_text_;
  engine::CountryConfig country_;
};

TEST_F(RulesCoreTest, OnlyGlobalOpsValidatesPublishesAndRollsBack) {
  auto denied = core_->Publish(Rep(), oncology_, "oncology.yaml");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(),
            "principal 'anna.rep': publishing rule sets needs role global_ops");
  EXPECT_EQ(core_->Validate(Worker(), oncology_, "x").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core_->Rollback(Rep(), "oncology", 3, 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core_->PreviewImpact(Rep(), oncology_, "DE", std::nullopt).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core_->CheckWatch(Rep()).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(core_->CheckWatch(Worker()).ok());
  EXPECT_TRUE(core_->List(Rep(), "").ok()) << "reading is open to every principal";
}

TEST_F(RulesCoreTest, PublishStoresIncreasingVersionsAndRetriesAreIdempotent) {
  auto v = core_->Validate(Ops(), oncology_, "oncology.yaml");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->valid);
  EXPECT_EQ(v->therapy_area, "oncology");
  EXPECT_EQ(v->version, 3);
  EXPECT_GT(v->tests_total, 5);
  EXPECT_EQ(v->latest_published_version, 0);

  auto first = core_->Publish(Ops(), oncology_, "oncology.yaml");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_published);
  EXPECT_EQ(first->record.version, 3);
  EXPECT_EQ(first->record.published_by, "ops@hq");
  EXPECT_EQ(first->record.checksum, Sha256Hex(oncology_));

  auto again = core_->Publish(Ops(), oncology_, "oncology.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_published);

  auto other = core_->Publish(Ops(), Candidate(3), "oncology.yaml");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("versions must increase"));

  ASSERT_TRUE(core_->Publish(Ops(), Candidate(4), "candidate.yaml").ok());
  auto list = core_->List(Ops(), "oncology");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].version, 4);
  EXPECT_EQ(core_->Validate(Ops(), Candidate(5), "c")->latest_published_version, 4);
}

TEST_F(RulesCoreTest, AnInvalidRuleSetIsRefusedWithEveryIssue) {
  const std::string broken =
      absl::StrReplaceAll(oncology_, {{"hit_policy: first", "hit_policy: sometimes"}});
  auto r = core_->Publish(Ops(), broken, "broken.yaml");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("broken.yaml"));
  std::vector<Issue> issues = IssuesOf(r.status());
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(issues[0].file, "broken.yaml");
  EXPECT_GT(issues[0].line, 0);
  EXPECT_THAT(issues[0].message, HasSubstr("hit_policy"));
  EXPECT_TRUE(core_->List(Ops(), "")->empty()) << "nothing stored";

  auto v = core_->Validate(Ops(), broken, "broken.yaml");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->valid);
  EXPECT_FALSE(v->issues.empty());
}

TEST_F(RulesCoreTest, RollbackRepublishesAnEarlierVersionUnderANewNumber) {
  ASSERT_TRUE(core_->Publish(Ops(), oncology_, "oncology.yaml").ok());
  ASSERT_TRUE(core_->Publish(Ops(), Candidate(4), "candidate.yaml").ok());
  auto back = core_->Rollback(Ops(), "oncology", 3, 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->record.version, 5);
  auto v5 = core_->Get(Ops(), "oncology", 5);
  ASSERT_TRUE(v5.ok());
  EXPECT_EQ(v5->source_text, absl::StrReplaceAll(oncology_, {{"version: 3", "version: 5"}}));
  // Audited as a rollback, naming the version it restores.
  auto audit = core_->ListAudit(Ops(), {.action = "rules.rollback"});
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].object, "oncology v5");
  EXPECT_THAT((*audit)[0].after, HasSubstr("\"restores_version\":3"));
  EXPECT_EQ(core_->Rollback(Ops(), "oncology", 9, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(core_->Rollback(Ops(), "oncology", 3, 5)->already_published) << "a retry";
  EXPECT_EQ(core_->Rollback(Ops(), "oncology", 4, 5).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RulesCoreTest, DiffNamesTheChangedPartsAndShowsTheText) {
  ASSERT_TRUE(core_->Publish(Ops(), oncology_, "oncology.yaml").ok());
  ASSERT_TRUE(core_->Publish(Ops(), Candidate(4), "candidate.yaml").ok());
  auto d = core_->DiffVersions(Ops(), "oncology", 3, 0);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->changes,
              ElementsAre("unprofiled rule u2: evidence_seeker when event_attendance: >= 6 → "
                          "conservative when event_attendance: >= 6"));
  EXPECT_THAT(d->unified_diff, HasSubstr("--- oncology v3\n+++ oncology v4\n"));
  EXPECT_THAT(d->unified_diff, HasSubstr("\n-version: 3\n+version: 4\n"));
  auto same = core_->DiffVersions(Ops(), "oncology", 3, 3);
  ASSERT_TRUE(same.ok());
  EXPECT_THAT(same->changes, IsEmpty());
  EXPECT_EQ(same->unified_diff, "");
}

TEST_F(RulesCoreTest, WatchersSeeWhatTheyLackAndWakeOnPublish) {
  ASSERT_TRUE(core_->Publish(Ops(), oncology_, "oncology.yaml").ok());
  auto now = core_->WaitForNewer({}, {}, absl::Now());
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->size(), 1u);
  EXPECT_EQ((*now)[0].source_text, oncology_);

  auto nothing = core_->WaitForNewer({}, {{"oncology", 3}}, absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());

  std::thread publisher([&] {
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(core_->Publish(Ops(), Candidate(4), "candidate.yaml").ok());
  });
  const absl::Time start = absl::Now();
  auto woke = core_->WaitForNewer({"oncology"}, {{"oncology", 3}}, start + absl::Seconds(30));
  publisher.join();
  ASSERT_TRUE(woke.ok());
  ASSERT_EQ(woke->size(), 1u);
  EXPECT_EQ((*woke)[0].version, 4);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << "woken by the publish, not the poll";

  auto other_ta = core_->WaitForNewer({"diabetes"}, {}, absl::Now());
  ASSERT_TRUE(other_ta.ok());
  EXPECT_TRUE(other_ta->empty());
}

TEST_F(RulesCoreTest, PreviewCountsTransitionsAgainstTheLatestCycleAndCommitsNothing) {
  EXPECT_EQ(core_->PreviewImpact(Ops(), Candidate(4), "DE", std::nullopt).status().code(),
            absl::StatusCode::kFailedPrecondition);
  CommitGoldenCycle();
  auto p = core_->PreviewImpact(Ops(), Candidate(4), "DE", std::nullopt);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->preview.quality().customers(), 7);
  EXPECT_EQ(p->changed, 1) << "D004 goes through u2";
  EXPECT_EQ(p->preview.baseline_rule_set_version(), 3);
  int64_t moved = 0;
  for (const auto& t : p->transitions) {
    if (t.from_segment == "evidence_seeker" && t.to_segment == "conservative") moved = t.customers;
  }
  EXPECT_EQ(moved, 1);
  auto db = store::OpenStore(url_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->ListCycles("DE", "oncology")->size(), 1u) << "a preview commits nothing";
}

}  // namespace
}  // namespace harmonia::services
