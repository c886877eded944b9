// kiln — small helpers shared by the rule files.
#pragma once

#include <vector>

#include "kiln/network.h"
#include "passes/rewrite.h"

namespace kiln {

/// The permutation of a Shuffle{transpose}: its perm, or the reversed dims when empty.
std::vector<int64_t> transposePerm(const NetworkDefinition& net, const Layer& l);

/// The layer producing `t`, or nullptr (graph inputs).
const Layer* producerOf(const NetworkDefinition& net, TensorId t);

/// Whether `t` holds a float type the rules that fold weights handle (f32, f64).
bool isFloat(DataType t);

/// A 1-D int64 shape tensor holding `dims`: a Constant when every dim is static, otherwise a
/// SymbolicConstant layer (evaluated when the input shapes are set). Error on an unknown dim.
/// Names are taken by value here and in reshapeTo: callers pass a layer's own name, a reference
/// into the network's storage that adding a layer may reallocate.
Expected<TensorId> shapeTensor(Rewriter& rw, std::string base, const Shape& dims);

/// x reshaped to exactly `dims` (allow_zero: every entry is the size, never "copy"), through
/// shapeTensor, so the dims may be symbolic.
Expected<TensorId> reshapeTo(Rewriter& rw, std::string base, TensorId x, const Shape& dims);

}  // namespace kiln
