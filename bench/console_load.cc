// A load client for harmonia-console (bench/console_bench.sh): SESSIONS
// people, each signed in with their own token on their own keep-alive
// connection, reading "my customers" page after page (and now and then a
// search) as fast as the console answers, for SECONDS seconds. Prints one
// JSON line: calls, calls/s, latency p50/p99/max in ms, errors.
//
//   console_load --console 127.0.0.1:7480 --tokens FILE --sessions 50 --seconds 20
//
// FILE holds one token per line; session k signs in with line k (mod lines).
// A well-kept HTTP client (cpp-httplib) and no JSON library: the one field
// read (next_page_token) is found by its key.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, console, "127.0.0.1:7480", "the console, host:port");
ABSL_FLAG(std::string, tokens, "", "file of tokens, one per line");
ABSL_FLAG(int, sessions, 50, "concurrent sessions");
ABSL_FLAG(int, seconds, 20, "how long to read");
ABSL_FLAG(std::string, country, "DE", "the country");
ABSL_FLAG(std::string, ta, "oncology", "the therapy area");
ABSL_FLAG(int, page_size, 50, "customers per page");
ABSL_FLAG(int, think_ms, 0, "a person reading: wait 0.5 to 1.5 × this between pages (0 = none)");

namespace {

std::string NextPageToken(const std::string& json) {
  const std::string key = "\"next_page_token\":\"";
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t end = json.find('"', at + key.size());
  return json.substr(at + key.size(), end - at - key.size());
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<std::string> tokens;
  std::ifstream in(absl::GetFlag(FLAGS_tokens));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) tokens.push_back(line);
  }
  if (tokens.empty()) {
    std::fprintf(stderr, "console_load: --tokens: no token read\n");
    return 2;
  }
  const std::string console = absl::GetFlag(FLAGS_console);
  const std::string host = console.substr(0, console.rfind(':'));
  const int port = std::stoi(console.substr(console.rfind(':') + 1));
  const int sessions = absl::GetFlag(FLAGS_sessions);
  const int think_ms = absl::GetFlag(FLAGS_think_ms);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  std::mutex mu;
  std::vector<double> all_ms;
  std::atomic<int64_t> errors{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < sessions; ++s) {
    threads.emplace_back([&, s] {
      httplib::Client c(host, port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);  // as browsers do
      auto signed_in =
          c.Post("/auth/sign-in", absl::StrCat("{\"token\":\"", tokens[s % tokens.size()], "\"}"),
                 "application/json");
      if (!signed_in || signed_in->status != 200) {
        if (errors++ < 5) {
          std::lock_guard<std::mutex> lock(mu);
          std::fprintf(stderr, "console_load: session %d could not sign in: %s\n", s,
                       signed_in ? std::to_string(signed_in->status).c_str()
                                 : httplib::to_string(signed_in.error()).c_str());
        }
        return;
      }
      const std::string set = signed_in->get_header_value("Set-Cookie");
      httplib::Headers headers = {{"Cookie", set.substr(0, set.find(';'))},
                                  {"Connect-Protocol-Version", "1"}};
      std::vector<double> ms;
      std::string token;
      std::minstd_rand rng(static_cast<unsigned>(s + 1));
      // People do not all click in the same millisecond: with think time,
      // each session starts somewhere in its first pause.
      if (think_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % think_ms));
      for (int call = 0; std::chrono::steady_clock::now() < deadline; ++call) {
        // Every tenth call a search, as a rep looking someone up.
        const std::string body = absl::StrCat(
            "{\"country\":\"", absl::GetFlag(FLAGS_country), "\",\"therapy_area\":\"",
            absl::GetFlag(FLAGS_ta), "\",\"mine\":true,\"include_customer\":true,\"page_size\":",
            absl::GetFlag(FLAGS_page_size), ",\"page_token\":\"", token, "\"",
            call % 10 == 9 ? ",\"search\":\"dr. a\"" : "", "}");
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.Post("/api/harmonia.v1.CountryService/QueryAssignments", headers, body,
                        "application/json");
        const auto t1 = std::chrono::steady_clock::now();
        if (!r || r->status != 200) {
          if (errors++ < 5) {
            std::lock_guard<std::mutex> lock(mu);
            std::fprintf(stderr, "console_load: session %d: %s\n", s,
                         r ? absl::StrCat(r->status, " ", r->body.substr(0, 200)).c_str()
                           : httplib::to_string(r.error()).c_str());
          }
          continue;
        }
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        token = call % 10 == 9 ? "" : NextPageToken(r->body);
        if (think_ms > 0) {
          std::this_thread::sleep_for(
              std::chrono::milliseconds(think_ms / 2 + rng() % (think_ms + 1)));
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      all_ms.insert(all_ms.end(), ms.begin(), ms.end());
    });
  }
  for (std::thread& t : threads) t.join();
  std::sort(all_ms.begin(), all_ms.end());
  const auto at = [&](double q) {
    return all_ms.empty()
               ? 0.0
               : all_ms[std::min(all_ms.size() - 1, static_cast<size_t>(q * all_ms.size()))];
  };
  std::printf(
      "{\"sessions\":%d,\"think_ms\":%d,\"seconds\":%d,\"calls\":%zu,\"calls_per_s\":%.0f,\"p50_"
      "ms\":%.2f,"
      "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"errors\":%lld}\n",
      sessions, think_ms, absl::GetFlag(FLAGS_seconds), all_ms.size(),
      all_ms.size() / static_cast<double>(absl::GetFlag(FLAGS_seconds)), at(0.50), at(0.99),
      all_ms.empty() ? 0.0 : all_ms.back(), static_cast<long long>(errors.load()));
  return 0;  // errors are in the figures
}
