// kiln — comparing outputs with reference outputs (CLI `run --expected`, tests, demo).
#pragma once

#include <cmath>
#include <string>

#include "kiln/types.h"

namespace kiln {

/// Result of comparing `actual` with `expected` elementwise.
struct Comparison {
  bool shapesMatch = true;
  bool ok = true;           ///< every element within atol + rtol * |expected|
  int64_t mismatches = 0;   ///< elements outside the tolerance
  int64_t worstIndex = -1;  ///< flat index of the largest |actual - expected|
  double worstActual = 0, worstExpected = 0;
  double maxAbsError = 0;     ///< max |actual - expected|
  double maxAbsExpected = 0;  ///< max |expected| (the output's scale)
  std::string message;        ///< why not ok (shape/dtype mismatch), else empty
};

/// numpy.allclose semantics per element (NaN equals NaN); ints and bools compare exactly when
/// rtol = atol = 0, otherwise as doubles.
inline Comparison compareTensors(const Weights& actual, const Weights& expected, double rtol,
                                 double atol) {
  Comparison c;
  if (actual.dims() != expected.dims()) {
    c.ok = c.shapesMatch = false;
    c.message =
        "shape " + dimsToString(actual.dims()) + " != expected " + dimsToString(expected.dims());
    return c;
  }
  auto a = actual.toDoubles();
  auto e = expected.toDoubles();
  if (!a || !e) {
    c.ok = false;
    c.message = "cannot compare element type " + std::string(dataTypeName(actual.dtype()));
    return c;
  }
  for (size_t i = 0; i < a->size(); ++i) {
    double x = (*a)[i], y = (*e)[i];
    bool bothNan = std::isnan(x) && std::isnan(y);
    double err = bothNan ? 0.0 : std::fabs(x - y);
    if (std::isnan(err)) err = INFINITY;
    c.maxAbsExpected = std::max(c.maxAbsExpected, std::isfinite(y) ? std::fabs(y) : 0.0);
    if (err > c.maxAbsError || c.worstIndex < 0) {
      if (err > c.maxAbsError) c.maxAbsError = err;
      if (c.worstIndex < 0 || err >= c.maxAbsError) {
        c.worstIndex = static_cast<int64_t>(i);
        c.worstActual = x;
        c.worstExpected = y;
      }
    }
    bool inf_eq = std::isinf(x) && x == y;
    if (!bothNan && !inf_eq && !(err <= atol + rtol * std::fabs(y))) ++c.mismatches;
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
