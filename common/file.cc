#include "common/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace harmonia {
namespace {

// "path: what: strerror", with the code errno implies (ENOENT -> NotFound...).
absl::Status ErrnoError(int error_number, const std::string& path, absl::string_view what) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(path, ": ", what));
}

// Closes the descriptor on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close() may carry (e.g. a failed write-back).
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

absl::StatusOr<int> OpenForReading(const std::string& path, struct stat* st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path, "cannot open");
  if (::fstat(fd, st) != 0) {
    const int saved = errno;
    ::close(fd);
    return ErrnoError(saved, path, "cannot stat");
  }
  if (S_ISDIR(st->st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  return fd;
}

// Appends the rest of `fd` to `out`; fails once `out` would exceed `max_bytes`.
absl::Status ReadAll(int fd, const std::string& path, size_t max_bytes, std::string* out) {
  char buffer[64 << 10];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) return absl::OkStatus();
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "read failed");
    }
    if (static_cast<size_t>(n) > max_bytes - out->size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": file is larger than the limit of ", max_bytes, " bytes"));
    }
    out->append(buffer, static_cast<size_t>(n));
  }
}

absl::Status WriteAll(int fd, const std::string& path, std::string_view contents) {
  while (!contents.empty()) {
    const ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "write failed");
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  struct stat st;
  absl::StatusOr<int> fd_or = OpenForReading(path, &st);
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  MappedFile file;
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    const size_t size = static_cast<size_t>(st.st_size);
    void* const addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
    if (addr == MAP_FAILED) return ErrnoError(errno, path, "mmap failed");
    file.data_ = static_cast<const char*>(addr);
    file.size_ = size;
    file.mapped_ = true;
    return file;
  }
  // Pipes, character devices, empty files (and /proc files, which claim to be).
  absl::Status status = ReadAll(fd.get(), path, file.owned_.max_size(), &file.owned_);
  if (!status.ok()) return status;
  file.data_ = file.owned_.data();
  file.size_ = file.owned_.size();
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this == &other) return *this;
  if (mapped_) ::munmap(const_cast<char*>(data_), size_);
  mapped_ = std::exchange(other.mapped_, false);
  size_ = std::exchange(other.size_, 0);
  owned_ = std::move(other.owned_);
  // A moved string may live at a new address (small-string buffer).
  data_ = mapped_ ? other.data_ : owned_.data();
  other.data_ = nullptr;
  other.owned_.clear();
  return *this;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<char*>(data_), size_);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  struct stat st;
  absl::StatusOr<int> fd_or = OpenForReading(path, &st);
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  std::string contents;
  if (S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": file is ", st.st_size,
                                                     " bytes, larger than the limit of ", max_bytes,
                                                     " bytes"));
    }
    contents.reserve(static_cast<size_t>(st.st_size));
  }
  absl::Status status = ReadAll(fd.get(), path, max_bytes, &contents);
  if (!status.ok()) return status;
  return contents;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  // A device, pipe or socket (/dev/stdout, /dev/null, a FIFO) is written in
  // place: renaming a temporary file over it would replace the device itself.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode))
      return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
    Fd out(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (out.get() < 0) return ErrnoError(errno, path, "cannot open for writing");
    HARMONIA_RETURN_IF_ERROR(WriteAll(out.get(), path, contents));
    if (out.Close() != 0) return ErrnoError(errno, path, "close failed");
    return absl::OkStatus();
  }
  // A name unique within this process, and O_EXCL against other processes.
  static std::atomic<uint64_t> counter{0};
  std::string temp;
  int raw_fd = -1;
  for (int attempt = 0; raw_fd < 0; ++attempt) {
    temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
    raw_fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw_fd < 0 && (errno != EEXIST || attempt >= 100)) {
      return ErrnoError(errno, path, absl::StrCat("cannot create temporary file ", temp));
    }
  }
  Fd fd(raw_fd);
  absl::Status status = WriteAll(fd.get(), path, contents);
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoError(errno, path, "fsync failed");
  if (fd.Close() != 0 && status.ok()) status = ErrnoError(errno, path, "close failed");
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, path, "rename failed");
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  // Make the rename itself durable.
  const std::string dir = DirectoryOf(path);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return ErrnoError(errno, path, absl::StrCat("cannot open directory ", dir));
  if (::fsync(dir_fd.get()) != 0) return ErrnoError(errno, path, "fsync of directory failed");
  return absl::OkStatus();
}

}  // namespace harmonia
