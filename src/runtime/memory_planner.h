// kiln — activation memory planning: one arena, offsets from tensor lifetimes.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

/// One buffer to place: its size and the first and last step (layer index) that use it.
struct BufferRequest {
  uint64_t bytes = 0;
  int firstUse = 0;
  int lastUse = 0;
};

/// Offsets per request within one arena; buffers whose lifetimes overlap never overlap in
/// memory, buffers that never live at the same time may share bytes.
struct MemoryPlan {
  std::vector<uint64_t> offsets;
  uint64_t arenaBytes = 0;  ///< size of the arena
  uint64_t totalBytes = 0;  ///< sum of all (aligned) request sizes: the arena without sharing
};

/// Greedy best-fit by decreasing size: each buffer goes to the lowest offset that does not
/// collide with an already placed buffer whose lifetime overlaps. Offsets are multiples of
/// `alignment`.
MemoryPlan planMemory(const std::vector<BufferRequest>& requests, uint64_t alignment = 64);

}  // namespace kiln
