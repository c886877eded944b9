// kiln — small helpers shared by the rule files.
#pragma once

#include <vector>

#include "kiln/network.h"

namespace kiln {

/// The permutation of a Shuffle{transpose}: its perm, or the reversed dims when empty.
std::vector<int64_t> transposePerm(const NetworkDefinition& net, const Layer& l);

/// The layer producing `t`, or nullptr (graph inputs).
const Layer* producerOf(const NetworkDefinition& net, TensorId t);

/// Whether `t` holds a float type the rules that fold weights handle (f32, f64).
bool isFloat(DataType t);

}  // namespace kiln
