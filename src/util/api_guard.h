// kiln — the last line of the "no exception crosses the API" promise.
//
// Causes come first: sizes are checked before they are allocated (kOutOfMemory naming the size
// and what it was for), untrusted indices are range-checked. What remains (a small allocation
// failing when memory is exhausted, an internal bug throwing) is caught at each public entry
// point with a function-try-block and converted here:
//
//   Expected<X> Class::method(...) try {
//     ...
//   } catch (...) {
//     return exceptionToStatus("Class::method");
//   }
#pragma once

#include <string_view>

#include "kiln/status.h"

namespace kiln {

/// The exception being handled (call only inside a catch block) as a Status naming `function`:
/// std::bad_alloc and std::length_error -> OutOfMemory, any other exception -> Internal with its
/// what().
Status exceptionToStatus(std::string_view function) noexcept;

}  // namespace kiln
