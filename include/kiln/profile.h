// kiln — optimization profiles: the range of input shapes an engine accepts.
#pragma once

#include <map>
#include <string>

#include "kiln/types.h"

namespace kiln {

/// Range of shapes of one input: every dim d satisfies min[d] <= d <= max[d]; tactics are
/// timed at opt.
struct ShapeRange {
  Dims min, opt, max;
};

/// An optimization profile: the shapes an engine must accept, per dynamic input. Inputs not
/// listed accept any value of their dynamic dims.
struct OptimizationProfile {
  std::map<std::string, ShapeRange> inputs;
};

}  // namespace kiln
