#include <algorithm>
#include <cstdint>

#include "backends/backend.h"
#include "ir/describe.h"
#include "kiln/engine.h"
#include "runtime/engine_data.h"
#include "util/api_guard.h"

namespace kiln {

struct ExecutionContext::Impl {
  const Backend* backend = nullptr;
  std::unique_ptr<Stream> stream;
  void* arena = nullptr;
  void* workspace = nullptr;
  /// Per executed layer (in order): its id and kernel.
  std::vector<std::pair<LayerId, std::unique_ptr<Kernel>>> kernels;
  /// Per tensor: the bound address (inputs, outputs), arena address or weights address.
  std::vector<void*> address;
  std::vector<bool> bound;  ///< per I/O tensor id: bound by the user
  bool needSetup = true;

  ~Impl() {
    if (backend) {
      if (arena) backend->deallocate(arena);
      if (workspace) backend->deallocate(workspace);
    }
  }
};

ExecutionContext::ExecutionContext(std::shared_ptr<const Engine> engine, std::unique_ptr<Impl> impl)
    : engine_(std::move(engine)), impl_(std::move(impl)) {}
ExecutionContext::~ExecutionContext() = default;

Expected<std::unique_ptr<ExecutionContext>> Engine::createExecutionContext() const try {
  const EngineData& d = *data_;
  auto impl = std::make_unique<ExecutionContext::Impl>();
  KILN_ASSIGN_OR_RETURN(impl->backend, findBackend(d.backend));
  const Backend& backend = *impl->backend;
  impl->stream = backend.createStream();
  if (!impl->stream) return internalError("backend '" + backend.name() + "' gave no stream");
  const NetworkDefinition& net = d.network;
  if (d.arenaBytes > SIZE_MAX)
    return outOfMemory("the activation arena of " + std::to_string(d.arenaBytes) +
                       " bytes exceeds this machine's address space");
  auto arena = backend.allocate(static_cast<size_t>(std::max<uint64_t>(d.arenaBytes, 1)));
  if (!arena)
    return arena.status().withContext("cannot allocate the activation arena of " +
                                      std::to_string(d.arenaBytes) + " bytes");
  impl->arena = *arena;
  impl->address.assign(net.tensors().size(), nullptr);
  impl->bound.assign(net.tensors().size(), false);
  size_t workspaceBytes = 0;
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    if (l.kind() == LayerKind::kConstant) {
      impl->address[l.outputs[0]] = const_cast<void*>(l.as<ConstantAttrs>().value.data());
      continue;
    }
    const Tactic* tactic = backend.findTactic(d.tactics[i]);
    if (!tactic)
      return notFound("layer '" + l.name + "': tactic '" + d.tactics[i] +
                      "' is not known to backend '" + backend.name() + "' of this kiln build");
    KILN_ASSIGN_OR_RETURN(LayerDesc desc, describeLayer(net, static_cast<LayerId>(i)));
    KILN_ASSIGN_OR_RETURN(auto kernel, tactic->create(desc));
    Status s = kernel->reshape(desc.inputs, desc.outputs);
    if (!s.isOk()) return s.withContext("layer '" + l.name + "'");
    workspaceBytes = std::max(workspaceBytes, kernel->workspaceBytes());
    impl->kernels.emplace_back(static_cast<LayerId>(i), std::move(kernel));
  }
  for (size_t t = 0; t < d.arenaOffsets.size(); ++t)
    if (d.arenaOffsets[t] >= 0)
      impl->address[t] = static_cast<uint8_t*>(impl->arena) + d.arenaOffsets[t];
  auto workspace = backend.allocate(std::max<size_t>(workspaceBytes, 1));
  if (!workspace)
    return workspace.status().withContext("cannot allocate the kernel workspace of " +
                                          std::to_string(workspaceBytes) + " bytes");
  impl->workspace = *workspace;
  auto self = shared_from_this();
  return std::unique_ptr<ExecutionContext>(new ExecutionContext(self, std::move(impl)));
} catch (...) {
  return exceptionToStatus("Engine::createExecutionContext");
}

Status ExecutionContext::setInputShape(const std::string& name, const Dims& dims) try {
  const EngineData& d = engine_->data();
  for (const IOTensorInfo& io : d.inputs) {
    if (io.name != name) continue;
    if (dims != io.dims)
      return invalidArgument("input '" + name + "': shape " + dimsToString(dims) +
                             " does not match the engine, which was built for " +
                             dimsToString(io.dims) + " (model shape " +
                             shapeToString(io.sourceShape) + ")");
    return Status::ok();
  }
  std::string known;
  for (const IOTensorInfo& io : d.inputs)
    known += (known.empty() ? "" : ", ") + io.name;
  return invalidArgument("the engine has no input named '" + name + "' (inputs: " + known + ")");
} catch (...) {
  return exceptionToStatus("ExecutionContext::setInputShape");
}

Status ExecutionContext::setTensorAddress(const std::string& name, void* data, size_t bytes,
                                          DataType dtype) try {
  const NetworkDefinition& net = engine_->data().network;
  const IOTensorInfo* io = engine_->findIO(name);
  if (!io) {
    std::string known;
    for (const auto& x : engine_->inputs())
      known += (known.empty() ? "" : ", ") + x.name;
    for (const auto& x : engine_->outputs())
      known += (known.empty() ? "" : ", ") + x.name;
    return invalidArgument("the engine has no input or output named '" + name +
                           "' (I/O tensors: " + known + ")");
  }
  if (dtype != io->dtype)
    return invalidArgument("tensor '" + name + "': buffer has element type " + dataTypeName(dtype) +
                           ", the engine expects " + dataTypeName(io->dtype) + " " +
                           dimsToString(io->dims));
  if (bytes < io->bytes())
    return invalidArgument("tensor '" + name + "': buffer holds " + std::to_string(bytes) +
                           " bytes, the engine needs " + std::to_string(io->bytes()) + " for " +
                           dataTypeName(io->dtype) + " " + dimsToString(io->dims));
  if (data == nullptr && io->bytes() > 0)
    return invalidArgument("tensor '" + name + "': null buffer");
  TensorId t = net.findTensor(name);
  impl_->address[t] = data;
  impl_->bound[t] = true;
  impl_->needSetup = true;
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::setTensorAddress");
}

Status ExecutionContext::setInputTensor(const std::string& name, const void* data, size_t bytes,
                                        DataType dtype) try {
  bool isInput = false;
  for (const auto& io : engine_->inputs())
    isInput = isInput || io.name == name;
  if (!isInput && engine_->findIO(name))
    return invalidArgument("'" + name + "' is an output of the engine, not an input");
  return setTensorAddress(name, const_cast<void*>(data), bytes, dtype);
} catch (...) {
  return exceptionToStatus("ExecutionContext::setInputTensor");
}

Status ExecutionContext::enqueue(Stream& stream) try {
  const EngineData& d = engine_->data();
  const NetworkDefinition& net = d.network;
  for (TensorId t : net.inputs())
    if (!impl_->bound[t])
      return invalidArgument("input '" + net.tensor(t).name + "' has no buffer bound");
  for (TensorId t : net.outputs())
    if (!impl_->bound[t])
      return invalidArgument("output '" + net.tensor(t).name + "' has no buffer bound");
  if (impl_->needSetup) {
    for (auto& [lid, kernel] : impl_->kernels) {
      const Layer& l = net.layer(lid);
      std::vector<const void*> ins;
      for (TensorId t : l.inputs)
        ins.push_back(t == kNoTensor ? nullptr : impl_->address[t]);
      std::vector<void*> outs;
      for (TensorId t : l.outputs)
        outs.push_back(impl_->address[t]);
      Status s = kernel->setup(ins, outs, impl_->workspace);
      if (!s.isOk()) return s.withContext("layer '" + l.name + "'");
    }
    impl_->needSetup = false;
  }
  for (auto& [lid, kernel] : impl_->kernels) {
    Status s = kernel->run(stream);
    if (!s.isOk()) return s.withContext("layer '" + net.layer(lid).name + "'");
  }
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::enqueue");
}

Status ExecutionContext::execute() try {
  KILN_RETURN_IF_ERROR(enqueue(*impl_->stream));
  return impl_->stream->synchronize();
} catch (...) {
  return exceptionToStatus("ExecutionContext::execute");
}

}  // namespace kiln
