// Runtime::deserialize: plan file bytes -> Engine, refusing anything that does not check out.
// The checksum catches accidents, not attackers: after it, every field is validated as if there
// were none (section offsets and sizes with overflow checks, weights inside their region with
// sizes computed from their dims, attributes all present and in range, tensor ids, and
// shapes re-inferred from the inputs). A plan that passes cannot make a kernel read
// or write outside a buffer.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <type_traits>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "backends/backend.h"
#include "ir/shape_inference.h"
#include "plan/plan_format.h"
#include "plan_generated.h"
#include "runtime/engine_data.h"
#include "util/api_guard.h"
#include "util/file_io.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {

namespace {

/// off + len, or nothing when either or the sum exceeds INT64_MAX.
std::optional<uint64_t> rangeEnd(uint64_t off, uint64_t len) {
  if (off > static_cast<uint64_t>(INT64_MAX) || len > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  auto end = checkedAdd(static_cast<int64_t>(off), static_cast<int64_t>(len));
  if (!end) return std::nullopt;
  return static_cast<uint64_t>(*end);
}

bool validDataType(int32_t dt) {
  return dt >= 0 && dt < enumCount<DataType>();
}

std::string str(const flatbuffers::String* s) {
  return s ? s->str() : std::string();
}

/// The elements of a scalar vector (empty when absent), copied byte-wise: the FlatBuffers
/// verifier checks a vector's 4-byte length alignment but not its elements', so a crafted plan
/// can hold an int64 vector at an address that is not a multiple of 8 (little-endian hosts).
template <class T>
std::vector<T> vec(const flatbuffers::Vector<T>* v) {
  static_assert(std::is_arithmetic_v<T>);
  if (!v) return {};
  std::vector<T> out(v->size());
  if (!out.empty())
    std::memcpy(out.data(), reinterpret_cast<const uint8_t*>(v) + sizeof(flatbuffers::uoffset_t),
                out.size() * sizeof(T));
  return out;
}

/// Reads a layer's attribute fields back by name. The writer writes every field of the
/// attribute struct (visit()), and a plan is only read by the kiln that wrote it, so every
/// field must be present exactly once, in its representation; a missing, repeated, malformed
/// or unknown attribute is refused. No default is ever assumed for a field of a plan.
struct AttrReader {
  const std::vector<Weights>& weights;
  std::map<std::string, const fb::Attr*> byName;
  size_t used = 0;
  std::string error;

  /// Indexes the stored attributes; false (with `error`) on a nameless or repeated one.
  bool index(const flatbuffers::Vector<flatbuffers::Offset<fb::Attr>>* attrs) {
    if (!attrs) return true;
    for (const fb::Attr* a : *attrs) {
      if (!a->name()) {
        error = "an attribute has no name";
        return false;
      }
      if (!byName.emplace(a->name()->str(), a).second) {
        error = "attribute '" + a->name()->str() + "' appears twice";
        return false;
      }
    }
    return true;
  }
  /// After visit(): false (with `error`) when a stored attribute is not a field of the kind.
  bool allUsed() {
    if (!error.empty()) return false;
    if (used == byName.size()) return true;
    error = "unexpected attributes";
    return false;
  }
  void fail(const char* name, const std::string& what) {
    if (error.empty()) error = std::string("attribute '") + name + "' " + what;
  }
  const fb::Attr* find(const char* name) {
    if (!error.empty()) return nullptr;
    auto it = byName.find(name);
    if (it == byName.end()) {
      fail(name, "is missing");
      return nullptr;
    }
    ++used;
    return it->second;
  }
  bool oneInt(const char* name, int64_t& v) {
    const fb::Attr* a = find(name);
    if (!a) return false;
    if (!a->ints() || a->ints()->size() != 1) {
      fail(name, "is malformed (expected one integer)");
      return false;
    }
    v = vec(a->ints())[0];
    return true;
  }
  void operator()(const char* name, bool& v) {
    int64_t x;
    if (!oneInt(name, x)) return;
    if (x != 0 && x != 1) return fail(name, "has non-boolean value " + std::to_string(x));
    v = x != 0;
  }
  void operator()(const char* name, int64_t& v) { oneInt(name, v); }
  template <class E>
  void operator()(const char* name, E& v) requires std::is_enum_v<E> {
    int64_t x;
    if (!oneInt(name, x)) return;
    if (x < 0 || x >= enumCount<E>())
      return fail(name, "has out-of-range value " + std::to_string(x));
    v = static_cast<E>(x);
  }
  void operator()(const char* name, std::vector<int64_t>& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    // An absent vector is an empty list (FlatBuffers writers may omit empty vectors).
    v = vec(a->ints());
  }
  void operator()(const char* name, float& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    if (!a->floats() || a->floats()->size() != 1)
      return fail(name, "is malformed (expected one float)");
    v = vec(a->floats())[0];
  }
  void operator()(const char* name, std::vector<Dim>& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    v.clear();
    if (!a->dims()) return;
    for (const auto* text : *a->dims()) {
      auto d = Dim::parse(text->string_view());
      if (!d || !d->isKnown()) return fail(name, "has a malformed dimension");
      v.push_back(*d);
    }
  }
  void operator()(const char* name, std::string& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    if (!a->str()) {
      error = std::string("attribute '") + name + "' is malformed";
      return;
    }
    v = a->str()->str();
  }
  void operator()(const char* name, Weights& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    if (a->weight() < 0 || static_cast<size_t>(a->weight()) >= weights.size())
      return fail(name, "names weights record " + std::to_string(a->weight()) +
                            ", which does not exist (the plan has " +
                            std::to_string(weights.size()) + ")");
    v = weights[static_cast<size_t>(a->weight())];
  }
};

/// A shape stored as one Dim::toString per dim; nothing when a dim does not parse or can only
/// be negative.
std::optional<Shape> readShape(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
  Shape s;
  if (!v) return s;
  for (const auto* text : *v) {
    auto d = Dim::parse(text->string_view());
    if (!d || !d->isKnown() || d->bounds().max < 0) return std::nullopt;
    s.push_back(*d);
  }
  return s;
}

/// A validated TensorDef: a name, a known dtype and a well-formed (symbolic) shape whose static
/// dims have a byte size that fits in 64 bits (an absent shape, like every absent vector, reads
/// as empty: a scalar).
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Shape shape;
};

Expected<std::shared_ptr<Engine>> loadPlan(std::shared_ptr<const void> owner, const uint8_t* p,
                                           size_t size, const std::string& source) {
  auto bad = [&](const std::string& m) { return corruptPlan("plan '" + source + "': " + m); };
  if (size < sizeof(PlanHeader))
    return bad("truncated: " + std::to_string(size) + " bytes, smaller than the " +
               std::to_string(sizeof(PlanHeader)) + "-byte header");
  PlanHeader h;
  std::memcpy(&h, p, sizeof(h));
  if (std::memcmp(h.magic, kPlanMagic, sizeof(h.magic)) != 0)
    return bad("not a kiln plan (bad magic bytes)");
  if (h.formatVersion != kPlanFormatVersion)
    return versionMismatch("plan '" + source + "' has format version " +
                           std::to_string(h.formatVersion) + ", this kiln reads version " +
                           std::to_string(kPlanFormatVersion) + ": rebuild the plan");
  if (h.fileBytes != size)
    return bad((size < h.fileBytes ? "truncated: " : "trailing bytes: ") + std::to_string(size) +
               " bytes, the header says " + std::to_string(h.fileBytes));
  PlanHeader zeroed = h;
  zeroed.checksum = 0;
  XXH3_state_t* st = XXH3_createState();
  if (!st) return outOfMemory("plan '" + source + "': cannot allocate the checksum state");
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &zeroed, sizeof(zeroed));
  XXH3_64bits_update(st, p + sizeof(zeroed), size - sizeof(zeroed));
  uint64_t sum = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (sum != h.checksum) return bad("checksum mismatch: the file is corrupted");

  // ---- from here on every field is checked as if there were no checksum ----
  // Sections: [header][metadata][padding][weights], each inside the file; offsets and sizes
  // added with overflow checks.
  const auto metaEnd = rangeEnd(h.metaOffset, h.metaBytes);
  const auto weightsEnd = rangeEnd(h.weightsOffset, h.weightsBytes);
  if (h.headerBytes != sizeof(PlanHeader) || h.metaOffset < sizeof(PlanHeader) ||
      h.metaOffset % alignof(uint64_t) != 0 || !metaEnd || *metaEnd > size ||
      h.metaBytes >= FLATBUFFERS_MAX_BUFFER_SIZE || h.weightsOffset % kPlanAlignment != 0 ||
      h.weightsOffset < *metaEnd || !weightsEnd || *weightsEnd != size)
    return bad("inconsistent section offsets in the header (metadata at " +
               std::to_string(h.metaOffset) + " + " + std::to_string(h.metaBytes) +
               ", weights at " + std::to_string(h.weightsOffset) + " + " +
               std::to_string(h.weightsBytes) + ", file of " + std::to_string(size) + " bytes)");
  flatbuffers::Verifier verifier(p + h.metaOffset, static_cast<size_t>(h.metaBytes));
  if (!fb::VerifyPlanDefBuffer(verifier)) return bad("metadata fails verification");
  const fb::PlanDef* plan = fb::GetPlanDef(p + h.metaOffset);

  auto data = std::make_shared<EngineData>();
  data->kilnVersion = str(plan->kiln_version());
  data->backend = str(plan->backend());
  data->device = str(plan->device());
  data->source = str(plan->source());
  if (data->kilnVersion != KILN_VERSION)
    return versionMismatch("plan '" + source + "' was built by kiln " + data->kilnVersion +
                           ", this is kiln " KILN_VERSION ": rebuild the plan");
  auto backend = findBackend(data->backend);
  if (!backend) return backend.status().withContext("plan '" + source + "'");
  if ((*backend)->deviceSignature() != data->device)
    return versionMismatch("plan '" + source + "' was built for device '" + data->device +
                           "', this machine is '" + (*backend)->deviceSignature() + "'");

  // Weights: borrowed from the file buffer. Each record's size is computed from its dtype and
  // dims (never taken from the file) and must lie inside the weights region.
  std::vector<Weights> weights;
  const uint8_t* region = p + h.weightsOffset;
  if (plan->weights()) {
    for (size_t i = 0; i < plan->weights()->size(); ++i) {
      const fb::WeightRef* w = plan->weights()->Get(static_cast<flatbuffers::uoffset_t>(i));
      const std::string what = "weights record " + std::to_string(i);
      if (!validDataType(w->dtype()))
        return bad(what + " has unknown dtype " + std::to_string(w->dtype()));
      const auto dtype = static_cast<DataType>(w->dtype());
      Dims dims = vec(w->dims());
      auto bytes = byteSize(dtype, dims, what);
      if (!bytes) return bad(bytes.status().message());
      if (*bytes != w->bytes())
        return bad(what + " (" + dataTypeName(dtype) + " " + dimsToString(dims) + ") needs " +
                   std::to_string(*bytes) + " bytes but records " + std::to_string(w->bytes()));
      const auto end = rangeEnd(w->offset(), *bytes);
      if (w->offset() % kPlanAlignment != 0 || !end || *end > h.weightsBytes)
        return bad(what + " at offset " + std::to_string(w->offset()) + " + " +
                   std::to_string(*bytes) + " bytes lies outside the weights region of " +
                   std::to_string(h.weightsBytes) + " bytes or is not 64-byte aligned");
      weights.push_back(Weights::borrow(dtype, std::move(dims), region + w->offset(), owner));
    }
  }

  // Tensors: known dtype, non-negative dims, a byte size that fits in 64 bits, a name.
  const auto* tdefs = plan->tensors();
  const auto* ldefs = plan->layers();
  if (!tdefs || !ldefs) return bad("missing tensors or layers");
  std::vector<TensorInfo> tinfo;
  for (size_t i = 0; i < tdefs->size(); ++i) {
    const fb::TensorDef* t = tdefs->Get(static_cast<flatbuffers::uoffset_t>(i));
    TensorInfo info;
    info.name = str(t->name());
    if (info.name.empty()) return bad("tensor " + std::to_string(i) + " has no name");
    if (!validDataType(t->dtype()))
      return bad("tensor '" + info.name + "' has unknown dtype " + std::to_string(t->dtype()));
    info.dtype = static_cast<DataType>(t->dtype());
    auto shape = readShape(t->shape());
    if (!shape) return bad("tensor '" + info.name + "' has a malformed shape");
    info.shape = std::move(*shape);
    if (auto dims = staticDims(info.shape)) {
      auto bytes = byteSize(info.dtype, *dims, info.name);
      if (!bytes) return bad(bytes.status().message());
    }
    tinfo.push_back(std::move(info));
  }
  auto validId = [&](int32_t id) { return id >= 0 && static_cast<size_t>(id) < tinfo.size(); };

  // Network: inputs first, then layers in order, mapping stored tensor ids to new ones.
  NetworkDefinition& net = data->network;
  std::vector<TensorId> map(tinfo.size(), kNoTensor);
  if (plan->inputs()) {
    for (const fb::IODef* io : *plan->inputs()) {
      if (!validId(io->tensor()) || map[io->tensor()] != kNoTensor)
        return bad("an input refers to tensor id " + std::to_string(io->tensor()) +
                   ", which does not exist or is already defined");
      const TensorInfo& t = tinfo[io->tensor()];
      auto id = net.addInput(t.name, t.dtype, t.shape);
      if (!id) return bad(id.status().message());
      map[io->tensor()] = *id;
    }
  }
  for (const fb::LayerDef* l : *ldefs) {
    const std::string lname = str(l->name());
    int32_t kind = l->kind();
    if (kind < 0 || kind >= kLayerKindCount ||
        str(l->kind_name()) != layerKindName(static_cast<LayerKind>(kind)))
      return bad("layer '" + lname + "' has unknown kind '" + str(l->kind_name()) + "' (" +
                 std::to_string(kind) + ")");
    LayerAttrs attrs = defaultAttrs(static_cast<LayerKind>(kind));
    AttrReader reader{weights, {}, 0, {}};
    if (reader.index(l->attrs()))
      std::visit(
          [&](auto& a) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>)
              a.visit(reader);
          },
          attrs);
    if (!reader.allUsed())
      return bad("layer '" + lname + "' (" + layerKindName(static_cast<LayerKind>(kind)) +
                 "): " + reader.error);
    std::vector<TensorId> ins;
    for (int32_t t : vec(l->inputs())) {
      if (t == kNoTensor) {
        ins.push_back(kNoTensor);
        continue;
      }
      if (!validId(t) || map[t] == kNoTensor)
        return bad("layer '" + lname + "' reads tensor id " + std::to_string(t) +
                   ", which does not exist or is not produced before it");
      ins.push_back(map[t]);
    }
    std::vector<int32_t> outIds = vec(l->outputs());
    std::vector<std::string> outNames;
    for (int32_t t : outIds) {
      if (!validId(t) || map[t] != kNoTensor)
        return bad("layer '" + lname + "' writes tensor id " + std::to_string(t) +
                   ", which does not exist or is already defined");
      outNames.push_back(tinfo[t].name);
    }
    LayerId lid;
    if (kind == static_cast<int32_t>(LayerKind::kConstant)) {
      if (outIds.size() != 1 || !ins.empty())
        return bad("constant layer '" + lname + "' must have no inputs and one output");
      // The constant's value is what kernels read through its tensor: its type and dims must be
      // the tensor's, or a kernel would read past the weights.
      const Weights& value = std::get<ConstantAttrs>(attrs).value;
      const TensorInfo& t = tinfo[outIds[0]];
      if (value.dtype() != t.dtype || shapeFromDims(value.dims()) != t.shape)
        return bad("constant layer '" + lname + "' holds " + dataTypeName(value.dtype()) + " " +
                   dimsToString(value.dims()) + " weights but its tensor '" + t.name + "' is " +
                   dataTypeName(t.dtype) + " " + shapeToString(t.shape));
      TensorId id = net.addConstant(outNames[0], value);
      if (net.tensor(id).name != outNames[0])
        return bad("duplicate tensor name '" + outNames[0] + "'");
      lid = net.tensor(id).producer;
      net.layer(lid).name = lname;
    } else {
      auto r =
          net.addLayer(lname, std::move(attrs), ins, static_cast<int>(outIds.size()), outNames);
      if (!r) return bad(r.status().message());
      lid = *r;
    }
    net.layer(lid).origins = {};
    if (l->origins())
      for (const auto* o : *l->origins())
        net.layer(lid).origins.push_back(o->str());
    if (l->rules())
      for (const auto* r : *l->rules())
        net.layer(lid).rules.push_back(r->str());
    for (size_t k = 0; k < outIds.size(); ++k)
      map[outIds[k]] = net.layer(lid).outputs[k];
    data->tactics.push_back(str(l->tactic()));
  }
  data->threads = plan->threads();
  if (data->threads < 1 || data->threads > 4096)
    return bad("thread count " + std::to_string(data->threads) + " is out of range [1, 4096]");
  // Types and shapes.
  for (size_t i = 0; i < tinfo.size(); ++i) {
    if (map[i] == kNoTensor) return bad("tensor '" + tinfo[i].name + "' is never defined");
    Tensor& x = net.tensor(map[i]);
    x.dtype = tinfo[i].dtype;
    x.shape = tinfo[i].shape;
    x.shapeKnown = true;
  }
  if (plan->outputs()) {
    for (const fb::IODef* io : *plan->outputs()) {
      if (!validId(io->tensor()))
        return bad("an output refers to tensor id " + std::to_string(io->tensor()) +
                   ", which does not exist");
      Status s = net.markOutput(map[io->tensor()]);
      if (!s.isOk()) return bad(s.message());
    }
  }
  auto sourceShapes = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::IODef>>* v)
      -> Expected<std::vector<Shape>> {
    std::vector<Shape> out;
    if (!v) return out;
    for (const fb::IODef* io : *v) {
      auto shape = readShape(io->source_shape());
      if (!shape) return bad("an input or output has a malformed source shape");
      out.push_back(std::move(*shape));
    }
    return out;
  };
  // Profiles and the representative shape.
  if (plan->profiles()) {
    for (const fb::ProfileDef* p : *plan->profiles()) {
      OptimizationProfile prof;
      if (p->inputs())
        for (const fb::InputRange* r : *p->inputs()) {
          TensorId t = net.findTensor(str(r->input()));
          if (t < 0 || !net.tensor(t).isInput)
            return bad("a profile names '" + str(r->input()) + "', which is not an input");
          ShapeRange range{vec(r->min()), vec(r->opt()), vec(r->max())};
          const size_t rank = net.tensor(t).shape.size();
          if (range.min.size() != rank || range.opt.size() != rank || range.max.size() != rank)
            return bad("a profile gives input '" + str(r->input()) + "' the wrong rank");
          for (size_t d = 0; d < rank; ++d)
            if (range.min[d] < 0 || range.min[d] > range.opt[d] || range.opt[d] > range.max[d])
              return bad("a profile gives input '" + str(r->input()) + "' the range " +
                         dimsToString(range.min) + " .. " + dimsToString(range.max) + " (opt " +
                         dimsToString(range.opt) + "), which is not ordered");
          prof.inputs[str(r->input())] = std::move(range);
        }
      data->profiles.push_back(std::move(prof));
    }
  }
  data->maxTensorBytes = plan->max_tensor_bytes();
  data->maxArenaBytes = plan->max_arena_bytes();
  if (plan->opt_symbols())
    for (const fb::SymbolValue* v : *plan->opt_symbols()) {
      if (v->value() < 0) return bad("the representative shape has a negative dimension");
      data->optSymbols[str(v->name())] = v->value();
    }
  if (Status s = net.verify(); !s.isOk()) return bad(s.message());
  // Every layer's stored output types and shapes must be what its inputs and attributes imply
  // (shape inference also rejects attributes out of range), so that no kernel can be handed a
  // buffer of the wrong size: infer again and compare. The tactic a layer names must exist in
  // this build and implement the layer's kind, so that a bad plan is refused when loaded, not
  // when a context is created.
  {
    std::vector<TensorType> stored;
    for (const Tensor& t : net.tensors())
      stored.push_back({t.dtype, t.shape});
    for (size_t i = 0; i < net.layers().size(); ++i) {
      const Layer& l = net.layers()[i];
      Status s = inferLayer(net, static_cast<LayerId>(i));
      if (!s.isOk()) return bad(s.message());
      for (TensorId t : l.outputs)
        if (!(stored[t] == TensorType{net.tensor(t).dtype, net.tensor(t).shape}))
          return bad("layer '" + l.name + "' has outputs inconsistent with its inputs: tensor '" +
                     net.tensor(t).name + "' is stored as " + dataTypeName(stored[t].dtype) +
                     shapeToString(stored[t].shape) + " but its inputs give " +
                     dataTypeName(net.tensor(t).dtype) + shapeToString(net.tensor(t).shape));
      if (l.kind() == LayerKind::kConstant || l.kind() == LayerKind::kSymbolicConstant) continue;
      if (data->tactics[i].empty()) continue;  // not executed (a shape computation)
      const Tactic* tactic = (*backend)->findTactic(data->tactics[i]);
      if (!tactic)
        return versionMismatch("plan '" + source + "': layer '" + l.name + "' uses tactic '" +
                               data->tactics[i] + "', which backend '" + data->backend +
                               "' of this kiln build (" KILN_VERSION
                               ") does not have; rebuild the plan");
      if (tactic->kind() != l.kind())
        return bad("layer '" + l.name + "' (" + layerKindName(l.kind()) + ") names tactic '" +
                   data->tactics[i] + "', which implements " + layerKindName(tactic->kind()) +
                   " layers");
    }
  }
  if (plan->build_log())
    for (const auto* s : *plan->build_log())
      data->buildLog.push_back(s->str());
  auto strings = [](const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
    std::vector<std::string> out;
    if (v)
      for (const auto* x : *v)
        out.push_back(x->str());
    return out;
  };
  if (plan->source_nodes())
    for (const fb::SourceNodeDef* n : *plan->source_nodes())
      net.provenance().sourceNodes.push_back({str(n->name()), str(n->op())});
  if (plan->events())
    for (const fb::RewriteEventDef* e : *plan->events())
      net.provenance().events.push_back({str(e->pass()), str(e->rule()), strings(e->matched()),
                                         strings(e->produced()), strings(e->sources()),
                                         strings(e->removed_sources())});
  KILN_ASSIGN_OR_RETURN(std::vector<Shape> inSource, sourceShapes(plan->inputs()));
  KILN_ASSIGN_OR_RETURN(std::vector<Shape> outSource, sourceShapes(plan->outputs()));
  KILN_RETURN_IF_ERROR(finalizeEngineData(*data, inSource, outSource));
  // Every layer the runtime executes must name a tactic.
  for (size_t i = 0; i < net.layers().size(); ++i)
    if (data->program.executed[i] && data->tactics[i].empty())
      return bad("layer '" + net.layers()[i].name + "' is executed but names no tactic");
  return std::make_shared<Engine>(std::move(data));
}

/// 64-byte aligned copy of `size` bytes, owned by the returned pointer; nullptr when it cannot
/// be allocated.
std::shared_ptr<uint8_t> alignedCopy(const void* src, size_t size) {
  if (size > SIZE_MAX - kPlanAlignment) return nullptr;
  size_t rounded = (size + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
  auto* p =
      static_cast<uint8_t*>(std::aligned_alloc(kPlanAlignment, rounded ? rounded : kPlanAlignment));
  if (!p) return nullptr;
  if (size) std::memcpy(p, src, size);
  return std::shared_ptr<uint8_t>(p, [](uint8_t* q) { std::free(q); });
}

}  // namespace

Expected<std::shared_ptr<Engine>> Runtime::deserialize(const void* data, size_t size,
                                                       const std::string& source) try {
  if (data == nullptr && size > 0)
    return invalidArgument("plan '" + source + "': null buffer of " + std::to_string(size) +
                           " bytes");
  auto buf = alignedCopy(data, size);
  if (!buf)
    return outOfMemory("plan '" + source + "': cannot allocate " + std::to_string(size) +
                       " bytes for a copy of the plan");
  return loadPlan(buf, buf.get(), size, source);
} catch (...) {
  return exceptionToStatus("Runtime::deserialize");
}

Expected<std::shared_ptr<Engine>> Runtime::deserializeFile(const std::string& path) try {
  // The file is memory-mapped: its weights region (64-byte aligned offsets in a page-aligned
  // mapping) is used in place, without a copy.
  // RegularFile refuses directories, FIFOs and devices before reading a byte.
  KILN_ASSIGN_OR_RETURN(RegularFile file, RegularFile::open(path, "plan"));
  size_t size = static_cast<size_t>(file.size());
  if (size == 0) return loadPlan(nullptr, reinterpret_cast<const uint8_t*>(""), 0, path);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (p == MAP_FAILED) return ioError("cannot map plan '" + path + "': " + std::strerror(errno));
  std::shared_ptr<const void> mapping(
      p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  return loadPlan(mapping, static_cast<const uint8_t*>(p), size, path);
} catch (...) {
  return exceptionToStatus("Runtime::deserializeFile");
}

}  // namespace kiln
