// harmonia-load: a load client for a country worker (a benchmark, never a
// test; bench/services_bench.sh runs it and docs/performance.md quotes it).
//
//   harmonia-load refine --server ADDR --token T --country DE --ta oncology
//       --customers FILE --batch 500 --clients 4 --seconds 10
//   harmonia-load get-assignment --server ADDR --token T --country DE --ta oncology
//       --customers FILE --clients 50 --seconds 10
//
// refine: each client submits batches of refinements with fresh request ids
// for customers from FILE (one id per line) and counts acknowledged items.
// get-assignment: each client asks QueryAssignments for one customer at a
// time (unary; the next call as soon as the previous answers), and the
// latencies of all calls give p50/p90/p99/max.
// Prints one JSON line of figures. Written here because Debian packages no
// gRPC load generator (no ghz) — see BUILD-NOTES.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/grpc_util.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7441", "the worker");
ABSL_FLAG(std::string, token, "", "bearer token");
ABSL_FLAG(std::string, country, "DE", "country");
ABSL_FLAG(std::string, ta, "oncology", "therapy area");
ABSL_FLAG(std::string, customers, "", "file of customer ids, one per line");
ABSL_FLAG(int, batch, 500, "refine: items per request");
ABSL_FLAG(int, clients, 4, "concurrent clients (threads)");
ABSL_FLAG(int, channels, 4, "gRPC channels (connections) shared by the clients");
ABSL_FLAG(double, seconds, 10, "how long to run");
ABSL_FLAG(std::string, segment, "conservative", "refine: the segment to set");
ABSL_FLAG(std::string, reason, "new_information", "refine: the reason code");

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() != 2) {
    std::fprintf(stderr, "usage: harmonia-load refine|get-assignment [flags]\n");
    return 2;
  }
  const std::string mode = rest[1];
  std::vector<std::string> ids;
  {
    std::ifstream in(absl::GetFlag(FLAGS_customers));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) ids.push_back(line);
    }
  }
  if (ids.empty()) {
    std::fprintf(stderr, "harmonia-load: --customers: no ids\n");
    return 2;
  }
  const int clients = absl::GetFlag(FLAGS_clients);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < std::max(1, absl::GetFlag(FLAGS_channels)); ++c) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", c);  // distinct channels, distinct connections
    channels.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_server),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  const std::string token = absl::GetFlag(FLAGS_token);
  const auto deadline =
      Clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_seconds) * 1000));
  std::atomic<int64_t> items{0}, accepted{0}, calls{0}, errors{0};
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  if (mode == "get-assignment") {
    // Each client is a chain of calls, one outstanding at a time, on gRPC's
    // callback API: the load tool spends little CPU of its own, so the
    // machine's cores go to the server being measured.
    struct Call {
      grpc::ClientContext ctx;
      harmonia::v1::QueryAssignmentsRequest req;
      harmonia::v1::QueryAssignmentsResponse resp;
      Clock::time_point t0;
    };
    std::vector<std::unique_ptr<harmonia::v1::CountryService::Stub>> stubs;
    for (const auto& ch : channels) stubs.push_back(harmonia::v1::CountryService::NewStub(ch));
    std::mutex mu;
    std::condition_variable done_cv;
    int running = clients;
    std::vector<size_t> next(clients);
    std::function<void(int)> issue = [&](int t) {
      auto* call = new Call();
      call->ctx.AddMetadata("authorization", "Bearer " + token);
      call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      call->req.set_country(absl::GetFlag(FLAGS_country));
      call->req.set_therapy_area(absl::GetFlag(FLAGS_ta));
      call->req.add_customer_ids(ids[(static_cast<size_t>(t) * 7919 + next[t]++) % ids.size()]);
      call->req.set_page_size(1);
      call->t0 = Clock::now();
      stubs[t % stubs.size()]->async()->QueryAssignments(
          &call->ctx, &call->req, &call->resp, [&, t, call](grpc::Status s) {
            const auto now = Clock::now();
            latencies[t].push_back(
                std::chrono::duration<double, std::milli>(now - call->t0).count());
            ++calls;
            if (s.ok() && call->resp.assignments_size() == 1) {
              ++items;
            } else if (++errors <= 3) {
              std::fprintf(stderr, "harmonia-load: %s\n", s.error_message().c_str());
            }
            delete call;
            if (now < deadline) {
              issue(t);
            } else {
              std::lock_guard<std::mutex> lock(mu);
              if (--running == 0) done_cv.notify_all();
            }
          });
    };
    for (int t = 0; t < clients; ++t) issue(t);
    std::unique_lock<std::mutex> lock(mu);
    done_cv.wait(lock, [&] { return running == 0; });
  }
  for (int t = 0; t < clients && mode == "refine"; ++t) {
    threads.emplace_back([&, t] {
      auto stub = harmonia::v1::CountryService::NewStub(channels[t % channels.size()]);
      size_t next = static_cast<size_t>(t) * 7919;
      for (int64_t n = 0; Clock::now() < deadline; ++n) {
        const auto t0 = Clock::now();
        grpc::Status s;
        if (mode == "refine") {
          harmonia::v1::SubmitRefinementsRequest req;
          req.set_country(absl::GetFlag(FLAGS_country));
          for (int k = 0; k < absl::GetFlag(FLAGS_batch); ++k) {
            auto* item = req.add_items();
            item->set_request_id(absl::StrCat("load-", getpid(), "-", t, "-", n, "-", k));
            item->set_customer_id(ids[next++ % ids.size()]);
            item->set_therapy_area(absl::GetFlag(FLAGS_ta));
            item->set_segment(absl::GetFlag(FLAGS_segment));
            item->set_reason(absl::GetFlag(FLAGS_reason));
          }
          harmonia::v1::SubmitRefinementsResponse resp;
          s = stub->SubmitRefinements(Context(token).get(), req, &resp);
          if (s.ok()) {
            items += resp.results_size();
            for (const auto& r : resp.results()) {
              if (r.refinement().status() == harmonia::v1::ACCEPTED) ++accepted;
            }
          }
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        latencies[t].push_back(ms);
        ++calls;
        if (!s.ok()) {
          if (++errors <= 3) {
            std::fprintf(stderr, "harmonia-load: %s\n", s.error_message().c_str());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "{\"mode\":\"%s\",\"clients\":%d,\"seconds\":%.2f,\"calls\":%lld,\"errors\":%lld,"
      "\"items\":%lld,\"accepted\":%lld,\"items_per_s\":%.0f,\"calls_per_s\":%.0f,"
      "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
      mode.c_str(), clients, seconds, static_cast<long long>(calls.load()),
      static_cast<long long>(errors.load()), static_cast<long long>(items.load()),
      static_cast<long long>(accepted.load()), items.load() / seconds, calls.load() / seconds,
      pct(0.50), pct(0.90), pct(0.99), all.empty() ? 0.0 : all.back());
  return errors.load() == 0 ? 0 : 1;
}
