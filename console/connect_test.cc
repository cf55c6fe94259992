#include "console/internal/connect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/rpc/status.pb.h"
#include "harmonia/v1/common.pb.h"

namespace harmonia::console {
namespace {

using ::testing::HasSubstr;

TEST(Connect, CodesMapToTheProtocolsHttpStatuses) {
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::ABORTED), 409);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(ConnectCodeName(grpc::StatusCode::PERMISSION_DENIED), "permission_denied");
  EXPECT_EQ(ConnectCodeName(grpc::StatusCode::CANCELLED), "canceled");
}

TEST(Connect, ErrorsCarryTheStatusDetailsAsTypeValueAndDebug) {
  EXPECT_EQ(ConnectErrorJson(grpc::Status(grpc::StatusCode::NOT_FOUND, "no \"x\"")),
            R"({"code":"not_found","message":"no \"x\""})");

  v1::IssueList issues;
  v1::Issue* issue = issues.add_issues();
  issue->set_file("r.yaml");
  issue->set_line(48);
  issue->set_message("unknown 'maybe'");
  google::rpc::Status rich;
  rich.add_details()->PackFrom(issues);
  const std::string json = ConnectErrorJson(
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad rule set", rich.SerializeAsString()));
  EXPECT_THAT(json, HasSubstr(R"("code":"invalid_argument")"));
  EXPECT_THAT(json, HasSubstr(R"("type":"harmonia.v1.IssueList")"));
  EXPECT_THAT(json, HasSubstr(R"("debug":{"issues":[{"file":"r.yaml","line":48)"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("=\""))) << "base64 without padding";
}

TEST(Connect, EnvelopesFrameStreamsBothWays) {
  const std::string e = Envelope(0, "{\"a\":1}");
  ASSERT_EQ(e.size(), 5u + 7u);
  EXPECT_EQ(e[4], 7);
  EXPECT_EQ(OpenSingleEnvelope(e), std::optional<std::string_view>("{\"a\":1}"));
  EXPECT_FALSE(OpenSingleEnvelope("{\"a\":1}").has_value()) << "a bare body";
  EXPECT_FALSE(OpenSingleEnvelope(e + e).has_value()) << "two messages";
  EXPECT_FALSE(OpenSingleEnvelope(Envelope(1, "x")).has_value()) << "compressed";
  EXPECT_EQ(EndOfStream(grpc::Status::OK), Envelope(kEndOfStream, "{}"));
  EXPECT_THAT(EndOfStream(grpc::Status(grpc::StatusCode::ABORTED, "busy")),
              HasSubstr(R"({"error":{"code":"aborted","message":"busy"}})"));
}

}  // namespace
}  // namespace harmonia::console
