// Bridges std::string_view and absl::string_view.
//
// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own class: absl::StrCat, StrJoin and the
// heterogeneous lookup of flat_hash_map<std::string, …> do not accept a
// std::string_view. Wrap one in Sv() at those call sites.
#ifndef HARMONIA_COMMON_STRINGS_H_
#define HARMONIA_COMMON_STRINGS_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/text.h"

namespace harmonia {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// 'text' in single quotes, the way messages name ids and values: echoed
// within bounds and always valid UTF-8 (Echo, common/text.h).
inline std::string Quoted(std::string_view s) {
  std::string out = "'";
  out += Echo(s);
  out.push_back('\'');
  return out;
}

}  // namespace harmonia

#endif  // HARMONIA_COMMON_STRINGS_H_
