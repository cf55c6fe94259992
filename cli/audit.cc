// `harmonia audit verify|log` (docs/cli.md): the tamper-evident audit log,
// checked end to end from a store, or read from a store or the services.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/remote.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "services/audit_rpc.h"
#include "store/store.h"

namespace harmonia::cli {
namespace {

namespace v1 = harmonia::v1;

int Fail(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "harmonia: audit %s: %s\n", command, std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

constexpr const char* kVerifyUsage =
    "usage: harmonia audit verify --store URL\n\n"
    "Reads the whole audit log and checks its hash chain: every entry's hash matches its\n"
    "content and its predecessor's hash, and the log ends where its head says. Exit 0 when\n"
    "the log is intact (printing its head: keep that hash elsewhere to notice a rewrite of\n"
    "the whole log), 1 naming the first bad entry.\n";

constexpr const char* kLogUsage =
    "usage: harmonia audit log (--store URL | --server ADDR) [--country CC] [--who P]\n"
    "                          [--action A] [--since T] [--until T] [--json]\n\n"
    "The audit log, oldest first: who did what, when, and the state before and after.\n"
    "--server: the rules service (global ops: every entry; --country CC: that country's),\n"
    "or with --country CC the country's worker (its country ops). --action refinement.\n"
    "takes a whole family. --since/--until: YYYY-MM-DD (UTC) or an RFC 3339 instant;\n"
    "--until is exclusive. --json: one JSON object per line.\n";

std::vector<FlagSpec> LogFlags() {
  return {{"country", "CC", "only this country's entries"},
          {"who", "PRINCIPAL", "only this principal's entries"},
          {"action", "ACTION", "only this action (ending in '.': a family)"},
          {"since", "TIME", "entries at or after (YYYY-MM-DD or RFC 3339)"},
          {"until", "TIME", "entries before (YYYY-MM-DD or RFC 3339)"}};
}

// YYYY-MM-DD (midnight UTC) or an RFC 3339 instant, in Unix seconds.
absl::StatusOr<int64_t> ParseInstant(const std::string& flag, const std::string& text) {
  if (std::optional<int32_t> day = ParseIsoDate(text)) return int64_t{*day} * 86400;
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return absl::ToUnixSeconds(t);
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", Quoted(text),
                                                 " is neither a date (YYYY-MM-DD) nor an RFC "
                                                 "3339 instant (2026-11-03T12:00:00Z)"));
}

absl::StatusOr<v1::ListAuditRequest> ReadRequest(const Args& args) {
  v1::ListAuditRequest req;
  req.set_country(args.Get("country"));
  req.set_principal(args.Get("who"));
  req.set_action(args.Get("action"));
  if (args.Has("since")) {
    HARMONIA_ASSIGN_OR_RETURN(const int64_t since, ParseInstant("since", args.Get("since")));
    req.set_since_unix(since);
  }
  if (args.Has("until")) {
    HARMONIA_ASSIGN_OR_RETURN(const int64_t until, ParseInstant("until", args.Get("until")));
    req.set_until_unix(until);
  }
  req.set_page_size(5000);
  return req;
}

void Print(const v1::AuditEntry& e, bool json) {
  if (json) {
    std::string line = ToJson(e);
    line.erase(std::remove(line.begin(), line.end(), '\n'), line.end());
    std::printf("%s\n", line.c_str());
    return;
  }
  std::printf("%6lld  %s  %-22s by %s  %s%s\n", static_cast<long long>(e.audit_id()),
              FormatUnix(e.at_unix()).c_str(), e.action().c_str(), e.principal().c_str(),
              e.object().c_str(),
              e.country().empty() ? "" : absl::StrCat("  [", e.country(), "]").c_str());
  if (!e.before().empty()) std::printf("        before: %s\n", e.before().c_str());
  if (!e.after().empty()) std::printf("        after:  %s\n", e.after().c_str());
}

// Every page of `req` from `next`, printed as it comes.
template <typename NextPage>
absl::Status PrintAll(v1::ListAuditRequest req, bool json, NextPage next) {
  for (;;) {
    v1::ListAuditResponse page;
    HARMONIA_RETURN_IF_ERROR(next(req, &page));
    for (const v1::AuditEntry& e : page.entries()) Print(e, json);
    if (page.next_after_id() == 0) return absl::OkStatus();
    req.set_after_id(page.next_after_id());
  }
}

int RunLogRemote(int argc, char** argv, int first) {
  int exit = 0;
  std::optional<RemoteCommand> c =
      StartRemote("audit log", kLogUsage, LogFlags(), argc, argv, first, &exit);
  if (!c) return exit;
  if (!c->args.positional.empty()) return Fail("log", absl::InvalidArgumentError(kLogUsage));
  absl::StatusOr<v1::ListAuditRequest> req = ReadRequest(c->args);
  if (!req.ok()) return Fail("log", req.status());
  grpc::Status failed;
  auto call = [&](const v1::ListAuditRequest& r, v1::ListAuditResponse* page) {
    // With a country, its worker; without, the rules service.
    if (!r.country().empty()) {
      failed = v1::CountryService::NewStub(c->remote.channel())
                   ->ListAudit(c->remote.Context().get(), r, page);
    } else {
      failed = v1::RulesService::NewStub(c->remote.channel())
                   ->ListAudit(c->remote.Context().get(), r, page);
    }
    return failed.ok() ? absl::OkStatus() : absl::UnknownError("call failed");
  };
  if (!PrintAll(*req, c->remote.json(), call).ok()) return FailCall(failed, "audit log");
  return 0;
}

}  // namespace

int RunAuditVerify(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"store", "URL", "the store: sqlite:PATH or postgresql://…", true},
      {"help", "", "show this help"}};
  if (WantsHelp(argc, argv, first, kVerifyUsage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("audit verify", specs, argc, argv, first);
  if (!args.ok()) return Fail("verify", args.status());
  if (!args->positional.empty()) return Fail("verify", absl::InvalidArgumentError(kVerifyUsage));
  absl::StatusOr<std::unique_ptr<store::Store>> db = store::OpenStore(args->Get("store"));
  if (!db.ok()) return Fail("verify", db.status());
  absl::StatusOr<store::AuditVerification> v = store::VerifyAuditLog(**db);
  if (!v.ok()) return Fail("verify", v.status());
  if (!v->intact) {
    std::printf("audit log NOT intact after %lld entries: %s\n", static_cast<long long>(v->entries),
                v->problem.c_str());
    return 1;
  }
  std::printf("audit log intact: %lld entries", static_cast<long long>(v->entries));
  if (v->before_chain > 0) {
    std::printf(" (%lld from before the hash chain, unhashed)",
                static_cast<long long>(v->before_chain));
  }
  std::printf("; head: entry %lld, hash %s\n", static_cast<long long>(v->head_id),
              v->head_hash.empty() ? "(none)" : v->head_hash.c_str());
  return 0;
}

int RunAuditLog(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::strcmp(argv[i], "--server") == 0 || std::strncmp(argv[i], "--server=", 9) == 0) {
      return RunLogRemote(argc, argv, first);
    }
  }
  std::vector<FlagSpec> specs = LogFlags();
  specs.insert(specs.begin(), {"store", "URL", "the store: sqlite:PATH or postgresql://…"});
  specs.push_back({"server", "ADDR",
                   "ask the services instead (harmonia audit log --server ADDR --help lists the "
                   "connection flags)"});
  specs.push_back({"json", "", "one JSON object per entry and line"});
  specs.push_back({"help", "", "show this help"});
  if (WantsHelp(argc, argv, first, kLogUsage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("audit log", specs, argc, argv, first);
  if (!args.ok()) return Fail("log", args.status());
  if (!args->positional.empty()) return Fail("log", absl::InvalidArgumentError(kLogUsage));
  if (!args->Has("store")) {
    return Fail("log", absl::InvalidArgumentError("give --store URL (or --server ADDR)"));
  }
  absl::StatusOr<v1::ListAuditRequest> req = ReadRequest(*args);
  if (!req.ok()) return Fail("log", req.status());
  absl::StatusOr<std::unique_ptr<store::Store>> db = store::OpenStore(args->Get("store"));
  if (!db.ok()) return Fail("log", db.status());
  absl::Status printed = PrintAll(
      *req, args->Has("json"), [&](const v1::ListAuditRequest& r, v1::ListAuditResponse* page) {
        HARMONIA_ASSIGN_OR_RETURN(store::AuditQuery q, services::AuditQueryFromProto(r));
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> entries, (*db)->ListAudit(q));
        services::AuditPageToProto(r, entries, page);
        return absl::OkStatus();
      });
  if (!printed.ok()) return Fail("log", printed);
  return 0;
}

}  // namespace harmonia::cli
