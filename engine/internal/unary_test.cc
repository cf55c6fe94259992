#include "engine/internal/unary_test.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace harmonia::engine::internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Up(double v) { return std::nextafter(v, kInf); }
double Down(double v) { return std::nextafter(v, -kInf); }

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

class Parser {
 public:
  Parser(std::string_view text, const ColumnInfo& column) : text_(text), column_(column) {}

  bool Parse(bool* any, std::vector<Interval>* out, UnaryTestError* error) {
    error_ = error;
    SkipSpace();
    if (pos_ == text_.size()) return Fail(0, "empty test; write '-' for anything");
    if (text_[pos_] == '-' && RestIsSpace(pos_ + 1)) {
      *any = true;
      return true;
    }
    *any = false;
    bool negated = false;
    size_t end = text_.size();
    if (text_.substr(pos_, 4) == "not(") {
      negated = true;
      pos_ += 4;
      size_t close = text_.find_last_of(')');
      if (close == std::string_view::npos || close < pos_ || !RestIsSpace(close + 1)) {
        return Fail(text_.size(), "expected ')' closing not(");
      }
      end = close;
    }
    std::vector<Interval> intervals;
    if (!ParseList(end, &intervals)) return false;
    intervals = NormalizeIntervals(std::move(intervals));
    *out = negated ? Complement(intervals) : intervals;
    return true;
  }

 private:
  bool Fail(size_t offset, std::string message) {
    error_->offset = static_cast<int>(offset);
    error_->message = std::move(message);
    return false;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool RestIsSpace(size_t from) const {
    for (size_t i = from; i < text_.size(); ++i) {
      if (!IsSpace(text_[i])) return false;
    }
    return true;
  }

  // list := item (',' item)*, up to `end`.
  bool ParseList(size_t end, std::vector<Interval>* out) {
    while (true) {
      SkipSpace();
      if (pos_ >= end) return Fail(pos_, "expected a value after ','");
      if (!ParseItem(end, out)) return false;
      SkipSpace();
      if (pos_ >= end) return true;
      if (text_[pos_] != ',') return Fail(pos_, "expected ',' between values");
      ++pos_;
    }
  }

  bool ParseItem(size_t end, std::vector<Interval>* out) {
    const size_t start = pos_;
    const char c = text_[pos_];
    if (c == '<' || c == '>') {
      if (column_.kind != ColumnKind::kNumeric) {
        return Fail(start, absl::StrCat("comparisons are not allowed on ", column_.type_name, " '",
                                        column_.id, "'; ", ListHint()));
      }
      std::string op(1, c);
      ++pos_;
      if (pos_ < end && text_[pos_] == '=') {
        op += '=';
        ++pos_;
      }
      SkipSpace();
      double v;
      if (!ParseNumber(end, &v)) return false;
      if (op == "<") out->push_back({-kInf, Down(v)});
      if (op == "<=") out->push_back({-kInf, v});
      if (op == ">") out->push_back({Up(v), kInf});
      if (op == ">=") out->push_back({v, kInf});
      return true;
    }
    if (c == '[' || c == '(' || c == ']') {
      if (column_.kind != ColumnKind::kNumeric) {
        return Fail(start, absl::StrCat("ranges are not allowed on ", column_.type_name, " '",
                                        column_.id, "'; ", ListHint()));
      }
      const bool lo_incl = c == '[';
      ++pos_;
      SkipSpace();
      double lo, hi;
      if (!ParseNumber(end, &lo)) return false;
      SkipSpace();
      if (text_.substr(pos_, 2) != "..") return Fail(pos_, "expected '..' in range");
      pos_ += 2;
      SkipSpace();
      if (!ParseNumber(end, &hi)) return false;
      SkipSpace();
      if (pos_ >= end || (text_[pos_] != ']' && text_[pos_] != ')' && text_[pos_] != '[')) {
        return Fail(pos_, "expected ']' or ')' closing the range");
      }
      const bool hi_incl = text_[pos_] == ']';
      ++pos_;
      Interval iv{lo_incl ? lo : Up(lo), hi_incl ? hi : Down(hi)};
      if (iv.lo > iv.hi) return Fail(start, "empty range: the low end is above the high end");
      out->push_back(iv);
      return true;
    }
    // A literal: quoted string, or a bare token up to ',' / end.
    std::string literal;
    bool quoted = false;
    if (c == '"') {
      quoted = true;
      size_t close = text_.find('"', pos_ + 1);
      if (close == std::string_view::npos || close >= end) {
        return Fail(start, "unterminated string literal");
      }
      literal = std::string(text_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
    } else {
      size_t stop = pos_;
      while (stop < end && text_[stop] != ',') ++stop;
      size_t trim = stop;
      while (trim > pos_ && IsSpace(text_[trim - 1])) --trim;
      literal = std::string(text_.substr(pos_, trim - pos_));
      pos_ = stop;
    }
    return AddLiteral(start, literal, quoted, out);
  }

  bool AddLiteral(size_t start, const std::string& literal, bool quoted,
                  std::vector<Interval>* out) {
    switch (column_.kind) {
      case ColumnKind::kChoice: {
        auto it = std::find(column_.options.begin(), column_.options.end(), literal);
        if (it == column_.options.end()) {
          return Fail(start,
                      absl::StrCat("'", literal, "' is not an option of ", column_.id,
                                   "; expected one of: ", absl::StrJoin(column_.options, ", ")));
        }
        const double idx = static_cast<double>(it - column_.options.begin());
        out->push_back({idx, idx});
        return true;
      }
      case ColumnKind::kBoolean:
        if (!quoted && literal == "true") {
          out->push_back({1, 1});
          return true;
        }
        if (!quoted && literal == "false") {
          out->push_back({0, 0});
          return true;
        }
        return Fail(start, absl::StrCat("expected true or false for boolean '", column_.id,
                                        "', got '", literal, "'"));
      case ColumnKind::kNumeric: {
        double v;
        if (quoted || !ToNumber(literal, &v)) {
          return Fail(start, absl::StrCat("expected a number for ", column_.type_name, " '",
                                          column_.id, "', got '", literal, "'"));
        }
        out->push_back({v, v});
        return true;
      }
    }
    return false;
  }

  static bool ToNumber(std::string_view s, double* v) {
    if (s.empty() || s[0] == '+') return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*v);
  }

  bool ParseNumber(size_t end, double* v) {
    const size_t start = pos_;
    while (pos_ < end && (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
                          text_[pos_] == '-' || text_[pos_] == 'e' || text_[pos_] == 'E' ||
                          (text_[pos_] == '.' && text_.substr(pos_, 2) != ".."))) {
      ++pos_;
    }
    if (!ToNumber(text_.substr(start, pos_ - start), v)) {
      size_t token_end = start;
      while (token_end < end && !IsSpace(text_[token_end]) && text_[token_end] != ',' &&
             text_[token_end] != ')' && text_[token_end] != ']' && text_[token_end] != '[' &&
             text_.substr(token_end, 2) != "..") {
        ++token_end;
      }
      if (token_end == start && start < end) ++token_end;
      return Fail(start, absl::StrCat("expected a number, got '",
                                      std::string(text_.substr(start, token_end - start)), "'"));
    }
    return true;
  }

  std::string ListHint() const {
    if (column_.kind == ColumnKind::kChoice) {
      return absl::StrCat("list the options instead, e.g. '",
                          column_.options.empty() ? "a" : column_.options[0], "'");
    }
    return "write true or false";
  }

  static std::vector<Interval> Complement(const std::vector<Interval>& in) {
    std::vector<Interval> out;
    double next_lo = -kInf;
    bool open_low = true;  // next_lo is -inf and still available
    for (const Interval& iv : in) {
      if (iv.lo > next_lo || (open_low && iv.lo != -kInf)) {
        out.push_back({next_lo, Down(iv.lo)});
      }
      open_low = false;
      if (iv.hi == kInf) return out;
      next_lo = Up(iv.hi);
    }
    out.push_back({next_lo, kInf});
    return out;
  }

  std::string_view text_;
  const ColumnInfo& column_;
  size_t pos_ = 0;
  UnaryTestError* error_ = nullptr;
};

}  // namespace

std::vector<Interval> NormalizeIntervals(std::vector<Interval> in) {
  std::sort(in.begin(), in.end(), [](const Interval& a, const Interval& b) { return a.lo < b.lo; });
  std::vector<Interval> out;
  for (const Interval& iv : in) {
    if (!out.empty() && (iv.lo <= out.back().hi || iv.lo == Up(out.back().hi))) {
      out.back().hi = std::max(out.back().hi, iv.hi);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}

bool IntervalsContain(const std::vector<Interval>& outer, const std::vector<Interval>& inner) {
  for (const Interval& iv : inner) {
    bool inside = false;
    for (const Interval& o : outer) {
      if (o.lo <= iv.lo && iv.hi <= o.hi) {
        inside = true;
        break;
      }
    }
    if (!inside) return false;
  }
  return true;
}

bool IntervalsIntersect(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  for (const Interval& x : a) {
    for (const Interval& y : b) {
      if (x.lo <= y.hi && y.lo <= x.hi) return true;
    }
  }
  return false;
}

bool CompileUnaryTest(std::string_view text, const ColumnInfo& column, bool* any,
                      std::vector<Interval>* intervals, UnaryTestError* error) {
  Parser parser(text, column);
  return parser.Parse(any, intervals, error);
}

}  // namespace harmonia::engine::internal
