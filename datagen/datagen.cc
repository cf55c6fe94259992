#include "datagen/datagen.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/issue.h"
#include "common/strings.h"
#include "datagen/internal/model.h"
#include "datagen/internal/names.h"
#include "datagen/internal/random.h"
#include "engine/evaluator.h"

namespace harmonia::datagen {
namespace {

using engine::InputDef;
using engine::InputType;
using engine::RuleSet;
// The model (datagen/internal/model.h).
using internal::AppendValue;
using internal::BuildModel;
using internal::DrawProfile;
using internal::InputModel;
using internal::kNaN;
using internal::Perturb;
using internal::PlainMetric;
using internal::PoolCount;
using internal::Rng;
using internal::TaModel;
// Random streams.
using internal::kCustomerStream;
using internal::kPriorStream;
using internal::kRefinementStream;
using internal::kTherapyAreaStream;

// The parts of the model callers do not tune (GenOptions holds those they do).
constexpr double kOverlapDiffers = 0.30;   // second-source values that differ
constexpr double kFutureShare = 0.001;     // rows dated after the reference date
constexpr double kOutOfScopeRows = 0.003;  // out-of-scope customers with a stray row
constexpr double kNoAnswersShare = 0.5;    // of unprofiled customers: no answers at all
constexpr double kInvalidRefinements = 0.06;
constexpr int kRecentDays = 400;  // current values: as_of up to this many days back
constexpr int kStaleMinDays = 800;
constexpr int kStaleMaxDays = 1500;
constexpr int kFutureMaxDays = 90;
constexpr int kDeliveries = 13;   // monthly deliveries of syndicated metrics
constexpr int64_t kChunk = 8192;  // customers per task

constexpr double kTypeShare[] = {0.45, 0.35, 0.10, 0.10};  // of internal::kCustomerTypes
const std::vector<std::string_view> kSpecialties[] = {
    {"oncology", "oncology", "hematology", "rheumatology", "rheumatology", "endocrinology",
     "endocrinology", "cardiology", "pulmonology", "nephrology", "gastroenterology", "dermatology"},
    {"general_practice", "general_practice", "internal_medicine", "family_medicine"},
    {"primary_care", "diabetes_care", "oncology_nursing"},
    {"oncology_nursing", "diabetes_education", "rheumatology_nursing", "practice_nursing"},
};

const std::vector<std::string_view> kComments = {
    "Met at the congress, now keen on the new data",
    "New head of department",
    "Moved to a hospital-based practice",
    "Formulary listing changed, access improved",
    "Prefers remote calls, \"no time\" for visits",
    "Runs a trial site since spring",
    "Retiring next year",
    "Patient numbers doubled; two new colleagues",
};

constexpr std::string_view kSourceNames[] = {"rep", "external", "local"};
enum Source : int { kRep = 0, kExternal = 1, kLocal = 2 };

int DrawType(Rng& rng) {
  double u = rng.Uniform();
  for (int t = 0; t < 3; ++t) {
    if (u < kTypeShare[t]) return t;
    u -= kTypeShare[t];
  }
  return 3;
}

// ---------------------------------------------------------------------------
// Customers and their rows.

struct Country {
  std::string code;
  uint64_t key = 0;
  const internal::CountryNames* names = nullptr;
  std::vector<std::vector<double>> cumulative_prior;  // per therapy area
};

struct Context {
  const GenOptions& options;
  std::vector<TaModel> tas;
  int32_t as_of = 0;
  int32_t first_day = 0;
  std::vector<std::string> dates;   // ISO text of day first_day + i
  std::vector<int32_t> deliveries;  // first days of the months before as_of, newest first

  std::string_view Date(int32_t day) const { return dates[day - first_day]; }
  int32_t Recent(Rng& rng) const {
    const double u = rng.Uniform();  // squared: recent dates are the most common
    return as_of - static_cast<int32_t>(kRecentDays * u * u);
  }
};

void AppendId(std::string* out, std::string_view country, int64_t number) {
  char digits[9];
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + number % 10);
    number /= 10;
  }
  out->append(country);
  out->append(digits, 9);
}

int CustomerType(const Context& ctx, const Country& country, int64_t index) {
  Rng rng = Rng::Stream(ctx.options.seed, kCustomerStream, country.key, index);
  return DrawType(rng);
}

// The rows of one customer (or a chunk of customers) for each output file.
struct ChunkOut {
  std::string customers, answers, metrics, latent;
  int64_t customer_rows = 0, answer_rows = 0, metric_rows = 0, latent_rows = 0;
  std::vector<double> values;
  std::vector<int> shuffled;
  std::string prefix;
};

class RowWriter {
 public:
  RowWriter(const Context& ctx, std::string* out, int64_t* rows, std::string_view prefix)
      : ctx_(ctx), out_(out), rows_(rows), prefix_(prefix) {}

  void Row(const InputModel& m, double value, int source, int32_t day) {
    Begin(m);
    AppendValue(out_, m, value);
    End(source, day);
  }
  void Text(const InputModel& m, std::string_view text, int source, int32_t day) {
    Begin(m);
    out_->append(text);
    End(source, day);
  }

  // All rows of one input: the current value from `source`, plus the data
  // problems of real feeds. Errors (invalid, future, stale rows) replace the
  // current value of optional questions and metrics, and come in addition to
  // it for required questions, so that profiling follows unprofiled_share.
  void Input(const InputModel& m, double value, int source, int32_t day, Rng& rng) {
    const GenOptions& o = ctx_.options;
    const bool keep = m.def->is_question && m.def->required;
    const double u = rng.Uniform();
    bool current = true;
    if (u < o.invalid_share) {
      Text(m, m.invalid[rng.Below(m.invalid.size())], source, day);
      current = keep;
    } else if (u < o.invalid_share + kFutureShare) {
      Row(m, value, source, ctx_.as_of + static_cast<int32_t>(rng.Between(1, kFutureMaxDays)));
      current = keep;
    } else if (u < o.invalid_share + kFutureShare + o.stale_share) {
      const double old = rng.Chance(0.5) ? Perturb(m, value, rng) : value;
      Row(m, old, source,
          ctx_.as_of - static_cast<int32_t>(rng.Between(kStaleMinDays, kStaleMaxDays)));
      current = keep;
    }
    if (current) Row(m, value, source, day);
    if (rng.Chance(o.overlap_share)) {
      int other;
      if (m.def->is_question) {
        other = source == kRep ? (rng.Chance(0.6) ? kExternal : kLocal)
                               : (rng.Chance(0.7) ? kRep : kExternal + kLocal - source);
      } else {
        other = source == kExternal ? kLocal : kExternal;
      }
      // One draw per statement: the order C++ evaluates arguments in is unspecified.
      const double second = rng.Chance(kOverlapDiffers) ? Perturb(m, value, rng) : value;
      Row(m, second, other, ctx_.Recent(rng));
    }
  }

 private:
  void Begin(const InputModel& m) {
    out_->append(prefix_);
    out_->append(m.field);
    out_->push_back(',');
  }
  void End(int source, int32_t day) {
    out_->push_back(',');
    out_->append(kSourceNames[source]);
    out_->push_back(',');
    out_->append(ctx_.Date(day));
    out_->push_back('\n');
    ++*rows_;
  }

  const Context& ctx_;
  std::string* out_;
  int64_t* rows_;
  std::string_view prefix_;
};

size_t DrawLatent(const std::vector<double>& cumulative, Rng& rng) {
  const double u = rng.Uniform();
  for (size_t k = 0; k + 1 < cumulative.size(); ++k) {
    if (u < cumulative[k]) return k;
  }
  return cumulative.size() - 1;
}

void GenerateTherapyArea(const Context& ctx, const TaModel& t, const std::vector<double>& prior,
                         Rng& rng, ChunkOut* out) {
  const size_t k = DrawLatent(prior, rng);
  out->latent.append(out->prefix);
  out->latent.append(t.segment_fields[t.latent[k]]);
  out->latent.push_back('\n');
  ++out->latent_rows;

  const size_t protos = PoolCount(t, k);
  const double* proto =
      protos == 0 ? nullptr : t.pool[k].data() + rng.Below(protos) * t.inputs.size();
  double* values = out->values.data();
  DrawProfile(t, k, proto, rng, values, /*complete=*/false);
  if (rng.Chance(ctx.options.unprofiled_share)) {
    if (!t.required.empty() && !rng.Chance(kNoAnswersShare)) {
      // Missing one to three required answers.
      std::vector<int>& req = out->shuffled;
      req = t.required;
      const int64_t drop = rng.Between(1, std::min<int64_t>(3, static_cast<int64_t>(req.size())));
      for (int64_t i = 0; i < drop; ++i) {
        std::swap(req[i], req[i + rng.Below(req.size() - i)]);
        values[req[i]] = kNaN;
      }
    } else {
      for (int c : t.questions) values[c] = kNaN;
    }
  }

  // Answers: mostly captured by reps in one survey; metrics mostly from the
  // monthly syndicated delivery.
  const int32_t survey = ctx.Recent(rng);
  const int32_t delivery = ctx.deliveries[std::min(rng.Below(kDeliveries), rng.Below(kDeliveries))];
  RowWriter answers(ctx, &out->answers, &out->answer_rows, out->prefix);
  for (int c : t.questions) {
    if (std::isnan(values[c])) continue;
    const double u = rng.Uniform();
    const int source = u < 0.85 ? kRep : u < 0.93 ? kExternal : kLocal;
    answers.Input(t.inputs[c], values[c], source, source == kRep ? survey : ctx.Recent(rng), rng);
  }
  RowWriter metrics(ctx, &out->metrics, &out->metric_rows, out->prefix);
  for (int c : t.metrics) {
    if (std::isnan(values[c])) continue;
    const int source = rng.Chance(0.85) ? kExternal : kLocal;
    metrics.Input(t.inputs[c], values[c], source, source == kExternal ? delivery : ctx.Recent(rng),
                  rng);
  }
}

// A syndicated feed now and then delivers a metric for a customer the rule
// set does not apply to; readers must skip such rows.
void GenerateStray(const Context& ctx, const TaModel& t, Rng& rng, ChunkOut* out) {
  if (t.metrics.empty()) return;
  RowWriter metrics(ctx, &out->metrics, &out->metric_rows, out->prefix);
  const int64_t rows = rng.Between(1, 2);
  for (int64_t i = 0; i < rows; ++i) {
    const InputModel& m = t.inputs[t.metrics[rng.Below(t.metrics.size())]];
    const double value = PlainMetric(m, rng);
    metrics.Row(m, value, kExternal, ctx.Recent(rng));
  }
}

void GenerateCustomers(const Context& ctx, const Country& country, int64_t begin, int64_t end,
                       ChunkOut* out) {
  const uint64_t seed = ctx.options.seed;
  size_t max_inputs = 0;
  for (const TaModel& t : ctx.tas) max_inputs = std::max(max_inputs, t.inputs.size());
  out->values.resize(max_inputs);
  std::string id;
  for (int64_t index = begin; index < end; ++index) {
    id.clear();
    AppendId(&id, country.code, index + 1);
    Rng rng = Rng::Stream(seed, kCustomerStream, country.key, index);
    const int type = DrawType(rng);
    const auto& specialties = kSpecialties[type];
    const std::string_view specialty = specialties[rng.Below(specialties.size())];
    const std::string name = internal::MakeName(*country.names, type, rng);
    std::string& c = out->customers;
    c.append(id).push_back(',');
    c.append(country.code).push_back(',');
    c.append(internal::kCustomerTypes[type]).push_back(',');
    c.append(specialty).push_back(',');
    csv::AppendField(&c, name);
    c.push_back('\n');
    ++out->customer_rows;

    for (size_t ti = 0; ti < ctx.tas.size(); ++ti) {
      const TaModel& t = ctx.tas[ti];
      Rng ta_rng = Rng::Stream(seed, kTherapyAreaStream, t.key, country.key, index);
      out->prefix.clear();
      out->prefix.append(id).push_back(',');
      out->prefix.append(t.ta_field).push_back(',');
      if (t.applies[type]) {
        GenerateTherapyArea(ctx, t, country.cumulative_prior[ti], ta_rng, out);
      } else if (ta_rng.Chance(kOutOfScopeRows)) {
        GenerateStray(ctx, t, ta_rng, out);
      }
    }
  }
}

// refinements.csv rows of one country: mostly valid, some invalid on purpose
// (unknown segment or reason, another country's or an out-of-scope customer).
void GenerateRefinements(const Context& ctx, const Country& country,
                         const std::vector<std::string>& countries, std::string* out,
                         int64_t* rows) {
  const GenOptions& o = ctx.options;
  if (ctx.tas.empty() || o.customers == 0) return;
  const int64_t count = o.refinements >= 0 ? o.refinements : o.customers / 100;
  Rng rng = Rng::Stream(o.seed, kRefinementStream, country.key);
  // A customer of this country in (or out of) the therapy area's scope.
  auto find = [&](const TaModel& t, bool in_scope) {
    int64_t index = 0;
    for (int tries = 0; tries < 64; ++tries) {
      index = static_cast<int64_t>(rng.Below(o.customers));
      if (t.applies[CustomerType(ctx, country, index)] == in_scope) break;
    }
    return index;
  };
  auto unused = [](const std::vector<std::string>& known, std::string name) {
    while (std::find(known.begin(), known.end(), name) != known.end()) name += "_x";
    return name;
  };
  for (int64_t r = 1; r <= count; ++r) {
    const TaModel& t = ctx.tas[rng.Below(ctx.tas.size())];
    std::string customer;
    AppendId(&customer, country.code, find(t, true) + 1);
    std::string segment, delta, reason;
    if (rng.Chance(0.75)) {
      segment = t.segment_fields[t.latent[rng.Below(t.latent.size())]];
      if (rng.Chance(0.5)) delta = absl::StrCat(rng.Between(-2, 3));
    } else {
      int64_t d = rng.Between(-2, 2);
      delta = absl::StrCat(d < 0 ? d : d + 1);  // segment unchanged: a non-zero change of calls
    }
    reason = t.reasons.empty() ? "new_information" : t.reasons[rng.Below(t.reasons.size())];
    if (rng.Chance(kInvalidRefinements)) {
      switch (rng.Below(4)) {
        case 0: {
          std::vector<std::string> ids;
          for (const auto& s : t.rules->segments) ids.push_back(s.id);
          segment = unused(ids, "key_opinion_leader");
          break;
        }
        case 1: {
          std::vector<std::string> others;
          for (const std::string& c : countries) {
            if (c != country.code) others.push_back(c);
          }
          const std::string other = others.empty() ? (country.code == "FR" ? "IT" : "FR")
                                                   : others[rng.Below(others.size())];
          customer.clear();
          AppendId(&customer, other, static_cast<int64_t>(rng.Below(o.customers)) + 1);
          break;
        }
        case 2:
          reason = unused(t.rules->refinement_reasons, "budget_cut");
          break;
        default:
          customer.clear();
          AppendId(&customer, country.code, find(t, false) + 1);
          break;
      }
    }
    out->append("REQ-").append(country.code).push_back('-');
    const std::string number = absl::StrCat(r);
    if (number.size() < 6) out->append(6 - number.size(), '0');
    out->append(number).push_back(',');
    out->append(customer).push_back(',');
    out->append(t.ta_field).push_back(',');
    out->append(segment).push_back(',');
    out->append(delta).push_back(',');
    out->append(reason).push_back(',');
    if (rng.Chance(0.35)) csv::AppendField(out, kComments[rng.Below(kComments.size())]);
    out->push_back(',');
    out->append(internal::MakeLogin(*country.names, rng)).push_back('\n');
    ++*rows;
  }
}

// ---------------------------------------------------------------------------
// Files.

// A file written under a temporary name and renamed into place by Commit().
class OutFile {
 public:
  OutFile(std::string dir, std::string name) : name_(std::move(name)) {
    path_ = absl::StrCat(dir, "/", name_);
    tmp_ = absl::StrCat(path_, ".tmp");
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile() {
    if (file_ != nullptr) {
      std::fclose(file_);
      std::remove(tmp_.c_str());
    }
  }

  absl::Status Open(std::string_view header) {
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (file_ == nullptr) return Error("cannot create");
    return Write(header, 0);
  }
  absl::Status Write(std::string_view data, int64_t rows) {
    rows_ += rows;
    bytes_ += static_cast<int64_t>(data.size());
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
      return Error("cannot write");
    }
    return absl::OkStatus();
  }
  absl::Status Commit() {
    FILE* f = std::exchange(file_, nullptr);
    if (std::fclose(f) != 0) {
      std::remove(tmp_.c_str());
      return Error("cannot write");
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const absl::Status s = Error("cannot rename the temporary file into place");
      std::remove(tmp_.c_str());
      return s;
    }
    return absl::OkStatus();
  }
  GenStats::File stats() const { return {name_, rows_, bytes_}; }

 private:
  absl::Status Error(std::string_view what) const {
    const int err = errno;
    return absl::ErrnoToStatus(err, absl::StrCat(path_, ": ", Sv(what)));
  }

  std::string name_, path_, tmp_;
  FILE* file_ = nullptr;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
};

absl::Status CheckOptions(const GenOptions& o) {
  if (o.countries.empty()) return absl::InvalidArgumentError("no countries");
  for (const std::string& c : o.countries) {
    if (c.size() != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
      return absl::InvalidArgumentError(absl::StrCat(
          "country ", Quoted(c), ": expected an ISO 3166 alpha-2 code in upper case (DE)"));
    }
  }
  if (o.customers < 0 || o.customers > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat("customers ", o.customers, ": expected 0 to 999999999 per country"));
  }
  if (!ParseIsoDate(o.as_of)) {
    return absl::InvalidArgumentError(
        absl::StrCat("as_of ", Quoted(o.as_of), ": expected a date (YYYY-MM-DD)"));
  }
  const std::pair<const char*, double> shares[] = {{"unprofiled_share", o.unprofiled_share},
                                                   {"invalid_share", o.invalid_share},
                                                   {"stale_share", o.stale_share},
                                                   {"overlap_share", o.overlap_share}};
  for (const auto& [name, value] : shares) {
    if (!(value >= 0 && value <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " ", value, ": expected a share from 0 to 1"));
    }
  }
  if (o.invalid_share + kFutureShare + o.stale_share > 1) {
    return absl::InvalidArgumentError("invalid_share + stale_share: more than 1");
  }
  if (o.refinements < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("refinements ", o.refinements, ": expected -1 (1%) or more"));
  }
  for (size_t i = 0; i < o.rule_sets.size(); ++i) {
    if (o.rule_sets[i] == nullptr) return absl::InvalidArgumentError("a null rule set");
    for (size_t j = 0; j < i; ++j) {
      if (o.rule_sets[j]->therapy_area == o.rule_sets[i]->therapy_area) {
        return absl::InvalidArgumentError(absl::StrCat(
            "therapy area ", o.rule_sets[i]->therapy_area, ": more than one rule set"));
      }
    }
  }
  return absl::OkStatus();
}

// First days of the kDeliveries months before `as_of`, newest first.
std::vector<int32_t> MonthlyDeliveries(const std::string& as_of) {
  int year = std::stoi(as_of.substr(0, 4));
  int month = std::stoi(as_of.substr(5, 2));
  std::vector<int32_t> out;
  for (int i = 0; i < kDeliveries; ++i) {
    if (--month == 0) {
      month = 12;
      --year;
    }
    out.push_back(*ParseIsoDate(absl::StrFormat("%04d-%02d-01", year, month)));
  }
  return out;
}

}  // namespace

absl::Status Generate(const GenOptions& options, const std::string& out_dir, GenStats* stats) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat(out_dir, ": cannot create the folder"));
  }

  Context ctx{.options = options};
  ctx.as_of = *ParseIsoDate(options.as_of);
  ctx.first_day = ctx.as_of - kStaleMaxDays - 1;
  for (int32_t day = ctx.first_day; day <= ctx.as_of + kFutureMaxDays; ++day) {
    ctx.dates.push_back(FormatIsoDate(day));
  }
  ctx.deliveries = MonthlyDeliveries(options.as_of);

  // Therapy areas in name order, so the output does not depend on the order
  // the rule sets were given in.
  std::vector<std::shared_ptr<const RuleSet>> rule_sets = options.rule_sets;
  std::sort(rule_sets.begin(), rule_sets.end(),
            [](const auto& a, const auto& b) { return a->therapy_area < b->therapy_area; });
  for (const auto& rs : rule_sets) {
    absl::StatusOr<TaModel> model = BuildModel(rs, options.seed);
    if (!model.ok()) return model.status();
    ctx.tas.push_back(std::move(*model));
  }

  std::vector<std::string> codes = options.countries;
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  std::vector<Country> countries;
  for (const std::string& code : codes) {
    Country c{.code = code, .key = internal::HashName(code), .names = internal::NamesFor(code)};
    // Each market its own mix of segments around the therapy area's.
    for (const TaModel& t : ctx.tas) {
      Rng rng = Rng::Stream(options.seed, kPriorStream, t.key, c.key);
      std::vector<double> weights;
      double total = 0;
      for (double p : t.prior) {
        weights.push_back(p * (0.75 + 0.5 * rng.Uniform()));
        total += weights.back();
      }
      double sum = 0;
      for (double& w : weights) w = (sum += w / total);
      c.cumulative_prior.push_back(std::move(weights));
    }
    countries.push_back(std::move(c));
  }

  OutFile customers(out_dir, "customers.csv"), answers(out_dir, "answers.csv"),
      metrics(out_dir, "metrics.csv"), refinements(out_dir, "refinements.csv"),
      latent(out_dir, "latent.csv");
  for (auto [file, header] : {
           std::pair{&customers, "customer_id,country,customer_type,specialty,name\n"},
           std::pair{&answers, "customer_id,therapy_area,question_id,value,source,as_of\n"},
           std::pair{&metrics, "customer_id,therapy_area,metric_id,value,source,as_of\n"},
           std::pair{&refinements,
                     "request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,"
                     "submitted_by\n"},
           std::pair{&latent, "customer_id,therapy_area,latent_segment\n"},
       }) {
    if (absl::Status s = file->Open(header); !s.ok()) return s;
  }

  // Customers in rounds of chunks: the threads fill the chunks of a round,
  // then the chunks are written in order.
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t per_round = kChunk * threads * 2;
  std::vector<ChunkOut> chunks(static_cast<size_t>(threads) * 2);
  for (const Country& country : countries) {
    for (int64_t round = 0; round < options.customers; round += per_round) {
      const int64_t round_end = std::min(options.customers, round + per_round);
      const size_t used = static_cast<size_t>((round_end - round + kChunk - 1) / kChunk);
      std::atomic<size_t> next{0};
      auto work = [&] {
        while (true) {
          const size_t j = next.fetch_add(1);
          if (j >= used) break;
          ChunkOut& out = chunks[j];
          out.customers.clear();
          out.answers.clear();
          out.metrics.clear();
          out.latent.clear();
          out.customer_rows = out.answer_rows = out.metric_rows = out.latent_rows = 0;
          const int64_t begin = round + static_cast<int64_t>(j) * kChunk;
          GenerateCustomers(ctx, country, begin, std::min(round_end, begin + kChunk), &out);
        }
      };
      std::vector<std::thread> workers;
      for (int w = 1; w < threads && static_cast<size_t>(w) < used; ++w) workers.emplace_back(work);
      work();
      for (std::thread& w : workers) w.join();
      for (size_t j = 0; j < used; ++j) {
        const ChunkOut& out = chunks[j];
        for (auto [file, data, rows] : {std::tuple{&customers, &out.customers, out.customer_rows},
                                        std::tuple{&answers, &out.answers, out.answer_rows},
                                        std::tuple{&metrics, &out.metrics, out.metric_rows},
                                        std::tuple{&latent, &out.latent, out.latent_rows}}) {
          if (absl::Status s = file->Write(*data, rows); !s.ok()) return s;
        }
      }
    }
  }
  std::string refinement_rows;
  int64_t refinement_count = 0;
  for (const Country& country : countries) {
    GenerateRefinements(ctx, country, codes, &refinement_rows, &refinement_count);
  }
  if (absl::Status s = refinements.Write(refinement_rows, refinement_count); !s.ok()) return s;

  for (OutFile* file : {&customers, &answers, &metrics, &refinements, &latent}) {
    if (absl::Status s = file->Commit(); !s.ok()) return s;
    if (stats != nullptr) stats->files.push_back(file->stats());
  }
  return absl::OkStatus();
}

}  // namespace harmonia::datagen
