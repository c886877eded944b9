// kiln — LayerDesc from a network layer.
#pragma once

#include "ir/layer_desc.h"
#include "kiln/network.h"

namespace kiln {

/// Describes layer `id` of `net`: input types and dims (which must be static), constant input
/// values, and output descs when their shapes are known. Error naming the layer and the input
/// when an input shape is still symbolic.
Expected<LayerDesc> describeLayer(const NetworkDefinition& net, LayerId id);

}  // namespace kiln
