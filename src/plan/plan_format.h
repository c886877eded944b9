// kiln — plan file layout.
//
//   offset 0   PlanHeader (64 bytes, little-endian)
//   offset 64  FlatBuffers PlanDef (plan.fbs): the optimized graph, tactics, memory plan
//   ...        zero padding to a multiple of 64
//   weightsOffset  weights region: every constant at a 64-byte aligned offset (mmap-able)
//
// The checksum (XXH3-64) covers the whole file with the checksum field itself zeroed. Readers
// check, in order: size >= header, magic, format version, file size (truncation), checksum,
// section offsets (overflow-checked), the FlatBuffers verifier, kiln version, backend and
// device. The checksum catches accidents, not attackers: every field after it is validated as
// if there were none (plan_reader.cc lists what), so a crafted plan is refused or loads as a
// valid engine.
//
// Attributes: each layer stores every field of its attribute struct (layers.h visit()), by
// name; readers require all of them, exactly once. An absent vector reads as empty.
#pragma once

#include <cstdint>

namespace kiln {

inline constexpr char kPlanMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
/// Bumped on any incompatible change of the layout or of plan.fbs semantics.
inline constexpr uint32_t kPlanFormatVersion = 2;
inline constexpr uint64_t kPlanAlignment = 64;

struct PlanHeader {
  char magic[8];
  uint32_t formatVersion;
  uint32_t headerBytes;  ///< sizeof(PlanHeader)
  uint64_t fileBytes;    ///< total file size
  uint64_t metaOffset;   ///< FlatBuffers PlanDef
  uint64_t metaBytes;
  uint64_t weightsOffset;  ///< multiple of kPlanAlignment
  uint64_t weightsBytes;
  uint64_t checksum;  ///< XXH3-64 of the file with this field zeroed
};
static_assert(sizeof(PlanHeader) == 64, "plan header must be 64 bytes");

}  // namespace kiln
