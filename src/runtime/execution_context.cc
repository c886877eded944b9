// ExecutionContext: input shapes -> shape pass -> memory plan -> kernel reshape/setup -> run.
//
// Work is done only when something changed: the shape pass runs when an input shape changes
// (and at every enqueue when input values decide shapes), kernels are reshaped only when their
// tensors' shapes or param values changed, the arena and workspace are reallocated only when
// they must grow, and kernels are set up again only when an address changed.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "backends/backend.h"
#include "backends/evaluate.h"
#include "kiln/engine.h"
#include "runtime/engine_data.h"
#include "util/api_guard.h"

namespace kiln {

namespace {

/// A buffer from the backend (or, with `host`, from the host heap) that grows on demand (never
/// shrinks).
struct Buffer {
  const Backend* backend = nullptr;
  bool host = false;
  void* ptr = nullptr;
  size_t capacity = 0;

  ~Buffer() { release(ptr); }
  void release(void* p) const {
    if (!p) return;
    if (host)
      std::free(p);
    else
      backend->deallocate(p);
  }
  /// Ensures `bytes` bytes; returns whether the address changed.
  Expected<bool> reserve(size_t bytes, const char* what) {
    if (ptr && bytes <= capacity) return false;
    void* old = ptr;
    Expected<void*> p = nullptr;
    if (host) {
      void* h = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
      p = h ? Expected<void*>(h) : Expected<void*>(Status(StatusCode::kOutOfMemory, "host heap"));
    } else {
      p = backend->allocate(std::max<size_t>(bytes, 1));
    }
    if (!p)
      return Status(StatusCode::kOutOfMemory, std::string("cannot allocate the ") + what + " (" +
                                                  std::to_string(bytes) +
                                                  " bytes): " + p.status().message());
    release(old);
    ptr = *p;
    capacity = std::max<size_t>(bytes, 1);
    return true;
  }
};

struct Binding {
  void* data = nullptr;
  size_t bytes = 0;
  bool bound = false;
  OutputAllocator* allocator = nullptr;  ///< outputs: provides memory at each run
  void* allocated = nullptr;             ///< the allocator's current buffer
  size_t allocatedBytes = 0;
  Dims notified;  ///< the shape last given to the allocator
  bool notifiedOnce = false;
};

bool sameValues(const Weights& a, const Weights& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  if (a.dtype() != b.dtype() || a.dims() != b.dims()) return false;
  return a.bytes() == 0 || std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

}  // namespace

struct ExecutionContext::Impl {
  const Backend* backend = nullptr;
  std::unique_ptr<Stream> stream;
  Buffer arena, workspace;
  /// Per executed layer (in order): its id and kernel.
  std::vector<std::pair<LayerId, std::unique_ptr<Kernel>>> kernels;
  /// Per kernel: reshaped for the current shapes.
  std::vector<bool> kernelReshaped;
  int profile = 0;
  /// Per graph input (net.inputs() order): its shape, and whether it was set.
  std::vector<Dims> inputDims;
  std::vector<bool> inputShapeSet;
  /// Per tensor id: the user's buffer for inputs and outputs.
  std::vector<Binding> bindings;
  /// Current concrete shapes (valid when shapesValid).
  ConcreteShapes shapes;
  bool shapesValid = false;
  ArenaPlan arenaPlan;
  std::vector<void*> address;  ///< per tensor
  bool needSetup = true;
  /// Per graph output: memory the context owns for outputs without a buffer or allocator.
  std::vector<std::unique_ptr<Buffer>> ownOutputs;
  /// Per tensor: where the last run wrote it (outputs).
  std::vector<void*> written;
  bool profiling = false;
  std::vector<ExecutionContext::LayerTimes> times;  ///< per kernel, when profiling
  /// Device backends (MemorySpace::kDevice): kernels see device addresses only. The user's I/O
  /// buffers are host memory, staged through `staging` (per tensor) with copies on the stream;
  /// constants are uploaded once (`deviceConstants`), host-computed shape values at each setup.
  bool device = false;
  std::vector<std::unique_ptr<Buffer>> staging;
  std::vector<std::unique_ptr<Buffer>> deviceConstants;

  /// Device backends: replaces the host addresses in `address` by device ones, uploading
  /// constants and host values as needed.
  Status placeOnDevice(const EngineData& d, Stream& stream);

  /// Runs the shape pass for the current input shapes (when they or shape-deciding input
  /// values changed) and prepares kernels and memory for them.
  Status prepareShapes(const EngineData& d);

  /// Device backends: the kernels' runs recorded once and replayed at each enqueue (a CUDA
  /// graph: one launch instead of one per layer). Recorded at the second enqueue after a setup
  /// (a shape or address seen once is not worth recording), dropped at the next setup; never
  /// while profiling, when a kernel is not capturable, or when the engine reads input values
  /// to decide shapes (every enqueue sets up again). KILN_GRAPHS=0 turns it off. A recording
  /// that fails turns it off for this context: the layers then run one by one, as without it.
  bool replayable = false;
  int runsSinceSetup = 0;  ///< 0, 1, or 2 for "two or more"
  bool lastReplayed = false;
  std::unique_ptr<CapturedWork> replay;
  Status record(Stream& stream);
  /// Runs the kernels one by one (timing each when profiling).
  Status runLayers(const NetworkDefinition& net, Stream& stream);
};

Status ExecutionContext::Impl::runLayers(const NetworkDefinition& net, Stream& stream) {
  for (size_t i = 0; i < kernels.size(); ++i) {
    auto& [lid, kernel] = kernels[i];
    auto t0 = std::chrono::steady_clock::now();
    Status s = kernel->run(stream);
    if (!s.isOk()) return s.withContext("layer '" + net.layer(lid).name + "'");
    if (profiling) {
      KILN_RETURN_IF_ERROR(stream.synchronize());
      times[i].ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  return Status::ok();
}

Status ExecutionContext::Impl::record(Stream& s) {
  KILN_RETURN_IF_ERROR(backend->beginCapture(s));
  Status run = Status::ok();
  for (auto& [lid, kernel] : kernels) {
    run = kernel->run(s);
    if (!run.isOk()) break;
  }
  auto work = backend->endCapture(s);
  KILN_RETURN_IF_ERROR(run);
  if (!work) return work.status();
  replay = std::move(work).value();
  return Status::ok();
}

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
  impl->arena.backend = impl->workspace.backend = &backend;
  impl->device = backend.memorySpace() == MemorySpace::kDevice;
  const NetworkDefinition& net = d.network;
  // Kernels are created for the representative shapes and reshaped for the real ones.
  ConcreteShapes opt;
  opt.tensors = evaluateShapes(net, d.optSymbols);
  opt.values.assign(net.tensors().size(), Weights());
  for (size_t i = 0; i < net.layers().size(); ++i) {
    if (!d.program.executed[i]) continue;
    const Layer& l = net.layers()[i];
    const Tactic* tactic = backend.findTactic(d.tactics[i]);
    if (!tactic)
      return notFound("layer '" + l.name + "': tactic '" + d.tactics[i] +
                      "' is not known to backend '" + backend.name() + "' of this kiln build");
    LayerDesc desc = concreteLayerDesc(net, static_cast<LayerId>(i), opt);
    desc.threads = d.threads;
    auto kernel = tactic->create(desc);
    if (!kernel) return kernel.status().withContext("layer '" + l.name + "'");
    impl->kernels.emplace_back(static_cast<LayerId>(i), std::move(*kernel));
  }
  impl->kernelReshaped.assign(impl->kernels.size(), false);
  const char* graphs = std::getenv("KILN_GRAPHS");
  impl->replayable = impl->device && !d.program.readsInputValues &&
                     !(graphs != nullptr && std::string(graphs) == "0") &&
                     std::all_of(impl->kernels.begin(), impl->kernels.end(),
                                 [](const auto& k) { return k.second->capturable(); });
  impl->bindings.assign(net.tensors().size(), Binding{});
  impl->written.assign(net.tensors().size(), nullptr);
  for (size_t i = 0; i < net.outputs().size(); ++i) {
    impl->ownOutputs.push_back(std::make_unique<Buffer>());
    impl->ownOutputs.back()->backend = &backend;
    impl->ownOutputs.back()->host = impl->device;  // the caller reads them from the host
  }
  if (impl->device) {
    for (size_t t = 0; t < net.tensors().size(); ++t) {
      impl->staging.push_back(std::make_unique<Buffer>());
      impl->staging.back()->backend = &backend;
      impl->deviceConstants.push_back(std::make_unique<Buffer>());
      impl->deviceConstants.back()->backend = &backend;
    }
  }
  impl->address.assign(net.tensors().size(), nullptr);
  for (const IOTensorInfo& io : d.inputs) {
    // Static inputs start with their shape; dynamic ones wait for setInputShape.
    auto dims = staticDims(io.shape);
    impl->inputDims.push_back(dims.value_or(Dims{}));
    impl->inputShapeSet.push_back(dims.has_value());
  }
  auto self = shared_from_this();
  return std::unique_ptr<ExecutionContext>(new ExecutionContext(self, std::move(impl)));
} catch (...) {
  return exceptionToStatus("Engine::createExecutionContext");
}

namespace {

std::string knownInputs(const EngineData& d) {
  std::string known;
  for (const IOTensorInfo& io : d.inputs)
    known += (known.empty() ? "" : ", ") + io.name;
  return known;
}

/// Checks `dims` of input `io` against profile `p` (index `index`).
Status checkProfile(const IOTensorInfo& io, const Dims& dims, const OptimizationProfile& p,
                    int index) {
  auto it = p.inputs.find(io.name);
  if (it == p.inputs.end()) return Status::ok();
  const ShapeRange& r = it->second;
  if (r.min.size() != dims.size() || r.max.size() != dims.size()) return Status::ok();
  for (size_t j = 0; j < dims.size(); ++j)
    if (dims[j] < r.min[j] || dims[j] > r.max[j])
      return invalidArgument("input '" + io.name + "': shape " + dimsToString(dims) +
                             " is outside optimization profile " + std::to_string(index) +
                             " (dim " + std::to_string(j) + " = " + std::to_string(dims[j]) +
                             " is not in [" + std::to_string(r.min[j]) + ", " +
                             std::to_string(r.max[j]) + "]; the profile accepts min " +
                             dimsToString(r.min) + " to max " + dimsToString(r.max) + ")");
  return Status::ok();
}

}  // namespace

Status ExecutionContext::setInputShape(const std::string& name, const Dims& dims) try {
  const EngineData& d = engine_->data();
  for (size_t i = 0; i < d.inputs.size(); ++i) {
    const IOTensorInfo& io = d.inputs[i];
    if (io.name != name) continue;
    if (dims.size() != io.shape.size())
      return invalidArgument("input '" + name + "': shape " + dimsToString(dims) + " has rank " +
                             std::to_string(dims.size()) + ", the engine's input is " +
                             shapeToString(io.shape) + " (rank " + std::to_string(io.shape.size()) +
                             ")");
    for (size_t j = 0; j < dims.size(); ++j) {
      if (dims[j] < 0)
        return invalidArgument("input '" + name + "': shape " + dimsToString(dims) +
                               " has a negative dimension");
      if (io.shape[j].isStatic() && io.shape[j].value() != dims[j])
        return invalidArgument("input '" + name + "': shape " + dimsToString(dims) +
                               " does not match the engine, whose input is " +
                               shapeToString(io.shape) + " (model shape " +
                               shapeToString(io.sourceShape) + ")");
    }
    KILN_RETURN_IF_ERROR(byteSize(io.dtype, dims, name).status());
    KILN_RETURN_IF_ERROR(
        checkProfile(io, dims, d.profiles[static_cast<size_t>(impl_->profile)], impl_->profile));
    if (!impl_->inputShapeSet[i] || impl_->inputDims[i] != dims) {
      impl_->inputDims[i] = dims;
      impl_->inputShapeSet[i] = true;
      impl_->shapesValid = false;
    }
    return Status::ok();
  }
  return invalidArgument("the engine has no input named '" + name + "' (inputs: " + knownInputs(d) +
                         ")");
} catch (...) {
  return exceptionToStatus("ExecutionContext::setInputShape");
}

Status ExecutionContext::setOptimizationProfile(int index) try {
  const EngineData& d = engine_->data();
  if (index < 0 || static_cast<size_t>(index) >= d.profiles.size())
    return invalidArgument("optimization profile " + std::to_string(index) +
                           " does not exist (the engine has " + std::to_string(d.profiles.size()) +
                           ")");
  for (size_t i = 0; i < d.inputs.size(); ++i)
    if (impl_->inputShapeSet[i] && d.inputs[i].isDynamic())
      KILN_RETURN_IF_ERROR(checkProfile(d.inputs[i], impl_->inputDims[i],
                                        d.profiles[static_cast<size_t>(index)], index));
  impl_->profile = index;
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::setOptimizationProfile");
}

int ExecutionContext::optimizationProfile() const {
  return impl_->profile;
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
                           shapeToString(io->shape));
  if (data == nullptr && bytes > 0) return invalidArgument("tensor '" + name + "': null buffer");
  TensorId t = net.findTensor(name);
  // Static tensors are checked now; dynamic ones at enqueue, once their shapes are known.
  if (auto dims = staticDims(io->shape)) {
    KILN_ASSIGN_OR_RETURN(uint64_t need, byteSize(io->dtype, *dims, name));
    if (bytes < need)
      return invalidArgument("tensor '" + name + "': buffer holds " + std::to_string(bytes) +
                             " bytes, the engine needs " + std::to_string(need) + " for " +
                             dataTypeName(io->dtype) + " " + dimsToString(*dims));
    if (data == nullptr && need > 0) return invalidArgument("tensor '" + name + "': null buffer");
  }
  Binding& b = impl_->bindings[static_cast<size_t>(t)];
  // Host kernels read the user's buffers directly: a new buffer means a new setup. Device
  // kernels read staging buffers that enqueue copies to and from, whatever the user's pointer.
  if (!b.bound || (b.data != data && !impl_->device)) impl_->needSetup = true;
  b = Binding{};
  b.data = data;
  b.bytes = bytes;
  b.bound = true;
  // An input whose values decide shapes changes the shapes when its data changes.
  if (engine_->data().program.hostValue[static_cast<size_t>(t)]) impl_->shapesValid = false;
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::setTensorAddress");
}

Status ExecutionContext::setOutputAllocator(const std::string& name,
                                            OutputAllocator* allocator) try {
  const NetworkDefinition& net = engine_->data().network;
  TensorId t = net.findTensor(name);
  if (t < 0 || !net.tensor(t).isOutput) {
    std::string known;
    for (const auto& x : engine_->outputs())
      known += (known.empty() ? "" : ", ") + x.name;
    return invalidArgument("the engine has no output named '" + name + "' (outputs: " + known +
                           ")");
  }
  Binding& b = impl_->bindings[static_cast<size_t>(t)];
  b = Binding{};
  b.allocator = allocator;
  impl_->needSetup = true;
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::setOutputAllocator");
}

Expected<const void*> ExecutionContext::getOutputBuffer(const std::string& name) const try {
  const NetworkDefinition& net = engine_->data().network;
  TensorId t = net.findTensor(name);
  if (t < 0 || !net.tensor(t).isOutput)
    return invalidArgument("the engine has no output named '" + name + "'");
  const void* p = impl_->written[static_cast<size_t>(t)];
  if (p == nullptr && impl_->bindings[static_cast<size_t>(t)].bound)
    p = impl_->bindings[static_cast<size_t>(t)].data;
  if (p == nullptr) return invalidArgument("output '" + name + "' has not been written yet");
  return p;
} catch (...) {
  return exceptionToStatus("ExecutionContext::getOutputBuffer");
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

Status ExecutionContext::Impl::prepareShapes(const EngineData& d) {
  Impl& c = *this;
  const NetworkDefinition& net = d.network;
  const bool rerun = !c.shapesValid || d.program.readsInputValues;
  if (!rerun) return Status::ok();
  for (size_t i = 0; i < d.inputs.size(); ++i)
    if (!c.inputShapeSet[i])
      return invalidArgument("input '" + d.inputs[i].name + "' has dynamic shape " +
                             shapeToString(d.inputs[i].shape) +
                             ": set its shape (ExecutionContext::setInputShape) first");
  std::vector<const void*> inputData;
  for (TensorId t : net.inputs())
    inputData.push_back(c.bindings[static_cast<size_t>(t)].bound
                            ? c.bindings[static_cast<size_t>(t)].data
                            : nullptr);
  ConcreteShapes next;
  KILN_RETURN_IF_ERROR(
      computeShapes(net, d.program, c.inputDims, inputData, &evaluateOnReference, next));
  KILN_RETURN_IF_ERROR(checkMemoryLimits(d, next, 0, "for these input shapes"));
  const bool first = c.shapes.tensors.empty();
  // Kernels whose tensors' shapes or param values changed are reshaped.
  for (size_t k = 0; k < c.kernels.size(); ++k) {
    const Layer& l = net.layer(c.kernels[k].first);
    bool changed = first || !c.kernelReshaped[k];
    for (size_t j = 0; j < l.inputs.size() && !changed; ++j) {
      TensorId t = l.inputs[j];
      if (t == kNoTensor) continue;
      changed = !(next.tensors[t] == c.shapes.tensors[t]) ||
                !sameValues(next.values[t], c.shapes.values[t]);
    }
    for (TensorId t : l.outputs)
      changed = changed || !(next.tensors[t] == c.shapes.tensors[t]);
    if (changed) c.kernelReshaped[k] = false;
  }
  c.shapes = std::move(next);
  c.shapesValid = true;
  c.needSetup = true;  // shape values (read by kernels through their inputs) moved
  size_t workspaceBytes = 0;
  for (size_t k = 0; k < c.kernels.size(); ++k) {
    auto& [lid, kernel] = c.kernels[k];
    if (!c.kernelReshaped[k]) {
      LayerDesc desc = concreteLayerDesc(net, lid, c.shapes);
      std::vector<const Weights*> values;
      for (TensorId t : net.layer(lid).inputs)
        values.push_back(t != kNoTensor && !c.shapes.values[t].empty() ? &c.shapes.values[t]
                                                                       : nullptr);
      Status s = kernel->reshape(desc.inputs, desc.outputs, values);
      if (!s.isOk()) return s.withContext("layer '" + net.layer(lid).name + "'");
      c.kernelReshaped[k] = true;
      c.needSetup = true;
    }
    workspaceBytes = std::max(workspaceBytes, kernel->workspaceBytes());
  }
  ArenaPlan plan = planArena(net, d.program, c.shapes);
  KILN_RETURN_IF_ERROR(checkMemoryLimits(d, c.shapes, plan.arenaBytes, "for these input shapes"));
  if (plan.offsets != c.arenaPlan.offsets) c.needSetup = true;
  c.arenaPlan = std::move(plan);
  KILN_ASSIGN_OR_RETURN(bool moved, c.arena.reserve(c.arenaPlan.arenaBytes, "activation arena"));
  KILN_ASSIGN_OR_RETURN(bool wsMoved, c.workspace.reserve(workspaceBytes, "kernel workspace"));
  if (moved || wsMoved) c.needSetup = true;
  return Status::ok();
}

Expected<Dims> ExecutionContext::getTensorShape(const std::string& name) try {
  const EngineData& d = engine_->data();
  const IOTensorInfo* io = engine_->findIO(name);
  if (!io)
    return invalidArgument("the engine has no input or output named '" + name +
                           "' (inputs: " + knownInputs(d) + ")");
  KILN_RETURN_IF_ERROR(impl_->prepareShapes(d));
  return impl_->shapes.tensors[static_cast<size_t>(d.network.findTensor(name))].dims;
} catch (...) {
  return exceptionToStatus("ExecutionContext::getTensorShape");
}

Status ExecutionContext::enqueue(Stream& stream) try {
  const EngineData& d = engine_->data();
  const NetworkDefinition& net = d.network;
  for (TensorId t : net.inputs())
    if (!impl_->bindings[t].bound)
      return invalidArgument("input '" + net.tensor(t).name + "' has no buffer bound");
  KILN_RETURN_IF_ERROR(impl_->prepareShapes(d));
  // Outputs without a bound buffer: their allocator's memory, or the context's own.
  for (size_t i = 0; i < net.outputs().size(); ++i) {
    const TensorId t = net.outputs()[i];
    Binding& b = impl_->bindings[t];
    if (b.bound) continue;
    const TensorDesc& td = impl_->shapes.tensors[t];
    const size_t need = td.bytes();
    void* p = nullptr;
    if (b.allocator != nullptr) {
      if (!b.notifiedOnce || b.notified != td.dims) {
        b.allocator->notifyShape(net.tensor(t).name, td.dims);
        b.notified = td.dims;
        b.notifiedOnce = true;
      }
      if (b.allocated == nullptr || b.allocatedBytes < need) {
        b.allocated = b.allocator->reallocateOutput(net.tensor(t).name, b.allocated, need);
        if (b.allocated == nullptr)
          return Status(StatusCode::kOutOfMemory, "output '" + net.tensor(t).name +
                                                      "': its allocator could not provide " +
                                                      std::to_string(need) + " bytes");
        b.allocatedBytes = need;
      }
      p = b.allocated;
    } else {
      KILN_ASSIGN_OR_RETURN(bool moved, impl_->ownOutputs[i]->reserve(need, "output buffer"));
      (void)moved;
      p = impl_->ownOutputs[i]->ptr;
    }
    if (impl_->written[t] != p) impl_->needSetup = true;
    impl_->written[t] = p;
  }
  // Every I/O buffer must hold its tensor at the current shapes.
  auto checkBuffer = [&](TensorId t, const char* what) -> Status {
    const TensorDesc& td = impl_->shapes.tensors[t];
    const Binding& b = impl_->bindings[t];
    const uint64_t need = td.bytes();
    if (b.bytes < need)
      return invalidArgument(std::string(what) + " '" + net.tensor(t).name + "': buffer holds " +
                             std::to_string(b.bytes) + " bytes, the shape " +
                             dataTypeName(td.dtype) + dimsToString(td.dims) + " needs " +
                             std::to_string(need));
    if (b.data == nullptr && need > 0)
      return invalidArgument(std::string(what) + " '" + net.tensor(t).name + "': null buffer");
    return Status::ok();
  };
  for (TensorId t : net.inputs())
    KILN_RETURN_IF_ERROR(checkBuffer(t, "input"));
  for (TensorId t : net.outputs())
    if (impl_->bindings[t].bound) {
      KILN_RETURN_IF_ERROR(checkBuffer(t, "output"));
      impl_->written[t] = impl_->bindings[t].data;
    }
  if (impl_->needSetup) {
    std::vector<void*>& addr = impl_->address;
    for (size_t t = 0; t < net.tensors().size(); ++t) {
      addr[t] = nullptr;
      if (impl_->bindings[t].bound)
        addr[t] = impl_->bindings[t].data;
      else if (net.tensors()[t].isOutput)
        addr[t] = impl_->written[t];
      else if (impl_->arenaPlan.offsets[t] >= 0)
        addr[t] = static_cast<uint8_t*>(impl_->arena.ptr) + impl_->arenaPlan.offsets[t];
      else if (const Weights* w = net.constantValue(static_cast<TensorId>(t)))
        addr[t] = const_cast<void*>(w->data());
      else if (!impl_->shapes.values[t].empty())
        addr[t] = const_cast<void*>(impl_->shapes.values[t].data());
    }
    if (impl_->device) KILN_RETURN_IF_ERROR(impl_->placeOnDevice(d, stream));
    for (auto& [lid, kernel] : impl_->kernels) {
      const Layer& l = net.layer(lid);
      std::vector<const void*> ins;
      for (TensorId t : l.inputs)
        ins.push_back(t == kNoTensor ? nullptr : addr[t]);
      std::vector<void*> outs;
      for (TensorId t : l.outputs)
        outs.push_back(addr[t]);
      Status s = kernel->setup(ins, outs, impl_->workspace.ptr);
      if (!s.isOk()) return s.withContext("layer '" + l.name + "'");
    }
    impl_->needSetup = false;
    impl_->replay.reset();
    impl_->runsSinceSetup = 0;
  }
  const Backend& backend = *impl_->backend;
  if (impl_->device)
    for (TensorId t : net.inputs()) {
      const size_t bytes = impl_->shapes.tensors[t].bytes();
      if (impl_->address[t] != nullptr && bytes > 0)
        KILN_RETURN_IF_ERROR(backend.copy(impl_->address[t], impl_->bindings[t].data, bytes,
                                          CopyKind::kHostToDevice, stream));
    }
  impl_->runsSinceSetup = std::min(impl_->runsSinceSetup + 1, 2);  // saturates: no overflow
  const bool replay = impl_->replayable && !impl_->profiling && impl_->runsSinceSetup >= 2;
  if (replay && !impl_->replay && !impl_->record(stream).isOk()) impl_->replayable = false;
  impl_->lastReplayed = false;
  if (replay && impl_->replay) {
    KILN_RETURN_IF_ERROR(impl_->replay->launch(stream));
    impl_->lastReplayed = true;
  } else {
    KILN_RETURN_IF_ERROR(impl_->runLayers(net, stream));
  }
  if (impl_->device)
    for (TensorId t : net.outputs()) {
      const size_t bytes = impl_->shapes.tensors[t].bytes();
      if (impl_->address[t] != nullptr && impl_->written[t] != nullptr && bytes > 0)
        KILN_RETURN_IF_ERROR(backend.copy(impl_->written[t], impl_->address[t], bytes,
                                          CopyKind::kDeviceToHost, stream));
    }
  return Status::ok();
} catch (...) {
  return exceptionToStatus("ExecutionContext::enqueue");
}

Status ExecutionContext::Impl::placeOnDevice(const EngineData& d, Stream& stream) {
  const NetworkDefinition& net = d.network;
  for (size_t t = 0; t < net.tensors().size(); ++t) {
    if (address[t] == nullptr) continue;
    const TensorId id = static_cast<TensorId>(t);
    const bool io = bindings[t].bound || net.tensors()[t].isOutput ||
                    std::find(net.inputs().begin(), net.inputs().end(), id) != net.inputs().end();
    if (io) {
      // Copied in before the kernels and out after them (enqueue).
      KILN_RETURN_IF_ERROR(
          staging[t]->reserve(shapes.tensors[t].bytes(), "device I/O buffer").status());
      address[t] = staging[t]->ptr;
      continue;
    }
    if (arenaPlan.offsets[t] >= 0) continue;  // already in the device arena
    Buffer& b = *deviceConstants[t];
    const Weights* w = net.constantValue(id);
    const void* src = w ? w->data() : shapes.values[t].data();
    const size_t bytes = w ? w->bytes() : shapes.values[t].bytes();
    KILN_ASSIGN_OR_RETURN(bool moved, b.reserve(bytes, "device copy of a constant"));
    // A constant never changes: uploaded when its buffer is new. Shape values are host results
    // of the shape pass: uploaded at every setup.
    if ((moved || !w) && bytes > 0)
      KILN_RETURN_IF_ERROR(backend->copy(b.ptr, src, bytes, CopyKind::kHostToDevice, stream));
    address[t] = b.ptr;
  }
  return Status::ok();
}

void ExecutionContext::setProfiling(bool on) {
  impl_->profiling = on;
  if (!on || !impl_->times.empty()) return;
  const EngineData& d = engine_->data();
  for (const auto& [lid, kernel] : impl_->kernels) {
    const Layer& l = d.network.layer(lid);
    impl_->times.push_back({l.name, layerKindName(l.kind()), d.tactics[lid], {}});
  }
}

const std::vector<ExecutionContext::LayerTimes>& ExecutionContext::layerTimes() const {
  return impl_->times;
}

bool ExecutionContext::lastRunReplayed() const {
  return impl_->lastReplayed;
}

Status ExecutionContext::execute() try {
  KILN_RETURN_IF_ERROR(enqueue(*impl_->stream));
  return impl_->stream->synchronize();
} catch (...) {
  return exceptionToStatus("ExecutionContext::execute");
}

}  // namespace kiln
