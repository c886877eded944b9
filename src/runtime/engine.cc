#include "backends/backend.h"
#include "runtime/engine_data.h"
#include "runtime/memory_planner.h"
#include "util/api_guard.h"

namespace kiln {

void describeIO(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                const std::vector<Shape>& outputSourceShapes) {
  const NetworkDefinition& net = data.network;
  std::vector<TensorDesc> opt = evaluateShapes(net, data.optSymbols);
  auto info = [&](TensorId t, const std::vector<Shape>& src, size_t i) {
    const Tensor& x = net.tensor(t);
    IOTensorInfo io;
    io.name = x.name;
    io.dtype = x.dtype;
    io.shape = x.shape;
    io.dims = opt[t].dims;
    io.sourceShape = i < src.size() ? src[i] : x.shape;
    return io;
  };
  data.inputs.clear();
  data.outputs.clear();
  for (size_t i = 0; i < net.inputs().size(); ++i)
    data.inputs.push_back(info(net.inputs()[i], inputSourceShapes, i));
  for (size_t i = 0; i < net.outputs().size(); ++i)
    data.outputs.push_back(info(net.outputs()[i], outputSourceShapes, i));
}

ArenaPlan planArena(const NetworkDefinition& net, const ShapeProgram& program,
                    const ConcreteShapes& shapes) {
  // Every tensor written by an executed layer and not a graph output lives in the arena from
  // the layer that writes it to the last executed layer that reads it.
  const auto& layers = net.layers();
  std::vector<int> first(net.tensors().size(), -1), last(net.tensors().size(), -1);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!program.executed[i]) continue;
    for (TensorId t : layers[i].outputs)
      first[t] = last[t] = static_cast<int>(i);
    for (TensorId t : layers[i].inputs)
      if (t != kNoTensor && first[t] >= 0) last[t] = static_cast<int>(i);
  }
  std::vector<BufferRequest> requests;
  std::vector<TensorId> requestTensor;
  for (size_t t = 0; t < net.tensors().size(); ++t) {
    if (first[t] < 0 || net.tensors()[t].isOutput) continue;
    requests.push_back({shapes.tensors[t].bytes(), first[t], last[t]});
    requestTensor.push_back(static_cast<TensorId>(t));
  }
  MemoryPlan plan = planMemory(requests);
  ArenaPlan out;
  out.offsets.assign(net.tensors().size(), -1);
  for (size_t r = 0; r < requests.size(); ++r)
    out.offsets[requestTensor[r]] = static_cast<int64_t>(plan.offsets[r]);
  out.arenaBytes = plan.arenaBytes;
  out.totalBytes = plan.totalBytes;
  out.count = requests.size();
  return out;
}

Status checkMemoryLimits(const EngineData& data, const ConcreteShapes& shapes, uint64_t arenaBytes,
                         const std::string& when) {
  const NetworkDefinition& net = data.network;
  for (size_t t = 0; t < shapes.tensors.size() && t < net.tensors().size(); ++t) {
    const TensorDesc& d = shapes.tensors[t];
    KILN_ASSIGN_OR_RETURN(uint64_t bytes, byteSize(d.dtype, d.dims, net.tensors()[t].name));
    if (data.maxTensorBytes != 0 && bytes > data.maxTensorBytes)
      return Status(StatusCode::kOutOfMemory,
                    when + ": tensor '" + net.tensors()[t].name + "' " + dataTypeName(d.dtype) +
                        dimsToString(d.dims) + " needs " + std::to_string(bytes) +
                        " bytes, above the limit of " + std::to_string(data.maxTensorBytes) +
                        " bytes for one tensor");
  }
  if (data.maxArenaBytes != 0 && arenaBytes > data.maxArenaBytes)
    return Status(StatusCode::kOutOfMemory, when + ": the activations need an arena of " +
                                                std::to_string(arenaBytes) +
                                                " bytes, above the limit of " +
                                                std::to_string(data.maxArenaBytes) + " bytes");
  return Status::ok();
}

Status finalizeEngineData(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                          const std::vector<Shape>& outputSourceShapes) {
  data.program = analyzeShapes(data.network);
  if (data.profiles.empty()) data.profiles.emplace_back();
  describeIO(data, inputSourceShapes, outputSourceShapes);
  // Memory at the representative shape (informational; shape values of inputs are unknown
  // here, so engines whose shapes depend on input values report the symbolic evaluation).
  ConcreteShapes cs;
  cs.tensors = evaluateShapes(data.network, data.optSymbols);
  KILN_RETURN_IF_ERROR(checkMemoryLimits(data, cs, 0, "at the representative shape"));
  ArenaPlan a = planArena(data.network, data.program, cs);
  KILN_RETURN_IF_ERROR(checkMemoryLimits(data, cs, a.arenaBytes, "at the representative shape"));
  data.arenaBytes = a.arenaBytes;
  data.activationBytes = a.totalBytes;
  data.activationCount = a.count;
  return Status::ok();
}

Engine::Engine(std::shared_ptr<const EngineData> data) : data_(std::move(data)) {}
Engine::~Engine() = default;

const std::vector<IOTensorInfo>& Engine::inputs() const {
  return data_->inputs;
}
const std::vector<IOTensorInfo>& Engine::outputs() const {
  return data_->outputs;
}
const std::string& Engine::backend() const {
  return data_->backend;
}
const std::vector<OptimizationProfile>& Engine::profiles() const {
  return data_->profiles;
}
int Engine::threads() const {
  return data_->threads;
}
const std::vector<std::string>& Engine::buildLog() const {
  return data_->buildLog;
}

const Provenance& Engine::provenance() const {
  return data_->network.provenance();
}

const IOTensorInfo* Engine::findIO(const std::string& name) const {
  for (const auto& io : data_->inputs)
    if (io.name == name) return &io;
  for (const auto& io : data_->outputs)
    if (io.name == name) return &io;
  return nullptr;
}

std::vector<LayerInfo> Engine::layers() const {
  const NetworkDefinition& net = data_->network;
  auto desc = [&](TensorId t) {
    const Tensor& x = net.tensor(t);
    return std::string(dataTypeName(x.dtype)) + shapeToString(x.shape);
  };
  std::vector<LayerInfo> out;
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    if (!data_->program.executed[i]) continue;  // constants and shape computations
    LayerInfo li;
    li.name = l.name;
    li.kind = layerKindName(l.kind());
    li.attributes = attrsToString(l.attrs);
    li.tactic = data_->tactics[i];
    for (TensorId t : l.inputs) {
      li.inputs.push_back(t == kNoTensor ? "" : net.tensor(t).name);
      li.inputShapes.push_back(t == kNoTensor ? "" : desc(t));
    }
    for (TensorId t : l.outputs) {
      li.outputs.push_back(net.tensor(t).name);
      li.outputShapes.push_back(desc(t));
    }
    li.origins = l.origins;
    li.rules = l.rules;
    out.push_back(std::move(li));
  }
  return out;
}

std::unique_ptr<Stream> Engine::createStream() const try {
  auto backend = findBackend(data_->backend);
  return backend ? (*backend)->createStream() : nullptr;  // loaded engines name a known backend
} catch (...) {
  return nullptr;  // documented: nullptr when no stream can be made
}

MemoryInfo Engine::memory() const {
  MemoryInfo m;
  m.arenaBytes = data_->arenaBytes;
  m.activationBytes = data_->activationBytes;
  m.activationCount = data_->activationCount;
  for (const Layer& l : data_->network.layers())
    if (l.kind() == LayerKind::kConstant) m.weightBytes += l.as<ConstantAttrs>().value.bytes();
  return m;
}

}  // namespace kiln
