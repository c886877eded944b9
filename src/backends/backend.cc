#include "backends/backend.h"

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
