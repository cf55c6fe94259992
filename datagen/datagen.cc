#include "datagen/datagen.h"

namespace harmonia::datagen {

absl::Status Generate(const GenOptions&, const std::string&) {
  return absl::UnimplementedError("gen: not yet");
}

}  // namespace harmonia::datagen
