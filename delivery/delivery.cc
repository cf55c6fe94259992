#include "delivery/delivery.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/csv.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "cycle/cycle.h"

namespace harmonia::delivery {
namespace {

using store::AssignmentRow;

// The columns after assignments.csv's, in order.
constexpr std::string_view kDirectivesColumns =
    "customer_id,country,therapy_area,segment,tier,calls,remote,email,events,decided_by,"
    "rule_id,rule_set_version,inputs_digest,segment_name,label,message,channels,tags,"
    "plan_calls,plan_remote,plan_email,plan_events";
// The changes export's columns after the directives columns and `change`.
constexpr std::string_view kPrevColumns =
    "prev_segment,prev_tier,prev_calls,prev_remote,prev_email,prev_events,prev_tags,"
    "prev_plan_calls,prev_plan_remote,prev_plan_email,prev_plan_events";

// The names of `header`'s columns from the `first`-th (0-based) on.
std::vector<std::string_view> Columns(std::string_view header, size_t first) {
  std::vector<std::string_view> names;
  for (absl::string_view name :
       absl::StrSplit(absl::string_view(header.data(), header.size()), ',')) {
    if (first > 0) {
      --first;
    } else {
      names.emplace_back(name.data(), name.size());
    }
  }
  return names;
}

// A number's decimal text in a caller's buffer (to_chars: no locale, no
// allocation).
struct Number {
  explicit Number(int64_t v) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    size = static_cast<size_t>(end - buf);
  }
  std::string_view view() const { return {buf, size}; }
  char buf[24];
  size_t size = 0;
};

// The fields of one side of a row, as text; unset (a customer who left, or
// who entered for prev_*) = every field empty.
struct Fields {
  std::vector<std::string_view> text;
  std::vector<Number> numbers;
};

const SegmentDirectives kNone;

void AddDirectivesJson(JsonObject* o, std::string_view country, std::string_view therapy_area,
                       const AssignmentRow& r, const SegmentDirectives& d) {
  o->Add("customer_id", r.customer_id)
      .Add("country", country)
      .Add("therapy_area", therapy_area)
      .Add("segment", r.segment)
      .Add("tier", r.tier)
      .Add("calls", r.calls)
      .Add("remote", r.remote)
      .Add("email", r.email)
      .Add("events", r.events)
      .Add("decided_by", r.decided_by)
      .Add("rule_id", r.rule_id)
      .Add("rule_set_version", r.rule_set_version)
      .Add("inputs_digest", r.inputs_digest)
      .Add("segment_name", d.name)
      .Add("label", d.label)
      .Add("message", d.message)
      .Add("channels", d.channels)
      .Add("tags", r.tags)
      .Add("plan_calls", r.plan_calls)
      .Add("plan_remote", r.plan_remote)
      .Add("plan_email", r.plan_email)
      .Add("plan_events", r.plan_events);
}

// The directives columns of `r` appended to `fields` (views into r, d and
// the numbers kept alive by the caller).
void DirectivesFields(std::string_view country, std::string_view therapy_area,
                      const AssignmentRow& r, const SegmentDirectives& d, const Number n[9],
                      std::vector<std::string_view>* fields) {
  fields->insert(fields->end(),
                 {r.customer_id,   country,     therapy_area, r.segment,    r.tier,     n[0].view(),
                  n[1].view(),     n[2].view(), n[3].view(),  r.decided_by, r.rule_id,  n[4].view(),
                  r.inputs_digest, d.name,      d.label,      d.message,    d.channels, r.tags,
                  n[5].view(),     n[6].view(), n[7].view(),  n[8].view()});
}

}  // namespace

Directives::Directives(const engine::RuleSet& rules, const engine::TherapyAreaConfig* ta) {
  std::map<std::string, std::string> labels = engine::SegmentLabels(rules, ta);
  for (const engine::Segment& s : rules.segments) {
    SegmentDirectives d;
    d.name = s.name;
    d.label = std::move(labels[s.id]);
    d.message = s.message;
    d.channels = absl::StrJoin(s.channels, "|");
    by_id_.emplace(s.id, std::move(d));
  }
}

const SegmentDirectives* Directives::Find(std::string_view segment) const {
  auto it = by_id_.find(absl::string_view(segment.data(), segment.size()));
  return it == by_id_.end() ? nullptr : &it->second;
}

std::string_view DirectivesHeader() { return kDirectivesColumns; }
std::string_view ChangesHeader() {
  static const std::string* const header =
      new std::string(std::string(kDirectivesColumns) + ",change," + std::string(kPrevColumns));
  return *header;
}

void AppendDirectives(Encoding encoding, std::string* out, std::string_view country,
                      std::string_view therapy_area, const AssignmentRow& r,
                      const Directives& directives) {
  const SegmentDirectives* found = directives.Find(r.segment);
  const SegmentDirectives& d = found ? *found : kNone;
  if (encoding == Encoding::kJsonLines) {
    JsonObject o;
    AddDirectivesJson(&o, country, therapy_area, r, d);
    absl::StrAppend(out, o.str(), "\n");
    return;
  }
  const Number n[9] = {Number(r.calls),       Number(r.remote),           Number(r.email),
                       Number(r.events),      Number(r.rule_set_version), Number(r.plan_calls),
                       Number(r.plan_remote), Number(r.plan_email),       Number(r.plan_events)};
  std::vector<std::string_view> fields;
  fields.reserve(22);
  DirectivesFields(country, therapy_area, r, d, n, &fields);
  csv::AppendRecord(out, fields);
}

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kEntered:
      return "entered";
    case ChangeKind::kLeft:
      return "left";
    case ChangeKind::kChanged:
      break;
  }
  return "changed";
}

bool Differs(const AssignmentRow& a, const AssignmentRow& b) {
  return a.segment != b.segment || a.tier != b.tier || a.calls != b.calls || a.remote != b.remote ||
         a.email != b.email || a.events != b.events || a.tags != b.tags ||
         a.plan_calls != b.plan_calls || a.plan_remote != b.plan_remote ||
         a.plan_email != b.plan_email || a.plan_events != b.plan_events;
}

void ForEachChange(const std::vector<AssignmentRow>& before, const std::vector<AssignmentRow>& now,
                   std::string_view after_customer_id,
                   const std::function<bool(const Change&)>& fn) {
  const auto first_after = [&](const std::vector<AssignmentRow>& rows) {
    if (after_customer_id.empty()) return size_t{0};
    const auto it = std::upper_bound(
        rows.begin(), rows.end(), after_customer_id,
        [](std::string_view id, const AssignmentRow& r) { return id < r.customer_id; });
    return static_cast<size_t>(it - rows.begin());
  };
  size_t i = first_after(before), j = first_after(now);
  while (i < before.size() || j < now.size()) {
    Change change;
    if (j == now.size() || (i < before.size() && before[i].customer_id < now[j].customer_id)) {
      change = {ChangeKind::kLeft, nullptr, &before[i++]};
    } else if (i == before.size() || now[j].customer_id < before[i].customer_id) {
      change = {ChangeKind::kEntered, &now[j++], nullptr};
    } else {
      const bool differs = Differs(before[i], now[j]);
      change = {ChangeKind::kChanged, &now[j++], &before[i++]};
      if (!differs) continue;
    }
    if (!fn(change)) return;
  }
}

std::vector<Change> Changes(const std::vector<AssignmentRow>& before,
                            const std::vector<AssignmentRow>& now) {
  std::vector<Change> out;
  ForEachChange(before, now, "", [&](const Change& c) {
    out.push_back(c);
    return true;
  });
  return out;
}

void AppendChange(Encoding encoding, std::string* out, std::string_view country,
                  std::string_view therapy_area, const Change& change,
                  const Directives& directives) {
  const AssignmentRow* now = change.now;
  const AssignmentRow* before = change.before;
  const SegmentDirectives* found = now ? directives.Find(now->segment) : nullptr;
  const SegmentDirectives& d = found ? *found : kNone;
  if (encoding == Encoding::kJsonLines) {
    JsonObject o;
    if (now != nullptr) {
      AddDirectivesJson(&o, country, therapy_area, *now, d);
    } else {
      o.Add("customer_id", before->customer_id)
          .Add("country", country)
          .Add("therapy_area", therapy_area);
      // A customer who left: null for the directives columns after these three.
      for (std::string_view key : Columns(kDirectivesColumns, 3)) o.AddRaw(key, "null");
    }
    o.Add("change", ChangeKindName(change.kind));
    if (before != nullptr) {
      o.Add("prev_segment", before->segment)
          .Add("prev_tier", before->tier)
          .Add("prev_calls", before->calls)
          .Add("prev_remote", before->remote)
          .Add("prev_email", before->email)
          .Add("prev_events", before->events)
          .Add("prev_tags", before->tags)
          .Add("prev_plan_calls", before->plan_calls)
          .Add("prev_plan_remote", before->plan_remote)
          .Add("prev_plan_email", before->plan_email)
          .Add("prev_plan_events", before->plan_events);
    } else {
      // A customer who entered: null for the prev_* columns after `change`.
      for (std::string_view key : Columns(kPrevColumns, 0)) o.AddRaw(key, "null");
    }
    absl::StrAppend(out, o.str(), "\n");
    return;
  }
  std::vector<std::string_view> fields;
  fields.reserve(34);
  const AssignmentRow none;
  const AssignmentRow& r = now ? *now : none;
  const Number n[9] = {Number(r.calls),       Number(r.remote),           Number(r.email),
                       Number(r.events),      Number(r.rule_set_version), Number(r.plan_calls),
                       Number(r.plan_remote), Number(r.plan_email),       Number(r.plan_events)};
  if (now != nullptr) {
    DirectivesFields(country, therapy_area, *now, d, n, &fields);
  } else {
    fields.insert(fields.end(), {before->customer_id, country, therapy_area});
    fields.resize(22);
  }
  fields.push_back(ChangeKindName(change.kind));
  const AssignmentRow& p = before ? *before : none;
  const Number m[8] = {Number(p.calls),      Number(p.remote),     Number(p.email),
                       Number(p.events),     Number(p.plan_calls), Number(p.plan_remote),
                       Number(p.plan_email), Number(p.plan_events)};
  if (before != nullptr) {
    fields.insert(fields.end(),
                  {p.segment, p.tier, m[0].view(), m[1].view(), m[2].view(), m[3].view(), p.tags,
                   m[4].view(), m[5].view(), m[6].view(), m[7].view()});
  } else {
    fields.resize(fields.size() + 11);
  }
  csv::AppendRecord(out, fields);
}

absl::StatusOr<ExportedCycle> LoadCycle(store::Store& store, const std::string& country,
                                        const std::string& therapy_area,
                                        std::optional<int64_t> cycle_id) {
  HARMONIA_ASSIGN_OR_RETURN(std::optional<store::CycleRecord> cycle,
                            store.GetCycle(country, therapy_area, cycle_id));
  if (!cycle) {
    return absl::NotFoundError(cycle_id ? absl::StrCat("no cycle ", *cycle_id, " of ", country, " ",
                                                       therapy_area, " in the store")
                                        : absl::StrCat("no committed cycle of ", country, " ",
                                                       therapy_area, " in the store"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::optional<store::RuleSetRecord> record,
                            store.GetRuleSet(therapy_area, cycle->rule_set_version));
  if (!record) {
    return absl::InternalError(absl::StrCat("cycle ", cycle->cycle_id, " ran ", therapy_area, " v",
                                            cycle->rule_set_version,
                                            ", which the store no longer holds"));
  }
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> rules = cycle::CompileStored(*record);
  if (!rules.ok()) return absl::InternalError(rules.status().message());
  // The labels of the country file as the cycle used it.
  const std::optional<engine::CountryConfig> as_run = cycle::CountryAsRun(*cycle, **rules);
  ExportedCycle out;
  out.directives = Directives(**rules, as_run ? as_run->FindTherapyArea(therapy_area) : nullptr);
  HARMONIA_ASSIGN_OR_RETURN(out.rows, store.GetAssignments(cycle->cycle_id));
  out.cycle = std::move(*cycle);
  return out;
}

}  // namespace harmonia::delivery
