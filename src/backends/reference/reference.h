// kiln — the reference backend: plain, obviously correct kernels for every layer kind.
//
// It is the oracle every fast kernel is tested against, the engine of constant folding, and the
// fallback of last resort. It is never optimized: clarity over speed. One tactic per layer kind,
// named "reference.<kind>" (e.g. "reference.convolution"), running on the host.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace kiln {

/// The process-wide reference backend.
const Backend& referenceBackend();

// Per-kind hooks (defined in src/backends/reference/<kind>.cc):
//   supportsReference<Kind>: ok, or why not (e.g. an unsupported dtype), naming the layer;
//   createReference<Kind>:   the kernel for the layer (the "create" step).
#define KILN_LAYER(kind, attrs, summary)                 \
  Status supportsReference##kind(const LayerDesc& desc); \
  Expected<std::unique_ptr<Kernel>> createReference##kind(const LayerDesc& desc);
#include "kiln/layers.def"
#undef KILN_LAYER

}  // namespace kiln
