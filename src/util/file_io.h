// kiln — reading and writing whole files, the one way every stage does it (importer, tensor
// files, plan reader, CLI).
//
// Files come from users and attackers alike: a path may name a directory, a FIFO (which would
// block a plain open), a device (/dev/zero never ends) or a file too large to hold. Each is
// refused before a byte is read, and every error names the file, what it was for and the
// system's reason ("No such file or directory", "Permission denied", "is a directory").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln {

/// A regular file opened read-only; closed when destroyed. Move-only.
class RegularFile {
 public:
  /// Opens `path` when it is a regular file (symlinks followed). `what` names its role in
  /// messages ("model", "plan", "tensor file"). A FIFO, device, socket or directory is refused
  /// without being opened for a blocking read: errors say "<what> '<path>' is a FIFO, not a
  /// regular file". NotFound when the path does not exist, IoError otherwise.
  static Expected<RegularFile> open(const std::string& path, std::string_view what);

  RegularFile(RegularFile&& other) noexcept;
  RegularFile& operator=(RegularFile&& other) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile();

  int fd() const { return fd_; }
  /// Size when opened.
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  /// Reads exactly `n` bytes at `offset` into `dst`; an error naming the file when the range
  /// lies past its end (checked without overflow) or the read fails.
  Status readAt(uint64_t offset, void* dst, uint64_t n) const;

 private:
  RegularFile(int fd, uint64_t size, std::string path, std::string what);
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
  std::string what_;
};

/// The whole content of the regular file `path`, refused (Unsupported, with its size, the limit
/// and `limitReason`) when it holds more than `maxBytes`. Errors as RegularFile::open.
Expected<std::string> readRegularFile(const std::string& path, std::string_view what,
                                      uint64_t maxBytes, std::string_view limitReason = {});

/// Writes `bytes` to `path`, creating or truncating it. An existing path that is not a regular
/// file (a directory, FIFO or device) is refused without blocking and left as it is.
Status writeRegularFile(const std::string& path, std::string_view what, std::string_view bytes);

/// "a directory", "a FIFO", "a character device", ... for a stat st_mode.
const char* fileKindName(unsigned mode);

}  // namespace kiln
