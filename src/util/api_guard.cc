#include "util/api_guard.h"

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace kiln {

Status exceptionToStatus(std::string_view function) noexcept {
  std::string where(function);
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return outOfMemory(where + ": out of memory (a memory allocation failed)");
  } catch (const std::length_error& e) {
    // A container asked for more elements than can ever be allocated.
    return outOfMemory(where + ": out of memory (" + e.what() + ")");
  } catch (const std::exception& e) {
    return internalError(where + ": unexpected exception: " + e.what());
  } catch (...) {
    return internalError(where + ": unexpected exception of an unknown type");
  }
}

}  // namespace kiln
