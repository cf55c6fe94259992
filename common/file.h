// Reading and writing whole files.
#ifndef HARMONIA_COMMON_FILE_H_
#define HARMONIA_COMMON_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace harmonia {

// A read-only view of a whole file, memory-mapped (or read, for pipes and
// empty files). Move-only; unmaps on destruction.
class MappedFile {
 public:
  // NotFound when the file does not exist; InvalidArgument for a directory;
  // other errors as reported by the OS. Messages name the path first.
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view data() const { return {data_, size_}; }

 private:
  MappedFile() = default;
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::string owned_;  // used instead of a mapping for non-regular files
};

// Reads a whole file into a string, failing (InvalidArgument) when it is
// larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

// Writes `contents` to `path` atomically: a temporary file in the same
// directory, fsync, then rename over the target.
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_FILE_H_
