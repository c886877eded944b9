// Tactic selection by timing, with a test backend registered beside the reference backend: the
// builder times every candidate, keeps the fastest, logs the timings, and the plan records the
// chosen tactic's name.
#include <chrono>
#include <cstdlib>
#include <thread>

#include "backends/backend.h"
#include "test_util.h"

namespace kiln {
namespace {

/// relu on f32, optionally sleeping first to be measurably slower.
class ReluKernel final : public Kernel {
 public:
  explicit ReluKernel(int sleepMicros) : sleepMicros_(sleepMicros) {}

 protected:
  Status onReshape(const std::vector<TensorDesc>& in, const std::vector<TensorDesc>&) override {
    n_ = volume(in[0].dims);
    return Status::ok();
  }
  Status onSetup(const std::vector<const void*>& in, const std::vector<void*>& out,
                 void*) override {
    x_ = static_cast<const float*>(in[0]);
    y_ = static_cast<float*>(out[0]);
    return Status::ok();
  }
  Status onRun(Stream&) override {
    if (sleepMicros_) std::this_thread::sleep_for(std::chrono::microseconds(sleepMicros_));
    for (int64_t i = 0; i < n_; ++i)
      y_[i] = x_[i] > 0 ? x_[i] : 0;
    return Status::ok();
  }

 private:
  int sleepMicros_;
  int64_t n_ = 0;
  const float* x_ = nullptr;
  float* y_ = nullptr;
};

class ReluTactic final : public Tactic {
 public:
  ReluTactic(std::string name, int sleepMicros) : name_(std::move(name)), sleep_(sleepMicros) {}
  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return LayerKind::kActivation; }
  Status supports(const LayerDesc& d) const override {
    if (d.layer->as<ActivationAttrs>().kind != ActivationKind::kRelu ||
        d.inputs[0].dtype != DataType::kFloat32)
      return unsupported(name_ + " runs f32 relu only");
    return Status::ok();
  }
  Expected<std::unique_ptr<Kernel>> create(const LayerDesc&) const override {
    return std::unique_ptr<Kernel>(new ReluKernel(sleep_));
  }

 private:
  std::string name_;
  int sleep_;
};

class TimingBackend final : public Backend {
 public:
  TimingBackend() {
    tactics_.push_back(std::make_unique<ReluTactic>("test.activation.relu_slow", 3000));
    tactics_.push_back(std::make_unique<ReluTactic>("test.activation.relu_fast", 0));
  }
  const std::string& name() const override { return name_; }
  MemorySpace memorySpace() const override { return MemorySpace::kHost; }
  std::unique_ptr<Stream> createStream() const override { return std::make_unique<HostStream>(); }
  Expected<void*> allocate(size_t bytes) const override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return Status(StatusCode::kOutOfMemory, "test backend allocation failed");
    return p;
  }
  void deallocate(void* p) const override { std::free(p); }
  std::string deviceSignature() const override { return "test-device"; }

 protected:
  const std::vector<std::unique_ptr<Tactic>>& allTactics() const override { return tactics_; }

 private:
  std::string name_ = "test.timing";
  std::vector<std::unique_ptr<Tactic>> tactics_;
};

const Backend& timingBackend() {
  static TimingBackend backend;
  static Status registered = registerBackend(&backend);
  EXPECT_TRUE(registered.isOk()) << registered.toString();
  return backend;
}

NetworkDefinition reluNet(ActivationKind second) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::fixed(4)});
  TensorId y = *net.addActivation(x, ActivationKind::kRelu);
  TensorId z = *net.addActivation(y, second);
  EXPECT_TRUE(net.markOutput(z).isOk());
  return net;
}

TEST(TacticSelection, FastestTimedCandidateWinsAndIsRecorded) {
  timingBackend();
  BuilderConfig config;
  config.backend = "test.timing";
  auto engine = Builder::build(reluNet(ActivationKind::kRelu), config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  for (const LayerInfo& l : (*engine)->layers())
    EXPECT_EQ(l.tactic, "test.activation.relu_fast");
  std::string log;
  for (const auto& line : (*engine)->buildLog())
    log += line + "\n";
  EXPECT_NE(log.find("test.activation.relu_slow="), std::string::npos) << log;
  EXPECT_NE(log.find("-> test.activation.relu_fast"), std::string::npos) << log;

  // The plan names the tactic; it loads back on the registered backend and runs.
  auto bytes = (*engine)->serialize();
  ASSERT_TRUE(bytes.hasValue());
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  std::vector<float> xs = {-1, 2, -3, 4};
  auto outs = test::runEngine(**loaded, {{"x", Weights::fromFloats(xs)}});
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].as<float>()[1], 2.0f);
  EXPECT_EQ((*outs)[0].as<float>()[2], 0.0f);
}

TEST(TacticSelection, LayerNoTacticSupportsIsAClearError) {
  timingBackend();
  BuilderConfig config;
  config.backend = "test.timing";
  auto engine = Builder::build(reluNet(ActivationKind::kTanh), config);
  ASSERT_FALSE(engine.hasValue());
  const std::string m = engine.status().message();
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.find("cannot run on backend 'test.timing'"), std::string::npos) << m;
  EXPECT_NE(m.find("f32 relu only"), std::string::npos) << m;
}

TEST(TacticSelection, RegistryRefusesDuplicateNames) {
  timingBackend();
  EXPECT_FALSE(registerBackend(&timingBackend()).isOk());
  auto names = backendNames();
  EXPECT_EQ(names.front(), "reference");
  EXPECT_NE(std::find(names.begin(), names.end(), "test.timing"), names.end());
}

}  // namespace
}  // namespace kiln
