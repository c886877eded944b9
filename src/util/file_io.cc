#include "util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

namespace kiln {

namespace {

std::string quoted(std::string_view what, const std::string& path) {
  return std::string(what) + " '" + path + "'";
}

Status openError(std::string_view what, const std::string& path, int err) {
  std::string m = "cannot open " + quoted(what, path) + ": " + std::strerror(err);
  return err == ENOENT || err == ENOTDIR ? notFound(std::move(m)) : ioError(std::move(m));
}

Status notRegular(std::string_view what, const std::string& path, mode_t mode) {
  return ioError(quoted(what, path) + " is " + fileKindName(mode) + ", not a regular file");
}

}  // namespace

const char* fileKindName(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "not a file";
  }
}

RegularFile::RegularFile(int fd, uint64_t size, std::string path, std::string what)
    : fd_(fd), size_(size), path_(std::move(path)), what_(std::move(what)) {}

RegularFile::RegularFile(RegularFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      path_(std::move(other.path_)),
      what_(std::move(other.what_)) {}

RegularFile& RegularFile::operator=(RegularFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    path_ = std::move(other.path_);
    what_ = std::move(other.what_);
  }
  return *this;
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<RegularFile> RegularFile::open(const std::string& path, std::string_view what) {
  // stat first so that a FIFO or device is never opened; then O_NONBLOCK and a second check on
  // the open descriptor cover a path swapped in between (opening a FIFO that way returns at
  // once instead of waiting for a writer).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return openError(what, path, errno);
  if (!S_ISREG(st.st_mode)) return notRegular(what, path, st.st_mode);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return openError(what, path, errno);
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ioError("cannot read the status of " + quoted(what, path) + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return notRegular(what, path, st.st_mode);
  }
  return RegularFile(fd, static_cast<uint64_t>(st.st_size), path, std::string(what));
}

Status RegularFile::readAt(uint64_t offset, void* dst, uint64_t n) const {
  if (offset > size_ || n > size_ - offset)
    return ioError(quoted(what_, path_) + " holds " + std::to_string(size_) + " bytes; reading " +
                   std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                   " would pass its end");
  auto* out = static_cast<char*>(dst);
  uint64_t done = 0;
  while (done < n) {
    // pread takes at most SSIZE_MAX bytes and off_t offsets; both fit since offset + n <= size.
    uint64_t chunk = std::min<uint64_t>(n - done, uint64_t{1} << 30);
    ssize_t r = ::pread(fd_, out + done, chunk, static_cast<off_t>(offset + done));
    if (r < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ioError("reading " + quoted(what_, path_) + " failed: " + std::strerror(err));
    }
    if (r == 0)
      return ioError(quoted(what_, path_) + " ended after " + std::to_string(offset + done) +
                     " bytes while being read (it shrank)");
    done += static_cast<uint64_t>(r);
  }
  return Status::ok();
}

Expected<std::string> readRegularFile(const std::string& path, std::string_view what,
                                      uint64_t maxBytes, std::string_view limitReason) {
  KILN_ASSIGN_OR_RETURN(RegularFile file, RegularFile::open(path, what));
  if (file.size() > maxBytes)
    return unsupported(quoted(what, path) + " is " + std::to_string(file.size()) +
                       " bytes, more than the limit of " + std::to_string(maxBytes) + " bytes" +
                       (limitReason.empty() ? "" : " (" + std::string(limitReason) + ")"));
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(file.size()));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "no memory to read " + quoted(what, path) + " (" +
                                                std::to_string(file.size()) + " bytes)");
  }
  KILN_RETURN_IF_ERROR(file.readAt(0, bytes.data(), bytes.size()));
  return bytes;
}

Status writeRegularFile(const std::string& path, std::string_view what, std::string_view bytes) {
  // No O_TRUNC at open: a device or FIFO found there is refused before anything is changed.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0666);
  if (fd < 0) {
    int err = errno;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      return notRegular(what, path, st.st_mode);
    return ioError("cannot open " + quoted(what, path) + " for writing: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return notRegular(what, path, st.st_mode);
  }
  auto failed = [&](const char* step) {
    int err = errno;
    ::close(fd);
    return ioError(std::string(step) + " " + quoted(what, path) + " failed: " + std::strerror(err));
  };
  if (::ftruncate(fd, 0) != 0) return failed("truncating");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return failed("writing");
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    return ioError("writing " + quoted(what, path) + " failed: " + std::strerror(err));
  }
  return Status::ok();
}

}  // namespace kiln
