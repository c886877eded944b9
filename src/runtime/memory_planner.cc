#include "runtime/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace kiln {

MemoryPlan planMemory(const std::vector<BufferRequest>& requests, uint64_t alignment) {
  auto align = [&](uint64_t x) { return (x + alignment - 1) / alignment * alignment; };
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest first (ties: earliest first) so that big buffers claim low offsets.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].firstUse < requests[b].firstUse;
  });
  struct Placed {
    uint64_t begin, end;
    int first, last;
  };
  std::vector<Placed> placed;
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    uint64_t size = align(std::max<uint64_t>(r.bytes, 1));
    plan.totalBytes += size;
    // Intervals already placed whose lifetimes overlap this one, by offset.
    std::vector<Placed> live;
    for (const Placed& p : placed)
      if (p.first <= r.lastUse && r.firstUse <= p.last) live.push_back(p);
    std::sort(live.begin(), live.end(),
              [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
    // Best fit: the smallest gap that holds `size`; else after the highest live buffer.
    uint64_t best = UINT64_MAX, bestGap = UINT64_MAX, cursor = 0;
    for (const Placed& p : live) {
      if (p.begin > cursor) {
        uint64_t gap = p.begin - cursor;
        if (gap >= size && gap < bestGap) {
          best = cursor;
          bestGap = gap;
        }
      }
      cursor = std::max(cursor, p.end);
    }
    if (best == UINT64_MAX) best = cursor;
    plan.offsets[idx] = best;
    placed.push_back({best, best + size, r.firstUse, r.lastUse});
    plan.arenaBytes = std::max(plan.arenaBytes, best + size);
  }
  return plan;
}

}  // namespace kiln
