// Text as Harmonia takes it: UTF-8 without NUL bytes, in files, API strings
// and the tokens file alike (docs/api.md "Text"). Anything else is refused at
// the entry, with its position, and never stored.
//
// Also: how messages echo user text (Echo), bounded so a hostile value can
// neither blow up an error (gRPC's metadata limit) nor a log line.
//
// Thread-safety: pure functions.
#ifndef HARMONIA_COMMON_TEXT_H_
#define HARMONIA_COMMON_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace harmonia {

// The offset of the first byte of `s` that is not part of valid UTF-8 text
// (an invalid, overlong, surrogate or truncated sequence, a code point above
// U+10FFFF, or a NUL byte); std::string_view::npos when `s` is text.
size_t FirstNonTextByte(std::string_view s);

inline bool IsText(std::string_view s) { return FirstNonTextByte(s) == std::string_view::npos; }

// Why `s` is not text, naming the byte and its 1-based position ("not UTF-8
// text: byte 0xE9 at position 4 is not valid UTF-8", "a NUL byte at position
// 2"); empty when it is text.
std::string WhyNotText(std::string_view s);

// The most bytes of one value a message echoes.
inline constexpr size_t kMaxEcho = 64;

// `s` as a message may show it: invalid bytes and NUL as \xNN, and cut after
// `max_bytes` (at a character boundary) with "…" and the full size, so the
// result is always valid UTF-8 of bounded length.
std::string Echo(std::string_view s, size_t max_bytes = kMaxEcho);

// `s` folded for a search box: ASCII letters and the Latin-1 capitals À–Þ
// (Ä, Ö, Ü, É, Ñ…) in lower case, everything else as it is. Enough for the
// names of Europe's markets without a Unicode library (ICU is not among the
// project's dependencies); other scripts match exactly.
std::string FoldForSearch(std::string_view s);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_TEXT_H_
