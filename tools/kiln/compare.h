// kiln — comparing outputs with reference outputs (CLI `run --expected`, conformance, tests,
// demo).
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>

#include "kiln/types.h"

namespace kiln {

/// Result of comparing `actual` with `expected` elementwise.
struct Comparison {
  bool shapesMatch = true;
  bool ok = true;           ///< every element within atol + rtol * |expected|
  bool exact = false;       ///< integer or bool elements, compared exactly (no tolerance)
  int64_t mismatches = 0;   ///< elements outside the tolerance
  int64_t worstIndex = -1;  ///< flat index of the largest |actual - expected|
  double worstActual = 0, worstExpected = 0;
  /// The element furthest outside the tolerance (largest |actual - expected| - tolerance);
  /// -1 when every element is within it.
  int64_t worstMismatchIndex = -1;
  double worstMismatchActual = 0, worstMismatchExpected = 0;
  double maxAbsError = 0;     ///< max |actual - expected|
  double maxAbsExpected = 0;  ///< max |expected| (the output's scale)
  std::string message;        ///< why not ok (shape/dtype mismatch), else empty
};

/// Whether elements of `t` are integers or bools (compared exactly).
inline bool isExactType(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt32 ||
         t == DataType::kInt64 || t == DataType::kBool || t == DataType::kInt16 ||
         t == DataType::kUInt16 || t == DataType::kUInt32 || t == DataType::kUInt64 ||
         t == DataType::kInt4 || t == DataType::kUInt4 || t == DataType::kInt2 ||
         t == DataType::kUInt2;
}

/// numpy.allclose semantics per element for floats: |a - e| <= atol + rtol * |e|, NaN equals
/// NaN, an infinity equals the same infinity. Integer and bool elements compare exactly
/// whatever the tolerance (as int64, so large int64 values keep every bit).
inline Comparison compareTensors(const Weights& actual, const Weights& expected, double rtol,
                                 double atol) {
  Comparison c;
  if (actual.dims() != expected.dims()) {
    c.ok = c.shapesMatch = false;
    c.message =
        "shape " + dimsToString(actual.dims()) + " != expected " + dimsToString(expected.dims());
    return c;
  }
  c.exact = isExactType(actual.dtype()) && isExactType(expected.dtype());
  auto a = actual.toDoubles();
  auto e = expected.toDoubles();
  if (!a || !e) {
    c.ok = false;
    c.message = "cannot compare element type " + std::string(dataTypeName(actual.dtype()));
    return c;
  }
  Expected<std::vector<int64_t>> ai = std::vector<int64_t>{}, ei = std::vector<int64_t>{};
  if (c.exact) {
    ai = actual.toInts();
    ei = expected.toInts();
    if (!ai || !ei) {
      c.ok = false;
      c.message = "cannot compare element type " + std::string(dataTypeName(actual.dtype()));
      return c;
    }
  }
  double worstExcess = -1;
  for (size_t i = 0; i < a->size(); ++i) {
    double x = (*a)[i], y = (*e)[i];
    bool bothNan = std::isnan(x) && std::isnan(y);
    double err = bothNan ? 0.0 : std::fabs(x - y);
    if (std::isnan(err)) err = INFINITY;
    c.maxAbsExpected = std::max(c.maxAbsExpected, std::isfinite(y) ? std::fabs(y) : 0.0);
    if (c.worstIndex < 0 || err > c.maxAbsError) {
      c.maxAbsError = std::max(c.maxAbsError, err);
      c.worstIndex = static_cast<int64_t>(i);
      c.worstActual = x;
      c.worstExpected = y;
    }
    bool within;
    double tolerance = 0;
    if (c.exact) {
      within = (*ai)[i] == (*ei)[i];
    } else {
      bool infEq = std::isinf(x) && x == y;
      tolerance = atol + rtol * std::fabs(y);
      within = bothNan || infEq || err <= tolerance;
    }
    if (within) continue;
    ++c.mismatches;
    double excess = std::isinf(err) ? INFINITY : err - tolerance;
    if (c.worstMismatchIndex < 0 || excess > worstExcess) {
      worstExcess = excess;
      c.worstMismatchIndex = static_cast<int64_t>(i);
      c.worstMismatchActual = x;
      c.worstMismatchExpected = y;
    }
  }
  c.ok = c.mismatches == 0;
  return c;
}

/// Index of flat element `i` in `dims` ("[0, 3, 17]").
inline std::string unflattenIndex(int64_t i, const Dims& dims) {
  Dims idx(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    int64_t d = dims[k] ? dims[k] : 1;
    idx[k] = i % d;
    i /= d;
  }
  return dimsToString(idx);
}

}  // namespace kiln
