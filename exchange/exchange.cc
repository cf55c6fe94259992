#include "exchange/exchange.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iterator>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/file.h"
#include "common/strings.h"
#include "common/text.h"

namespace harmonia::exchange {
namespace {

using engine::InputSelector;
using engine::RuleSet;

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Where a record starts: its first byte and physical line.
struct Row {
  const char* start;
  int64_t line;
};

// A CSV file with a header naming its columns. Columns are found by name, so
// other tools may reorder them or add their own (ignored).
class Table {
 public:
  static absl::StatusOr<Table> Open(const std::string& path,
                                    const std::vector<std::string>& required) {
    absl::StatusOr<MappedFile> file = MappedFile::Open(path);
    if (!file.ok()) return file.status();
    Table t(path, std::move(*file));
    std::string_view data = csv::StripBom(t.file_.data());
    csv::Reader header(data);
    std::vector<std::string_view> fields;
    csv::ParseError err;
    const std::string expected = absl::StrJoin(required, ",");
    const bool read = header.Next(&fields, &err);
    if (!err.message.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", err.line, ":", err.column, ": header: ", err.message));
    }
    if (!read || fields.empty() || (fields.size() == 1 && fields[0].empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":1: empty file; expected the header ", expected));
    }
    t.width_ = fields.size();
    t.header_.assign(fields.begin(), fields.end());
    for (const std::string& name : required) {
      auto it = std::find(fields.begin(), fields.end(), name);
      if (it == fields.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":1: missing column '", name, "'; expected the header ", expected));
      }
      t.columns_.push_back(static_cast<int>(it - fields.begin()));
    }
    // The body starts after the header record.
    const size_t consumed = header.offset();
    t.body_ = data.substr(consumed);
    t.body_first_line_ = header.line();
    return t;
  }

  const std::string& path() const { return path_; }
  std::string name() const { return BaseName(path_); }
  std::string_view body() const { return body_; }
  int64_t body_first_line() const { return body_first_line_; }
  size_t width() const { return width_; }
  // Position in a record of required column k.
  int column(size_t k) const { return columns_[k]; }
  // The header's name of the field at `position`.
  const std::string& header(size_t position) const { return header_[position]; }

  // A problem with `field` of the record at `row`: the physical line and the
  // 1-based byte column of the field (a record may span lines; LF, CRLF and a
  // lone CR all end a line, as in the reader). Column 0 when the field is not
  // a view into the file (an unescaped quoted field) or is empty.
  RowProblem Problem(const Row& row, std::string_view field, std::string message) const {
    RowProblem p{name(), row.line, 0, std::move(message)};
    const std::string_view all = file_.data();
    const char* f = field.data();
    if (field.empty() || f < row.start || f > all.data() + all.size()) return p;
    const char* line_start = row.start;
    for (const char* c = row.start; c < f; ++c) {
      if (*c == '\n' || (*c == '\r' && (c + 1 == f || c[1] != '\n'))) {
        ++p.line;
        line_start = c + 1;
      }
    }
    p.column = f - line_start + 1;
    return p;
  }

 private:
  Table(std::string path, MappedFile file) : path_(std::move(path)), file_(std::move(file)) {}
  std::string path_;
  MappedFile file_;
  std::string_view body_;
  int64_t body_first_line_ = 2;
  size_t width_ = 0;
  std::vector<std::string> header_;
  std::vector<int> columns_;
};

// Calls fn(fields, row) for every well-formed record of `slice`; reports
// malformed ones (CSV errors, wrong number of fields, a field that is not
// UTF-8 text or holds a NUL byte: never stored). Blank lines are skipped.
template <typename Fn>
void ForEachRecord(const Table& table, const csv::Slice& slice, std::vector<RowProblem>* problems,
                   int64_t* rejected, Fn fn) {
  csv::Reader reader(slice.data, slice.first_line);
  std::vector<std::string_view> fields;
  csv::ParseError err;
  while (true) {
    err.message.clear();
    const Row row{slice.data.data() + reader.offset(), 0};
    if (!reader.Next(&fields, &err)) break;
    if (!err.message.empty()) {
      problems->push_back({table.name(), err.line, err.column, err.message});
      ++*rejected;
      continue;
    }
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    if (fields.size() != table.width()) {
      problems->push_back(
          {table.name(), reader.record_line(), 0,
           absl::StrCat("expected ", table.width(), " fields, got ", fields.size())});
      ++*rejected;
      continue;
    }
    const Row at{row.start, reader.record_line()};
    size_t bad = 0;
    while (bad < fields.size() && IsText(fields[bad])) ++bad;
    if (bad < fields.size()) {
      const std::string_view field = fields[bad];
      problems->push_back(table.Problem(at, field.substr(FirstNonTextByte(field)),
                                        absl::StrCat(table.header(bad), ": ", WhyNotText(field),
                                                     "; text must be UTF-8 without NUL bytes")));
      ++*rejected;
      continue;
    }
    fn(fields, at);
  }
}

// The streaming readers' shared loop (ForEachCustomer, ForEachInput,
// ForEachActivity, ForEachTerritory): opens `path` with its `columns` and
// calls fn(table, fields, reject) for every well-formed record, where
// reject(field, message) reports the row at that field.
template <typename Fn>
absl::Status ForEachFileRow(const std::string& path, const std::vector<std::string>& columns,
                            std::vector<RowProblem>* problems, Fn fn) {
  absl::StatusOr<Table> table = Table::Open(path, columns);
  if (!table.ok()) return table.status();
  int64_t rejected = 0;
  ForEachRecord(*table, {table->body(), table->body_first_line()}, problems, &rejected,
                [&](const std::vector<std::string_view>& f, const Row& row) {
                  const Reject reject = [&](std::string_view field, std::string message) {
                    problems->push_back(table->Problem(row, field, std::move(message)));
                  };
                  fn(*table, f, row, reject);
                });
  return absl::OkStatus();
}

// Parses an input row's source and as_of. A bad one is reported through
// `reject` at its field (the same message for every reader) and false returned.
template <typename RejectFn>
bool ParseSourceAndDate(std::string_view source_text, std::string_view date_text,
                        const RejectFn& reject, engine::Source* source, int32_t* as_of) {
  std::optional<engine::Source> s = engine::ParseSource(source_text);
  if (!s) {
    reject(source_text, absl::StrCat("source: ", Quoted(source_text),
                                     " is not a source; expected one of: rep, external, local"));
    return false;
  }
  std::optional<int32_t> d = ParseIsoDate(date_text);
  if (!d) {
    reject(date_text, absl::StrCat("as_of: ", NotADate(date_text)));
    return false;
  }
  *source = *s;
  *as_of = *d;
  return true;
}

}  // namespace

std::string FormatProblem(const RowProblem& p) {
  std::string out = absl::StrCat(p.file, ":", p.line);
  if (p.column > 0) absl::StrAppend(&out, ":", p.column);
  absl::StrAppend(&out, ": ", p.message);
  return out;
}

absl::StatusOr<Universe> ReadCustomers(const std::string& path, const std::string& country,
                                       const std::vector<std::string>& applies_to,
                                       std::vector<RowProblem>* problems) {
  absl::StatusOr<Table> table =
      Table::Open(path, {"customer_id", "country", "customer_type", "specialty", "name"});
  if (!table.ok()) return table.status();
  Universe u;
  absl::flat_hash_map<std::string, int64_t> first_line;
  ForEachRecord(
      *table, {table->body(), table->body_first_line()}, problems, &u.rejected,
      [&](const std::vector<std::string_view>& f, const Row& row) {
        ++u.rows;
        const std::string_view id = f[table->column(0)];
        const std::string_view cc = f[table->column(1)];
        const std::string_view type = f[table->column(2)];
        if (id.empty()) {
          problems->push_back(table->Problem(row, id, "customer_id: empty"));
          ++u.rejected;
          return;
        }
        auto [it, inserted] = first_line.emplace(std::string(id), row.line);
        if (!inserted) {
          problems->push_back(table->Problem(row, id,
                                             absl::StrCat("customer_id: duplicate ", Quoted(id),
                                                          " (first on line ", it->second, ")")));
          ++u.rejected;
          return;
        }
        if (std::string why = engine::OutOfScopeReason(cc, type, country, applies_to);
            !why.empty()) {
          u.out_of_scope.emplace(std::string(id), std::move(why));
        } else {
          u.ids.emplace_back(id);
        }
      });
  std::sort(u.ids.begin(), u.ids.end());
  u.index.reserve(u.ids.size());
  for (size_t i = 0; i < u.ids.size(); ++i) u.index.emplace(u.ids[i], static_cast<uint32_t>(i));
  return u;
}

absl::Status ReadInputs(const std::string& path, InputKind kind, const RuleSet& rules,
                        const engine::CountryConfig& country,
                        const absl::flat_hash_map<std::string, uint32_t>& index,
                        const absl::flat_hash_map<std::string, std::string>& out_of_scope,
                        int32_t cycle_day, int threads, InputSelector* selector,
                        InputCounts* counts, std::vector<RowProblem>* problems) {
  const bool answers = kind == InputKind::kAnswers;
  const std::string id_column = answers ? "question_id" : "metric_id";
  absl::StatusOr<Table> table =
      Table::Open(path, {"customer_id", "therapy_area", id_column, "value", "source", "as_of"});
  if (!table.ok()) return table.status();

  absl::flat_hash_map<std::string, int> columns;  // question or metric id → column
  std::vector<std::string> known;
  for (int c = 0; c < rules.num_inputs(); ++c) {
    if (rules.inputs[c].is_question == answers) {
      columns.emplace(rules.inputs[c].id, c);
      known.push_back(rules.inputs[c].id);
    }
  }
  const std::string known_list = absl::StrJoin(known, ", ");
  const char* what = answers ? "question" : "metric";

  const std::vector<csv::Slice> slices =
      csv::SplitAtRecordBoundaries(table->body(), table->body_first_line(), std::max(1, threads));
  struct Part {
    std::unique_ptr<InputSelector> selector;
    InputCounts counts;
    std::vector<RowProblem> problems;
  };
  std::vector<Part> parts(slices.size());
  auto work = [&](size_t p) {
    Part& part = parts[p];
    InputSelector* sel = p == 0 ? selector : part.selector.get();
    std::string reason;
    engine::InputIssue issue;
    ForEachRecord(*table, slices[p], &part.problems, &part.counts.rejected,
                  [&](const std::vector<std::string_view>& f, const Row& row) {
                    ++part.counts.rows;
                    const std::string_view ta = f[table->column(1)];
                    if (ta != rules.therapy_area) {
                      ++part.counts.other_therapy_area;
                      return;
                    }
                    auto reject = [&](std::string_view field, std::string message) {
                      part.problems.push_back(table->Problem(row, field, std::move(message)));
                      ++part.counts.rejected;
                    };
                    const std::string_view id = f[table->column(0)];
                    auto cust = index.find(Sv(id));
                    if (cust == index.end()) {
                      if (out_of_scope.contains(Sv(id))) {
                        ++part.counts.out_of_scope;
                      } else {
                        reject(id, absl::StrCat("customer_id: unknown customer ", Quoted(id),
                                                " (not in customers.csv)"));
                      }
                      return;
                    }
                    const std::string_view input = f[table->column(2)];
                    auto col = columns.find(Sv(input));
                    if (col == columns.end()) {
                      reject(input, absl::StrCat(id_column, ": ", Quoted(input), " is not a ", what,
                                                 " of ", rules.therapy_area, " v", rules.version,
                                                 "; expected one of: ", known_list));
                      return;
                    }
                    engine::Source source;
                    int32_t as_of;
                    if (!ParseSourceAndDate(f[table->column(4)], f[table->column(5)], reject,
                                            &source, &as_of)) {
                      return;
                    }
                    const std::string_view value = f[table->column(3)];
                    if (!sel->Offer(cust->second, col->second, value, source, as_of,
                                    static_cast<uint32_t>(row.line), &issue, &reason) &&
                        issue == engine::InputIssue::kInvalid) {
                      reject(value,
                             absl::StrCat(what, " ", Quoted(input), ": ", reason, " (dropped)"));
                    }
                  });
  };
  for (size_t p = 1; p < parts.size(); ++p) {
    parts[p].selector =
        std::make_unique<InputSelector>(rules, country, cycle_day, selector->size());
  }
  std::vector<std::thread> workers;
  for (size_t p = 1; p < parts.size(); ++p) workers.emplace_back(work, p);
  work(0);
  for (std::thread& t : workers) t.join();
  for (size_t p = 0; p < parts.size(); ++p) {
    if (p > 0) selector->Merge(*parts[p].selector);
    counts->rows += parts[p].counts.rows;
    counts->other_therapy_area += parts[p].counts.other_therapy_area;
    counts->out_of_scope += parts[p].counts.out_of_scope;
    counts->rejected += parts[p].counts.rejected;
    for (RowProblem& pr : parts[p].problems) problems->push_back(std::move(pr));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<engine::Refinement>> ReadRefinements(const std::string& path,
                                                                std::vector<RowProblem>* problems) {
  absl::StatusOr<Table> table =
      Table::Open(path, {"request_id", "customer_id", "therapy_area", "segment", "calls_delta",
                         "reason", "comment", "submitted_by"});
  if (!table.ok()) return table.status();
  std::vector<engine::Refinement> out;
  int64_t rejected = 0;
  ForEachRecord(*table, {table->body(), table->body_first_line()}, problems, &rejected,
                [&](const std::vector<std::string_view>& f, const Row& row) {
                  engine::Refinement r;
                  r.request_id = f[table->column(0)];
                  r.customer_id = f[table->column(1)];
                  r.therapy_area = f[table->column(2)];
                  r.segment = f[table->column(3)];
                  r.calls_delta = f[table->column(4)];
                  r.reason = f[table->column(5)];
                  r.comment = f[table->column(6)];
                  r.submitted_by = f[table->column(7)];
                  r.line = row.line;
                  out.push_back(std::move(r));
                });
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, engine::PreviousAssignment>> ReadPrevious(
    const std::string& path, const std::string& country, const std::string& therapy_area,
    std::vector<RowProblem>* problems) {
  absl::StatusOr<Table> table = Table::Open(
      path, {"customer_id", "country", "therapy_area", "segment", "tier", "calls", "remote",
             "email", "events", "decided_by", "rule_id", "rule_set_version", "inputs_digest"});
  if (!table.ok()) return table.status();
  absl::flat_hash_map<std::string, engine::PreviousAssignment> out;
  int64_t rejected = 0;
  ForEachRecord(
      *table, {table->body(), table->body_first_line()}, problems, &rejected,
      [&](const std::vector<std::string_view>& f, const Row& row) {
        if (f[table->column(1)] != country || f[table->column(2)] != therapy_area) {
          return;
        }
        engine::PreviousAssignment p;
        p.segment = f[table->column(3)];
        p.tier = f[table->column(4)];
        int32_t* counts[] = {&p.activity.calls, &p.activity.remote, &p.activity.email,
                             &p.activity.events};
        for (int k = 0; k < 4; ++k) {
          std::string_view v = f[table->column(5 + k)];
          auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), *counts[k]);
          if (ec != std::errc() || ptr != v.data() + v.size() || *counts[k] < 0) {
            problems->push_back(table->Problem(row, v, absl::StrCat("not a count: ", Quoted(v))));
            return;
          }
        }
        p.rule_id = f[table->column(10)];
        std::string_view version = f[table->column(11)];
        auto [ptr, ec] =
            std::from_chars(version.data(), version.data() + version.size(), p.rule_set_version);
        if (ec != std::errc() || ptr != version.data() + version.size()) {
          problems->push_back(table->Problem(
              row, version, absl::StrCat("rule_set_version: not a version: ", Quoted(version))));
          return;
        }
        p.inputs_digest = f[table->column(12)];
        std::string id(f[table->column(0)]);
        if (out.contains(id)) {
          problems->push_back(
              table->Problem(row, {}, absl::StrCat("customer_id: duplicate ", Quoted(id))));
          return;
        }
        out.emplace(std::move(id), std::move(p));
      });
  return out;
}

absl::Status ForEachCustomer(const std::string& path, std::vector<RowProblem>* problems,
                             const std::function<void(const CustomerFields&, const Reject&)>& fn) {
  return ForEachFileRow(path, {"customer_id", "country", "customer_type", "specialty", "name"},
                        problems,
                        [&](const Table& t, const std::vector<std::string_view>& f, const Row& row,
                            const Reject& reject) {
                          fn(CustomerFields{f[t.column(0)], f[t.column(1)], f[t.column(2)],
                                            f[t.column(3)], f[t.column(4)], row.line},
                             reject);
                        });
}

absl::Status ForEachInput(const std::string& path, InputKind kind,
                          std::vector<RowProblem>* problems,
                          const std::function<void(const InputFields&, const Reject&)>& fn) {
  const std::string id_column = kind == InputKind::kAnswers ? "question_id" : "metric_id";
  return ForEachFileRow(
      path, {"customer_id", "therapy_area", id_column, "value", "source", "as_of"}, problems,
      [&](const Table& t, const std::vector<std::string_view>& f, const Row& row,
          const Reject& reject) {
        engine::Source source;
        int32_t as_of;
        if (!ParseSourceAndDate(f[t.column(4)], f[t.column(5)], reject, &source, &as_of)) {
          return;
        }
        if (const std::string_view value = f[t.column(3)]; value.size() > kMaxInputValueBytes) {
          reject(value,
                 absl::StrCat("value: ", value.size(), " bytes; at most ", kMaxInputValueBytes,
                              " (an answer or a metric, not a document)"));
          return;
        }
        fn(InputFields{f[t.column(0)], f[t.column(1)], f[t.column(2)], f[t.column(3)], source,
                       as_of, row.line},
           reject);
      });
}

namespace {
const std::vector<std::string> kActivityColumns = {"customer_id", "therapy_area", "activity",
                                                   "date",        "count",        "source"};
}  // namespace

absl::Status ForEachActivity(const std::string& path, std::vector<RowProblem>* problems,
                             const std::function<void(const ActivityFields&, const Reject&)>& fn) {
  return ForEachFileRow(
      path, kActivityColumns, problems,
      [&](const Table& t, const std::vector<std::string_view>& f, const Row& row,
          const Reject& reject) {
        ActivityFields a{.customer_id = f[t.column(0)],
                         .therapy_area = f[t.column(1)],
                         .activity = f[t.column(2)],
                         .source = f[t.column(5)],
                         .line = row.line};
        if (std::find(std::begin(engine::kActivityNames), std::end(engine::kActivityNames),
                      a.activity) == std::end(engine::kActivityNames)) {
          return reject(a.activity, absl::StrCat("activity: ", Quoted(a.activity),
                                                 " is not an activity; expected one of: calls, "
                                                 "remote, email, events"));
        }
        const std::string_view date = f[t.column(3)];
        std::optional<int32_t> day = ParseIsoDate(date);
        if (!day) return reject(date, absl::StrCat("date: ", NotADate(date)));
        a.day = *day;
        const std::string_view count = f[t.column(4)];
        auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), a.count);
        if (count.empty() || ec != std::errc() || ptr != count.data() + count.size() ||
            a.count < 0 || a.count > kMaxActivityCount) {
          return reject(count,
                        absl::StrCat("count: ", Quoted(count), " is not a whole number from 0 to ",
                                     kMaxActivityCount));
        }
        if (a.source.empty() || a.source.size() > 64) {
          return reject(a.source, absl::StrCat("source: ", a.source.size(),
                                               " bytes; expected 1 to 64 (the system that "
                                               "reported the activity, e.g. crm)"));
        }
        fn(a, reject);
      });
}

absl::Status ForEachTerritory(
    const std::string& path, std::vector<RowProblem>* problems,
    const std::function<void(const TerritoryFields&, const Reject&)>& fn) {
  return ForEachFileRow(
      path, {"customer_id", "territory", "rep"}, problems,
      [&](const Table& table, const std::vector<std::string_view>& f, const Row& row,
          const Reject& reject) {
        TerritoryFields t{f[table.column(0)], f[table.column(1)], f[table.column(2)], row.line};
        for (auto [name, value] : {std::pair{"territory", t.territory}, std::pair{"rep", t.rep}}) {
          if (value.empty() || value.size() > 128) {
            return reject(value,
                          absl::StrCat(name, ": ", value.size(), " bytes; expected 1 to 128"));
          }
        }
        fn(t, reject);
      });
}

absl::StatusOr<std::vector<std::string>> CheckImportFiles(const std::string& dir) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> files = {
      {"customers.csv", {"customer_id", "country", "customer_type", "specialty", "name"}},
      {"answers.csv", {"customer_id", "therapy_area", "question_id", "value", "source", "as_of"}},
      {"metrics.csv", {"customer_id", "therapy_area", "metric_id", "value", "source", "as_of"}},
      {"activities.csv", kActivityColumns},
      {"territories.csv", {"customer_id", "territory", "rep"}}};
  std::vector<std::string> present;
  for (const auto& [name, columns] : files) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      if (ec) return absl::InvalidArgumentError(absl::StrCat(path, ": ", ec.message()));
      continue;
    }
    absl::StatusOr<Table> table = Table::Open(path, columns);
    if (!table.ok()) return table.status();
    present.push_back(name);
  }
  if (present.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir,
        ": none of customers.csv, answers.csv, metrics.csv, activities.csv, territories.csv to "
        "import"));
  }
  return present;
}

}  // namespace harmonia::exchange
