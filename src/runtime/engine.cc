#include "backends/backend.h"
#include "runtime/engine_data.h"

namespace kiln {

void describeIO(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                const std::vector<Shape>& outputSourceShapes) {
  const NetworkDefinition& net = data.network;
  auto info = [&](TensorId t, const std::vector<Shape>& src, size_t i) {
    const Tensor& x = net.tensor(t);
    IOTensorInfo io;
    io.name = x.name;
    io.dtype = x.dtype;
    io.dims = staticDims(x.shape).value_or(Dims{});
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
    if (l.kind() == LayerKind::kConstant) continue;
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

std::unique_ptr<Stream> Engine::createStream() const {
  auto backend = findBackend(data_->backend);
  return backend ? (*backend)->createStream() : nullptr;  // loaded engines name a known backend
}

MemoryInfo Engine::memory() const {
  MemoryInfo m;
  m.arenaBytes = data_->arenaBytes;
  m.activationBytes = data_->activationBytes;
  for (int64_t off : data_->arenaOffsets)
    m.activationCount += off >= 0;
  for (const Layer& l : data_->network.layers())
    if (l.kind() == LayerKind::kConstant) m.weightBytes += l.as<ConstantAttrs>().value.bytes();
  return m;
}

}  // namespace kiln
