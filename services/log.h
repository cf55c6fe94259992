// Structured logs for the daemons: one JSON object per line on stderr,
//   {"ts":"2026-11-24T23:40:01.123Z","level":"info","event":"listening",…}
// so operators can grep and ship them. Thread-safe: lines never interleave.
#ifndef HARMONIA_SERVICES_LOG_H_
#define HARMONIA_SERVICES_LOG_H_

#include <string_view>

#include "common/json.h"

namespace harmonia::services {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, std::string_view event, const JsonObject& fields = JsonObject());

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_LOG_H_
