// kiln — strided views through data-movement layers, for rules that must see through the
// reshapes, transposes, splits and slices exporters put around a computation (the head
// split of attention is the main user).
//
// A view describes a tensor as a strided window of a base tensor: element i (a multi-index)
// of the viewed tensor is element  offset + sum_k i_k * strides[k]  of the base, in the base's
// row-major order. Views compose forward through transposes, slices with positive steps,
// splits, scalar gathers, and reshapes that do not need a copy (numpy's rule).
//
// Dims, strides and the offset are Dim expressions, so a view holds for every value of the
// symbols in the shapes: every step compares canonical forms (exact), and a step it cannot
// prove for all values (a reshape whose dim groups do not divide one another) gives no view.
#pragma once

#include <optional>
#include <vector>

#include "kiln/network.h"

namespace kiln {

/// A strided window over a base tensor.
struct View {
  Shape dims;
  std::vector<Dim> strides;
  Dim offset = 0;
  bool operator==(const View& o) const {
    return dims == o.dims && strides == o.strides && offset == o.offset;
  }
};

/// The identity view of a contiguous tensor of `dims`.
View contiguousView(const Shape& dims);
/// The view after a transpose by `perm`.
View transposed(const View& v, const std::vector<int64_t>& perm);
/// The view after a reshape to `dims` without a copy, or nothing when it would need one.
std::optional<View> reshaped(const View& v, const Shape& dims);

/// The tensors from which `t` is reached by data movement only, from the farthest one (the
/// base) to `t` itself. The layers between them are Shuffles, Slices (constant positive
/// steps), Splits and Gathers of a constant scalar index.
std::vector<TensorId> viewChain(const NetworkDefinition& net, TensorId t);

/// `t` as a strided view of `base` (which must be in viewChain(t)), or nothing when a step
/// cannot be expressed as a view for every value of the shapes' symbols.
std::optional<View> viewOf(const NetworkDefinition& net, TensorId t, TensorId base);

}  // namespace kiln
