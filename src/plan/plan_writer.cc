// Engine::serialize: EngineData -> plan file bytes (layout in plan_format.h).
#include <cstring>
#include <new>
#include <string_view>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "plan/plan_format.h"
#include "plan_generated.h"
#include "runtime/engine_data.h"
#include "util/api_guard.h"
#include "util/file_io.h"

namespace kiln {

namespace {

uint64_t alignUp(uint64_t x) {
  return (x + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
}

/// Writes each attribute field of a layer as an fb::Attr.
struct AttrWriter {
  flatbuffers::FlatBufferBuilder& fbb;
  std::vector<const Weights*>& weights;
  std::vector<flatbuffers::Offset<fb::Attr>> out;

  void ints(const char* name, const std::vector<int64_t>& v) {
    auto n = fbb.CreateString(name);
    auto iv = fbb.CreateVector(v);
    fb::AttrBuilder b(fbb);
    b.add_name(n);
    b.add_ints(iv);
    out.push_back(b.Finish());
  }
  void operator()(const char* name, bool v) { ints(name, {v ? 1 : 0}); }
  void operator()(const char* name, int64_t v) { ints(name, {v}); }
  void operator()(const char* name, const std::vector<int64_t>& v) { ints(name, v); }
  template <class E>
  void operator()(const char* name, E v) requires std::is_enum_v<E> {
    ints(name, {static_cast<int64_t>(v)});
  }
  void operator()(const char* name, float v) {
    auto n = fbb.CreateString(name);
    std::vector<float> f = {v};
    auto fv = fbb.CreateVector(f);
    fb::AttrBuilder b(fbb);
    b.add_name(n);
    b.add_floats(fv);
    out.push_back(b.Finish());
  }
  void operator()(const char* name, const std::vector<Dim>& v) {
    auto n = fbb.CreateString(name);
    std::vector<std::string> text;
    for (const Dim& d : v)
      text.push_back(d.toString());
    auto dv = fbb.CreateVectorOfStrings(text);
    fb::AttrBuilder b(fbb);
    b.add_name(n);
    b.add_dims(dv);
    out.push_back(b.Finish());
  }
  void operator()(const char* name, const std::string& v) {
    auto n = fbb.CreateString(name);
    auto sv = fbb.CreateString(v);
    fb::AttrBuilder b(fbb);
    b.add_name(n);
    b.add_str(sv);
    out.push_back(b.Finish());
  }
  void operator()(const char* name, const Weights& w) {
    auto n = fbb.CreateString(name);
    fb::AttrBuilder b(fbb);
    b.add_name(n);
    b.add_weight(static_cast<int32_t>(weights.size()));
    weights.push_back(&w);
    out.push_back(b.Finish());
  }
};

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> shapeText(
    flatbuffers::FlatBufferBuilder& fbb, const Shape& shape) {
  std::vector<std::string> text;
  for (const Dim& d : shape)
    text.push_back(d.toString());
  return fbb.CreateVectorOfStrings(text);
}

flatbuffers::Offset<fb::IODef> ioDef(flatbuffers::FlatBufferBuilder& fbb, TensorId t,
                                     const Shape& source) {
  auto st = shapeText(fbb, source);
  fb::IODefBuilder b(fbb);
  b.add_tensor(t);
  b.add_source_shape(st);
  return b.Finish();
}

}  // namespace

Expected<std::vector<uint8_t>> Engine::serialize() const try {
  const EngineData& d = *data_;
  const NetworkDefinition& net = d.network;
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<const Weights*> weights;

  std::vector<flatbuffers::Offset<fb::TensorDef>> tensors;
  for (size_t i = 0; i < net.tensors().size(); ++i) {
    const Tensor& t = net.tensors()[i];
    for (const Dim& x : t.shape)
      if (!x.isKnown())
        return internalError("tensor '" + t.name + "' has an unknown dim in an engine");
    auto name = fbb.CreateString(t.name);
    auto shape = shapeText(fbb, t.shape);
    fb::TensorDefBuilder b(fbb);
    b.add_name(name);
    b.add_dtype(static_cast<int32_t>(t.dtype));
    b.add_is_input(t.isInput);
    b.add_is_output(t.isOutput);
    b.add_shape(shape);
    tensors.push_back(b.Finish());
  }
  std::vector<flatbuffers::Offset<fb::LayerDef>> layers;
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    AttrWriter w{fbb, weights, {}};
    std::visit(
        [&](const auto& a) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>) a.visit(w);
        },
        l.attrs);
    layers.push_back(
        fb::CreateLayerDef(fbb, fbb.CreateString(l.name), static_cast<int32_t>(l.kind()),
                           fbb.CreateString(layerKindName(l.kind())), fbb.CreateVector(w.out),
                           fbb.CreateVector(l.inputs), fbb.CreateVector(l.outputs),
                           fbb.CreateVectorOfStrings(l.origins), fbb.CreateString(d.tactics[i]),
                           fbb.CreateVectorOfStrings(l.rules)));
  }
  std::vector<flatbuffers::Offset<fb::IODef>> ins, outs;
  for (size_t i = 0; i < net.inputs().size(); ++i)
    ins.push_back(ioDef(fbb, net.inputs()[i], d.inputs[i].sourceShape));
  for (size_t i = 0; i < net.outputs().size(); ++i)
    outs.push_back(ioDef(fbb, net.outputs()[i], d.outputs[i].sourceShape));

  std::vector<flatbuffers::Offset<fb::WeightRef>> refs;
  uint64_t weightsBytes = 0;
  std::vector<uint64_t> weightOffsets;
  for (const Weights* w : weights) {
    KILN_ASSIGN_OR_RETURN(uint64_t bytes, byteSize(w->dtype(), w->dims(), "constant weights"));
    auto end = checkedAdd(static_cast<int64_t>(weightsBytes), static_cast<int64_t>(bytes));
    if (!end || *end > INT64_MAX - static_cast<int64_t>(kPlanAlignment))
      return invalidArgument("the engine's weights exceed " + std::to_string(INT64_MAX) +
                             " bytes: they cannot be written as a plan");
    weightOffsets.push_back(weightsBytes);
    refs.push_back(fb::CreateWeightRef(fbb, weightsBytes, w->bytes(),
                                       static_cast<int32_t>(w->dtype()),
                                       fbb.CreateVector(w->dims())));
    weightsBytes = alignUp(weightsBytes + w->bytes());
  }
  std::vector<flatbuffers::Offset<fb::ProfileDef>> profiles;
  for (const OptimizationProfile& p : d.profiles) {
    std::vector<flatbuffers::Offset<fb::InputRange>> ranges;
    for (const auto& [input, r] : p.inputs)
      ranges.push_back(fb::CreateInputRange(fbb, fbb.CreateString(input), fbb.CreateVector(r.min),
                                            fbb.CreateVector(r.opt), fbb.CreateVector(r.max)));
    profiles.push_back(fb::CreateProfileDef(fbb, fbb.CreateVector(ranges)));
  }
  std::vector<flatbuffers::Offset<fb::SymbolValue>> optSymbols;
  for (const auto& [sym, v] : d.optSymbols)
    optSymbols.push_back(fb::CreateSymbolValue(fbb, fbb.CreateString(sym), v));
  const Provenance& prov = net.provenance();
  std::vector<flatbuffers::Offset<fb::SourceNodeDef>> nodes;
  for (const SourceNode& n : prov.sourceNodes)
    nodes.push_back(fb::CreateSourceNodeDef(fbb, fbb.CreateString(n.name), fbb.CreateString(n.op)));
  std::vector<flatbuffers::Offset<fb::RewriteEventDef>> events;
  for (const RewriteEvent& e : prov.events)
    events.push_back(fb::CreateRewriteEventDef(
        fbb, fbb.CreateString(e.pass), fbb.CreateString(e.rule),
        fbb.CreateVectorOfStrings(e.matched), fbb.CreateVectorOfStrings(e.produced),
        fbb.CreateVectorOfStrings(e.sources), fbb.CreateVectorOfStrings(e.removedSources)));
  auto plan = fb::CreatePlanDef(
      fbb, fbb.CreateString(d.kilnVersion), fbb.CreateString(d.backend), fbb.CreateString(d.device),
      fbb.CreateString(d.source), fbb.CreateVector(tensors), fbb.CreateVector(layers),
      fbb.CreateVector(ins), fbb.CreateVector(outs), fbb.CreateVector(refs), d.arenaBytes,
      d.activationBytes, fbb.CreateVectorOfStrings(d.buildLog), fbb.CreateVector(profiles),
      fbb.CreateVector(optSymbols), d.maxTensorBytes, d.maxArenaBytes, d.threads,
      fbb.CreateVector(nodes), fbb.CreateVector(events));
  fbb.Finish(plan);

  PlanHeader h{};
  std::memcpy(h.magic, kPlanMagic, sizeof(h.magic));
  h.formatVersion = kPlanFormatVersion;
  h.headerBytes = sizeof(PlanHeader);
  h.metaOffset = sizeof(PlanHeader);
  h.metaBytes = fbb.GetSize();
  h.weightsOffset = alignUp(h.metaOffset + h.metaBytes);
  h.weightsBytes = weightsBytes;
  h.fileBytes = h.weightsOffset + weightsBytes;

  std::vector<uint8_t> file;
  try {
    file.assign(h.fileBytes, 0);
  } catch (const std::bad_alloc&) {
    return outOfMemory("cannot allocate " + std::to_string(h.fileBytes) + " bytes for the plan");
  }
  std::memcpy(file.data() + h.metaOffset, fbb.GetBufferPointer(), h.metaBytes);
  for (size_t i = 0; i < weights.size(); ++i)
    if (weights[i]->bytes())
      std::memcpy(file.data() + h.weightsOffset + weightOffsets[i], weights[i]->data(),
                  weights[i]->bytes());
  std::memcpy(file.data(), &h, sizeof(h));
  h.checksum = XXH3_64bits(file.data(), file.size());
  std::memcpy(file.data(), &h, sizeof(h));
  return file;
} catch (...) {
  return exceptionToStatus("Engine::serialize");
}

Status Engine::serializeToFile(const std::string& path) const try {
  KILN_ASSIGN_OR_RETURN(auto bytes, serialize());
  return writeRegularFile(
      path, "plan", std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
} catch (...) {
  return exceptionToStatus("Engine::serializeToFile");
}

}  // namespace kiln
