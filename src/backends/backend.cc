#include "backends/backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference.h"

namespace kiln {

Status Kernel::reshape(const std::vector<TensorDesc>& inputs,
                       const std::vector<TensorDesc>& outputs,
                       const std::vector<const Weights*>& values) {
  workspaceBytes_ = 0;
  values_ = values;
  KILN_RETURN_IF_ERROR(onReshape(inputs, outputs));
  state_ = State::kReshaped;
  return Status::ok();
}

Status Kernel::setup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                     void* workspace) {
  if (state_ == State::kCreated) return internalError("kernel setup() called before reshape()");
  KILN_RETURN_IF_ERROR(onSetup(inputs, outputs, workspace));
  state_ = State::kReady;
  return Status::ok();
}

Status Kernel::run(Stream& stream) {
  if (state_ != State::kReady)
    return internalError(state_ == State::kCreated ? "kernel run() called before reshape()"
                                                   : "kernel run() called before setup()");
  return onRun(stream);
}

Status Backend::supports(const LayerDesc& layer) const {
  std::string reasons;
  for (const auto& t : allTactics()) {
    if (t->kind() != layer.kind()) continue;
    Status s = t->supports(layer);
    if (s.isOk()) return s;
    if (!reasons.empty()) reasons += "; ";
    reasons += t->name() + ": " + s.message();
  }
  if (reasons.empty())
    reasons = "no " + name() + " tactic implements " + layerKindName(layer.kind()) + " layers";
  return unsupported("layer '" + layer.name() + "' (" + layerKindName(layer.kind()) +
                     ") cannot run on backend '" + name() + "': " + reasons);
}

std::vector<const Tactic*> Backend::tactics(const LayerDesc& layer) const {
  std::vector<const Tactic*> out;
  for (const auto& t : allTactics())
    if (t->kind() == layer.kind() && t->supports(layer).isOk()) out.push_back(t.get());
  return out;
}

bool Backend::hasCapability(const Capability& c) const {
  if (c.what != Capability::What::kLayerKind) return false;
  for (const auto& t : allTactics())
    if (t->kind() == c.layer) return true;
  return false;
}

Status Backend::beginCapture(Stream&) const {
  return unsupported("backend '" + name() + "' does not record work for replay");
}

Expected<std::unique_ptr<CapturedWork>> Backend::endCapture(Stream&) const {
  return unsupported("backend '" + name() + "' does not record work for replay");
}

Status Backend::copy(void* dst, const void* src, size_t bytes, CopyKind kind,
                     Stream& stream) const {
  if (bytes > 0) std::memcpy(dst, src, bytes);
  return Status::ok();
}

const Tactic* Backend::findTactic(std::string_view name) const {
  for (const auto& t : allTactics())
    if (t->name() == name) return t.get();
  return nullptr;
}

int hostCoreCount() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<const Backend*> backends;
};

Registry& registry() {
  static Registry r;
  return r;
}

/// The backends every kiln build has, in the order backendNames() lists them.
std::vector<const Backend*> builtinBackends() {
  return {&referenceBackend(), &cpuBackend()};
}

/// The entry point that libkiln_cuda.so exports (src/backends/cuda/cuda_backend.cc): the
/// backend, or nullptr with the reason (no driver, no GPU) written to `error`.
using CudaEntry = const Backend* (*)(char* error, size_t errorBytes);

/// Where libkiln_cuda.so may be: $KILN_CUDA_LIBRARY, then beside the executable (and in lib/
/// next to or above it, where the build puts it), then the loader's search path.
std::vector<std::string> cudaLibraryCandidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("KILN_CUDA_LIBRARY"); env && *env) {
    out.push_back(env);
    return out;
  }
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = 0;
    std::string dir(exe);
    dir = dir.substr(0, dir.rfind('/'));
    for (const char* rel : {"/", "/lib/", "/../lib/", "/../"})
      out.push_back(dir + rel + "libkiln_cuda.so");
  }
  out.push_back("libkiln_cuda.so");
  return out;
}

/// Loads the cuda backend once (thread-safe); the error says what is missing: the library
/// (kiln built without CUDA, or a CUDA library it needs), the driver, or a GPU.
Expected<const Backend*> loadCudaBackend() {
  static std::once_flag once;
  static const Backend* backend = nullptr;
  static Status error;
  std::call_once(once, [] {
    std::string tried;
    void* handle = nullptr;
    for (const std::string& path : cudaLibraryCandidates()) {
      // A path that does not exist is skipped; one that exists but cannot load (a CUDA library
      // it needs is missing, say) is the answer.
      if (path.find('/') != std::string::npos && ::access(path.c_str(), F_OK) != 0) continue;
      handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
      const char* e = ::dlerror();
      tried = e ? e : "unknown error";
      break;
    }
    if (!handle) {
      error = unsupported(
          "the cuda backend is not available: libkiln_cuda.so could not be loaded (" + tried +
          "); build kiln on a machine with the CUDA toolkit (docs/cuda.md) or set "
          "KILN_CUDA_LIBRARY to the library's path");
      return;
    }
    auto entry = reinterpret_cast<CudaEntry>(::dlsym(handle, "kilnCudaBackendEntry"));
    if (!entry) {
      error = internalError("libkiln_cuda.so has no entry point kilnCudaBackendEntry");
      return;
    }
    char why[1024] = {0};
    backend = entry(why, sizeof(why));
    if (!backend) error = unsupported(std::string("the cuda backend cannot run here: ") + why);
  });
  if (!backend) return error;
  return backend;
}

}  // namespace

Status registerBackend(const Backend* backend) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const Backend* b : builtinBackends())
    if (backend->name() == b->name())
      return invalidArgument("backend name '" + backend->name() + "' is already registered");
  for (const Backend* b : r.backends)
    if (b->name() == backend->name())
      return invalidArgument("backend name '" + backend->name() + "' is already registered");
  r.backends.push_back(backend);
  return Status::ok();
}

Expected<const Backend*> findBackend(std::string_view name) {
  for (const Backend* b : builtinBackends())
    if (name == b->name()) return b;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const Backend* b : r.backends)
      if (b->name() == name) return b;
  }
  if (name == "cuda") {
    KILN_ASSIGN_OR_RETURN(const Backend* cuda, loadCudaBackend());
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (const Backend* b : r.backends)
      if (b == cuda) return cuda;
    r.backends.push_back(cuda);
    return cuda;
  }
  std::string known;
  for (const auto& n : backendNames())
    known += (known.empty() ? "" : ", ") + n;
  return notFound("unknown backend '" + std::string(name) + "' (available: " + known + ")");
}

std::vector<std::string> backendNames() {
  std::vector<std::string> out;
  for (const Backend* b : builtinBackends())
    out.push_back(b->name());
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const Backend* b : r.backends)
    out.push_back(b->name());
  return out;
}

Status HostStream::synchronize() {
  Status s = firstError_;
  firstError_ = Status::ok();
  return s;
}

void HostStream::recordError(const Status& s) {
  if (firstError_.isOk() && !s.isOk()) firstError_ = s;
}

}  // namespace kiln
