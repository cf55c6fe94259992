#include "common/text.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace harmonia {
namespace {

// The length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when
// the bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF). NUL is refused as well. (Written here rather than taken
// from a library: the packages the project builds with offer no public UTF-8
// validator — protobuf's is internal — and none reports the offending byte's
// position, which every message needs.)
size_t SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 == 0) return 0;
  if (b0 < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

size_t FirstNonTextByte(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path, 8 bytes at a time: no high bit and no zero byte.
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      const bool high = (w & 0x8080808080808080ULL) != 0;
      const bool zero = ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL) != 0;
      if (high || zero) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const size_t n = SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string WhyNotText(std::string_view s) {
  const size_t at = FirstNonTextByte(s);
  if (at == std::string_view::npos) return "";
  if (s[at] == '\0') return absl::StrCat("a NUL byte at position ", at + 1);
  return absl::StrFormat("not UTF-8 text: byte 0x%02X at position %d is not valid UTF-8",
                         static_cast<uint8_t>(s[at]), at + 1);
}

std::string Echo(std::string_view s, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 24);
  size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const size_t n = SequenceLength(s, i);
    if (n == 0) {
      absl::StrAppendFormat(&out, "\\x%02X", static_cast<uint8_t>(s[i]));
      ++i;
      continue;
    }
    if (i + n > max_bytes) break;  // keep whole characters only
    out.append(s.substr(i, n));
    i += n;
  }
  if (i < s.size()) absl::StrAppend(&out, "…(", s.size(), " bytes)");
  return out;
}

std::string FoldForSearch(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 'A' && c <= 'Z') {
      out[i] = static_cast<char>(c + 32);
    } else if (c == 0xC3 && i + 1 < out.size()) {
      // U+00C0–U+00DE except × (U+00D7) are C3 80–C3 9E; their small letters are C3 A0–C3 BE.
      const unsigned char next = static_cast<unsigned char>(out[i + 1]);
      if (next >= 0x80 && next <= 0x9E && next != 0x97) out[i + 1] = static_cast<char>(next + 32);
      ++i;
    }
  }
  return out;
}

}  // namespace harmonia
