#include "services/store_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace harmonia::services {

absl::StatusOr<std::unique_ptr<StorePool>> StorePool::Create(const std::string& url, int size) {
  std::unique_ptr<StorePool> pool(new StorePool(url, size < 1 ? 1 : size));
  absl::StatusOr<std::unique_ptr<store::Store>> first = store::OpenStore(url);
  if (!first.ok()) return first.status();
  pool->idle_.push_back(std::move(*first));
  pool->open_ = 1;
  return pool;
}

StorePool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(std::move(store_));
}

const absl::Status& StorePool::Lease::Check(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      Discard();
      break;
    default:
      break;
  }
  return status;
}

absl::StatusOr<StorePool::Lease> StorePool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  returned_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    std::unique_ptr<store::Store> store = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(store));
  }
  ++open_;
  lock.unlock();
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::OpenStore(url_);
  if (!store.ok()) {
    Return(nullptr);
    return absl::UnavailableError(
        absl::StrCat("store ", store::DisplayUrl(url_), ": ", store.status().message()));
  }
  return Lease(this, std::move(*store));
}

void StorePool::Return(std::unique_ptr<store::Store> store) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store != nullptr) {
      idle_.push_back(std::move(store));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
}

}  // namespace harmonia::services
