// StorePool on a real SQLite file: a connection that meets store trouble is
// closed, not reused; the store's health follows a probe on a fresh
// connection; once healthy again, calls work without a restart.
#include "services/store_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace harmonia::services {
namespace {

class StorePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("store_pool_test_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "store.db").string();
  }
  void TearDown() override {
    Chattr("-i");
    std::filesystem::remove_all(dir_);
  }
  // The immutable attribute makes the file read-only even for root (as
  // tests run in CI); false where the file system has none.
  bool Chattr(const char* flag) {
    return std::system(absl::StrCat("chattr ", flag, " '", path_, "' 2>/dev/null").c_str()) == 0;
  }
  static absl::Status Write(StorePool::Lease& db, const std::string& id) {
    return db->UpsertCustomers({{id, "DE", "pcp", "gp", "A"}}).status();
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StorePoolTest, AReadOnlyStoreIsUnavailableAndRecoversByItself) {
  {
    auto created = store::OpenStore("sqlite:" + path_);  // then closed: no fd to reuse
    ASSERT_TRUE(created.ok()) << created.status();
  }
  if (!Chattr("+i")) GTEST_SKIP() << "no immutable attribute on this file system";
  // SQLite opens a file it may not write read-only, for good.
  auto pool = StorePool::Create("sqlite:" + path_, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::atomic<int> changes{0};
  std::atomic<bool> healthy{true};
  (*pool)->StartProbing(
      [&](const absl::Status& s) {
        ++changes;
        healthy = s.ok();
      },
      absl::Milliseconds(50), absl::Milliseconds(50));
  {
    auto db = (*pool)->Acquire();
    ASSERT_TRUE(db.ok());
    absl::Status s = Write(*db, "C1");
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_NE(s.message().find("readonly database"), absl::string_view::npos) << s;
  }
  // The failed call has the store probed at once: a fresh connection is
  // read-only too, so the store is unhealthy until the file is writable.
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (healthy && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ((*pool)->health().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(healthy);
  ASSERT_TRUE(Chattr("-i"));
  give_up = absl::Now() + absl::Seconds(10);
  while (!healthy && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(healthy) << "the probe sees the store writable again";
  EXPECT_TRUE((*pool)->health().ok());
  EXPECT_EQ(changes, 2);
  for (int i = 0; i < 3; ++i) {  // every connection the pool hands out writes: none kept read-only
    auto a = (*pool)->Acquire();
    auto b = (*pool)->Acquire();
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(Write(*a, absl::StrCat("A", i)).ok());
    EXPECT_TRUE(Write(*b, absl::StrCat("B", i)).ok());
  }
  (*pool)->StopProbing();
}

TEST_F(StorePoolTest, ACallersMistakeIsNotStoreTrouble) {
  auto pool = StorePool::Create("sqlite:" + path_, 1);
  ASSERT_TRUE(pool.ok());
  auto db = (*pool)->Acquire();
  ASSERT_TRUE(db.ok());
  // An input of an unknown customer: FailedPrecondition, the store is fine.
  EXPECT_EQ((*db)->UpsertInputs({{"nobody", "onc", false, "q1", "1", "rep", 1}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*pool)->health().ok());
}

}  // namespace
}  // namespace harmonia::services
