// Tests of the cpu backend (src/backends/cpu): every fast tactic against the reference backend
// on random data, at sizes around its vector width and tiles (7, 8, 9, 15, 16, 17, primes), each
// kernel object reshaped to several shapes in a row; the reference fallbacks; the backend object;
// the thread count through BuilderConfig and the plan; the post-op hooks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/post_op_hooks.h"
#include "backends/reference/reference.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"

namespace kiln {
namespace {

constexpr DataType kF32 = DataType::kFloat32;

Weights randomF32(const Dims& dims, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  Weights w = Weights::zeros(kF32, dims).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  auto* p = static_cast<float*>(w.mutableData());
  for (int64_t i = 0; i < w.count(); ++i)
    p[i] = dist(rng);
  return w;
}

/// One input of a layer under test: its value, and whether it is a build-time constant.
struct Operand {
  Weights value;
  bool constant = false;
  bool present = true;
};
Operand runtime(Weights w) {
  return {std::move(w), false, true};
}
Operand constant(Weights w) {
  return {std::move(w), true, true};
}
Operand absent() {
  return {Weights(), false, false};
}

/// A layer with concrete operands; outputs come from shape inference.
class LayerCase {
 public:
  LayerCase(LayerAttrs attrs, std::vector<Operand> ops, int threads = 2)
      : ops_(ops.begin(), ops.end()) {
    layer_.name = "L";
    layer_.attrs = std::move(attrs);
    desc_.layer = &layer_;
    desc_.threads = threads;
    for (const Operand& o : ops_) {
      desc_.inputs.push_back(o.present ? TensorDesc{o.value.dtype(), o.value.dims()}
                                       : TensorDesc{});
      desc_.inputPresent.push_back(o.present);
      desc_.constantInputs.push_back(o.constant ? &o.value : nullptr);
    }
    // Split infers one part per output of the layer: the split cases here make two.
    if (layer_.kind() == LayerKind::kSplit) layer_.outputs.assign(2, TensorId{0});
    auto outs = inferConcrete(desc_);
    EXPECT_TRUE(outs.hasValue()) << outs.status().toString();
    if (outs) desc_.outputs = *outs;
    // Layer norm as the importer makes it: the normalized output only.
    if (layer_.kind() == LayerKind::kNormalization) desc_.outputs.resize(1);
  }
  LayerCase(const LayerCase&) = delete;

  const LayerDesc& desc() const { return desc_; }

  /// Reshapes, binds and runs `kernel` on this case's operands.
  Expected<std::vector<Weights>> runOn(Kernel& kernel, const Backend& backend) const {
    KILN_RETURN_IF_ERROR(kernel.reshape(desc_.inputs, desc_.outputs));
    std::vector<Weights> outs;
    std::vector<void*> outPtrs;
    for (const TensorDesc& t : desc_.outputs) {
      outs.push_back(Weights::zeros(t.dtype, t.dims).value());
      outPtrs.push_back(outs.back().mutableData());
    }
    std::vector<const void*> inPtrs;
    for (const Operand& o : ops_)
      inPtrs.push_back(o.present ? o.value.data() : nullptr);
    // Poison the workspace: a kernel must not rely on it being zero.
    std::vector<unsigned char> workspace(kernel.workspaceBytes() + 64, 0xA5);
    void* ws = workspace.data() + (64 - reinterpret_cast<uintptr_t>(workspace.data()) % 64) % 64;
    KILN_RETURN_IF_ERROR(kernel.setup(inPtrs, outPtrs, ws));
    auto stream = backend.createStream();
    KILN_RETURN_IF_ERROR(kernel.run(*stream));
    KILN_RETURN_IF_ERROR(stream->synchronize());
    return outs;
  }

  /// The reference backend's outputs.
  std::vector<Weights> reference() const {
    const Tactic* t = referenceBackend().tactics(desc_).at(0);
    auto k = t->create(desc_);
    EXPECT_TRUE(k.hasValue()) << k.status().toString();
    auto outs = runOn(**k, referenceBackend());
    EXPECT_TRUE(outs.hasValue()) << outs.status().toString();
    return outs ? *outs : std::vector<Weights>{};
  }

 private:
  Layer layer_;
  std::deque<Operand> ops_;  // stable addresses for constantInputs
  LayerDesc desc_;
};

/// |out - ref| <= atol + rtol * |ref| for every element.
void expectClose(const Weights& out, const Weights& ref, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(out.dims(), ref.dims()) << what;
  const float* o = out.as<float>();
  const float* r = ref.as<float>();
  int64_t bad = 0, worst = -1;
  double worstErr = 0;
  for (int64_t i = 0; i < out.count(); ++i) {
    const double err = std::fabs(static_cast<double>(o[i]) - r[i]);
    if (!(err <= atol + rtol * std::fabs(r[i]))) {
      ++bad;
      if (!(err <= worstErr)) {
        worstErr = err;
        worst = i;
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << out.count() << " elements differ; worst at "
                    << worst << ": " << (worst >= 0 ? o[worst] : 0.0f) << " vs "
                    << (worst >= 0 ? r[worst] : 0.0f);
}

struct Tolerance {
  double rtol = 1e-5, atol = 1e-6;
};

/// Creates one kernel of `tactic` from the first case, then reshapes it to every case in turn
/// (the same kernel object), comparing each run with the reference backend.
void checkTactic(const std::string& tactic, const std::vector<const LayerCase*>& cases,
                 Tolerance tol) {
  ASSERT_FALSE(cases.empty());
  const Backend& cpu = cpuBackend();
  const Tactic* t = cpu.findTactic(tactic);
  ASSERT_NE(t, nullptr) << tactic;
  for (const LayerCase* c : cases) {
    Status s = t->supports(c->desc());
    ASSERT_TRUE(s.isOk()) << tactic << ": " << s.toString();
  }
  auto kernel = t->create(cases[0]->desc());
  ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string what = tactic + " case " + std::to_string(i) + " in" +
                       dimsToString(cases[i]->desc().inputs[0].dims);
    auto outs = cases[i]->runOn(**kernel, cpu);
    ASSERT_TRUE(outs.hasValue()) << what << ": " << outs.status().toString();
    auto refs = cases[i]->reference();
    ASSERT_EQ(outs->size(), refs.size());
    for (size_t k = 0; k < refs.size(); ++k)
      expectClose((*outs)[k], refs[k], tol.rtol, tol.atol, what);
  }
}

/// Owns cases and hands out the pointer list checkTactic takes.
struct Cases {
  std::deque<std::unique_ptr<LayerCase>> owned;
  LayerCase& add(LayerAttrs attrs, std::vector<Operand> ops, int threads = 2) {
    owned.push_back(std::make_unique<LayerCase>(std::move(attrs), std::move(ops), threads));
    return *owned.back();
  }
  std::vector<const LayerCase*> list() const {
    std::vector<const LayerCase*> v;
    for (const auto& c : owned)
      v.push_back(c.get());
    return v;
  }
};

const std::vector<int64_t> kEdgeSizes = {1, 7, 8, 9, 15, 16, 17, 31, 33};

// ---- backend object ------------------------------------------------------------------------

TEST(CpuBackend, RegisteredBesideTheReference) {
  auto b = findBackend("cpu");
  ASSERT_TRUE(b.hasValue()) << b.status().toString();
  EXPECT_EQ((*b)->name(), "cpu");
  EXPECT_EQ((*b)->memorySpace(), MemorySpace::kHost);
  auto names = backendNames();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "reference");
  EXPECT_EQ(names[1], "cpu");
  if (hostCpuIsa() == CpuIsa::kAvx2) {
    EXPECT_EQ((*b)->deviceSignature(), "x86_64-avx2");
  }
}

TEST(CpuBackend, EveryLayerKindHasAReferenceFallback) {
  const Backend& b = cpuBackend();
  for (const char* name :
       {"cpu.constant.reference", "cpu.convolution.reference", "cpu.matrix_multiply.reference",
        "cpu.pooling.reference", "cpu.select.reference", "cpu.cumulative.reference"}) {
    const Tactic* t = b.findTactic(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->name(), name);
  }
}

TEST(CpuBackend, FallbackOnlyWhereNoFastTacticApplies) {
  const Backend& b = cpuBackend();
  // f32 add: the AVX2 kernel, and no fallback offered.
  LayerCase f(ElementwiseAttrs{ElementwiseKind::kAdd},
              {runtime(randomF32({4, 9}, 1)), runtime(randomF32({9}, 2))});
  auto fast = b.tactics(f.desc());
  ASSERT_EQ(fast.size(), 1u);
  EXPECT_EQ(fast[0]->name(), "cpu.elementwise.f32.avx2");
  // int64 add: only the fallback, which wraps the reference kernel.
  Weights a = Weights::fromInts({1, 2, 3}), c = Weights::fromInts({10, 20, 30});
  LayerCase i(ElementwiseAttrs{ElementwiseKind::kAdd}, {runtime(a), runtime(c)});
  auto slow = b.tactics(i.desc());
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0]->name(), "cpu.elementwise.reference");
  auto k = slow[0]->create(i.desc());
  ASSERT_TRUE(k.hasValue());
  auto outs = i.runOn(**k, b);
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].as<int64_t>()[2], 33);
}

// ---- elementwise -----------------------------------------------------------------------------

TEST(CpuKernels, BinaryBroadcastAgainstReference) {
  for (ElementwiseKind kind :
       {ElementwiseKind::kAdd, ElementwiseKind::kSub, ElementwiseKind::kMul, ElementwiseKind::kDiv,
        ElementwiseKind::kMax, ElementwiseKind::kMin}) {
    Cases cs;
    uint32_t seed = 10;
    auto add = [&](Dims a, Dims b) {
      // Divisors kept away from 0.
      Weights wb =
          kind == ElementwiseKind::kDiv ? randomF32(b, seed++, 0.5f, 2.0f) : randomF32(b, seed++);
      cs.add(ElementwiseAttrs{kind}, {runtime(randomF32(a, seed++)), runtime(wb)});
    };
    for (int64_t n : kEdgeSizes)
      add({n}, {n});
    for (int64_t n : {7, 8, 9, 17})
      add({4, n}, {n});
    add({3, 17}, {3, 1});
    add({2, 3, 9}, {1, 3, 1});
    add({1}, {2, 5, 9});
    add({3, 1, 9}, {1, 5, 1});
    add({2, 1, 1, 17}, {2, 4, 17, 17});  // attention-mask pattern
    add({70001}, {70001});               // split over the threads
    add({300, 257}, {257});
    checkTactic("cpu.elementwise.f32.avx2", cs.list(), {1e-6, 1e-7});
  }
}

TEST(CpuKernels, PowAgainstReference) {
  for (float e : {1.0f, 2.0f, 3.0f, 0.5f, 1.7f}) {
    Cases cs;
    uint32_t seed = 60;
    for (Dims d : {Dims{7}, Dims{8}, Dims{9}, Dims{3, 33}, Dims{1, 32, 1024}})
      cs.add(ElementwiseAttrs{ElementwiseKind::kPow},
             {runtime(randomF32(d, seed++, 0.1f, 3.0f)), constant(Weights::fromFloats({e}, true))});
    checkTactic("cpu.elementwise.f32.avx2", cs.list(), {2e-6, 1e-7});
  }
  Cases both;  // exponents per element
  both.add(ElementwiseAttrs{ElementwiseKind::kPow},
           {runtime(randomF32({4, 9}, 1, 0.1f, 3.0f)), runtime(randomF32({9}, 2, -2.0f, 2.0f))});
  checkTactic("cpu.elementwise.f32.avx2", both.list(), {2e-6, 1e-7});
}

Weights randomBool(const Dims& dims, uint32_t seed) {
  Weights w = Weights::zeros(DataType::kBool, dims).value();
  std::mt19937 rng(seed);
  auto* p = static_cast<uint8_t*>(w.mutableData());
  for (int64_t i = 0; i < w.count(); ++i)
    p[i] = rng() % 2;
  return w;
}

TEST(CpuKernels, SelectAgainstReference) {
  Cases cs;  // one kernel, several broadcast patterns (attention masks, scalar fills)
  uint32_t seed = 70;
  for (auto [c, x, y] : {std::tuple{Dims{9}, Dims{9}, Dims{9}},
                         std::tuple{Dims{2, 1, 17, 17}, Dims{}, Dims{2, 4, 17, 17}},
                         std::tuple{Dims{1, 1, 8, 8}, Dims{3, 2, 8, 8}, Dims{}},
                         std::tuple{Dims{8, 1}, Dims{1, 7}, Dims{8, 7}},
                         std::tuple{Dims{300, 257}, Dims{300, 257}, Dims{257}}})
    cs.add(SelectAttrs{}, {runtime(randomBool(c, seed++)), runtime(randomF32(x, seed++)),
                           runtime(randomF32(y, seed++))});
  checkTactic("cpu.select.f32.avx2", cs.list(), {0, 0});
}

TEST(CpuKernels, IsNanAgainstReference) {
  std::vector<float> v = {1, NAN, -INFINITY, INFINITY, 0, -0.0f, NAN, 3, 4, NAN, 1e-40f};
  Cases cs;
  cs.add(UnaryAttrs{UnaryKind::kIsNaN}, {runtime(Weights::fromFloats(v))});
  cs.add(UnaryAttrs{UnaryKind::kIsNaN}, {runtime(randomF32({70001}, 3))});
  const Tactic* t = cpuBackend().findTactic("cpu.unary.isnan.f32.avx2");
  ASSERT_NE(t, nullptr);
  auto k = t->create(cs.owned[0]->desc());
  ASSERT_TRUE(k.hasValue());
  for (const LayerCase* c : cs.list()) {
    auto outs = c->runOn(**k, cpuBackend());
    ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
    auto ref = c->reference();
    ASSERT_EQ((*outs)[0].bytes(), ref[0].bytes());
    EXPECT_EQ(std::memcmp((*outs)[0].data(), ref[0].data(), ref[0].bytes()), 0);
  }
}

TEST(CpuKernels, UnaryAgainstReference) {
  for (UnaryKind kind : {UnaryKind::kNeg, UnaryKind::kAbs, UnaryKind::kExp, UnaryKind::kSqrt,
                         UnaryKind::kReciprocal, UnaryKind::kErf, UnaryKind::kCeil,
                         UnaryKind::kFloor, UnaryKind::kRound, UnaryKind::kIdentity}) {
    Cases cs;
    const bool positive = kind == UnaryKind::kSqrt || kind == UnaryKind::kReciprocal;
    uint32_t seed = 100;
    for (int64_t n : {1, 7, 8, 9, 17, 33, 40000})
      cs.add(UnaryAttrs{kind}, {runtime(randomF32({n}, seed++, positive ? 0.1f : -4.0f, 4.0f))});
    // exp: a few ulps; erf: the approximation's absolute error (about 5e-7).
    const double rtol = kind == UnaryKind::kExp ? 2e-6 : 1e-6;
    const double atol = kind == UnaryKind::kErf ? 1e-6 : 3e-7;
    checkTactic("cpu.unary.f32.avx2", cs.list(), {rtol, atol});
  }
}

TEST(CpuKernels, ActivationAgainstReference) {
  struct A {
    ActivationKind kind;
    float alpha, beta;
  };
  for (A a : {A{ActivationKind::kRelu, 0, 0}, A{ActivationKind::kClip, 0.0f, 6.0f},
              A{ActivationKind::kSigmoid, 0, 0}, A{ActivationKind::kTanh, 0, 0},
              A{ActivationKind::kLeakyRelu, 0.1f, 0}, A{ActivationKind::kHardSigmoid, 0.2f, 0.5f},
              A{ActivationKind::kHardSwish, 0, 0}, A{ActivationKind::kGeluErf, 0, 0},
              A{ActivationKind::kGeluTanh, 0, 0}}) {
    Cases cs;
    uint32_t seed = 200;
    for (int64_t n : {1, 7, 8, 9, 17, 33, 40000})
      cs.add(ActivationAttrs{a.kind, a.alpha, a.beta}, {runtime(randomF32({n}, seed++, -8, 8))});
    // Saturated tails and values near 0 (tanh's small-argument branch).
    cs.add(ActivationAttrs{a.kind, a.alpha, a.beta},
           {runtime(Weights::fromFloats(
               {-100, -20, -1e-3f, -1e-6f, 0, 1e-6f, 3e-3f, 5e-3f, 20, 100, 0.5f}))});
    checkTactic("cpu.activation.f32.avx2", cs.list(), {2e-6, 3e-7});
  }
}

// ---- softmax and normalization ------------------------------------------------------------------

TEST(CpuKernels, SoftmaxAgainstReference) {
  for (bool log : {false, true}) {
    Cases cs;
    uint32_t seed = 300;
    for (int64_t n : kEdgeSizes)
      cs.add(SoftmaxAttrs{-1, log}, {runtime(randomF32({3, n}, seed++, -10, 10))});
    cs.add(SoftmaxAttrs{-1, log}, {runtime(randomF32({2, 4, 64, 64}, seed++, -10, 10))});
    // log-softmax: x - (max + log sum) cancels near 0, hence the absolute term.
    checkTactic("cpu.softmax.f32.avx2", cs.list(), {2e-6, log ? 1e-6 : 1e-7});
    Cases trailing;  // the axis followed by size-1 dims is still the innermost run
    trailing.add(SoftmaxAttrs{1, log}, {runtime(randomF32({5, 13, 1}, seed++))});
    trailing.add(SoftmaxAttrs{1, log}, {runtime(randomF32({2, 9, 1, 1}, seed++))});
    checkTactic("cpu.softmax.f32.avx2", trailing.list(), {2e-6, log ? 1e-6 : 1e-7});
  }
}

TEST(CpuKernels, SoftmaxDeclinesInnerAxes) {
  LayerCase c(SoftmaxAttrs{0, false}, {runtime(randomF32({4, 5}, 1))});
  EXPECT_FALSE(cpuBackend().findTactic("cpu.softmax.f32.avx2")->supports(c.desc()).isOk());
  auto t = cpuBackend().tactics(c.desc());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]->name(), "cpu.softmax.reference");
}

TEST(CpuKernels, LayerNormAgainstReference) {
  for (bool bias : {true, false}) {
    Cases cs;
    uint32_t seed = 400;
    for (int64_t n : {1, 7, 8, 9, 17, 64, 256, 257}) {
      std::vector<Operand> ops = {runtime(randomF32({5, n}, seed++)),
                                  constant(randomF32({n}, seed++))};
      ops.push_back(bias ? constant(randomF32({n}, seed++)) : absent());
      cs.add(NormalizationAttrs{-1, 1e-5f}, std::move(ops));
    }
    checkTactic("cpu.normalization.f32.avx2", cs.list(), {1e-5, 2e-6});
    // Statistics over the last two dims.
    Cases two;
    for (int64_t n : {3, 8, 9}) {
      std::vector<Operand> ops = {runtime(randomF32({2, 3, 4, n}, seed++)),
                                  runtime(randomF32({4, n}, seed++))};
      ops.push_back(bias ? runtime(randomF32({4, n}, seed++)) : absent());
      two.add(NormalizationAttrs{-2, 1e-3f}, std::move(ops));
    }
    checkTactic("cpu.normalization.f32.avx2", two.list(), {1e-5, 2e-6});
  }
}

// ---- matrix multiply ---------------------------------------------------------------------------

const char* const kMatMulTactics[] = {"cpu.matrix_multiply.onednn.f32",
                                      "cpu.matrix_multiply.sgemm.f32"};

TEST(CpuKernels, MatMulConstantWeightsSeveralShapes) {
  for (int64_t k : {1, 7, 8, 9, 17}) {
    for (int64_t n : {1, 7, 8, 9, 17}) {
      Weights b = randomF32({k, n}, static_cast<uint32_t>(k * 100 + n));
      Cases cs;
      uint32_t seed = 500;
      for (int64_t m : {1, 7, 8, 9, 16, 33})  // one kernel, M changing (dynamic batch/sequence)
        cs.add(MatrixMultiplyAttrs{}, {runtime(randomF32({m, k}, seed++)), constant(b)});
      cs.add(MatrixMultiplyAttrs{}, {runtime(randomF32({2, 3, 5, k}, seed++)), constant(b)});
      for (const char* t : kMatMulTactics)
        checkTactic(t, cs.list(), {1e-5, 1e-5});
    }
  }
}

TEST(CpuKernels, MatMulFewRowsSplitByColumnsAgainstReference) {
  // Few rows and many columns: the oneDNN matmul splits B by columns over the threads (each
  // slice packs its own columns); many rows: by rows. Both, with and without transB and bias.
  uint32_t seed = 1800;
  for (bool transB : {false, true}) {
    Cases cs;
    MatrixMultiplyAttrs a;
    a.transB = transB;
    const Weights w = randomF32(transB ? Dims{2000, 200} : Dims{200, 2000}, seed++);
    const Weights bias = randomF32({2000}, seed++);
    for (int64_t m : {1, 7, 32, 127, 128, 300})
      cs.add(a, {runtime(randomF32({m, 200}, seed++)), constant(w), constant(bias)});
    checkTactic("cpu.matrix_multiply.onednn.f32", cs.list(), {2e-5, 2e-5});
  }
}

TEST(CpuKernels, MatMulBatchFoldedIntoRowsWithBias) {
  // [b, s, K] @ [K, N] (+ [N]): one GEMM over b * s rows; the same kernel for several b and s.
  const Weights b = randomF32({17, 9}, 1), c = randomF32({9}, 2), c3 = randomF32({1, 1, 9}, 3);
  for (const Weights* bias : {static_cast<const Weights*>(nullptr), &c, &c3}) {
    Cases cs;
    uint32_t seed = 550;
    for (Dims a : {Dims{2, 7, 17}, Dims{8, 9, 17}, Dims{1, 16, 17}, Dims{3, 2, 5, 17}}) {
      std::vector<Operand> ops = {runtime(randomF32(a, seed++)), constant(b)};
      if (bias) ops.push_back(constant(*bias));
      cs.add(MatrixMultiplyAttrs{}, std::move(ops));
    }
    for (const char* t : kMatMulTactics)
      checkTactic(t, cs.list(), {1e-5, 1e-5});
  }
}

TEST(CpuKernels, MatMulBatchedBroadcastAndPromotion) {
  Cases cs;
  uint32_t seed = 600;
  cs.add(MatrixMultiplyAttrs{},
         {runtime(randomF32({2, 4, 9, 17}, seed++)), runtime(randomF32({2, 4, 17, 8}, seed++))});
  cs.add(MatrixMultiplyAttrs{},
         {runtime(randomF32({2, 1, 7, 9}, seed++)), runtime(randomF32({3, 9, 5}, seed++))});
  cs.add(MatrixMultiplyAttrs{},
         {runtime(randomF32({9}, seed++)), runtime(randomF32({2, 9, 5}, seed++))});  // 1-D A
  cs.add(MatrixMultiplyAttrs{},
         {runtime(randomF32({3, 7, 9}, seed++)), runtime(randomF32({9}, seed++))});  // 1-D B
  for (const char* t : kMatMulTactics)
    checkTactic(t, cs.list(), {1e-5, 1e-5});
}

TEST(CpuKernels, GemmTransposesAndBias) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Cases cs;
      uint32_t seed = 700;
      MatrixMultiplyAttrs at{ta, tb, 1.0f, 1.0f};
      for (int64_t m : {1, 8, 9}) {
        const int64_t k = 17, n = 9;
        Dims a = ta ? Dims{k, m} : Dims{m, k}, b = tb ? Dims{n, k} : Dims{k, n};
        cs.add(at, {runtime(randomF32(a, seed++)), constant(randomF32(b, seed++)),
                    constant(randomF32({n}, seed++))});  // row-vector C: oneDNN bias
        cs.add(at, {runtime(randomF32(a, seed++)), runtime(randomF32(b, seed++)),
                    runtime(randomF32({m, n}, seed++))});  // full C: binary post-op
        cs.add(at, {runtime(randomF32(a, seed++)), runtime(randomF32(b, seed++)),
                    runtime(randomF32({m, 1}, seed++))});  // column C
      }
      // One kernel per case here: C's role changes with the shape.
      for (const LayerCase* c : cs.list())
        for (const char* t : kMatMulTactics)
          checkTactic(t, {c}, {1e-5, 1e-5});
    }
  }
}

TEST(CpuKernels, ScaledGemmRunsOnSgemm) {
  Cases cs;
  cs.add(
      MatrixMultiplyAttrs{false, true, 2.0f, 0.5f},
      {runtime(randomF32({3, 4}, 1)), runtime(randomF32({5, 4}, 2)), runtime(randomF32({5}, 3))});
  auto t = cpuBackend().tactics(cs.owned[0]->desc());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]->name(), "cpu.matrix_multiply.sgemm.f32");
  checkTactic("cpu.matrix_multiply.sgemm.f32", cs.list(), {1e-5, 1e-5});
}

TEST(CpuKernels, SgemmManySmallBatchEntriesOverThreads) {
  Cases cs;  // attention-like: [b, h, s, d] @ [b, h, d, s], one kernel for several s
  uint32_t seed = 650;
  for (int64_t s : {7, 16, 33})
    cs.add(MatrixMultiplyAttrs{},
           {runtime(randomF32({2, 3, s, 16}, seed++)), runtime(randomF32({2, 3, 16, s}, seed++))});
  checkTactic("cpu.matrix_multiply.sgemm.f32", cs.list(), {1e-5, 1e-5});
}

// ---- convolution -------------------------------------------------------------------------------

ConvolutionAttrs conv(int64_t stride, int64_t pad, int64_t group = 1, int64_t dilation = 1) {
  ConvolutionAttrs a;
  a.strides = {stride, stride};
  a.padsBegin = {pad, pad};
  a.padsEnd = {pad, pad};
  a.dilations = {dilation, dilation};
  a.group = group;
  return a;
}

/// Cases of one convolution (fixed weights) over several input shapes.
void convCases(Cases& cs, const ConvolutionAttrs& a, int64_t c, int64_t m, int64_t kh, bool bias,
               const std::vector<Dims>& spatialAndBatch, uint32_t seed) {
  Weights w = randomF32({m, c / a.group, kh, kh}, seed);
  Weights b = randomF32({m}, seed + 1);
  for (const Dims& nhw : spatialAndBatch) {
    std::vector<Operand> ops = {runtime(randomF32({nhw[0], c, nhw[1], nhw[2]}, ++seed)),
                                constant(w)};
    ops.push_back(bias ? constant(b) : absent());
    cs.add(a, std::move(ops));
  }
}

TEST(CpuKernels, OnednnConvolutionAgainstReference) {
  const std::vector<Dims> shapes = {{1, 7, 7}, {2, 9, 8}, {1, 17, 16}, {3, 5, 5}};
  for (const char* tactic : {"cpu.convolution.onednn.f32", "cpu.convolution.onednn.f32.blocked"}) {
    uint32_t seed = 800;
    for (int64_t c : {1, 3, 8, 9, 17}) {
      Cases cs;
      convCases(cs, conv(1, 1), c, 9, 3, true, shapes, seed += 10);
      checkTactic(tactic, cs.list(), {1e-5, 1e-5});
    }
    Cases strided, grouped, dilated;
    convCases(strided, conv(2, 1), 5, 16, 3, false, shapes, seed += 10);
    convCases(grouped, conv(1, 1, 3), 6, 9, 3, true, shapes, seed += 10);
    convCases(dilated, conv(1, 2, 1, 2), 4, 8, 3, true, shapes, seed += 10);
    checkTactic(tactic, strided.list(), {1e-5, 1e-5});
    checkTactic(tactic, grouped.list(), {1e-5, 1e-5});
    checkTactic(tactic, dilated.list(), {1e-5, 1e-5});
  }
}

TEST(CpuKernels, PointwiseGemmAgainstReference) {
  uint32_t seed = 900;
  for (int64_t c : {1, 7, 8, 9, 17}) {
    for (int64_t m : {1, 8, 9, 24}) {
      for (bool bias : {true, false}) {
        Cases cs;
        convCases(cs, conv(1, 0), c, m, 1, bias, {{1, 7, 7}, {2, 9, 8}, {1, 1, 17}, {4, 3, 3}},
                  seed += 10);
        checkTactic("cpu.convolution.pointwise_gemm.f32", cs.list(), {1e-5, 1e-5});
      }
    }
  }
  LayerCase strided(conv(2, 0),
                    {runtime(randomF32({1, 4, 6, 6}, 1)), constant(randomF32({4, 4, 1, 1}, 2))});
  EXPECT_FALSE(cpuBackend()
                   .findTactic("cpu.convolution.pointwise_gemm.f32")
                   ->supports(strided.desc())
                   .isOk());
}

TEST(CpuKernels, ConvolutionTacticsDeclineTransposed) {
  // A transposed convolution must not run on the forward kernels (it falls back to the
  // reference backend).
  ConvolutionAttrs a = conv(1, 1, 4);
  a.transposed = true;
  LayerCase c(a, {runtime(randomF32({1, 4, 6, 6}, 1)), constant(randomF32({4, 1, 3, 3}, 2))});
  for (const char* t :
       {"cpu.convolution.onednn.f32", "cpu.convolution.onednn.f32.blocked",
        "cpu.convolution.pointwise_gemm.f32", "cpu.convolution.depthwise3x3.f32.avx2"}) {
    ASSERT_NE(cpuBackend().findTactic(t), nullptr) << t;
    EXPECT_FALSE(cpuBackend().findTactic(t)->supports(c.desc()).isOk()) << t;
  }
}

TEST(CpuKernels, Depthwise3x3AgainstReference) {
  uint32_t seed = 1000;
  // Output widths around 8 (the vector width) for both strides, odd and even inputs.
  const std::vector<Dims> shapes = {{1, 7, 7},   {2, 8, 8},   {1, 9, 9},   {1, 15, 16},
                                    {1, 16, 17}, {1, 17, 15}, {1, 33, 31}, {1, 1, 1}};
  for (int64_t stride : {1, 2}) {
    for (int64_t pad : {0, 1}) {
      for (int64_t c : {1, 8, 13}) {
        Cases cs;
        std::vector<Dims> fit;
        for (const Dims& s : shapes)
          if (s[1] + 2 * pad >= 3 && s[2] + 2 * pad >= 3) fit.push_back(s);
        convCases(cs, conv(stride, pad, c), c, c, 3, c != 8, fit, seed += 10);
        checkTactic("cpu.convolution.depthwise3x3.f32.avx2", cs.list(), {1e-5, 1e-5});
      }
    }
  }
}

TEST(CpuKernels, GlobalAveragePoolingAgainstReference) {
  PoolingAttrs a;
  a.kind = PoolingKind::kAverage;
  a.global = true;
  Cases cs;
  uint32_t seed = 1100;
  for (Dims d : {Dims{1, 3, 7, 7}, Dims{2, 9, 8, 8}, Dims{1, 17, 4, 4}, Dims{4, 5, 1, 1},
                 Dims{64, 16, 1, 9}, Dims{2, 1280, 7, 7}, Dims{1, 3, 17}})
    cs.add(a, {runtime(randomF32(d, seed++))});
  checkTactic("cpu.pooling.global_average.f32.avx2", cs.list(), {1e-5, 1e-6});
}

// ---- data movement ---------------------------------------------------------------------------

/// Exact comparison for kernels that only move bytes.
void checkCopyTactic(const std::string& tactic, const std::vector<const LayerCase*>& cases) {
  const Tactic* t = cpuBackend().findTactic(tactic);
  ASSERT_NE(t, nullptr) << tactic;
  for (const LayerCase* c : cases)
    ASSERT_TRUE(t->supports(c->desc()).isOk()) << t->supports(c->desc()).toString();
  auto k = t->create(cases[0]->desc());
  ASSERT_TRUE(k.hasValue()) << k.status().toString();
  for (size_t i = 0; i < cases.size(); ++i) {
    auto outs = cases[i]->runOn(**k, cpuBackend());
    ASSERT_TRUE(outs.hasValue()) << tactic << " case " << i << ": " << outs.status().toString();
    auto refs = cases[i]->reference();
    ASSERT_EQ(outs->size(), refs.size());
    for (size_t o = 0; o < refs.size(); ++o) {
      ASSERT_EQ((*outs)[o].dims(), refs[o].dims()) << tactic << " case " << i;
      EXPECT_EQ(std::memcmp((*outs)[o].data(), refs[o].data(), refs[o].bytes()), 0)
          << tactic << " case " << i << " output " << o;
    }
  }
}

Weights randomI64(const Dims& dims, uint32_t seed) {
  Weights w = Weights::zeros(DataType::kInt64, dims).value();
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < w.count(); ++i)
    static_cast<int64_t*>(w.mutableData())[i] = static_cast<int64_t>(rng());
  return w;
}

TEST(CpuKernels, ShuffleTransposeAndReshape) {
  uint32_t seed = 1200;
  for (std::vector<int64_t> perm :
       {std::vector<int64_t>{0, 2, 1, 3}, {0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 2, 3}, {}}) {
    ShuffleAttrs a;
    a.mode = ShuffleMode::kTranspose;
    a.perm = perm;
    Cases cs;  // attention's [b, s, h, d] -> [b, h, s, d] and friends, several sizes
    for (Dims d : {Dims{2, 7, 3, 8}, Dims{1, 9, 4, 16}, Dims{8, 64, 4, 64}, Dims{1, 1, 1, 5}})
      cs.add(a, {runtime(randomF32(d, seed++))});
    checkCopyTactic("cpu.shuffle.copy", cs.list());
    Cases wide;  // 8-byte elements
    for (Dims d : {Dims{2, 3, 5, 7}, Dims{3, 1, 2, 9}})
      wide.add(a, {runtime(randomI64(d, seed++))});
    checkCopyTactic("cpu.shuffle.copy", wide.list());
  }
  ShuffleAttrs flat;
  flat.mode = ShuffleMode::kFlatten;
  flat.axis = 1;
  Cases cs;
  for (Dims d : {Dims{2, 3, 4}, Dims{64, 1280, 1, 1}, Dims{1, 700000}})
    cs.add(flat, {runtime(randomF32(d, seed++))});
  checkCopyTactic("cpu.shuffle.copy", cs.list());
}

TEST(CpuKernels, SliceWithStepsAndNegativeBounds) {
  uint32_t seed = 1300;
  struct S {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  for (S s : {S{{0}, {192}, {-1}, {1}}, S{{1, -5}, {100, 1000}, {0, 2}, {2, 1}},
              S{{-1}, {-1000}, {1}, {-1}}, S{{3, 0}, {-2, 4}, {1, 2}, {3, 1}}}) {
    Cases cs;  // one kernel, several input sizes (the parameters stay)
    for (Dims d : {Dims{2, 9, 576}, Dims{1, 17, 600}, Dims{3, 5, 200}}) {
      Weights x = randomF32(d, seed++);
      cs.add(
          SliceAttrs{},
          {runtime(x), constant(Weights::fromInts(s.starts)), constant(Weights::fromInts(s.ends)),
           constant(Weights::fromInts(s.axes)), constant(Weights::fromInts(s.steps))});
    }
    checkCopyTactic("cpu.slice.copy", cs.list());
  }
}

TEST(CpuKernels, ConcatenationAndSplitAlongEveryAxis) {
  uint32_t seed = 1400;
  for (int64_t axis : {0, 1, 2, -1}) {
    Cases cs;
    for (int64_t n : {1, 7, 17}) {
      Dims a = {2, 3, 5}, b = {2, 3, 5};
      const size_t ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      a[ax] = n;
      b[ax] = 2;
      cs.add(ConcatenationAttrs{axis},
             {runtime(randomF32(a, seed++)), runtime(randomF32(b, seed++)),
              runtime(randomF32(a, seed++))});
    }
    checkCopyTactic("cpu.concatenation.copy", cs.list());
    SplitAttrs sa;
    sa.axis = axis;
    Cases sp;
    for (Dims d : {Dims{4, 6, 8}, Dims{6, 4, 2}}) {
      const size_t ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      const int64_t first = d[ax] / 2;
      sp.add(sa,
             {runtime(randomF32(d, seed++)), constant(Weights::fromInts({first, d[ax] - first}))});
    }
    checkCopyTactic("cpu.split.copy", sp.list());
  }
}

TEST(CpuKernels, WorkSplitOverThePoolMatchesTheReference) {
  // Sizes large enough that the GEMM, the pointwise columns and the convolution batch are split
  // over two threads (uneven splits included), each kernel reshaped to several shapes. Sums of
  // 144 to 256 products of values in [-2, 2] cancel: the absolute term covers reordering.
  uint32_t seed = 1500;
  Cases mm;
  Weights b = randomF32({256, 300}, seed++);
  for (int64_t m : {300, 17, 301})
    mm.add(MatrixMultiplyAttrs{}, {runtime(randomF32({m, 256}, seed++)), constant(b)});
  checkTactic("cpu.matrix_multiply.sgemm.f32", mm.list(), {1e-5, 1e-4});
  checkTactic("cpu.matrix_multiply.onednn.f32", mm.list(), {1e-5, 1e-4});  // row slices
  Cases biased;  // row slices with a bias, [b, s, K] folded
  Weights c = randomF32({300}, seed++);
  for (Dims a : {Dims{2, 40, 256}, Dims{1, 33, 256}})
    biased.add(MatrixMultiplyAttrs{}, {runtime(randomF32(a, seed++)), constant(b), constant(c)});
  checkTactic("cpu.matrix_multiply.onednn.f32", biased.list(), {1e-5, 1e-4});
  Cases pw;
  convCases(pw, conv(1, 0), 32, 64, 1, true, {{2, 40, 40}, {1, 33, 31}, {3, 40, 41}}, seed += 10);
  checkTactic("cpu.convolution.pointwise_gemm.f32", pw.list(), {1e-5, 1e-5});
  for (const char* tactic : {"cpu.convolution.onednn.f32", "cpu.convolution.onednn.f32.blocked"}) {
    Cases cv;
    convCases(cv, conv(1, 1), 16, 16, 3, true, {{4, 17, 17}, {5, 17, 17}, {1, 17, 17}, {3, 9, 9}},
              seed += 10);
    checkTactic(tactic, cv.list(), {1e-5, 1e-4});
  }
}

// ---- fused post-ops (the hooks the optimizer's epilogue attributes will use) -----------------

/// The reference result of `act` applied to `x`.
Weights referenceActivation(const Weights& x, ActivationAttrs act) {
  LayerCase c(act, {runtime(x)});
  return c.reference().at(0);
}

TEST(CpuKernels, MatMulPostOpsMatchActivationAfterMatMul) {
  for (ActivationAttrs act :
       {ActivationAttrs{ActivationKind::kRelu, 0, 0}, ActivationAttrs{ActivationKind::kClip, 0, 6},
        ActivationAttrs{ActivationKind::kGeluErf, 0, 0},
        ActivationAttrs{ActivationKind::kSigmoid, 0, 0}}) {
    LayerCase mm(MatrixMultiplyAttrs{},
                 {runtime(randomF32({9, 17}, 1)), constant(randomF32({17, 8}, 2)),
                  constant(randomF32({8}, 3))});
    cpu::PostOp op;
    op.activation = act.kind;
    op.alpha = act.alpha;
    op.beta = act.beta;
    auto k = cpu::createOnednnMatMulWithPostOps(mm.desc(), {op});
    ASSERT_TRUE(k.hasValue()) << k.status().toString();
    auto outs = mm.runOn(**k, cpuBackend());
    ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
    Weights expected = referenceActivation(mm.reference().at(0), act);
    expectClose((*outs)[0], expected, 1e-5, 1e-5, enumName(act.kind));
  }
}

TEST(CpuKernels, ConvolutionPostOpsMatchActivationAfterConvolution) {
  for (bool blocked : {false, true}) {
    LayerCase cv(conv(1, 1), {runtime(randomF32({1, 5, 9, 9}, 1)),
                              constant(randomF32({8, 5, 3, 3}, 2)), constant(randomF32({8}, 3))});
    cpu::PostOp op;
    op.activation = ActivationKind::kClip;
    op.alpha = 0.0f;
    op.beta = 6.0f;
    auto k = cpu::createOnednnConvolutionWithPostOps(cv.desc(), {op}, blocked);
    ASSERT_TRUE(k.hasValue()) << k.status().toString();
    auto outs = cv.runOn(**k, cpuBackend());
    ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
    Weights expected =
        referenceActivation(cv.reference().at(0), {ActivationKind::kClip, 0.0f, 6.0f});
    expectClose((*outs)[0], expected, 1e-5, 1e-5, blocked ? "blocked" : "plain");
  }
  cpu::PostOp selu;
  selu.activation = ActivationKind::kSelu;
  LayerCase cv(conv(1, 1), {runtime(randomF32({1, 2, 5, 5}, 1)),
                            constant(randomF32({2, 2, 3, 3}, 2)), absent()});
  auto k = cpu::createOnednnConvolutionWithPostOps(cv.desc(), {selu}, false);
  ASSERT_TRUE(k.hasValue());
  Status s = (*k)->reshape(cv.desc().inputs, cv.desc().outputs);
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("selu"), std::string::npos) << s.message();
}

// ---- fused layers: attention, pointwise, conv / matmul epilogues ------------------------------

AttentionAttrs attention(AttentionLayout layout, int64_t heads, float scale, bool causal,
                         bool zeroNan = false) {
  AttentionAttrs a;
  a.layout = layout;
  a.numHeads = heads;
  a.scale = scale;
  a.causal = causal;
  a.zeroNanProbabilities = zeroNan;
  return a;
}

TEST(CpuKernels, AttentionHeadsFirstAgainstReference) {
  uint32_t seed = 1200;
  for (bool causal : {false, true}) {
    Cases cs;
    // Head sizes and key counts around multiples of 8; Sq < Sk shifts the causal diagonal.
    for (int64_t d : {1, 7, 8, 9, 16, 33, 64})
      for (int64_t sk : {1, 7, 9, 33}) {
        const int64_t sq = causal ? std::max<int64_t>(1, sk - 2) : 5;
        cs.add(
            attention(AttentionLayout::kHeadsFirst, 1, 0.125f, causal),
            {runtime(randomF32({2, 3, sq, d}, seed++)), runtime(randomF32({2, 3, sk, d}, seed++)),
             runtime(randomF32({2, 3, sk, d + 1}, seed++))});
      }
    checkTactic("cpu.attention.f32.avx2", cs.list(), {2e-5, 2e-6});
  }
  // Additive masks broadcast along batch, heads and queries.
  for (const Dims& m : std::vector<Dims>{{1, 1, 6, 9}, {2, 1, 1, 9}, {9}, {2, 3, 6, 9}}) {
    Cases cs;
    cs.add(attention(AttentionLayout::kHeadsFirst, 1, 0.3f, false),
           {runtime(randomF32({2, 3, 6, 16}, seed++)), runtime(randomF32({2, 3, 9, 16}, seed++)),
            runtime(randomF32({2, 3, 9, 8}, seed++)), runtime(randomF32(m, seed++, -3, 0))});
    checkTactic("cpu.attention.f32.avx2", cs.list(), {2e-5, 2e-6});
  }
}

TEST(CpuKernels, AttentionMergedAndPackedAgainstReference) {
  uint32_t seed = 1300;
  for (bool causal : {false, true}) {
    Cases merged, packed;
    for (int64_t s : {1, 8, 17}) {
      merged.add(attention(AttentionLayout::kMerged, 4, 0.25f, causal),
                 {runtime(randomF32({2, s, 4 * 16}, seed++)),
                  runtime(randomF32({2, s + 3, 4 * 16}, seed++)),
                  runtime(randomF32({2, s + 3, 4 * 8}, seed++))});
      packed.add(attention(AttentionLayout::kPacked, 2, 0.25f, causal),
                 {runtime(randomF32({3, s, 3 * 2 * 32}, seed++)), absent(), absent()});
    }
    checkTactic("cpu.attention.f32.avx2", merged.list(), {2e-5, 2e-6});
    checkTactic("cpu.attention.f32.avx2", packed.list(), {2e-5, 2e-6});
  }
}

TEST(CpuKernels, AttentionFullyMaskedRowsMatchTheReference) {
  // A row whose every key is -inf has NaN probabilities: NaN outputs, or 0 with
  // zero_nan_probabilities (the exporters' where(isnan(p), 0, p)).
  const float inf = std::numeric_limits<float>::infinity();
  Weights mask = randomF32({1, 1, 3, 4}, 7, -1, 0);
  for (int j = 0; j < 4; ++j)
    static_cast<float*>(mask.mutableData())[4 + j] = -inf;  // query row 1 sees nothing
  static_cast<float*>(mask.mutableData())[8] = inf;         // row 2: an infinite logit
  for (bool zeroNan : {false, true}) {
    LayerCase c(attention(AttentionLayout::kHeadsFirst, 1, 1.0f, false, zeroNan),
                {runtime(randomF32({1, 2, 3, 8}, 1)), runtime(randomF32({1, 2, 4, 8}, 2)),
                 runtime(randomF32({1, 2, 4, 8}, 3)), runtime(mask)});
    const Tactic* t = cpuBackend().findTactic("cpu.attention.f32.avx2");
    ASSERT_NE(t, nullptr);
    auto k = t->create(c.desc());
    ASSERT_TRUE(k.hasValue()) << k.status().toString();
    auto outs = c.runOn(**k, cpuBackend());
    ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
    auto refs = c.reference();
    const float* o = (*outs)[0].as<float>();
    const float* r = refs[0].as<float>();
    for (int64_t i = 0; i < refs[0].count(); ++i) {
      if (std::isnan(r[i])) {
        EXPECT_TRUE(std::isnan(o[i])) << i;
      } else {
        EXPECT_NEAR(o[i], r[i], 1e-5) << i;
      }
    }
    // Rows 1 and 2 of each head are degenerate.
    EXPECT_EQ(std::isnan(o[8]), !zeroNan);
    EXPECT_EQ(std::isnan(o[16]), !zeroNan);
  }
}

TEST(CpuKernels, AttentionDeclinesF64) {
  LayerCase c(attention(AttentionLayout::kHeadsFirst, 1, 1.0f, false),
              {runtime(Weights::zeros(DataType::kFloat64, {1, 1, 2, 2}).value()),
               runtime(Weights::zeros(DataType::kFloat64, {1, 1, 2, 2}).value()),
               runtime(Weights::zeros(DataType::kFloat64, {1, 1, 2, 2}).value())});
  const Tactic* t = cpuBackend().findTactic("cpu.attention.f32.avx2");
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->supports(c.desc()).isOk());
  EXPECT_TRUE(cpuBackend().findTactic("cpu.attention.reference")->supports(c.desc()).isOk());
}

PointwiseAttrs expression(const char* text) {
  PointwiseAttrs p;
  p.expression = text;
  return p;
}

TEST(CpuKernels, PointwiseAgainstReference) {
  uint32_t seed = 1400;
  // Broadcast shapes that collapse differently: same shape, a row vector, a column, a scalar.
  const std::vector<std::pair<Dims, Dims>> shapes = {{{3, 5, 17}, {3, 5, 17}},
                                                     {{2, 7, 33}, {33}},
                                                     {{4, 9, 1}, {4, 1, 600}},
                                                     {{1030}, {1}},
                                                     {{2, 1, 3, 8}, {1, 5, 1, 8}}};
  for (const char* e : {"add(mul(x0, 0.5), erf(x1))", "gelu_erf(add(x0, x1), 0, 0)",
                        "div(sub(x0, x1), sqrt(add(mul(x1, x1), 1e-05)))", "max(min(x0, 6), x1)",
                        "sigmoid(mul(x0, x1), 0, 0)"}) {
    Cases cs;
    for (const auto& [a, b] : shapes)
      cs.add(expression(e), {runtime(randomF32(a, seed++)), runtime(randomF32(b, seed++))});
    checkTactic("cpu.pointwise.f32.avx2", cs.list(), {2e-5, 2e-6});
  }
}

TEST(CpuKernels, PointwiseBoolNodesAgainstReference) {
  uint32_t seed = 1500;
  Cases cs;
  for (const Dims& d : std::vector<Dims>{{7}, {3, 513}, {2, 4, 9}}) {
    Weights x = randomF32(d, seed++);
    for (int64_t i = 0; i < x.count(); i += 5)
      static_cast<float*>(x.mutableData())[i] = std::numeric_limits<float>::quiet_NaN();
    // where(isnan(x), 0, x) and a bool input selecting between two branches.
    cs.add(expression("where(or(isnan(x0), x2), 0, add(x0, x1))"),
           {runtime(x), runtime(randomF32(d, seed++)), runtime(randomBool(d, seed++))});
  }
  checkTactic("cpu.pointwise.f32.avx2", cs.list(), {1e-6, 1e-7});
  Cases toBool;
  toBool.add(expression("and(less(x0, x1), not(x2))"),
             {runtime(randomF32({4, 9}, seed++)), runtime(randomF32({9}, seed++)),
              runtime(randomBool({4, 9}, seed++))});
  const Tactic* t = cpuBackend().findTactic("cpu.pointwise.f32.avx2");
  ASSERT_NE(t, nullptr);
  const LayerCase& c = *toBool.owned.front();
  ASSERT_TRUE(t->supports(c.desc()).isOk()) << t->supports(c.desc()).toString();
  auto k = t->create(c.desc());
  ASSERT_TRUE(k.hasValue());
  auto outs = c.runOn(**k, cpuBackend());
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  auto refs = c.reference();
  ASSERT_EQ((*outs)[0].bytes(), refs[0].bytes());
  EXPECT_EQ(std::memcmp((*outs)[0].data(), refs[0].data(), refs[0].bytes()), 0);
}

TEST(CpuKernels, PointwiseDeclinesWhatItHasNoKernelFor) {
  const Tactic* t = cpuBackend().findTactic("cpu.pointwise.f32.avx2");
  ASSERT_NE(t, nullptr);
  LayerCase logCase(expression("log(x0)"), {runtime(randomF32({4}, 1))});
  Status s = t->supports(logCase.desc());
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("log"), std::string::npos) << s.message();
  EXPECT_TRUE(cpuBackend().findTactic("cpu.pointwise.reference")->supports(logCase.desc()).isOk());
}

/// `a` with an epilogue.
template <class A>
A withEpilogue(A a, ActivationKind act, ResidualMode residual, float alpha = 0, float beta = 0) {
  a.activation = act;
  a.activationAlpha = alpha;
  a.activationBeta = beta;
  a.residual = residual;
  return a;
}

TEST(CpuKernels, EpiloguesOnEveryMatMulTacticAgainstReference) {
  uint32_t seed = 1600;
  for (const char* tactic : {"cpu.matrix_multiply.onednn.f32", "cpu.matrix_multiply.sgemm.f32"})
    for (ResidualMode r :
         {ResidualMode::kNone, ResidualMode::kBeforeActivation, ResidualMode::kAfterActivation})
      for (ActivationKind act :
           {ActivationKind::kNone, ActivationKind::kRelu, ActivationKind::kGeluErf}) {
        if (act == ActivationKind::kNone && r == ResidualMode::kNone) continue;
        Cases cs;  // one kernel (constants packed once), several residual shapes
        const Weights w = randomF32({17, 24}, seed++), bias = randomF32({24}, seed++);
        for (const Dims& res : std::vector<Dims>{{2, 9, 24}, {24}, {9, 1}}) {
          std::vector<Operand> ops = {runtime(randomF32({2, 9, 17}, seed++)), constant(w),
                                      constant(bias)};
          ops.push_back(r == ResidualMode::kNone ? absent() : runtime(randomF32(res, seed++)));
          cs.add(withEpilogue(MatrixMultiplyAttrs{}, act, r), std::move(ops));
        }
        SCOPED_TRACE(std::string(tactic) + " " + enumName(act) + " " + enumName(r));
        checkTactic(tactic, cs.list(), {2e-5, 2e-5});
      }
}

TEST(CpuKernels, EpiloguesOnEveryConvolutionTacticAgainstReference) {
  uint32_t seed = 1700;
  struct Shape {
    const char* tactic;
    ConvolutionAttrs attrs;
    int64_t c, m, kh;
  };
  for (const Shape& sh : {Shape{"cpu.convolution.onednn.f32", conv(1, 1), 5, 8, 3},
                          Shape{"cpu.convolution.onednn.f32.blocked", conv(1, 1), 5, 8, 3},
                          Shape{"cpu.convolution.pointwise_gemm.f32", conv(1, 0), 6, 9, 1},
                          Shape{"cpu.convolution.depthwise3x3.f32.avx2", conv(1, 1, 8), 8, 8, 3}})
    for (ResidualMode r : {ResidualMode::kBeforeActivation, ResidualMode::kAfterActivation}) {
      Cases cs;
      std::vector<Operand> ops = {
          runtime(randomF32({2, sh.c, 9, 9}, seed++)),
          constant(randomF32({sh.m, sh.c / sh.attrs.group, sh.kh, sh.kh}, seed++)),
          constant(randomF32({sh.m}, seed++)), runtime(randomF32({2, sh.m, 9, 9}, seed++))};
      cs.add(withEpilogue(sh.attrs, ActivationKind::kClip, r, 0.0f, 1.0f), std::move(ops));
      SCOPED_TRACE(std::string(sh.tactic) + " " + enumName(r));
      checkTactic(sh.tactic, cs.list(), {2e-5, 2e-5});
    }
}

TEST(CpuKernels, EpilogueWithoutAnAvx2ActivationIsDeclinedNotIgnored) {
  // A conv / matmul tactic that ignored its layer's epilogue would give a silent wrong answer.
  LayerCase mm(withEpilogue(MatrixMultiplyAttrs{}, ActivationKind::kSelu, ResidualMode::kNone),
               {runtime(randomF32({3, 4}, 1)), constant(randomF32({4, 5}, 2))});
  for (const char* tactic : {"cpu.matrix_multiply.onednn.f32", "cpu.matrix_multiply.sgemm.f32"}) {
    Status s = cpuBackend().findTactic(tactic)->supports(mm.desc());
    EXPECT_FALSE(s.isOk()) << tactic;
    EXPECT_NE(s.message().find("selu"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(cpuBackend().findTactic("cpu.matrix_multiply.reference")->supports(mm.desc()).isOk());
}

TEST(CpuBackend, AnswersTheFusionCapabilitiesItsTacticsRun) {
  const Backend& cpu = cpuBackend();
  EXPECT_TRUE(cpu.hasCapability(Capability::attentionLayout(AttentionLayout::kPacked)));
  EXPECT_TRUE(cpu.hasCapability(Capability::attentionCausal()));
  EXPECT_TRUE(cpu.hasCapability(
      Capability::epilogueActivation(LayerKind::kConvolution, ActivationKind::kRelu)));
  EXPECT_FALSE(cpu.hasCapability(
      Capability::epilogueActivation(LayerKind::kMatrixMultiply, ActivationKind::kSelu)));
  EXPECT_TRUE(cpu.hasCapability(
      Capability::epilogueResidual(LayerKind::kMatrixMultiply, ResidualMode::kAfterActivation)));
  EXPECT_FALSE(cpu.hasCapability(Capability::rmsNormalization()));
}

// ---- whole engines
// -------------------------------------------------------------------------------

/// x -> conv -> relu -> add(x') -> matmul: a small network for the engine-level checks.
NetworkDefinition smallNetwork() {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shapeFromDims({2, 3, 8, 8}));
  TensorId w = net.addConstant("w", randomF32({4, 3, 3, 3}, 1));
  TensorId b = net.addConstant("b", randomF32({4}, 2));
  auto conv1 = net.addLayer("conv", conv(1, 1), {x, w, b});
  auto relu = net.addLayer("relu", ActivationAttrs{ActivationKind::kRelu, 0, 0},
                           {net.layer(*conv1).outputs[0]});
  TensorId fc = net.addConstant("fc", randomF32({8, 5}, 3));
  auto mm = net.addLayer("mm", MatrixMultiplyAttrs{}, {net.layer(*relu).outputs[0], fc});
  EXPECT_TRUE(net.markOutput(net.layer(*mm).outputs[0]).isOk());
  return net;
}

TEST(CpuEngine, ThreadsFromTheConfigReachThePlan) {
  NetworkDefinition net = smallNetwork();
  BuilderConfig config;
  config.backend = "cpu";
  config.threads = 3;
  auto engine = Builder::build(net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  EXPECT_EQ((*engine)->threads(), 3);
  EXPECT_EQ((*engine)->backend(), "cpu");
  auto bytes = (*engine)->serialize();
  ASSERT_TRUE(bytes.hasValue());
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  EXPECT_EQ((*loaded)->threads(), 3);

  config.threads = 0;  // the machine's cores
  auto dflt = Builder::build(net, config);
  ASSERT_TRUE(dflt.hasValue());
  EXPECT_EQ((*dflt)->threads(), hostCoreCount());

  config.threads = -1;
  auto bad = Builder::build(net, config);
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("threads"), std::string::npos);
}

TEST(CpuEngine, MatchesTheReferenceEngineAndProfilesLayers) {
  NetworkDefinition net = smallNetwork();
  Weights x = randomF32({2, 3, 8, 8}, 9);
  std::vector<Weights> results;
  for (const char* backend : {"reference", "cpu"}) {
    BuilderConfig config;
    config.backend = backend;
    config.threads = 2;
    auto engine = Builder::build(net, config);
    ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
    auto ctx = (*engine)->createExecutionContext();
    ASSERT_TRUE(ctx.hasValue());
    ASSERT_TRUE((*ctx)->setInputTensor("x", x.data(), x.bytes(), kF32).isOk());
    const IOTensorInfo& out = (*engine)->outputs()[0];
    Weights y = Weights::zeros(kF32, out.dims).value();
    ASSERT_TRUE((*ctx)->setTensorAddress(out.name, y.mutableData(), y.bytes(), kF32).isOk());
    (*ctx)->setProfiling(true);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE((*ctx)->execute().isOk());
    const auto& times = (*ctx)->layerTimes();
    ASSERT_EQ(times.size(), (*engine)->layers().size());
    for (const auto& t : times) {
      EXPECT_EQ(t.ms.size(), 3u) << t.name;
      EXPECT_FALSE(t.tactic.empty());
      if (std::string(backend) == "cpu") {
        EXPECT_EQ(t.tactic.rfind("cpu.", 0), 0u) << t.tactic;
      }
    }
    results.push_back(y);
  }
  expectClose(results[1], results[0], 1e-5, 1e-5, "cpu engine vs reference engine");
}

}  // namespace
}  // namespace kiln
