#include <gtest/gtest.h>

#include "runtime/memory_planner.h"

namespace kiln {
namespace {

bool overlaps(const BufferRequest& a, uint64_t oa, const BufferRequest& b, uint64_t ob) {
  bool timeOverlap = a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
  bool memOverlap = oa < ob + b.bytes && ob < oa + a.bytes;
  return timeOverlap && memOverlap;
}

TEST(MemoryPlanner, ChainReusesMemory) {
  // a -> b -> c -> d: each buffer lives for two steps; only neighbours coexist.
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  MemoryPlan p = planMemory(r);
  EXPECT_EQ(p.totalBytes, 4u * 1024);
  EXPECT_EQ(p.arenaBytes, 2u * 1024);
  for (size_t i = 0; i < r.size(); ++i)
    for (size_t j = i + 1; j < r.size(); ++j)
      EXPECT_FALSE(overlaps(r[i], p.offsets[i], r[j], p.offsets[j]));
}

TEST(MemoryPlanner, AllLiveNoSharing) {
  std::vector<BufferRequest> r = {{100, 0, 5}, {200, 0, 5}, {300, 0, 5}};
  MemoryPlan p = planMemory(r);
  EXPECT_EQ(p.arenaBytes, p.totalBytes);
  for (uint64_t o : p.offsets)
    EXPECT_EQ(o % 64, 0u);
}

TEST(MemoryPlanner, RandomLifetimesNeverCollide) {
  std::vector<BufferRequest> r;
  uint32_t seed = 7;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int i = 0; i < 300; ++i) {
    int a = static_cast<int>(next() % 100), len = static_cast<int>(next() % 10);
    r.push_back({1 + next() % 5000, a, a + len});
  }
  MemoryPlan p = planMemory(r);
  EXPECT_LE(p.arenaBytes, p.totalBytes);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_LE(p.offsets[i] + r[i].bytes, p.arenaBytes);
    for (size_t j = i + 1; j < r.size(); ++j)
      ASSERT_FALSE(overlaps(r[i], p.offsets[i], r[j], p.offsets[j])) << i << " vs " << j;
  }
}

TEST(MemoryPlanner, Empty) {
  MemoryPlan p = planMemory({});
  EXPECT_EQ(p.arenaBytes, 0u);
}

}  // namespace
}  // namespace kiln
