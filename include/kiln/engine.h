// kiln — Engine, Runtime and ExecutionContext: running a compiled network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/network.h"
#include "kiln/profile.h"
#include "kiln/status.h"
#include "kiln/stream.h"
#include "kiln/types.h"

namespace kiln {

class ExecutionContext;
struct EngineData;

/// Description of an engine input or output.
struct IOTensorInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;          ///< the representative shape (the profile's opt; static inputs: their shape)
  Shape shape;        ///< the engine's shape: constants and the symbols it accepts
  Shape sourceShape;  ///< the shape the model declared (symbols kept)
  /// Whether the engine accepts more than one shape for this tensor.
  bool isDynamic() const { return !staticDims(shape).has_value(); }
  size_t bytes() const { return static_cast<size_t>(volume(dims)) * dataTypeSize(dtype); }
};

/// One executed layer of an engine, for `kiln inspect`.
struct LayerInfo {
  std::string name;
  std::string kind;
  std::string attributes;           ///< "name=value, ..." text
  std::string tactic;               ///< the chosen tactic's name
  std::vector<std::string> inputs;  ///< tensor names ("" for absent optional inputs)
  std::vector<std::string> outputs;
  std::vector<std::string> inputShapes;  ///< "f32[2, 64, 256]"
  std::vector<std::string> outputShapes;
  std::vector<std::string> origins;  ///< source (ONNX) nodes folded into this layer
  std::vector<std::string> rules;    ///< optimizer rules that produced this layer
};

/// Memory figures of an engine (at its representative shape; a context plans its own arena
/// for the shapes it runs).
struct MemoryInfo {
  uint64_t arenaBytes = 0;       ///< activation arena (what a context allocates)
  uint64_t activationBytes = 0;  ///< sum of all activation tensor sizes (no sharing)
  uint64_t weightBytes = 0;      ///< constants stored in the plan
  size_t activationCount = 0;    ///< number of tensors placed in the arena
};

/// An optimized, immutable network bound to one backend. Share it between any number of
/// ExecutionContexts (and threads).
class Engine : public std::enable_shared_from_this<Engine> {
 public:
  explicit Engine(std::shared_ptr<const EngineData> data);
  ~Engine();

  const std::vector<IOTensorInfo>& inputs() const;
  const std::vector<IOTensorInfo>& outputs() const;
  /// Input or output by name; nullptr when there is none.
  const IOTensorInfo* findIO(const std::string& name) const;
  const std::string& backend() const;
  /// The optimization profiles the engine accepts (one, without ranges, when built without).
  const std::vector<OptimizationProfile>& profiles() const;
  /// Threads each inference uses (BuilderConfig::threads, resolved at build time).
  int threads() const;
  std::vector<LayerInfo> layers() const;
  MemoryInfo memory() const;
  /// Lines written while building (passes that fired, tactics chosen).
  const std::vector<std::string>& buildLog() const;
  /// The source model's nodes and every rewrite the optimizer made (see kiln/explain.h).
  const Provenance& provenance() const;

  /// A stream of the engine's backend, for ExecutionContext::enqueue; nullptr when none can be
  /// made (out of memory).
  std::unique_ptr<Stream> createStream() const;
  /// A new context with its own activation arena.
  Expected<std::unique_ptr<ExecutionContext>> createExecutionContext() const;
  /// The plan file bytes (versioned, checksummed, 64-byte aligned weights).
  Expected<std::vector<uint8_t>> serialize() const;
  /// Writes serialize() to `path`.
  Status serializeToFile(const std::string& path) const;

  const EngineData& data() const { return *data_; }

 private:
  std::shared_ptr<const EngineData> data_;
};

/// Loads plan files.
class Runtime {
 public:
  /// Reads and checks a plan. A truncated, corrupted, wrong-version or wrong-device plan is
  /// refused with a message that says which.
  static Expected<std::shared_ptr<Engine>> deserializeFile(const std::string& path);
  static Expected<std::shared_ptr<Engine>> deserialize(const void* data, size_t size,
                                                       const std::string& source = "<buffer>");
};

/// Provides the memory of an output whose size is known only when a context runs (it depends on
/// the input shapes, or on data). Register one per output with
/// ExecutionContext::setOutputAllocator.
class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  /// A buffer of at least `bytes` bytes for output `name` (`current` is the buffer returned last
  /// time, or nullptr), or nullptr when it cannot allocate (the run then fails with an error).
  /// Called before a run whenever the output needs more than the current buffer holds.
  virtual void* reallocateOutput(const std::string& name, void* current, size_t bytes) = 0;
  /// The output's shape for the coming run, once it is known (before the run writes it).
  virtual void notifyShape(const std::string& name, const Dims& dims) = 0;
};

/// Per-inference state of an engine: shapes, bound buffers, the activation arena. Use one per
/// thread; not thread-safe itself.
class ExecutionContext {
 public:
  ~ExecutionContext();

  /// Sets an input's shape. Inputs with static shapes need no call; inputs with dynamic dims
  /// need one before enqueue. Error naming the input, the profile and its range when the
  /// shape is outside the active profile or contradicts the engine.
  Status setInputShape(const std::string& name, const Dims& dims);
  /// The concrete shape of an input or output for the current input shapes (outputs are
  /// inferred; inputs whose values decide shapes must be bound first).
  Expected<Dims> getTensorShape(const std::string& name);
  /// Selects the optimization profile that input shapes are checked against (0 by default).
  Status setOptimizationProfile(int index);
  int optimizationProfile() const;
  /// Binds the buffer of an input or output. `bytes` is the buffer's size and `dtype` its
  /// element type: both are checked against the engine (the size against the tensor's shape
  /// when it is known, else at enqueue), so a wrong buffer is an error rather than an
  /// out-of-bounds access.
  Status setTensorAddress(const std::string& name, void* data, size_t bytes, DataType dtype);
  /// Input overload (read-only buffer).
  Status setInputTensor(const std::string& name, const void* data, size_t bytes, DataType dtype);
  /// Makes `allocator` (owned by the caller, or nullptr to remove it) provide output `name`'s
  /// memory at each run, instead of a bound buffer. Outputs with neither a bound buffer nor an
  /// allocator are written to memory the context owns (see getOutputBuffer).
  Status setOutputAllocator(const std::string& name, OutputAllocator* allocator);
  /// Where the last run wrote output `name` (a bound buffer, an allocator's, or the context's
  /// own), valid until the next run or binding; its shape is getTensorShape(name).
  Expected<const void*> getOutputBuffer(const std::string& name) const;
  /// Runs the network on `stream` (the backend's stream). Checks that every input is bound
  /// first.
  Status enqueue(Stream& stream);
  /// enqueue() on the context's own stream, then waits.
  Status execute();

  /// Per-layer profiling: when on, every enqueue records each layer's wall time (host
  /// backends run inline, so it is the layer's compute time). Off by default.
  void setProfiling(bool on);
  /// Per executed layer, in execution order: name, tactic and the times of every profiled run.
  struct LayerTimes {
    std::string name;
    std::string kind;
    std::string tactic;
    std::vector<double> ms;
  };
  const std::vector<LayerTimes>& layerTimes() const;
  /// Whether the last enqueue replayed the layers as recorded device work (a CUDA graph: one
  /// launch for the whole network) instead of launching them one by one. Device backends
  /// record at the second enqueue after the shapes or buffers change, when every layer runs on
  /// the device and profiling is off; KILN_GRAPHS=0 in the environment turns it off.
  bool lastRunReplayed() const;

  const Engine& engine() const { return *engine_; }

 private:
  friend class Engine;
  struct Impl;
  ExecutionContext(std::shared_ptr<const Engine> engine, std::unique_ptr<Impl> impl);
  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln
