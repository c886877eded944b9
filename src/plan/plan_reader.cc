// Runtime::deserialize: plan file bytes -> Engine, refusing anything that does not check out.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "backends/backend.h"
#include "ir/describe.h"
#include "ir/shape_inference.h"
#include "plan/plan_format.h"
#include "plan_generated.h"
#include "runtime/engine_data.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {

namespace {

/// Reads attribute fields back by name; absent fields keep their defaults (schema evolution).
struct AttrReader {
  std::map<std::string, const fb::Attr*> byName;
  const std::vector<Weights>& weights;
  std::string error;

  const fb::Attr* find(const char* name) {
    auto it = byName.find(name);
    return it == byName.end() ? nullptr : it->second;
  }
  bool oneInt(const char* name, int64_t& v) {
    const fb::Attr* a = find(name);
    if (!a) return false;
    if (!a->ints() || a->ints()->size() != 1) {
      error = std::string("attribute '") + name + "' is malformed";
      return false;
    }
    v = a->ints()->Get(0);
    return true;
  }
  void operator()(const char* name, bool& v) {
    int64_t x;
    if (oneInt(name, x)) v = x != 0;
  }
  void operator()(const char* name, int64_t& v) { oneInt(name, v); }
  template <class E>
  void operator()(const char* name, E& v) requires std::is_enum_v<E> {
    int64_t x;
    if (!oneInt(name, x)) return;
    if (x < 0 || x >= enumCount<E>()) {
      error = std::string("attribute '") + name + "' has out-of-range value " + std::to_string(x);
      return;
    }
    v = static_cast<E>(x);
  }
  void operator()(const char* name, std::vector<int64_t>& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    v.clear();
    if (a->ints()) v.assign(a->ints()->begin(), a->ints()->end());
  }
  void operator()(const char* name, float& v) {
    const fb::Attr* a = find(name);
    if (!a) return;
    if (!a->floats() || a->floats()->size() != 1) {
      error = std::string("attribute '") + name + "' is malformed";
      return;
    }
    v = a->floats()->Get(0);
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
    if (a->weight() < 0 || static_cast<size_t>(a->weight()) >= weights.size()) {
      error = std::string("attribute '") + name + "' names weights that do not exist";
      return;
    }
    v = weights[a->weight()];
  }
};

std::string str(const flatbuffers::String* s) {
  return s ? s->str() : std::string();
}

template <class T>
std::vector<T> vec(const flatbuffers::Vector<T>* v) {
  return v ? std::vector<T>(v->begin(), v->end()) : std::vector<T>();
}

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
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &zeroed, sizeof(zeroed));
  XXH3_64bits_update(st, p + sizeof(zeroed), size - sizeof(zeroed));
  uint64_t sum = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  if (sum != h.checksum) return bad("checksum mismatch: the file is corrupted");
  if (h.headerBytes != sizeof(PlanHeader) || h.metaOffset < sizeof(PlanHeader) ||
      h.metaOffset + h.metaBytes > size || h.weightsOffset % kPlanAlignment != 0 ||
      h.weightsOffset < h.metaOffset + h.metaBytes || h.weightsOffset + h.weightsBytes != size)
    return bad("inconsistent section offsets in the header");
  flatbuffers::Verifier verifier(p + h.metaOffset, h.metaBytes);
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

  // Weights: borrowed from the file buffer (64-byte aligned offsets).
  std::vector<Weights> weights;
  const uint8_t* region = p + h.weightsOffset;
  if (plan->weights()) {
    for (const fb::WeightRef* w : *plan->weights()) {
      int32_t dt = w->dtype();
      if (dt < 0 || dt >= enumCount<DataType>()) return bad("weights with an unknown dtype");
      Dims dims = vec(w->dims());
      for (int64_t x : dims)
        if (x < 0) return bad("weights with a negative dimension");
      uint64_t bytes =
          static_cast<uint64_t>(volume(dims)) * dataTypeSize(static_cast<DataType>(dt));
      if (bytes != w->bytes() || w->offset() % kPlanAlignment != 0 ||
          w->offset() + bytes > h.weightsBytes)
        return bad("weights outside the weights region or of the wrong size");
      weights.push_back(
          Weights::borrow(static_cast<DataType>(dt), dims, region + w->offset(), owner));
    }
  }

  // Network: inputs first, then layers in order, mapping stored tensor ids to new ones.
  const auto* tdefs = plan->tensors();
  const auto* ldefs = plan->layers();
  if (!tdefs || !ldefs) return bad("missing tensors or layers");
  NetworkDefinition& net = data->network;
  std::vector<TensorId> map(tdefs->size(), kNoTensor);
  auto tensorDef = [&](int32_t id) -> const fb::TensorDef* {
    return id >= 0 && static_cast<size_t>(id) < tdefs->size() ? tdefs->Get(id) : nullptr;
  };
  if (plan->inputs()) {
    for (const fb::IODef* io : *plan->inputs()) {
      const fb::TensorDef* t = tensorDef(io->tensor());
      if (!t || t->dtype() < 0 || t->dtype() >= enumCount<DataType>())
        return bad("an input refers to a bad tensor");
      auto id = net.addInput(str(t->name()), static_cast<DataType>(t->dtype()),
                             shapeFromDims(vec(t->dims())));
      if (!id) return bad(id.status().message());
      map[io->tensor()] = *id;
    }
  }
  for (const fb::LayerDef* l : *ldefs) {
    int32_t kind = l->kind();
    if (kind < 0 || kind >= kLayerKindCount ||
        str(l->kind_name()) != layerKindName(static_cast<LayerKind>(kind)))
      return bad("layer '" + str(l->name()) + "' has unknown kind '" + str(l->kind_name()) + "'");
    LayerAttrs attrs = defaultAttrs(static_cast<LayerKind>(kind));
    AttrReader reader{{}, weights, {}};
    if (l->attrs())
      for (const fb::Attr* a : *l->attrs())
        reader.byName[str(a->name())] = a;
    std::visit(
        [&](auto& a) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>) a.visit(reader);
        },
        attrs);
    if (!reader.error.empty()) return bad("layer '" + str(l->name()) + "': " + reader.error);
    std::vector<TensorId> ins;
    for (int32_t t : vec(l->inputs())) {
      if (t == kNoTensor) {
        ins.push_back(kNoTensor);
        continue;
      }
      if (!tensorDef(t) || map[t] == kNoTensor)
        return bad("layer '" + str(l->name()) + "' reads a tensor before it is produced");
      ins.push_back(map[t]);
    }
    std::vector<int32_t> outIds = vec(l->outputs());
    std::vector<std::string> outNames;
    for (int32_t t : outIds) {
      if (!tensorDef(t) || map[t] != kNoTensor)
        return bad("layer '" + str(l->name()) + "' has a bad output tensor");
      outNames.push_back(str(tensorDef(t)->name()));
    }
    LayerId lid;
    if (kind == static_cast<int32_t>(LayerKind::kConstant)) {
      if (outIds.size() != 1 || !ins.empty()) return bad("malformed constant layer");
      TensorId t = net.addConstant(outNames[0], std::get<ConstantAttrs>(attrs).value);
      if (net.tensor(t).name != outNames[0])
        return bad("duplicate tensor name '" + outNames[0] + "'");
      lid = net.tensor(t).producer;
      net.layer(lid).name = str(l->name());
    } else {
      auto r = net.addLayer(str(l->name()), std::move(attrs), ins, static_cast<int>(outIds.size()),
                            outNames);
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
  // Types, dims and arena offsets.
  data->arenaBytes = plan->arena_bytes();
  data->activationBytes = plan->activation_bytes();
  data->arenaOffsets.assign(net.tensors().size(), -1);
  for (size_t i = 0; i < tdefs->size(); ++i) {
    if (map[i] == kNoTensor)
      return bad("tensor '" + str(tdefs->Get(i)->name()) + "' is never defined");
    const fb::TensorDef* t = tdefs->Get(i);
    if (t->dtype() < 0 || t->dtype() >= enumCount<DataType>())
      return bad("tensor with unknown dtype");
    Dims dims = vec(t->dims());
    for (int64_t x : dims)
      if (x < 0) return bad("tensor '" + str(t->name()) + "' has a negative dimension");
    Tensor& x = net.tensor(map[i]);
    x.dtype = static_cast<DataType>(t->dtype());
    x.shape = shapeFromDims(dims);
    x.shapeKnown = true;
    uint64_t bytes = static_cast<uint64_t>(volume(dims)) * dataTypeSize(x.dtype);
    if (t->arena_offset() >= 0 &&
        static_cast<uint64_t>(t->arena_offset()) + bytes > data->arenaBytes)
      return bad("tensor '" + x.name + "' lies outside the activation arena");
    data->arenaOffsets[map[i]] = t->arena_offset();
  }
  std::vector<Shape> outSource;
  if (plan->outputs()) {
    for (const fb::IODef* io : *plan->outputs()) {
      if (!tensorDef(io->tensor())) return bad("an output refers to a bad tensor");
      KILN_RETURN_IF_ERROR(net.markOutput(map[io->tensor()]));
    }
  }
  auto sourceShapes = [](const flatbuffers::Vector<flatbuffers::Offset<fb::IODef>>* v) {
    std::vector<Shape> out;
    if (!v) return out;
    for (const fb::IODef* io : *v) {
      Shape s;
      auto dims = vec(io->source_dims());
      for (size_t i = 0; i < dims.size(); ++i) {
        std::string sym = io->source_symbols() && i < io->source_symbols()->size()
                              ? io->source_symbols()->Get(i)->str()
                              : std::string();
        s.push_back(sym.empty() ? Dim::fixed(dims[i]) : Dim::named(sym));
      }
      out.push_back(s);
    }
    return out;
  };
  if (Status s = net.verify(); !s.isOk()) return bad(s.message());
  // Every executed layer's stored output types and dims must be what its inputs imply, so
  // that no kernel can be handed a buffer of the wrong size.
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    if (l.kind() == LayerKind::kConstant) continue;
    auto desc = describeLayer(net, static_cast<LayerId>(i));
    if (!desc) return bad(desc.status().message());
    auto inferred = inferOutputs(*desc);
    if (!inferred) return bad(inferred.status().message());
    if (*inferred != desc->outputs)
      return bad("layer '" + l.name + "' has outputs inconsistent with its inputs");
  }
  // Every tactic the plan names must exist in this build, so that a plan from another kiln
  // is refused when loaded, not when a context is created.
  for (size_t i = 0; i < net.layers().size(); ++i) {
    if (net.layers()[i].kind() == LayerKind::kConstant) continue;
    if (!(*backend)->findTactic(data->tactics[i]))
      return versionMismatch(
          "plan '" + source + "': layer '" + net.layers()[i].name + "' uses tactic '" +
          data->tactics[i] + "', which backend '" + data->backend +
          "' of this kiln build (" KILN_VERSION ") does not have; rebuild the plan");
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
  describeIO(*data, sourceShapes(plan->inputs()), sourceShapes(plan->outputs()));
  return std::make_shared<Engine>(std::move(data));
}

/// 64-byte aligned copy of `size` bytes, owned by the returned pointer.
std::shared_ptr<uint8_t> alignedCopy(const void* src, size_t size) {
  size_t rounded = (size + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
  auto* p =
      static_cast<uint8_t*>(std::aligned_alloc(kPlanAlignment, rounded ? rounded : kPlanAlignment));
  if (size) std::memcpy(p, src, size);
  return std::shared_ptr<uint8_t>(p, [](uint8_t* q) { std::free(q); });
}

}  // namespace

Expected<std::shared_ptr<Engine>> Runtime::deserialize(const void* data, size_t size,
                                                       const std::string& source) {
  auto buf = alignedCopy(data, size);
  return loadPlan(buf, buf.get(), size, source);
}

Expected<std::shared_ptr<Engine>> Runtime::deserializeFile(const std::string& path) {
  // The file is memory-mapped: its weights region (64-byte aligned offsets in a page-aligned
  // mapping) is used in place, without a copy.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ioError("cannot open plan '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return ioError("plan '" + path + "' is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return loadPlan(nullptr, reinterpret_cast<const uint8_t*>(""), 0, path);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return ioError("cannot map plan '" + path + "': " + std::strerror(errno));
  std::shared_ptr<const void> mapping(
      p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  return loadPlan(mapping, static_cast<const uint8_t*>(p), size, path);
}

}  // namespace kiln
