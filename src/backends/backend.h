// kiln — the backend / tactic / kernel interface.
//
// A backend answers questions; the builder decides (DESIGN.md "Backends and tactics"):
//   supports(layer)  -> ok, or a Status whose message is the reason
//   tactics(layer)   -> candidate Tactics, each with a stable name
//   findTactic(name) -> the tactic a plan names
// A Tactic creates a Kernel for one layer. A Kernel goes through
//   create (constructor; pack weights, read constant params) -> reshape (once per shape)
//   -> setup (bind pointers) -> run (per inference)
// and calling these out of order is an error (never undefined behaviour).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/capabilities.h"
#include "ir/layer_desc.h"
#include "kiln/network.h"
#include "kiln/status.h"
#include "kiln/stream.h"
#include "kiln/types.h"

namespace kiln {

/// Where a backend's tensors live.
enum class MemorySpace { kHost, kDevice };

/// The direction of a Backend::copy.
enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };

/// A kernel bound to one layer. Subclasses implement the on* hooks; the public methods enforce
/// the lifecycle order.
class Kernel {
 public:
  virtual ~Kernel() = default;

  /// Fixes the shapes. May be called again with new shapes; setup() must follow. `values` gives,
  /// per input, the host values of "param" inputs (layers.def) for this shape (nullptr or
  /// absent: the constant of the LayerDesc the kernel was created with, if any). They stay valid
  /// until the next reshape.
  Status reshape(const std::vector<TensorDesc>& inputs, const std::vector<TensorDesc>& outputs,
                 const std::vector<const Weights*>& values = {});
  /// Scratch bytes the kernel needs after reshape() (host or device, per the backend).
  size_t workspaceBytes() const { return workspaceBytes_; }
  /// Binds pointers. `inputs[k]` is nullptr for absent optional inputs.
  Status setup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
               void* workspace);
  /// Runs the layer once on `stream`.
  Status run(Stream& stream);
  /// Whether run() only enqueues device work on the stream, without host work or waiting,
  /// and would enqueue the same work until the next setup(): then a device backend may record
  /// the runs once and replay them (CUDA graphs). Host kernels say false.
  virtual bool capturable() const { return false; }

 protected:
  virtual Status onReshape(const std::vector<TensorDesc>& inputs,
                           const std::vector<TensorDesc>& outputs) = 0;
  virtual Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                         void* workspace) = 0;
  virtual Status onRun(Stream& stream) = 0;
  void setWorkspaceBytes(size_t b) { workspaceBytes_ = b; }
  /// The host values of input k given to the current reshape(), or nullptr.
  const Weights* reshapeValue(size_t k) const { return k < values_.size() ? values_[k] : nullptr; }

 private:
  enum class State { kCreated, kReshaped, kReady };
  State state_ = State::kCreated;
  size_t workspaceBytes_ = 0;
  std::vector<const Weights*> values_;
};

/// Device work recorded once (Backend::beginCapture / endCapture) and replayed.
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  /// Enqueues the recorded work on `stream`.
  virtual Status launch(Stream& stream) = 0;
};

/// One way to run a layer. The name is a contract: it says backend, op, algorithm, dtype and
/// variant ("reference.convolution.direct"), and appears verbatim in logs, caches and plans.
class Tactic {
 public:
  virtual ~Tactic() = default;
  virtual const std::string& name() const = 0;
  /// The one layer kind this tactic implements.
  virtual LayerKind kind() const = 0;
  /// Whether this tactic can run `layer` (ok, or the reason it cannot). Only called for layers
  /// of kind().
  virtual Status supports(const LayerDesc& layer) const = 0;
  /// Creates a kernel for `layer` (the "create" step: pack weights, read params).
  virtual Expected<std::unique_ptr<Kernel>> create(const LayerDesc& layer) const = 0;
};

/// A set of tactics for one kind of machine. As a TargetCapabilities it answers the
/// optimizer's questions ("can you fuse a GELU into a convolution?"), so that rewrites ask
/// capabilities, never backend names.
class Backend : public TargetCapabilities {
 public:
  ~Backend() override = default;
  /// "reference", "cpu", "cuda"
  virtual const std::string& name() const = 0;
  virtual MemorySpace memorySpace() const = 0;
  /// Ok when some tactic can run the layer; else the reason (for logs and `kiln inspect`).
  Status supports(const LayerDesc& layer) const;
  /// Tactics that can run `layer`, best guess first.
  std::vector<const Tactic*> tactics(const LayerDesc& layer) const;
  /// The tactic with this exact name, or nullptr.
  const Tactic* findTactic(std::string_view name) const;
  /// A stream for this backend (host backends run inline).
  virtual std::unique_ptr<Stream> createStream() const = 0;
  /// Allocates / frees backend memory for arenas and workspaces (64-byte aligned at least).
  virtual Expected<void*> allocate(size_t bytes) const = 0;
  virtual void deallocate(void* p) const = 0;
  /// Copies `bytes` bytes, ordered after the work already enqueued on `stream`. The host memory
  /// of a copy must stay valid until the stream is synchronized. Host backends copy inline
  /// (every kind is a memcpy); a device backend enqueues the copy on its stream.
  virtual Status copy(void* dst, const void* src, size_t bytes, CopyKind kind,
                      Stream& stream) const;
  /// Device signature for plan headers ("x86_64", "sm_90").
  virtual std::string deviceSignature() const = 0;
  /// Recording for replay, on device backends that support it: after beginCapture, work
  /// enqueued on `stream` by this thread is recorded instead of run; endCapture ends the
  /// recording (the stream runs work again, whatever the result) and returns the recorded work,
  /// or an error when something in it cannot be recorded. Default: unsupported.
  virtual Status beginCapture(Stream& stream) const;
  virtual Expected<std::unique_ptr<CapturedWork>> endCapture(Stream& stream) const;
  /// Default answer: a layer kind is supported when some tactic implements it; fused variants
  /// (epilogues, RMS normalization, attention variants) are not, until a backend says so.
  bool hasCapability(const Capability& c) const override;

 protected:
  /// All tactics of this backend.
  virtual const std::vector<std::unique_ptr<Tactic>>& allTactics() const = 0;
};

/// Cores of this machine (at least 1): the default thread count of an engine.
int hostCoreCount();

/// The backend registered under `name`, or a NotFound error listing the known ones.
Expected<const Backend*> findBackend(std::string_view name);
/// Names of all registered backends (the built-in "reference" and "cpu" first).
std::vector<std::string> backendNames();
/// Makes `backend` (which must outlive every use) findable by its name. The reference backend
/// and cpu backends are always registered. Error if the name is taken. Thread-safe.
Status registerBackend(const Backend* backend);

/// The host stream: runs work inline, so synchronize() only reports the first error.
class HostStream : public Stream {
 public:
  Status synchronize() override;
  /// Records an error from inline work (the first one wins).
  void recordError(const Status& s);

 private:
  Status firstError_;
};

}  // namespace kiln
