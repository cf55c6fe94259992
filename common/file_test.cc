#include "common/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace harmonia {
namespace {

class FileTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "/harmonia_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    for (const std::string& name : List()) ::unlink((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }

  std::vector<std::string> List() const {
    std::vector<std::string> names;
    DIR* dir = ::opendir(dir_.c_str());
    if (dir == nullptr) return names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    return names;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(FileTest, MissingFileIsNotFound) {
  const std::string path = Path("missing.csv");
  const absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(file.status().message(), path + ": ")) << file.status();
  const absl::StatusOr<std::string> contents = ReadFileToString(path, 100);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(contents.status().message(), path + ": ")) << contents.status();
}

TEST_F(FileTest, DirectoryIsInvalidArgument) {
  const absl::StatusOr<MappedFile> file = MappedFile::Open(dir_);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file.status().message(), dir_ + ": is a directory");
  const absl::StatusOr<std::string> contents = ReadFileToString(dir_, 100);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(contents.status().message(), dir_ + ": is a directory");
}

TEST_F(FileTest, EmptyFile) {
  ASSERT_TRUE(WriteFileAtomically(Path("empty"), "").ok());
  const absl::StatusOr<MappedFile> file = MappedFile::Open(Path("empty"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->data(), "");
  const absl::StatusOr<std::string> contents = ReadFileToString(Path("empty"), 0);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "");
}

TEST_F(FileTest, WriteAtomicallyThenRead) {
  const std::string path = Path("data.csv");
  std::string big(3 << 20, 'x');  // several pages, several write() calls
  big[12345] = '\n';
  for (const std::string& contents : {std::string("id,name\n1,a\n"), big, std::string("v2")}) {
    ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
    const absl::StatusOr<MappedFile> file = MappedFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_TRUE(file->data() == contents);
    const absl::StatusOr<std::string> read = ReadFileToString(path, contents.size());
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == contents);
  }
  EXPECT_EQ(List(), std::vector<std::string>{"data.csv"});  // no temporary files left
}

TEST_F(FileTest, WriteIntoMissingDirectoryFails) {
  const std::string path = Path("no/such/dir/file");
  const absl::Status status = WriteFileAtomically(path, "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StartsWith(status.message(), path + ": ")) << status;
  EXPECT_TRUE(List().empty());
}

TEST_F(FileTest, ReadFileToStringEnforcesTheLimit) {
  ASSERT_TRUE(WriteFileAtomically(Path("ten"), "0123456789").ok());
  const absl::StatusOr<std::string> small = ReadFileToString(Path("ten"), 9);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(small.status().message(), Path("ten") + ": ")) << small.status();
  const absl::StatusOr<std::string> exact = ReadFileToString(Path("ten"), 10);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(*exact, "0123456789");
}

TEST_F(FileTest, ReadsPipes) {
  const std::string fifo = Path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd < 0) return;
    const std::string text = "a,b\n1,2\n";
    (void)!::write(fd, text.data(), text.size());
    ::close(fd);
  });
  absl::StatusOr<MappedFile> file = MappedFile::Open(fifo);
  writer.join();
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->data(), "a,b\n1,2\n");

  // A read (not mapped) file survives moves: its text may be stored inline.
  MappedFile moved = std::move(*file);
  EXPECT_EQ(moved.data(), "a,b\n1,2\n");
}

TEST_F(FileTest, MappedFilesSurviveMoves) {
  ASSERT_TRUE(WriteFileAtomically(Path("a"), "first").ok());
  ASSERT_TRUE(WriteFileAtomically(Path("b"), "second").ok());
  absl::StatusOr<MappedFile> a = MappedFile::Open(Path("a"));
  absl::StatusOr<MappedFile> b = MappedFile::Open(Path("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  MappedFile moved(std::move(*a));
  EXPECT_EQ(moved.data(), "first");
  moved = std::move(*b);  // unmaps "first"
  EXPECT_EQ(moved.data(), "second");
}

TEST_F(FileTest, WritingToADeviceWritesInPlaceAndKeepsTheDevice) {
  struct stat before;
  ASSERT_EQ(::stat("/dev/null", &before), 0);
  ASSERT_TRUE(WriteFileAtomically("/dev/null", "discarded\n").ok());
  struct stat after;
  ASSERT_EQ(::stat("/dev/null", &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode)) << "/dev/null must still be a device";
  EXPECT_EQ(before.st_rdev, after.st_rdev);
}

}  // namespace
}  // namespace harmonia
