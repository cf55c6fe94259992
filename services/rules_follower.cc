#include "services/rules_follower.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "services/grpc_util.h"
#include "services/log.h"

namespace harmonia::services {
namespace {

store::RuleSetRecord FromProto(const v1::RuleSet& r) {
  return {r.info().therapy_area(), r.info().version(),      r.source_text(),
          r.info().checksum(),     r.info().published_by(), r.info().published_at_unix()};
}

}  // namespace

RulesFollower::RulesFollower(RulesFollowerOptions options, WorkerCore* core,
                             std::function<void()> on_change)
    : options_(std::move(options)), core_(core), on_change_(std::move(on_change)) {}

RulesFollower::~RulesFollower() { Stop(); }

void RulesFollower::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RulesFollower::Stop() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr) current_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void RulesFollower::Loop() {
  absl::Duration backoff = absl::Seconds(1);
  while (!stop_) {
    const absl::Time started = absl::Now();
    absl::Status s = FollowOnce();
    if (stop_) break;
    if (absl::Now() - started > absl::Seconds(30)) backoff = absl::Seconds(1);
    Log(LogLevel::kWarning, "rules_stream_lost",
        JsonObject()
            .Add("code", absl::StatusCodeToString(s.code()))
            .Add("message", std::string(s.message()))
            .Add("retry_in_s", absl::ToDoubleSeconds(backoff)));
    const absl::Time until = absl::Now() + backoff;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
    backoff = std::min(backoff * 2, absl::Seconds(30));
  }
}

absl::Status RulesFollower::FetchPinned(v1::RulesService::Stub& stub) {
  // Pinned versions the store lacks (the watch sends only the latest). One
  // not published yet is not an error: it is fetched once it is.
  HARMONIA_ASSIGN_OR_RETURN(auto missing, core_->MissingRuleSets());
  for (const auto& [ta, version] : missing) {
    if (version == 0) continue;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + options_.token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::GetRuleSetRequest req;
    req.set_therapy_area(ta);
    req.set_version(version);
    v1::RuleSet got;
    grpc::Status s = stub.GetRuleSet(&ctx, req, &got);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    if (!s.ok()) return FromGrpcStatus(s);
    HARMONIA_RETURN_IF_ERROR(core_->CacheRuleSet(FromProto(got), options_.cached_by));
    on_change_();
  }
  return absl::OkStatus();
}

absl::Status RulesFollower::FollowOnce() {
  // The store may have received versions by another way since the last look
  // (a store shared with the rules service, or `harmonia rules publish
  // --store`); a watch that starts from them sends nothing until the next
  // publish, so readiness is checked here, on every (re)connection.
  on_change_();
  auto stub = v1::RulesService::NewStub(options_.channel);
  HARMONIA_RETURN_IF_ERROR(FetchPinned(*stub));

  v1::WatchRuleSetsRequest req;
  for (const std::string& ta : core_->TherapyAreas()) {
    req.add_therapy_areas(ta);
    HARMONIA_ASSIGN_OR_RETURN(std::optional<int64_t> latest, core_->LatestStoredVersion(ta));
    if (latest) (*req.mutable_known_versions())[ta] = *latest;
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + options_.token);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return absl::CancelledError("stopping");
    current_ = &ctx;
  }
  auto stream = stub->WatchRuleSets(&ctx, req);
  Log(LogLevel::kInfo, "rules_stream_open",
      JsonObject().Add("therapy_areas", static_cast<int64_t>(req.therapy_areas_size())));
  v1::RuleSet got;
  absl::Status result = absl::OkStatus();
  while (stream->Read(&got)) {
    result = core_->CacheRuleSet(FromProto(got), options_.cached_by);
    if (result.ok()) result = FetchPinned(*stub);  // a pinned version may be out now
    if (!result.ok()) {
      ctx.TryCancel();
      break;
    }
    on_change_();
  }
  grpc::Status finished = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = nullptr;
  }
  if (!result.ok()) return result;
  return finished.ok() ? absl::UnavailableError("the rules service ended the stream")
                       : FromGrpcStatus(finished);
}

}  // namespace harmonia::services
