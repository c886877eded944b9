// kiln — the one error channel: Status and Expected<T>.
//
// Every fallible function in kiln returns a Status or an Expected<T>. No exception crosses the
// public API. Messages are written for the user: they name the node, the input or the file, and
// say what was expected.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

/// Broad class of an error; the message carries the detail.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  ///< the caller passed something wrong (input name, shape, flag)
  kNotFound,         ///< a named thing (file, tensor, tactic) does not exist
  kUnsupported,      ///< valid input that kiln does not handle (yet)
  kParseError,       ///< a model file could not be parsed
  kInvalidModel,     ///< a model parsed but is malformed (missing initializer, bad attribute)
  kCorruptPlan,      ///< a plan file is truncated or fails its checksum
  kVersionMismatch,  ///< a plan from another format version or device
  kIoError,          ///< the operating system refused a read or write
  kOutOfMemory,      ///< an allocation failed
  kInternal,         ///< a kiln bug: an invariant did not hold
};

/// Short lowercase name of a status code ("invalid argument").
const char* statusCodeName(StatusCode code);

/// Result of a fallible operation without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "invalid argument: <message>"
  std::string toString() const;

  /// Returns a copy whose message is "<context>: <message>"; ok stays ok.
  Status withContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status notFound(std::string m) {
  return {StatusCode::kNotFound, std::move(m)};
}
inline Status unsupported(std::string m) {
  return {StatusCode::kUnsupported, std::move(m)};
}
inline Status parseError(std::string m) {
  return {StatusCode::kParseError, std::move(m)};
}
inline Status invalidModel(std::string m) {
  return {StatusCode::kInvalidModel, std::move(m)};
}
inline Status corruptPlan(std::string m) {
  return {StatusCode::kCorruptPlan, std::move(m)};
}
inline Status versionMismatch(std::string m) {
  return {StatusCode::kVersionMismatch, std::move(m)};
}
inline Status ioError(std::string m) {
  return {StatusCode::kIoError, std::move(m)};
}
inline Status internalError(std::string m) {
  return {StatusCode::kInternal, std::move(m)};
}
inline Status outOfMemory(std::string m) {
  return {StatusCode::kOutOfMemory, std::move(m)};
}

/// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).isOk() && "Expected constructed from an ok Status");
  }

  bool hasValue() const { return v_.index() == 0; }
  explicit operator bool() const { return hasValue(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; ok() when there is a value.
  Status status() const { return hasValue() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

/// Returns the Status from the enclosing function when `expr` is not ok.
#define KILN_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::kiln::Status kiln_status_ = (expr);          \
    if (!kiln_status_.isOk()) return kiln_status_; \
  } while (0)

/// `KILN_ASSIGN_OR_RETURN(auto x, f());` declares x from an Expected, or returns its Status.
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kiln_expected_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.hasValue()) return tmp.status();        \
  lhs = std::move(tmp).value()
