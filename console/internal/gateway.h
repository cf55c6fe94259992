// The generic forwarder: a Connect call (a method path and a JSON body)
// becomes a gRPC call to the rules service or to the worker serving the
// request's country, with the caller's own bearer token, and its answer
// becomes JSON again. It knows every method from the compiled descriptors of
// harmonia.v1.RulesService and harmonia.v1.CountryService, so there is no
// code per method and no business rule here: the services decide everything.
//
// Thread-safety: a Gateway is immutable after Create; calls run
// concurrently.
#ifndef HARMONIA_CONSOLE_INTERNAL_GATEWAY_H_
#define HARMONIA_CONSOLE_INTERNAL_GATEWAY_H_

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>  // SerializationTraits for protobuf::Message

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "console/console.h"

namespace harmonia::console {

// One method the console exposes.
struct Method {
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  std::string path;             // "/harmonia.v1.CountryService/ListCycles", as gRPC names it
  bool country_routed = false;  // CountryService: goes to the request's country's worker
  bool server_streaming = false;
};

class Gateway {
 public:
  // Channels are created here (they connect lazily). InvalidArgument naming
  // the flag for an address or certificate that cannot be used.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(const Upstreams& upstreams);

  // The method at "harmonia.v1.<Service>/<Method>", or nullptr when the
  // console does not expose it (another service, a client stream).
  const Method* Find(std::string_view service_and_method) const;

  // One unary call: `json` is the request in protobuf's JSON mapping (an
  // empty body is {}); on OK, *response_json is the answer (proto field
  // names, every field printed). A body that is not the request message is
  // INVALID_ARGUMENT naming what is wrong, and nothing is forwarded.
  grpc::Status Unary(const Method& method, std::string_view json, const std::string& token,
                     absl::Duration timeout, std::string* response_json) const;

  // A server stream in progress. Next() gives each message as JSON until the
  // call ends (false); then Finish() gives its status. Cancel() ends it early
  // (the client went away). One thread at a time.
  class Stream {
   public:
    virtual ~Stream() = default;
    virtual bool Next(std::string* json) = 0;
    virtual grpc::Status Finish() = 0;
    virtual void Cancel() = 0;
  };
  // Starts a server stream. A request that cannot go (a bad body, no
  // worker) is the status, and nothing is forwarded.
  grpc::Status OpenStream(const Method& method, std::string_view json, const std::string& token,
                          absl::Duration timeout, std::unique_ptr<Stream>* stream) const;

  // Who the token belongs to (RulesService.WhoAmI): its principal and roles.
  grpc::Status WhoAmI(const std::string& token, absl::Duration timeout, std::string* principal,
                      std::vector<std::string>* roles) const;

  const std::map<std::string, Method, std::less<>>& methods() const { return methods_; }

 private:
  using Stub = grpc::TemplatedGenericStub<google::protobuf::Message, google::protobuf::Message>;
  Gateway() = default;
  // The token checked, the request parsed from JSON, and the stub of the
  // upstream it goes to.
  grpc::Status Prepare(const Method& method, std::string_view json, const std::string& token,
                       std::unique_ptr<google::protobuf::Message>* request, Stub** stub) const;

  std::map<std::string, Method, std::less<>> methods_;  // "harmonia.v1.Service/Method" → method
  std::unique_ptr<Stub> rules_;
  std::map<std::string, std::unique_ptr<Stub>> workers_;  // country → stub
};

}  // namespace harmonia::console

#endif  // HARMONIA_CONSOLE_INTERNAL_GATEWAY_H_
