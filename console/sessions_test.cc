#include "console/internal/sessions.h"

#include <gtest/gtest.h>

namespace harmonia::console {
namespace {

TEST(Sessions, EndWhenIdleWhenTooOldOrSignedOut) {
  Sessions sessions(absl::Minutes(30), absl::Hours(12));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const std::string id = sessions.Create({.token = "tok", .principal = "anna"}, t0);
  EXPECT_EQ(id.size(), 43u) << "32 random bytes, base64url";
  EXPECT_NE(sessions.Create({.token = "tok"}, t0), id);

  std::optional<Session> s = sessions.Use(id, t0 + absl::Minutes(29));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->token, "tok");
  EXPECT_EQ(s->principal, "anna");
  // Each use restarts the idle clock, up to the absolute limit.
  for (int h = 0; h < 23; ++h) {
    ASSERT_TRUE(sessions.Use(id, t0 + absl::Minutes(29 + 25 * (h + 1))).has_value()) << h;
  }
  EXPECT_FALSE(sessions.Use(id, t0 + absl::Hours(12)).has_value()) << "absolute expiry";
  EXPECT_FALSE(sessions.Use(id, t0 + absl::Minutes(1)).has_value())
      << "an ended session stays ended";

  const std::string peeked = sessions.Create({.token = "p"}, t0);
  ASSERT_TRUE(sessions.Peek(peeked, t0 + absl::Minutes(20)).has_value());
  EXPECT_FALSE(sessions.Use(peeked, t0 + absl::Minutes(31)).has_value())
      << "a peek does not restart the idle clock";

  const std::string idle = sessions.Create({.token = "x"}, t0);
  EXPECT_FALSE(sessions.Use(idle, t0 + absl::Minutes(30)).has_value()) << "idle expiry";

  const std::string out = sessions.Create({.token = "y"}, t0);
  sessions.End(out);
  EXPECT_FALSE(sessions.Use(out, t0).has_value()) << "signed out";
  EXPECT_FALSE(sessions.Use("guess", t0).has_value());
}

}  // namespace
}  // namespace harmonia::console
