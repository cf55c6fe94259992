#include "console/internal/gateway.h"

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "harmonia/v1/country.pb.h"
#include "harmonia/v1/rules.pb.h"

namespace harmonia::console {
namespace {

using google::protobuf::Message;

const Message& Prototype(const google::protobuf::Descriptor* d) {
  return *google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
}

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
}

// A bearer token travels in gRPC metadata, which takes printable ASCII only.
bool TokenIsWellFormed(const std::string& token) {
  if (token.empty() || token.size() > 4096) return false;
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

void Authorize(grpc::ClientContext* ctx, const std::string& token, absl::Duration timeout) {
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(Deadline(timeout));
}

std::string ToJson(const Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;  // as the CLI's --json and the HTTP report
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a well-formed message cannot fail; an empty object is the
  // safe answer if it ever does.
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) out = "{}";
  return out;
}

using GenericStub = grpc::TemplatedGenericStub<Message, Message>;

// A unary call on the generic stub, waited for (the HTTP server gives each
// request its own thread).
grpc::Status BlockingUnary(GenericStub& stub, grpc::ClientContext* ctx, const std::string& path,
                           const Message& request, Message* response) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(ctx, path, grpc::StubOptions(), &request, response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(const Upstreams& upstreams) {
  std::unique_ptr<Gateway> g(new Gateway());
  // Referencing a message of each file links its descriptors in.
  const google::protobuf::ServiceDescriptor* services[] = {
      v1::WhoAmIRequest::descriptor()->file()->FindServiceByName("RulesService"),
      v1::RunCycleRequest::descriptor()->file()->FindServiceByName("CountryService")};
  for (const google::protobuf::ServiceDescriptor* s : services) {
    for (int i = 0; i < s->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = s->method(i);
      if (m->client_streaming()) continue;  // Connect over HTTP/1.1 has no client streams
      Method method{.descriptor = m,
                    .path = absl::StrCat("/", s->full_name(), "/", m->name()),
                    .country_routed = s->name() == "CountryService",
                    .server_streaming = m->server_streaming()};
      g->methods_.emplace(absl::StrCat(s->full_name(), "/", m->name()), std::move(method));
    }
  }
  if (upstreams.rules.empty()) return absl::InvalidArgumentError("--rules-server: required");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> rules =
      services::MakeChannel(upstreams.rules, upstreams.tls);
  if (!rules.ok()) return rules.status();
  g->rules_ = std::make_unique<Stub>(*rules);
  for (const auto& [country, address] : upstreams.workers) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        services::MakeChannel(address, upstreams.tls);
    if (!channel.ok()) return channel.status();
    g->workers_.emplace(country, std::make_unique<Stub>(*channel));
  }
  return g;
}

const Method* Gateway::Find(std::string_view service_and_method) const {
  auto it = methods_.find(service_and_method);
  return it == methods_.end() ? nullptr : &it->second;
}

grpc::Status Gateway::Prepare(const Method& method, std::string_view json, const std::string& token,
                              std::unique_ptr<Message>* request, Stub** stub) const {
  if (!TokenIsWellFormed(token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "malformed token");
  }
  request->reset(Prototype(method.descriptor->input_type()).New());
  const std::string_view body = json.empty() ? std::string_view("{}") : json;
  google::protobuf::util::JsonParseOptions options;  // unknown fields are errors
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), request->get(), options);
  if (!parsed.ok()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the request body is not a ", method.descriptor->input_type()->full_name(),
                     ": ", Sv(std::string_view(parsed.message().data(), parsed.message().size()))));
  }
  if (!method.country_routed) {
    *stub = rules_.get();
    return grpc::Status::OK;
  }
  const google::protobuf::FieldDescriptor* field =
      method.descriptor->input_type()->FindFieldByName("country");
  const std::string country =
      field == nullptr ? "" : (*request)->GetReflection()->GetString(**request, field);
  if (country.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "country: required (the country whose worker serves the request)");
  }
  auto it = workers_.find(country);
  if (it == workers_.end()) it = workers_.find("*");
  if (it == workers_.end()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no worker serves country ", Quoted(country), " behind this console"));
  }
  *stub = it->second.get();
  return grpc::Status::OK;
}

grpc::Status Gateway::Unary(const Method& method, std::string_view json, const std::string& token,
                            absl::Duration timeout, std::string* response_json) const {
  std::unique_ptr<Message> request;
  Stub* stub = nullptr;
  grpc::Status status = Prepare(method, json, token, &request, &stub);
  if (!status.ok()) return status;
  std::unique_ptr<Message> response(Prototype(method.descriptor->output_type()).New());
  grpc::ClientContext ctx;
  Authorize(&ctx, token, timeout);
  status = BlockingUnary(*stub, &ctx, method.path, *request, response.get());
  if (status.ok()) *response_json = ToJson(*response);
  return status;
}

namespace {

// One server-streaming call on the generic stub, driven through its own
// completion queue one operation at a time, so each Next() of the queue
// answers the operation just started.
class GenericStream final : public Gateway::Stream {
 public:
  GenericStream(const google::protobuf::Descriptor* output, const std::string& token,
                absl::Duration timeout)
      : output_(output) {
    Authorize(&ctx_, token, timeout);
  }
  ~GenericStream() override {
    if (call_ != nullptr && !finished_) {
      ctx_.TryCancel();
      Finish();
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool Start(GenericStub& stub, const std::string& path, const Message& request) {
    call_ = stub.PrepareCall(&ctx_, path, &cq_);
    call_->StartCall(nullptr);
    open_ = Wait();
    if (open_) {
      call_->Write(request, nullptr);
      open_ = Wait();
    }
    if (open_) {
      call_->WritesDone(nullptr);
      open_ = Wait();
    }
    return open_;
  }

  bool Next(std::string* json) override {
    if (!open_) return false;
    std::unique_ptr<Message> message(Prototype(output_).New());
    call_->Read(message.get(), nullptr);
    open_ = Wait();
    if (open_) *json = ToJson(*message);
    return open_;
  }

  grpc::Status Finish() override {
    if (!finished_) {
      call_->Finish(&status_, nullptr);
      void* tag;
      bool ok;
      cq_.Next(&tag, &ok);
      finished_ = true;
    }
    return status_;
  }

  void Cancel() override { ctx_.TryCancel(); }

 private:
  bool Wait() {
    void* tag;
    bool ok = false;
    return cq_.Next(&tag, &ok) && ok;
  }

  const google::protobuf::Descriptor* output_;
  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<Message, Message>> call_;
  bool open_ = false;
  bool finished_ = false;
  grpc::Status status_;
};

}  // namespace

grpc::Status Gateway::OpenStream(const Method& method, std::string_view json,
                                 const std::string& token, absl::Duration timeout,
                                 std::unique_ptr<Stream>* stream) const {
  std::unique_ptr<Message> request;
  Stub* stub = nullptr;
  grpc::Status status = Prepare(method, json, token, &request, &stub);
  if (!status.ok()) return status;
  auto s = std::make_unique<GenericStream>(method.descriptor->output_type(), token, timeout);
  s->Start(*stub, method.path, *request);  // a failed start shows in Next() and Finish()
  *stream = std::move(s);
  return grpc::Status::OK;
}

grpc::Status Gateway::WhoAmI(const std::string& token, absl::Duration timeout,
                             std::string* principal, std::vector<std::string>* roles) const {
  if (!TokenIsWellFormed(token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "malformed token");
  }
  v1::WhoAmIRequest request;
  v1::WhoAmIResponse response;
  grpc::ClientContext ctx;
  Authorize(&ctx, token, timeout);
  const grpc::Status status =
      BlockingUnary(*rules_, &ctx, "/harmonia.v1.RulesService/WhoAmI", request, &response);
  if (status.ok()) {
    *principal = response.principal();
    roles->assign(response.roles().begin(), response.roles().end());
  }
  return status;
}

}  // namespace harmonia::console
