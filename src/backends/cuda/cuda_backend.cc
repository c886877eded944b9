// kiln — the cuda backend object: device memory, CUDA streams, copies, and the tactic list (own
// device tactics first, then the host fallback of every reference tactic).
//
// Host fallback: a layer that no device tactic runs gets "cuda.host.<reference tactic>", which
// copies its inputs to the host, runs the reference kernel there and copies the outputs back, so
// every model builds. It is this stage's stand-in for per-layer placement (the builder putting
// the layer on the cpu backend with copies between memory spaces, DESIGN.md), which replaces it.
#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/reference/reference.h"

namespace kiln::cuda {

Status check(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::ok();
  return internalError(what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

Status check(cublasStatus_t s, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return internalError(what + ": cuBLASLt status " + std::to_string(static_cast<int>(s)));
}

CudaStream::CudaStream() {
  (void)cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
}

CudaStream::~CudaStream() {
  for (cudaEvent_t e : events_)
    if (e) (void)cudaEventDestroy(e);
  if (stream_) (void)cudaStreamDestroy(stream_);
}

Status CudaStream::synchronize() {
  return check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

Status CudaStream::recordEvent() {
  for (cudaEvent_t& e : events_)
    if (!e) KILN_RETURN_IF_ERROR(check(cudaEventCreate(&e), "cudaEventCreate"));
  std::swap(events_[0], events_[1]);
  ++recorded_;
  return check(cudaEventRecord(events_[1], stream_), "cudaEventRecord");
}

Expected<float> CudaStream::elapsedMs() const {
  if (recorded_ < 2) return invalidArgument("elapsedMs needs two recorded events");
  KILN_RETURN_IF_ERROR(check(cudaEventSynchronize(events_[1]), "cudaEventSynchronize"));
  float ms = 0;
  KILN_RETURN_IF_ERROR(check(cudaEventElapsedTime(&ms, events_[0], events_[1]), "elapsed"));
  return ms;
}

cublasLtHandle_t cublasLt() {
  static cublasLtHandle_t handle = [] {
    cublasLtHandle_t h = nullptr;
    if (cublasLtCreate(&h) != CUBLAS_STATUS_SUCCESS) h = nullptr;
    return h;
  }();
  return handle;
}

bool broadcastIndex(const Dims& from, const Dims& to, StridedIndex* out) {
  if (from.size() > to.size()) return false;
  // Per output dim: its size and the input stride (0 where broadcast).
  std::vector<int64_t> dims, strides;
  const size_t lead = to.size() - from.size();
  int64_t stride = 1;
  std::vector<int64_t> st(to.size(), 0);
  for (size_t k = to.size(); k-- > 0;) {
    if (k < lead) continue;
    const int64_t d = from[k - lead];
    if (d != to[k] && d != 1) return false;
    st[k] = d == 1 ? 0 : stride;
    stride *= d;
  }
  // Merge neighbours that stay contiguous (inner stride * size == outer stride), drop size 1.
  for (size_t k = 0; k < to.size(); ++k) {
    if (to[k] == 1) continue;
    if (!dims.empty()) {
      const int64_t prevStride = strides.back();
      if (prevStride == st[k] * to[k] && (st[k] != 0 || prevStride == 0)) {
        dims.back() *= to[k];
        strides.back() = st[k];
        continue;
      }
    }
    dims.push_back(to[k]);
    strides.push_back(st[k]);
  }
  if (dims.size() > static_cast<size_t>(kMaxRank)) return false;
  *out = StridedIndex{};
  out->rank = static_cast<int>(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) {
    out->dims[k] = dims[k];
    out->stride[k] = strides[k];
  }
  return true;
}

namespace {

/// A reference kernel run on the host for a device backend: inputs are copied to host buffers,
/// the kernel runs there, outputs are copied back.
class HostFallbackKernel final : public Kernel {
 public:
  explicit HostFallbackKernel(std::unique_ptr<Kernel> inner) : inner_(std::move(inner)) {}

 private:
  struct HostBuffer {
    void* p = nullptr;
    size_t bytes = 0;
    ~HostBuffer() { std::free(p); }
    bool reserve(size_t n) {
      if (p && n <= bytes) return true;
      std::free(p);
      bytes = (std::max<size_t>(n, 1) + 63) / 64 * 64;
      p = std::aligned_alloc(64, bytes);
      return p != nullptr;
    }
  };

  Status onReshape(const std::vector<TensorDesc>& inputs,
                   const std::vector<TensorDesc>& outputs) override {
    std::vector<const Weights*> values;
    for (size_t k = 0; k < inputs.size(); ++k)
      values.push_back(reshapeValue(k));
    KILN_RETURN_IF_ERROR(inner_->reshape(inputs, outputs, values));
    inDescs_ = inputs;
    outDescs_ = outputs;
    return Status::ok();
  }

  Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                 void* workspace) override {
    devIn_ = inputs;
    devOut_ = outputs;
    hostIn_.resize(inputs.size());
    hostOut_.resize(outputs.size());
    std::vector<const void*> ins;
    std::vector<void*> outs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (!inputs[k]) {
        ins.push_back(nullptr);
        continue;
      }
      if (!hostIn_[k].reserve(inDescs_[k].bytes())) return outOfMemory("host staging buffer");
      ins.push_back(hostIn_[k].p);
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (!hostOut_[k].reserve(outDescs_[k].bytes())) return outOfMemory("host staging buffer");
      outs.push_back(hostOut_[k].p);
    }
    if (!hostWorkspace_.reserve(inner_->workspaceBytes()))
      return outOfMemory("host workspace of a fallback kernel");
    return inner_->setup(ins, outs, hostWorkspace_.p);
  }

  Status onRun(Stream& stream) override {
    cudaStream_t s = nativeStream(stream);
    for (size_t k = 0; k < devIn_.size(); ++k)
      if (devIn_[k] && inDescs_[k].bytes() > 0)
        KILN_RETURN_IF_ERROR(check(cudaMemcpyAsync(hostIn_[k].p, devIn_[k], inDescs_[k].bytes(),
                                                   cudaMemcpyDeviceToHost, s),
                                   "copy of a fallback layer's input to the host"));
    KILN_RETURN_IF_ERROR(check(cudaStreamSynchronize(s), "cudaStreamSynchronize"));
    HostStream host;
    KILN_RETURN_IF_ERROR(inner_->run(host));
    KILN_RETURN_IF_ERROR(host.synchronize());
    for (size_t k = 0; k < devOut_.size(); ++k)
      if (outDescs_[k].bytes() > 0)
        KILN_RETURN_IF_ERROR(check(cudaMemcpyAsync(devOut_[k], hostOut_[k].p, outDescs_[k].bytes(),
                                                   cudaMemcpyHostToDevice, s),
                                   "copy of a fallback layer's output to the device"));
    return Status::ok();
  }

  std::unique_ptr<Kernel> inner_;
  std::vector<TensorDesc> inDescs_, outDescs_;
  std::vector<const void*> devIn_;
  std::vector<void*> devOut_;
  std::vector<HostBuffer> hostIn_, hostOut_;
  HostBuffer hostWorkspace_;
};

/// "cuda.host.<reference tactic>": offered only for layers no device tactic supports.
class HostFallbackTactic final : public Tactic {
 public:
  HostFallbackTactic(const Tactic* inner, const std::vector<std::unique_ptr<Tactic>>* device)
      : inner_(inner), device_(device), name_("cuda.host." + inner->name()) {}
  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return inner_->kind(); }
  Status supports(const LayerDesc& layer) const override {
    for (const auto& t : *device_)
      if (t->kind() == layer.kind() && t->supports(layer).isOk())
        return unsupported("the device tactic " + t->name() + " runs this layer");
    return inner_->supports(layer);
  }
  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& layer) const override {
    KILN_ASSIGN_OR_RETURN(auto kernel, inner_->create(layer));
    return std::unique_ptr<Kernel>(new HostFallbackKernel(std::move(kernel)));
  }

 private:
  const Tactic* inner_;
  const std::vector<std::unique_ptr<Tactic>>* device_;
  std::string name_;
};

/// A recorded CUDA graph, instantiated once and launched per enqueue.
class CudaGraph final : public CapturedWork {
 public:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraph() override { (void)cudaGraphExecDestroy(exec_); }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  Status launch(Stream& stream) override {
    return check(cudaGraphLaunch(exec_, nativeStream(stream)), "cudaGraphLaunch");
  }

 private:
  cudaGraphExec_t exec_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, const cudaDeviceProp& prop) : device_(device) {
    signature_ = "sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
    addDeviceTactics(deviceTactics_);
    for (const auto& t : deviceTactics_)
      tactics_.push_back(std::unique_ptr<Tactic>(new Forward(t.get())));
    // The reference backend lists one tactic per layer kind; its public API finds them by kind.
    for (int k = 0; k < kLayerKindCount; ++k) {
      const std::string name = referenceTacticName(static_cast<LayerKind>(k));
      if (const Tactic* ref = referenceBackend().findTactic(name))
        tactics_.push_back(std::make_unique<HostFallbackTactic>(ref, &deviceTactics_));
    }
  }

  const std::string& name() const override { return name_; }
  MemorySpace memorySpace() const override { return MemorySpace::kDevice; }
  std::unique_ptr<Stream> createStream() const override {
    (void)cudaSetDevice(device_);
    return std::make_unique<CudaStream>();
  }
  Expected<void*> allocate(size_t bytes) const override {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return outOfMemory("cudaMalloc of " + std::to_string(bytes) + " bytes failed (" +
                         cudaGetErrorString(e) + ")");
    }
    return p;
  }
  void deallocate(void* p) const override { (void)cudaFree(p); }
  Status copy(void* dst, const void* src, size_t bytes, CopyKind kind,
              Stream& stream) const override {
    if (bytes == 0) return Status::ok();
    const cudaMemcpyKind k = kind == CopyKind::kHostToDevice   ? cudaMemcpyHostToDevice
                             : kind == CopyKind::kDeviceToHost ? cudaMemcpyDeviceToHost
                                                               : cudaMemcpyDeviceToDevice;
    return check(cudaMemcpyAsync(dst, src, bytes, k, nativeStream(stream)), "cudaMemcpyAsync");
  }
  std::string deviceSignature() const override { return signature_; }

  Status beginCapture(Stream& stream) const override {
    return check(cudaStreamBeginCapture(nativeStream(stream), cudaStreamCaptureModeThreadLocal),
                 "cudaStreamBeginCapture");
  }
  Expected<std::unique_ptr<CapturedWork>> endCapture(Stream& stream) const override {
    cudaGraph_t graph = nullptr;
    const cudaError_t e = cudaStreamEndCapture(nativeStream(stream), &graph);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      if (graph) (void)cudaGraphDestroy(graph);
      return check(e, "cudaStreamEndCapture");
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t ie = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (ie != cudaSuccess) {
      (void)cudaGetLastError();
      return check(ie, "cudaGraphInstantiate");
    }
    return std::unique_ptr<CapturedWork>(new CudaGraph(exec));
  }

  /// Fused layers the device tactics run: every activation and residual as the epilogue of a
  /// Convolution or MatrixMultiply (the direct convolution applies it in place, the library
  /// tactics through the epilogue kernel), and RMS normalization. Attention has no device
  /// kernel yet, so its fusion stays off and its parts run as separate device layers.
  bool hasCapability(const Capability& c) const override {
    const bool host = c.layer == LayerKind::kConvolution || c.layer == LayerKind::kMatrixMultiply;
    switch (c.what) {
      case Capability::What::kEpilogueActivation:
      case Capability::What::kEpilogueResidual:
        return host;
      case Capability::What::kRmsNormalization:
        return true;
      case Capability::What::kAttentionLayout:
      case Capability::What::kAttentionCausal:
        return false;
      case Capability::What::kLayerKind:
        return c.layer != LayerKind::kAttention && Backend::hasCapability(c);
    }
    return false;
  }

 protected:
  const std::vector<std::unique_ptr<Tactic>>& allTactics() const override { return tactics_; }

 private:
  /// The device tactics appear in the backend's list through this forwarder, so the fallbacks
  /// can ask the same objects whether they run a layer.
  class Forward final : public Tactic {
   public:
    explicit Forward(const Tactic* t) : t_(t) {}
    const std::string& name() const override { return t_->name(); }
    LayerKind kind() const override { return t_->kind(); }
    Status supports(const LayerDesc& l) const override { return t_->supports(l); }
    Expected<std::unique_ptr<Kernel>> create(const LayerDesc& l) const override {
      return t_->create(l);
    }

   private:
    const Tactic* t_;
  };

  /// "reference.matrix_multiply" for LayerKind::kMatrixMultiply.
  static std::string referenceTacticName(LayerKind k) {
    std::string out = "reference.";
    bool first = true;
    for (const char* p = layerKindName(k); *p; ++p) {
      const char c = *p;
      if (c >= 'A' && c <= 'Z') {
        if (!first) out += '_';
        out += static_cast<char>(c - 'A' + 'a');
      } else {
        out += c;
      }
      first = false;
    }
    return out;
  }

  int device_;
  std::string name_ = "cuda";
  std::string signature_;
  std::vector<std::unique_ptr<Tactic>> deviceTactics_;
  std::vector<std::unique_ptr<Tactic>> tactics_;
};

void writeError(char* error, size_t bytes, const std::string& message) {
  if (bytes == 0) return;
  std::strncpy(error, message.c_str(), bytes - 1);
  error[bytes - 1] = 0;
}

}  // namespace
}  // namespace kiln::cuda

/// The library's entry point (see src/backends/backend.cc): the backend for device 0, created
/// once, or nullptr with the reason in `error`.
extern "C" __attribute__((visibility("default"))) const kiln::Backend* kilnCudaBackendEntry(
    char* error, size_t errorBytes) {
  using namespace kiln::cuda;
  static std::once_flag once;
  static const kiln::Backend* backend = nullptr;
  static std::string why;
  std::call_once(once, [] {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || e != cudaSuccess ||
        count == 0) {
      if (e == cudaErrorInsufficientDriver)
        why = "no usable CUDA driver (libcuda.so.1 is missing or older than CUDA 13.0 needs)";
      else if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0))
        why = "no CUDA GPU found";
      else
        why = std::string("CUDA could not be initialized: ") + cudaGetErrorName(e) + " (" +
              cudaGetErrorString(e) + ")";
      return;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      why = "cudaGetDeviceProperties failed for device 0";
      return;
    }
    if (prop.major < 9) {
      why = "GPU 0 (" + std::string(prop.name) + ", sm_" + std::to_string(prop.major) +
            std::to_string(prop.minor) + ") is older than this build's sm_90 kernels need";
      return;
    }
    if (!cublasLt()) {
      why = "cuBLASLt could not be initialized";
      return;
    }
    static CudaBackend b(0, prop);
    backend = &b;
  });
  if (!backend) writeError(error, errorBytes, why);
  return backend;
}
