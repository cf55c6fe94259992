#include "services/log.h"

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace harmonia::services {

void Log(LogLevel level, std::string_view event, const JsonObject& fields) {
  static std::mutex mu;
  const char* name = level == LogLevel::kInfo      ? "info"
                     : level == LogLevel::kWarning ? "warning"
                                                   : "error";
  std::string line = "{\"ts\":";
  line += JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":\"";
  line += name;
  line += "\",\"event\":";
  line += JsonString(event);
  if (!fields.empty()) {
    const std::string rest = fields.str();
    line += ",";
    line.append(rest, 1, rest.size() - 2);
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(mu);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace harmonia::services
