// A small JSON writer for flat and nested objects (RFC 8259).
//
// The store keeps quality figures and audit before/after states as JSON
// text. Writing is all it needs: protobuf's JSON printer wants a message type
// for every shape, and no JSON library is among the project's dependencies,
// so this is the few lines of escaping that writing takes.
//
//   JsonObject o;
//   o.Add("status", "applied").Add("cycles", 2);
//   o.str()  // {"status":"applied","cycles":2}
#ifndef HARMONIA_COMMON_JSON_H_
#define HARMONIA_COMMON_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace harmonia {

// `s` as a JSON string literal, quotes included. Bytes that are not valid
// UTF-8 are written as U+FFFD, so the result is always valid JSON.
std::string JsonString(std::string_view s);

class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, int64_t value);
  JsonObject& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  JsonObject& Add(std::string_view key, double value);  // NaN / infinity → null
  JsonObject& Add(std::string_view key, bool value);
  JsonObject& Add(std::string_view key, const JsonObject& value);
  // `json` must be a JSON value already (an array built by the caller, say).
  JsonObject& AddRaw(std::string_view key, std::string_view json);

  bool empty() const { return body_.empty(); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(std::string_view key);
  std::string body_;
};

}  // namespace harmonia

#endif  // HARMONIA_COMMON_JSON_H_
