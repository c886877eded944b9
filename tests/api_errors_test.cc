// Public entry points given inputs that make the internals fail (allocations larger than the
// machine, ids out of range in a hand-edited network, sizes that overflow) return a Status: no
// exception leaves them and nothing aborts. Allocation failures of weights, the activation arena
// and kernel workspaces are OutOfMemory errors that state the size.
#include <cstdlib>
#include <cstring>

#include "backends/backend.h"
#include "backends/reference/reference.h"
#include "test_util.h"

namespace kiln {
namespace {

/// Larger than any machine's address space (2^50 bytes): every allocator refuses it, whatever
/// the overcommit policy.
constexpr int64_t kHugeElements = int64_t{1} << 48;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ApiErrors, WeightsFactoriesReportAllocationFailureAndBadDims) {
  auto w = Weights::zeros(DataType::kFloat32, {kHugeElements}, "huge");
  ASSERT_FALSE(w.hasValue());
  EXPECT_EQ(w.status().code(), StatusCode::kOutOfMemory) << w.status().toString();
  EXPECT_TRUE(contains(w.status().message(), std::to_string(kHugeElements * 4)))
      << w.status().message();
  EXPECT_TRUE(contains(w.status().message(), "'huge'") || contains(w.status().message(), "huge"))
      << w.status().message();

  auto c = Weights::copyFrom(DataType::kInt8, {kHugeElements}, "x", 1);
  EXPECT_EQ(c.status().code(), StatusCode::kOutOfMemory) << c.status().toString();

  auto neg = Weights::zeros(DataType::kFloat32, {2, -3});
  EXPECT_EQ(neg.status().code(), StatusCode::kInvalidArgument) << neg.status().toString();
  EXPECT_TRUE(contains(neg.status().message(), "negative")) << neg.status().message();

  auto wraps = Weights::zeros(DataType::kFloat32, {int64_t{1} << 32, int64_t{1} << 32});
  EXPECT_EQ(wraps.status().code(), StatusCode::kInvalidArgument) << wraps.status().toString();
  EXPECT_TRUE(contains(wraps.status().message(), "overflow")) << wraps.status().message();

  auto ok = Weights::zeros(DataType::kFloat32, {2, 3});
  ASSERT_TRUE(ok.hasValue());
  EXPECT_EQ(ok->bytes(), 24u);
  EXPECT_EQ(ok->as<float>()[5], 0.0f);
}

TEST(ApiErrors, ConvertingAConstantLargerThanMemory) {
  // A borrowed constant that claims 2^61 elements (its storage is never read: the conversion
  // is refused before).
  int64_t storage = 0;
  Weights w = Weights::borrow(DataType::kInt64, {int64_t{1} << 61}, &storage, nullptr);
  auto ints = w.toInts();
  ASSERT_FALSE(ints.hasValue());
  EXPECT_EQ(ints.status().code(), StatusCode::kOutOfMemory) << ints.status().toString();
  auto doubles = w.toDoubles();
  EXPECT_EQ(doubles.status().code(), StatusCode::kOutOfMemory) << doubles.status().toString();
}

/// relu(relu(x)) over an input of `dims`.
NetworkDefinition reluChain(const Dims& dims) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, shapeFromDims(dims));
  TensorId y = *net.addActivation(x, ActivationKind::kRelu);
  TensorId z = *net.addActivation(y, ActivationKind::kRelu);
  EXPECT_TRUE(net.markOutput(z).isOk());
  return net;
}

TEST(ApiErrors, AnArenaLargerThanTheMachineIsOutOfMemory) {
  // A valid network whose intermediate tensor needs 2^50 bytes: either the builder refuses it
  // (a memory limit) or the context cannot allocate its arena; both are errors with the size.
  auto engine = Builder::build(reluChain({int64_t{1} << 20, int64_t{1} << 28}), BuilderConfig{});
  if (!engine) {
    EXPECT_NE(engine.status().code(), StatusCode::kInternal) << engine.status().toString();
    return;
  }
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_FALSE(ctx.hasValue());
  EXPECT_EQ(ctx.status().code(), StatusCode::kOutOfMemory) << ctx.status().toString();
  EXPECT_TRUE(contains(ctx.status().message(), "activation arena")) << ctx.status().message();
  EXPECT_TRUE(contains(ctx.status().message(), std::to_string(int64_t{1} << 50)))
      << ctx.status().message();
}

TEST(ApiErrors, AConstantOfTwoToTheFiftyElements) {
  // A hand-written network whose constant claims 2^50 floats (borrowed; never read): building
  // and running it end in errors, not in an abort.
  float storage[16] = {};
  NetworkDefinition net;
  TensorId c = net.addConstant(
      "c", Weights::borrow(DataType::kFloat32, {int64_t{1} << 50}, storage, nullptr));
  TensorId y = *net.addActivation(c, ActivationKind::kRelu);
  TensorId z = *net.addActivation(y, ActivationKind::kRelu);
  ASSERT_TRUE(net.markOutput(z).isOk());
  auto engine = Builder::build(net, BuilderConfig{});
  if (!engine) {
    EXPECT_NE(engine.status().code(), StatusCode::kInternal) << engine.status().toString();
    return;
  }
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_FALSE(ctx.hasValue());
  EXPECT_EQ(ctx.status().code(), StatusCode::kOutOfMemory) << ctx.status().toString();
  if (!kAsan) {
    // The plan would hold 2^52 bytes of weights: std::vector's allocation fails (AddressSanitizer
    // stops the process on a failed operator new instead, so this part runs without it).
    auto bytes = (*engine)->serialize();
    ASSERT_FALSE(bytes.hasValue());
    EXPECT_EQ(bytes.status().code(), StatusCode::kOutOfMemory) << bytes.status().toString();
    EXPECT_TRUE(contains(bytes.status().message(), "bytes for the plan"))
        << bytes.status().message();
  }
}

TEST(ApiErrors, HandEditedNetworksAreRefusedNotIndexed) {
  // Layers and tensors are public structs; ids edited by hand are range-checked by verify(),
  // which Builder::build runs first.
  auto expectRefused = [](const NetworkDefinition& net, const std::string& part) {
    Status v = net.verify();
    EXPECT_EQ(v.code(), StatusCode::kInvalidModel) << v.toString();
    EXPECT_TRUE(contains(v.message(), part)) << v.message();
    auto e = Builder::build(net, BuilderConfig{});
    ASSERT_FALSE(e.hasValue());
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidModel) << e.status().toString();
  };
  {
    NetworkDefinition net = reluChain({4});
    net.layer(0).outputs.push_back(999);
    expectRefused(net, "999");
  }
  {
    NetworkDefinition net = reluChain({4});
    net.tensor(1).producer = 77;
    expectRefused(net, "77");
  }
  {
    NetworkDefinition net = reluChain({4});
    net.tensor(2).producer = 0;  // a layer that does not write it
    expectRefused(net, "is not an output of its producer");
  }
  {
    NetworkDefinition net = reluChain({4});
    net.layer(1).attrs = std::monostate{};
    expectRefused(net, "no attributes");
  }
  {
    NetworkDefinition net = reluChain({4});
    net.layer(1).inputs = {-7};
    expectRefused(net, "unknown tensor");
    // topologicalSort is public too: it refuses instead of indexing.
    EXPECT_EQ(net.topologicalSort().code(), StatusCode::kInvalidModel);
  }
  {
    // A layer of one kind given the inputs of another: shape inference refuses it.
    NetworkDefinition net = reluChain({4});
    net.layer(1).attrs = ConvolutionAttrs{};
    auto e = Builder::build(net, BuilderConfig{});
    ASSERT_FALSE(e.hasValue());
    EXPECT_NE(e.status().code(), StatusCode::kInternal) << e.status().toString();
  }
}

TEST(ApiErrors, AddLayerRefusedLeavesTheNetworkUnchanged) {
  NetworkDefinition net = reluChain({4});
  const size_t tensors = net.tensors().size();
  auto r = net.addLayer("bad", ActivationAttrs{}, {0}, 2, {"fresh", "x"});  // "x" exists
  EXPECT_FALSE(r.hasValue());
  r = net.addLayer("bad", ActivationAttrs{}, {0}, 2, {"same", "same"});
  EXPECT_FALSE(r.hasValue());
  r = net.addLayer("bad", ActivationAttrs{}, {0}, -1);
  EXPECT_FALSE(r.hasValue());
  EXPECT_EQ(net.tensors().size(), tensors);
  EXPECT_TRUE(net.verify().isOk());
}

TEST(ApiErrors, RuntimeEntryPointsRefuseBadBuffers) {
  auto e = Runtime::deserialize(nullptr, 100, "null.plan");
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.status().toString();
  e = Runtime::deserialize(nullptr, 0, "empty.plan");
  EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan) << e.status().toString();
}

// ---- a backend whose memory is limited: arena and workspace failures ----

/// Forwards to a reference kernel and asks for `workspace` scratch bytes.
class WorkspaceKernel final : public Kernel {
 public:
  WorkspaceKernel(std::unique_ptr<Kernel> inner, size_t workspace)
      : inner_(std::move(inner)), workspace_(workspace) {}

 protected:
  Status onReshape(const std::vector<TensorDesc>& in, const std::vector<TensorDesc>& out) override {
    KILN_RETURN_IF_ERROR(inner_->reshape(in, out));
    setWorkspaceBytes(workspace_);
    return Status::ok();
  }
  Status onSetup(const std::vector<const void*>& in, const std::vector<void*>& out,
                 void* ws) override {
    return inner_->setup(in, out, ws);
  }
  Status onRun(Stream& stream) override { return inner_->run(stream); }

 private:
  std::unique_ptr<Kernel> inner_;
  size_t workspace_;
};

class WorkspaceTactic final : public Tactic {
 public:
  WorkspaceTactic(std::string name, size_t workspace)
      : name_(std::move(name)),
        inner_(referenceBackend().findTactic("reference.activation")),
        workspace_(workspace) {}
  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return LayerKind::kActivation; }
  Status supports(const LayerDesc& d) const override { return inner_->supports(d); }
  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& d) const override {
    KILN_ASSIGN_OR_RETURN(auto kernel, inner_->create(d));
    return std::unique_ptr<Kernel>(new WorkspaceKernel(std::move(kernel), workspace_));
  }

 private:
  std::string name_;
  const Tactic* inner_;
  size_t workspace_;
};

/// Host memory, refusing any allocation above `limit` bytes.
class LimitedBackend final : public Backend {
 public:
  LimitedBackend(std::string name, size_t limit, size_t workspace)
      : name_(std::move(name)), limit_(limit) {
    tactics_.push_back(std::make_unique<WorkspaceTactic>(name_ + ".activation", workspace));
  }
  const std::string& name() const override { return name_; }
  MemorySpace memorySpace() const override { return MemorySpace::kHost; }
  std::unique_ptr<Stream> createStream() const override { return std::make_unique<HostStream>(); }
  Expected<void*> allocate(size_t bytes) const override {
    if (bytes > limit_)
      return outOfMemory(name_ + ": cannot allocate " + std::to_string(bytes) + " bytes");
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return outOfMemory(name_ + ": allocation failed");
    return p;
  }
  void deallocate(void* p) const override { std::free(p); }
  std::string deviceSignature() const override { return referenceBackend().deviceSignature(); }

 protected:
  const std::vector<std::unique_ptr<Tactic>>& allTactics() const override { return tactics_; }

 private:
  std::string name_;
  size_t limit_;
  std::vector<std::unique_ptr<Tactic>> tactics_;
};

const LimitedBackend& smallArenaBackend() {
  static LimitedBackend backend("test.small_arena", 1024, 0);
  static Status registered = registerBackend(&backend);
  EXPECT_TRUE(registered.isOk()) << registered.toString();
  return backend;
}

const LimitedBackend& bigWorkspaceBackend() {
  static LimitedBackend backend("test.big_workspace", 1 << 20, size_t{1} << 30);
  static Status registered = registerBackend(&backend);
  EXPECT_TRUE(registered.isOk()) << registered.toString();
  return backend;
}

TEST(ApiErrors, ArenaAllocationFailureIsAnError) {
  // Contexts plan and allocate their arena for the shapes they run: the failure comes from the
  // first run, as an error naming the arena and its size.
  smallArenaBackend();
  BuilderConfig config;
  config.backend = "test.small_arena";
  auto engine = Builder::build(reluChain({1024}), config);  // arena: 4096 bytes
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  std::vector<float> big(1024, -1.0f);
  auto failed = test::runEngine(
      **engine,
      {{"x", *Weights::copyFrom(DataType::kFloat32, {1024}, big.data(), big.size() * 4)}});
  ASSERT_FALSE(failed.hasValue());
  EXPECT_EQ(failed.status().code(), StatusCode::kOutOfMemory) << failed.status().toString();
  EXPECT_TRUE(contains(failed.status().message(), "activation arena (4096 bytes)"))
      << failed.status().message();

  // A small enough network runs on the same backend.
  auto small = Builder::build(reluChain({16}), config);
  ASSERT_TRUE(small.hasValue()) << small.status().toString();
  std::vector<float> x(16, -1.0f);
  auto outs = test::runEngine(
      **small, {{"x", *Weights::copyFrom(DataType::kFloat32, {16}, x.data(), x.size() * 4)}});
  EXPECT_TRUE(outs.hasValue()) << outs.status().toString();
}

TEST(ApiErrors, WorkspaceAllocationFailureIsAnError) {
  bigWorkspaceBackend();
  BuilderConfig config;
  config.backend = "test.big_workspace";
  auto engine = Builder::build(reluChain({16}), config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  std::vector<float> x(16, -1.0f);
  auto failed = test::runEngine(
      **engine, {{"x", *Weights::copyFrom(DataType::kFloat32, {16}, x.data(), x.size() * 4)}});
  ASSERT_FALSE(failed.hasValue());
  EXPECT_EQ(failed.status().code(), StatusCode::kOutOfMemory) << failed.status().toString();
  EXPECT_TRUE(contains(failed.status().message(), "workspace (1073741824 bytes)"))
      << failed.status().message();
}

}  // namespace
}  // namespace kiln
