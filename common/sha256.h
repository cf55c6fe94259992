// SHA-256 (OpenSSL), as lowercase hex: token hashes, rule-set checksums and
// the audit log's hash chain.
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_COMMON_SHA256_H_
#define HARMONIA_COMMON_SHA256_H_

#include <string>
#include <string_view>

namespace harmonia {

// Lowercase hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

// Whether `s` is 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_SHA256_H_
