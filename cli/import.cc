// `harmonia import --store URL DIR`: loads customers.csv, answers.csv and
// metrics.csv, and activities.csv when DIR has one (docs/files.md), into the
// store. Bad rows are reported with
// file:line:column and skipped; good rows load. Re-importing the same files
// changes nothing.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/json.h"
#include "common/strings.h"
#include "exchange/exchange.h"
#include "store/store.h"

namespace harmonia::cli {
namespace {

// Rows per transaction when loading inputs: large enough to amortize the
// commit, small enough to keep memory flat on 10M+ row files.
constexpr size_t kInputBatch = 250000;

bool IsCountryCode(std::string_view cc) {
  return cc.size() == 2 &&
         std::all_of(cc.begin(), cc.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// "10 written, 0 unchanged, 2 repeating an earlier row" (the same key and
// value again in one batch: stored once).
std::string Describe(const store::WriteStats& s, int64_t rows) {
  std::string out = absl::StrFormat("%d written, %d unchanged", s.written, s.unchanged);
  if (const int64_t repeated = rows - s.written - s.unchanged; repeated > 0) {
    absl::StrAppendFormat(&out, ", %d repeating an earlier row", repeated);
  }
  return out;
}

void Add(store::WriteStats* total, const store::WriteStats& s) {
  total->written += s.written;
  total->unchanged += s.unchanged;
}

// Writes input batches on its own thread, so parsing the next batch overlaps
// with the database writing the last one. At most two batches wait, which
// keeps memory flat. After a failed write, later batches are dropped and the
// failure is reported by Finish().
class BatchWriter {
 public:
  explicit BatchWriter(store::Store* db) : db_(db), thread_([this] { Run(); }) {}
  ~BatchWriter() { Finish().IgnoreError(); }

  void Push(std::vector<store::InputRow> batch) {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return queue_.size() < 2; });
    queue_.push_back(std::move(batch));
    ready_.notify_one();
  }

  // Waits for every batch to be written; returns the first failure.
  absl::Status Finish() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      ready_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    return failed_;
  }

  const store::WriteStats& total() const { return total_; }
  int64_t loaded() const { return loaded_; }

 private:
  void Run() {
    while (true) {
      std::vector<store::InputRow> batch;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
        room_.notify_one();
      }
      if (!failed_.ok()) continue;
      absl::StatusOr<store::WriteStats> s = db_->UpsertInputs(batch);
      if (!s.ok()) {
        failed_ = s.status();
      } else {
        Add(&total_, *s);
        loaded_ += static_cast<int64_t>(batch.size());
      }
    }
  }

  store::Store* db_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::vector<store::InputRow>> queue_;
  bool closed_ = false;
  absl::Status failed_;
  store::WriteStats total_;
  int64_t loaded_ = 0;
  std::thread thread_;  // last: starts after the members it uses exist
};

// What a file's import failed on: the file (exit 2) or the store (exit 1).
struct ImportError {
  int exit = 0;  // 0 = imported
  std::string message;
};
ImportError Unreadable(const absl::Status& s) { return {2, std::string(s.message())}; }
ImportError StoreFailed(const absl::Status& s, std::string_view more = "") {
  return {1, absl::StrCat(std::string(s.message()), Sv(more))};
}

// customers.csv, in one transaction.
ImportError ImportCustomers(store::Store& db, const std::string& dir,
                            std::vector<exchange::RowProblem>* problems, std::string* summary,
                            JsonObject* audit) {
  const size_t before = problems->size();
  std::vector<store::CustomerRow> customers;
  absl::flat_hash_map<std::string, int64_t> seen;  // id → line
  absl::Status read = exchange::ForEachCustomer(
      absl::StrCat(dir, "/customers.csv"), problems,
      [&](const exchange::CustomerFields& c, const exchange::Reject& reject) {
        if (c.customer_id.empty()) return reject(c.customer_id, "customer_id: empty");
        // The first row of an id decides, as in `evaluate`, even when it is refused.
        if (auto [it, inserted] = seen.emplace(std::string(c.customer_id), c.line); !inserted) {
          return reject(c.customer_id,
                        absl::StrCat("customer_id: duplicate ", Quoted(c.customer_id),
                                     " (first on line ", it->second, ")"));
        }
        if (!IsCountryCode(c.country)) {
          return reject(c.country, absl::StrCat("country: ", Quoted(c.country),
                                                " is not an ISO 3166 alpha-2 code (e.g. DE)"));
        }
        if (c.customer_type.empty()) return reject(c.customer_type, "customer_type: empty");
        customers.push_back({std::string(c.customer_id), std::string(c.country),
                             std::string(c.customer_type), std::string(c.specialty),
                             std::string(c.name)});
      });
  if (!read.ok()) return Unreadable(read);
  const size_t customer_problems = problems->size() - before;
  absl::StatusOr<store::WriteStats> written = db.UpsertCustomers(customers);
  if (!written.ok()) return StoreFailed(written.status());
  audit->Add("customers.csv", JsonObject()
                                  .Add("loaded", static_cast<int64_t>(customers.size()))
                                  .Add("written", written->written)
                                  .Add("rejected", static_cast<int64_t>(customer_problems)));
  absl::StrAppendFormat(
      summary, "  customers.csv: %d rows loaded (%s), %d rejected\n", customers.size(),
      Describe(*written, static_cast<int64_t>(customers.size())), customer_problems);
  return {};
}

// activities.csv: rows of one file with the same key (customer, therapy
// area, activity, date, source) are added together, since a CRM may report
// each call as its own row; the store then holds the file's total for the
// key, so importing the same file again changes nothing (docs/files.md).
// The file's rows are held in memory (about 150 bytes each) to add them up.
ImportError ImportActivities(store::Store& db, const std::string& dir,
                             const absl::flat_hash_set<std::string>& known,
                             std::vector<exchange::RowProblem>* problems, std::string* summary,
                             JsonObject* audit) {
  const size_t before = problems->size();
  std::vector<store::ActivityRow> rows;  // every good row (short strings: no allocation each)
  absl::Status read = exchange::ForEachActivity(
      absl::StrCat(dir, "/activities.csv"), problems,
      [&](const exchange::ActivityFields& a, const exchange::Reject& reject) {
        if (!known.contains(Sv(a.customer_id))) {
          return reject(a.customer_id,
                        absl::StrCat("customer_id: unknown customer ", Quoted(a.customer_id),
                                     " (not in customers.csv nor the store)"));
        }
        if (a.therapy_area.empty()) return reject(a.therapy_area, "therapy_area: empty");
        rows.push_back({std::string(a.customer_id), std::string(a.therapy_area),
                        std::string(a.activity), a.day, std::string(a.source), a.count});
      });
  if (!read.ok()) return Unreadable(read);
  const int64_t read_rows = static_cast<int64_t>(rows.size());
  // Rows of one key added up: sorted by key (which is also the store's key
  // order, so its index grows at the end), then merged.
  auto key = [](const store::ActivityRow& r) {
    return std::tie(r.customer_id, r.therapy_area, r.activity, r.day, r.source);
  };
  std::sort(
      rows.begin(), rows.end(),
      [&](const store::ActivityRow& a, const store::ActivityRow& b) { return key(a) < key(b); });
  size_t kept = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (kept > 0 && key(rows[kept - 1]) == key(rows[i])) {
      rows[kept - 1].count += rows[i].count;
    } else if (kept++ != i) {
      rows[kept - 1] = std::move(rows[i]);
    }
  }
  rows.resize(kept);
  store::WriteStats total;
  for (size_t begin = 0; begin < rows.size(); begin += kInputBatch) {
    const size_t end = std::min(rows.size(), begin + kInputBatch);
    absl::StatusOr<store::WriteStats> s = db.UpsertActivities(std::vector<store::ActivityRow>(
        rows.begin() + static_cast<ptrdiff_t>(begin), rows.begin() + static_cast<ptrdiff_t>(end)));
    if (!s.ok()) {
      return StoreFailed(s.status(), " (rows of earlier batches are committed; import again)");
    }
    Add(&total, *s);
  }
  const int64_t rejected = static_cast<int64_t>(problems->size() - before);
  absl::StrAppendFormat(
      summary, "  activities.csv: %d rows loaded as %d counts (%s), %d rejected\n", read_rows,
      rows.size(), Describe(total, static_cast<int64_t>(rows.size())), rejected);
  audit->Add("activities.csv", JsonObject()
                                   .Add("loaded", read_rows)
                                   .Add("written", total.written)
                                   .Add("rejected", rejected));
  return {};
}

// territories.csv: the whole alignment of the countries its customers are
// in (docs/files.md); one transaction.
ImportError ImportTerritories(store::Store& db, const std::string& dir,
                              const absl::flat_hash_set<std::string>& known,
                              std::vector<exchange::RowProblem>* problems, std::string* summary,
                              JsonObject* audit) {
  const size_t before = problems->size();
  std::vector<store::TerritoryRow> rows;
  absl::Status read = exchange::ForEachTerritory(
      absl::StrCat(dir, "/territories.csv"), problems,
      [&](const exchange::TerritoryFields& t, const exchange::Reject& reject) {
        if (!known.contains(Sv(t.customer_id))) {
          return reject(t.customer_id,
                        absl::StrCat("customer_id: unknown customer ", Quoted(t.customer_id),
                                     " (not in customers.csv nor the store)"));
        }
        rows.push_back(
            {std::string(t.customer_id), std::string(t.territory), std::string(t.rep), ""});
      });
  if (!read.ok()) return Unreadable(read);
  absl::StatusOr<store::AlignmentStats> s = db.ReplaceTerritories(rows);
  if (!s.ok()) return StoreFailed(s.status());
  const int64_t rejected = static_cast<int64_t>(problems->size() - before);
  absl::StrAppendFormat(summary,
                        "  territories.csv: %d rows loaded (%d written, %d unchanged, %d pairs "
                        "no longer in the alignment removed), %d rejected\n",
                        rows.size(), s->written, s->unchanged, s->removed, rejected);
  audit->Add("territories.csv", JsonObject()
                                    .Add("loaded", static_cast<int64_t>(rows.size()))
                                    .Add("written", s->written)
                                    .Add("removed", s->removed)
                                    .Add("rejected", rejected));
  return {};
}

}  // namespace

int RunImport(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"store", "URL", "the store: sqlite:PATH or postgresql://…", true},
      {"quiet", "", "print only the summary, not each rejected row"},
      {"writers", "N",
       "connections writing inputs at once (default: 1 for SQLite, which has one writer; "
       "2 for PostgreSQL)"},
      {"help", "", "show this help"}};
  for (int i = first; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::printf(
          "usage: harmonia import --store URL DIR\n\nLoads DIR/customers.csv, "
          "answers.csv, metrics.csv, activities.csv and territories.csv, those DIR has, into "
          "the store. Rejected "
          "rows are listed on stderr; good rows load. Exit 0 when the files "
          "were read.\n\n%s",
          FlagHelp(specs).c_str());
      return 0;
    }
  }
  absl::StatusOr<Args> args = ParseArgs("import", specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->positional.size() != 1) {
    std::fprintf(stderr, "usage: harmonia import --store URL DIR\n");
    return 2;
  }
  const std::string dir = args->positional[0];
  const bool sqlite = args->Get("store").rfind("sqlite:", 0) == 0;
  absl::StatusOr<long long> writers = args->GetInt("writers", sqlite ? 1 : 2, 1, 16);
  if (!writers.ok()) {
    std::fprintf(stderr, "%s\n", std::string(writers.status().message()).c_str());
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::OpenStore(args->Get("store"));
  if (!opened.ok()) {
    std::fprintf(stderr, "harmonia import: %s\n", std::string(opened.status().message()).c_str());
    const absl::StatusCode code = opened.status().code();
    return code == absl::StatusCode::kInvalidArgument ||
                   code == absl::StatusCode::kFailedPrecondition
               ? 2
               : 1;
  }
  store::Store& db = **opened;
  std::vector<exchange::RowProblem> problems;
  std::string summary;
  const bool quiet = args->Has("quiet");
  // Every exit lists the rows rejected so far: nothing is dropped silently.
  auto finish = [&](int status, const std::string& error) {
    if (!quiet) {
      std::string out;
      for (const auto& p : problems) absl::StrAppend(&out, exchange::FormatProblem(p), "\n");
      std::fwrite(out.data(), 1, out.size(), stderr);
    }
    if (!error.empty()) std::fprintf(stderr, "harmonia import: %s\n", error.c_str());
    return status;
  };
  // Every file DIR has must be readable with the right headers before anything is written.
  absl::StatusOr<std::vector<std::string>> files = exchange::CheckImportFiles(dir);
  if (!files.ok()) return finish(2, std::string(files.status().message()));
  auto has = [&](std::string_view name) {
    return std::find(files->begin(), files->end(), name) != files->end();
  };
  JsonObject audit;  // what the import changed, for the audit log
  if (has("customers.csv")) {
    if (ImportError e = ImportCustomers(db, dir, &problems, &summary, &audit); e.exit != 0) {
      return finish(e.exit, e.message);
    }
  }

  // Inputs: customers must be in the store (from this import or an earlier one).
  absl::StatusOr<std::vector<std::string>> ids = db.CustomerIds();
  if (!ids.ok()) return finish(1, std::string(ids.status().message()));
  const absl::flat_hash_set<std::string> known(ids->begin(), ids->end());
  ids->clear();
  // Writer lanes: one connection each. A customer's rows always take the
  // same lane, in file order, so the row imported last still wins a key
  // whatever the lanes' relative speed, and lanes never touch each other's
  // rows (no lock waits between them).
  std::vector<std::unique_ptr<store::Store>> extra;
  std::vector<store::Store*> lanes = {&db};
  for (long long k = 1; k < *writers; ++k) {
    absl::StatusOr<std::unique_ptr<store::Store>> more = store::OpenStore(args->Get("store"));
    if (!more.ok()) return finish(1, std::string(more.status().message()));
    lanes.push_back(more->get());
    extra.push_back(std::move(*more));
  }
  for (auto [kind, file] : {std::pair{exchange::InputKind::kAnswers, "answers.csv"},
                            std::pair{exchange::InputKind::kMetrics, "metrics.csv"}}) {
    if (!has(file)) continue;
    const bool is_metric =
        kind == exchange::InputKind::kMetrics;  // (clang 14: no binding captures)
    const size_t before = problems.size();
    std::vector<std::vector<store::InputRow>> batches(lanes.size());
    std::vector<std::unique_ptr<BatchWriter>> writer;
    for (store::Store* lane : lanes) {
      writer.push_back(std::make_unique<BatchWriter>(lane));
      batches[writer.size() - 1].reserve(kInputBatch);
    }
    const absl::Hash<absl::string_view> hash;
    absl::Status read = exchange::ForEachInput(
        absl::StrCat(dir, "/", file), kind, &problems,
        [&](const exchange::InputFields& in, const exchange::Reject& reject) {
          if (!known.contains(Sv(in.customer_id))) {
            return reject(in.customer_id,
                          absl::StrCat("customer_id: unknown customer ", Quoted(in.customer_id),
                                       " (not in customers.csv nor the store)"));
          }
          if (in.therapy_area.empty()) return reject(in.therapy_area, "therapy_area: empty");
          if (in.input_id.empty()) return reject(in.input_id, "question or metric id: empty");
          const size_t lane = lanes.size() == 1 ? 0 : hash(Sv(in.customer_id)) % lanes.size();
          std::vector<store::InputRow>& batch = batches[lane];
          batch.push_back({std::string(in.customer_id), std::string(in.therapy_area), is_metric,
                           std::string(in.input_id), std::string(in.value),
                           engine::SourceName(in.source), in.as_of});
          if (batch.size() >= kInputBatch) {
            writer[lane]->Push(std::move(batch));
            batch = {};
            batch.reserve(kInputBatch);
          }
        });
    absl::Status failed;
    int64_t loaded = 0;
    store::WriteStats total;
    // Every lane's last batch first, so they are written at the same time.
    for (size_t lane = 0; lane < lanes.size(); ++lane) {
      if (!batches[lane].empty()) writer[lane]->Push(std::move(batches[lane]));
    }
    for (size_t lane = 0; lane < lanes.size(); ++lane) {
      if (absl::Status s = writer[lane]->Finish(); !s.ok() && failed.ok()) failed = s;
      loaded += writer[lane]->loaded();
      Add(&total, writer[lane]->total());
    }
    if (!read.ok()) return finish(2, std::string(read.message()));
    if (!failed.ok()) {
      return finish(1, absl::StrCat(std::string(failed.message()),
                                    " (rows of earlier batches are committed; import again)"));
    }
    absl::StrAppendFormat(&summary, "  %s: %d rows loaded (%s), %d rejected\n", file, loaded,
                          Describe(total, loaded), problems.size() - before);
    audit.Add(file, JsonObject()
                        .Add("loaded", loaded)
                        .Add("written", total.written)
                        .Add("rejected", static_cast<int64_t>(problems.size() - before)));
  }
  if (has("activities.csv")) {
    if (ImportError e = ImportActivities(db, dir, known, &problems, &summary, &audit);
        e.exit != 0) {
      return finish(e.exit, e.message);
    }
  }
  if (has("territories.csv")) {
    if (ImportError e = ImportTerritories(db, dir, known, &problems, &summary, &audit);
        e.exit != 0) {
      return finish(e.exit, e.message);
    }
  }

  absl::StatusOr<int64_t> audited = db.AppendAudit(
      {0, absl::ToUnixSeconds(absl::Now()), CliPrincipal(), "import", dir, "", audit.str()});
  if (!audited.ok()) return finish(1, std::string(audited.status().message()));

  finish(0, "");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> absent;  // said, so a misspelt file name is noticed
  for (const char* name :
       {"customers.csv", "answers.csv", "metrics.csv", "activities.csv", "territories.csv"}) {
    if (!has(name)) absent.push_back(name);
  }
  if (!absent.empty()) {
    absl::StrAppend(&summary, "  not in ", dir, ": ", absl::StrJoin(absent, ", "), "\n");
  }
  std::fprintf(stderr, "import: %s into %s in %.1f s\n%s", dir.c_str(),
               store::DisplayUrl(args->Get("store")).c_str(), seconds, summary.c_str());
  return 0;
}

}  // namespace harmonia::cli
