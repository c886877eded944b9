// kiln — every cuda tactic against the reference backend (the oracle), at sizes around the
// kernels' block size (255, 256, 257) and primes, on fresh random inputs.
//
// GPU tests: on a machine without the cuda backend, its driver or a GPU each test is skipped
// (GTEST_SKIP with the reason), so CI builds and runs this binary without failing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "backends/backend.h"
#include "backends/reference/reference.h"
#include "util/float16.h"

namespace kiln {
namespace {

const Backend* cudaOrSkip(std::string* why) {
  auto b = findBackend("cuda");
  if (!b) {
    *why = b.status().message();
    return nullptr;
  }
  return *b;
}

#define KILN_REQUIRE_CUDA(var)            \
  std::string why_;                       \
  const Backend* var = cudaOrSkip(&why_); \
  if (!var) GTEST_SKIP() << "no cuda: " << why_

struct Case {
  LayerAttrs attrs;
  std::vector<Dims> inputs;  ///< empty Dims with present false: absent
  std::vector<bool> present;
  Dims output;
  bool positive = false;  ///< inputs in (0.1, 2) instead of (-2, 2)
  /// Storage of every tensor (f16 / bf16: the reference widens them, so it stays the oracle).
  DataType dtype = DataType::kFloat32;
  /// The output's storage when it differs (casts).
  std::optional<DataType> outputDtype;
  /// TF32 products allowed (the .tf32 tactics).
  bool allowTf32 = false;
  DataType out() const { return outputDtype.value_or(dtype); }
};

/// Host floats stored as `t` (f32, f16 or bf16), and back.
std::vector<uint8_t> store(const std::vector<float>& v, DataType t) {
  std::vector<uint8_t> out(v.size() * dataTypeSize(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DataType::kFloat32) {
      std::memcpy(out.data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t bits =
          t == DataType::kFloat16 ? floatToHalf(v[i]).bits : floatToBFloat16(v[i]).bits;
      std::memcpy(out.data() + 2 * i, &bits, 2);
    }
  }
  return out;
}

std::vector<float> load(const std::vector<uint8_t>& b, DataType t) {
  const size_t n = b.size() / dataTypeSize(t);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DataType::kFloat32) {
      std::memcpy(&out[i], b.data() + 4 * i, 4);
    } else {
      uint16_t bits;
      std::memcpy(&bits, b.data() + 2 * i, 2);
      out[i] = t == DataType::kFloat16 ? halfToFloat(Half{bits}) : bfloat16ToFloat(BFloat16{bits});
    }
  }
  return out;
}

struct Result {
  std::vector<float> y;
  std::string tactic;
};

std::vector<std::vector<float>> randomInputs(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(c.positive ? 0.1f : -2.0f, 2.0f);
  std::vector<std::vector<float>> out;
  for (const Dims& d : c.inputs) {
    std::vector<float> v(static_cast<size_t>(volume(d)));
    for (float& x : v)
      x = dist(rng);
    out.push_back(std::move(v));
  }
  return out;
}

LayerDesc describe(const Case& c, const Layer& layer) {
  LayerDesc d;
  d.layer = &layer;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    d.inputs.push_back(TensorDesc{c.dtype, c.inputs[k]});
    d.inputPresent.push_back(c.present.empty() || c.present[k]);
    d.constantInputs.push_back(nullptr);
  }
  d.outputs.push_back(TensorDesc{c.out(), c.output});
  d.allowTf32 = c.allowTf32;
  return d;
}

/// Runs the tactic named `want` if `b` offers it for the case, else the first it offers; device
/// backends get device buffers.
Expected<Result> runOn(const Backend& b, const Case& c,
                       const std::vector<std::vector<float>>& inputs,
                       const std::string& want = "") {
  Layer layer;
  layer.name = "layer";
  layer.attrs = c.attrs;
  LayerDesc d = describe(c, layer);
  auto tactics = b.tactics(d);
  if (tactics.empty()) return b.supports(d);
  const Tactic* tactic = tactics[0];
  for (const Tactic* t : tactics)
    if (t->name() == want) tactic = t;
  Result r;
  r.tactic = tactic->name();
  KILN_ASSIGN_OR_RETURN(auto kernel, tactic->create(d));
  KILN_RETURN_IF_ERROR(kernel->reshape(d.inputs, d.outputs));
  const bool device = b.memorySpace() == MemorySpace::kDevice;
  auto stream = b.createStream();
  std::vector<void*> owned;
  auto buffer = [&](size_t bytes) -> Expected<void*> {
    KILN_ASSIGN_OR_RETURN(void* p, b.allocate(std::max<size_t>(bytes, 4)));
    owned.push_back(p);
    return p;
  };
  struct Free {
    const Backend& b;
    std::vector<void*>& v;
    ~Free() {
      for (void* p : v)
        b.deallocate(p);
    }
  } freeAll{b, owned};
  std::vector<const void*> ins;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!d.inputPresent[k]) {
      ins.push_back(nullptr);
      continue;
    }
    const std::vector<uint8_t> stored = store(inputs[k], c.dtype);
    const size_t bytes = stored.size();
    KILN_ASSIGN_OR_RETURN(void* p, buffer(bytes));
    KILN_RETURN_IF_ERROR(b.copy(p, stored.data(), bytes,
                                device ? CopyKind::kHostToDevice : CopyKind::kDeviceToDevice,
                                *stream));
    ins.push_back(p);
  }
  const size_t outBytes = static_cast<size_t>(volume(c.output)) * dataTypeSize(c.out());
  KILN_ASSIGN_OR_RETURN(void* out, buffer(outBytes));
  // Poison: every element must be written.
  const std::vector<uint8_t> poison =
      store(std::vector<float>(static_cast<size_t>(volume(c.output)), std::nanf("")), c.out());
  KILN_RETURN_IF_ERROR(b.copy(out, poison.data(), outBytes,
                              device ? CopyKind::kHostToDevice : CopyKind::kDeviceToDevice,
                              *stream));
  KILN_ASSIGN_OR_RETURN(void* ws, buffer(kernel->workspaceBytes()));
  KILN_RETURN_IF_ERROR(kernel->setup(ins, {out}, ws));
  KILN_RETURN_IF_ERROR(kernel->run(*stream));
  std::vector<uint8_t> y(outBytes);
  KILN_RETURN_IF_ERROR(b.copy(y.data(), out, outBytes,
                              device ? CopyKind::kDeviceToHost : CopyKind::kDeviceToDevice,
                              *stream));
  KILN_RETURN_IF_ERROR(stream->synchronize());
  r.y = load(y, c.out());
  return r;
}

/// Runs the case on both backends and compares: max |cuda - ref| <= tol * max(1, max |ref|).
void expectMatches(const Backend& cuda, const Case& c, const std::string& expectTactic,
                   float tol = 1e-4f) {
  for (uint32_t seed : {1u, 2u}) {
    auto inputs = randomInputs(c, seed);
    auto ref = runOn(referenceBackend(), c, inputs);
    ASSERT_TRUE(ref) << ref.status().message();
    auto got = runOn(cuda, c, inputs, expectTactic);
    ASSERT_TRUE(got) << got.status().message();
    EXPECT_EQ(got->tactic, expectTactic);
    float scale = 1.0f, err = 0.0f;
    for (float v : ref->y)
      scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < ref->y.size(); ++i) {
      const float e = std::fabs(got->y[i] - ref->y[i]);
      if (!(e <= err)) err = std::isnan(e) ? INFINITY : e;  // NaN (unwritten) never passes
    }
    EXPECT_LE(err, tol * scale) << got->tactic << " output " << dimsToString(c.output)
                                << " max error " << err << " (scale " << scale << ")";
  }
}

TEST(CudaBackend, LoadsOrSaysWhyNot) {
  auto b = findBackend("cuda");
  if (!b) {
    // The message names what is missing (the library, the driver or a GPU).
    EXPECT_NE(b.status().message().find("cuda backend"), std::string::npos) << b.status().message();
    GTEST_SKIP() << b.status().message();
  }
  EXPECT_EQ((*b)->memorySpace(), MemorySpace::kDevice);
  EXPECT_EQ((*b)->deviceSignature().rfind("sm_", 0), 0u);
}

TEST(CudaTactics, Activation) {
  KILN_REQUIRE_CUDA(cuda);
  for (ActivationKind k :
       {ActivationKind::kRelu, ActivationKind::kSigmoid, ActivationKind::kTanh,
        ActivationKind::kLeakyRelu, ActivationKind::kClip, ActivationKind::kGeluErf,
        ActivationKind::kGeluTanh, ActivationKind::kSilu, ActivationKind::kHardSwish,
        ActivationKind::kElu, ActivationKind::kSoftplus, ActivationKind::kHardSigmoid})
    for (int64_t n : {1, 255, 256, 257, 4099}) {
      ActivationAttrs a;
      a.kind = k;
      a.alpha = k == ActivationKind::kClip ? -0.5f : 0.2f;
      a.beta = k == ActivationKind::kClip ? 0.7f : 0.5f;
      expectMatches(*cuda, Case{a, {{n}}, {}, {n}}, "cuda.activation.f32");
    }
}

TEST(CudaTactics, Unary) {
  KILN_REQUIRE_CUDA(cuda);
  for (UnaryKind k :
       {UnaryKind::kNeg, UnaryKind::kAbs, UnaryKind::kExp, UnaryKind::kLog, UnaryKind::kSqrt,
        UnaryKind::kReciprocal, UnaryKind::kErf, UnaryKind::kFloor, UnaryKind::kSin})
    for (int64_t n : {1, 257, 1031}) {
      Case c{UnaryAttrs{k}, {{n}}, {}, {n}};
      c.positive = true;
      expectMatches(*cuda, c, "cuda.unary.f32");
    }
}

TEST(CudaTactics, ElementwiseBroadcast) {
  KILN_REQUIRE_CUDA(cuda);
  struct Shapes {
    Dims a, b, y;
  };
  for (ElementwiseKind k :
       {ElementwiseKind::kAdd, ElementwiseKind::kSub, ElementwiseKind::kMul, ElementwiseKind::kDiv,
        ElementwiseKind::kMax, ElementwiseKind::kPow, ElementwiseKind::kPRelu})
    for (const Shapes& s : {Shapes{{257}, {257}, {257}}, Shapes{{3, 1, 5}, {4, 1}, {3, 4, 5}},
                            Shapes{{2, 3, 256}, {256}, {2, 3, 256}}, Shapes{{}, {7}, {7}},
                            Shapes{{2, 1, 3, 1}, {1, 5, 1, 7}, {2, 5, 3, 7}}}) {
      Case c{ElementwiseAttrs{k}, {s.a, s.b}, {}, s.y};
      c.positive = true;
      expectMatches(*cuda, c, "cuda.elementwise.broadcast.f32");
    }
}

TEST(CudaTactics, Softmax) {
  KILN_REQUIRE_CUDA(cuda);
  for (bool log : {false, true}) {
    SoftmaxAttrs a;
    a.log = log;
    expectMatches(*cuda, Case{a, {{3, 257}}, {}, {3, 257}}, "cuda.softmax.f32");
    expectMatches(*cuda, Case{a, {{1, 1}}, {}, {1, 1}}, "cuda.softmax.f32");
    a.axis = 1;
    expectMatches(*cuda, Case{a, {{2, 5, 3}}, {}, {2, 5, 3}}, "cuda.softmax.f32");
  }
}

TEST(CudaTactics, Normalization) {
  KILN_REQUIRE_CUDA(cuda);
  for (bool rms : {false, true})
    for (int64_t cols : {1, 255, 256, 257, 768}) {
      NormalizationAttrs a;
      a.rms = rms;
      expectMatches(*cuda, Case{a, {{4, cols}, {cols}, {cols}}, {}, {4, cols}},
                    "cuda.normalization.layer.f32");
      expectMatches(*cuda, Case{a, {{3, cols}, {cols}, {}}, {true, true, false}, {3, cols}},
                    "cuda.normalization.layer.f32");
    }
  NormalizationAttrs a;
  a.axis = 1;
  expectMatches(*cuda, Case{a, {{2, 3, 32}, {3, 32}, {3, 32}}, {}, {2, 3, 32}},
                "cuda.normalization.layer.f32");
}

TEST(CudaTactics, ShuffleAndConcatenation) {
  KILN_REQUIRE_CUDA(cuda);
  ShuffleAttrs t;
  t.mode = ShuffleMode::kTranspose;
  t.perm = {0, 2, 3, 1};
  expectMatches(*cuda, Case{t, {{2, 3, 4, 5}}, {}, {2, 4, 5, 3}}, "cuda.shuffle");
  t.perm = {1, 0};
  expectMatches(*cuda, Case{t, {{31, 257}}, {}, {257, 31}}, "cuda.shuffle");
  ConcatenationAttrs c;
  c.axis = 1;
  expectMatches(*cuda, Case{c, {{2, 3, 4}, {2, 5, 4}}, {}, {2, 8, 4}}, "cuda.concatenation");
  c.axis = -1;
  expectMatches(*cuda, Case{c, {{3, 1}, {3, 7}, {3, 2}}, {}, {3, 10}}, "cuda.concatenation");
}

TEST(CudaTactics, MatrixMultiply) {
  KILN_REQUIRE_CUDA(cuda);
  const std::string name = "cuda.matrix_multiply.cublaslt.f32";
  struct Mnk {
    int64_t m, n, k;
  };
  for (const Mnk& s :
       {Mnk{1, 1, 1}, Mnk{15, 17, 33}, Mnk{64, 64, 64}, Mnk{65, 63, 129}, Mnk{128, 256, 255}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        MatrixMultiplyAttrs a;
        a.transA = ta;
        a.transB = tb;
        Dims A = ta ? Dims{s.k, s.m} : Dims{s.m, s.k};
        Dims B = tb ? Dims{s.n, s.k} : Dims{s.k, s.n};
        expectMatches(*cuda, Case{a, {A, B}, {}, {s.m, s.n}}, name);
        // Gemm: alpha, beta, C broadcast as a bias row (cuBLASLt's epilogue) and as a column.
        a.alpha = 0.5f;
        a.activation = ActivationKind::kRelu;
        expectMatches(*cuda, Case{a, {A, B, {s.n}}, {}, {s.m, s.n}}, name);
        a.beta = 2.0f;
        a.activation = ActivationKind::kGeluErf;
        expectMatches(*cuda, Case{a, {A, B, {s.m, 1}}, {}, {s.m, s.n}}, name);
      }
  MatrixMultiplyAttrs a;
  // Batched, A's batch folded into M, B batched against one A, residual after activation.
  expectMatches(*cuda, Case{a, {{3, 17, 33}, {3, 33, 19}}, {}, {3, 17, 19}}, name);
  expectMatches(*cuda, Case{a, {{2, 3, 17, 33}, {33, 19}}, {}, {2, 3, 17, 19}}, name);
  expectMatches(*cuda, Case{a, {{17, 33}, {4, 33, 19}}, {}, {4, 17, 19}}, name);
  a.activation = ActivationKind::kTanh;
  a.residual = ResidualMode::kAfterActivation;
  expectMatches(
      *cuda, Case{a, {{5, 64}, {64, 65}, {}, {5, 65}}, {true, true, false, true}, {5, 65}}, name);
  // A residual that broadcasts (a row over M), before the activation.
  a.residual = ResidualMode::kBeforeActivation;
  expectMatches(*cuda, Case{a, {{5, 64}, {64, 65}, {}, {65}}, {true, true, false, true}, {5, 65}},
                name);
}

TEST(CudaBackend, FusesWhatItsTacticsRun) {
  KILN_REQUIRE_CUDA(cuda);
  // The optimizer asks these before fusing: activations and residuals into convolutions and
  // matrix products (their tactics apply them), RMS normalization; not Attention, which has no
  // device kernel (it would run on the host).
  for (LayerKind host : {LayerKind::kConvolution, LayerKind::kMatrixMultiply}) {
    EXPECT_TRUE(cuda->hasCapability(Capability::epilogueActivation(host, ActivationKind::kClip)));
    EXPECT_TRUE(
        cuda->hasCapability(Capability::epilogueActivation(host, ActivationKind::kGeluErf)));
    EXPECT_TRUE(
        cuda->hasCapability(Capability::epilogueResidual(host, ResidualMode::kAfterActivation)));
  }
  EXPECT_FALSE(cuda->hasCapability(
      Capability::epilogueActivation(LayerKind::kPooling, ActivationKind::kRelu)));
  EXPECT_TRUE(cuda->hasCapability(Capability::rmsNormalization()));
  EXPECT_TRUE(cuda->hasCapability(Capability::layerKind(LayerKind::kPointwise)));
  EXPECT_FALSE(cuda->hasCapability(Capability::layerKind(LayerKind::kAttention)));
  EXPECT_FALSE(cuda->hasCapability(Capability::attentionCausal()));
}

TEST(CudaTactics, Convolution) {
  KILN_REQUIRE_CUDA(cuda);
  for (const std::string name : {"cuda.convolution.direct.f32", "cuda.convolution.cudnn.f32"}) {
    SCOPED_TRACE(name);
    ConvolutionAttrs a;
    a.padsBegin = {1, 1};
    a.padsEnd = {1, 1};
    expectMatches(*cuda, Case{a, {{2, 3, 9, 9}, {4, 3, 3, 3}}, {}, {2, 4, 9, 9}}, name);
    a.activation = ActivationKind::kRelu;
    expectMatches(*cuda, Case{a, {{2, 3, 9, 9}, {4, 3, 3, 3}, {4}}, {}, {2, 4, 9, 9}}, name);
    a.strides = {2, 2};
    a.dilations = {2, 2};
    // (9 + 2 - 2*2 - 1) / 2 + 1 = 4
    expectMatches(*cuda, Case{a, {{1, 3, 9, 9}, {5, 3, 3, 3}, {5}}, {}, {1, 5, 4, 4}}, name);
    ConvolutionAttrs g;  // grouped / depthwise
    g.group = 3;
    g.padsBegin = {1, 1};
    g.padsEnd = {1, 1};
    g.residual = ResidualMode::kBeforeActivation;
    g.activation = ActivationKind::kClip;
    g.activationAlpha = 0.0f;
    g.activationBeta = 6.0f;
    expectMatches(*cuda,
                  Case{g, {{1, 6, 17, 17}, {6, 2, 3, 3}, {6}, {1, 6, 17, 17}}, {}, {1, 6, 17, 17}},
                  name);
    ConvolutionAttrs c1;  // 1-D
    expectMatches(*cuda, Case{c1, {{2, 4, 17}, {5, 4, 3}}, {}, {2, 5, 15}}, name);
    // more channels than a block, a residual after the activation, 1x1 and strided
    ConvolutionAttrs wide;
    wide.strides = {2, 2};
    wide.residual = ResidualMode::kAfterActivation;
    wide.activation = ActivationKind::kRelu;
    expectMatches(
        *cuda,
        Case{wide, {{2, 257, 8, 8}, {64, 257, 1, 1}, {64}, {2, 64, 4, 4}}, {}, {2, 64, 4, 4}},
        name);
  }
  // 1x1, stride 1, unpadded: a matrix product per image through cuBLASLt, which every
  // convolution tactic runs; a residual that broadcasts (one value per channel).
  for (const std::string name :
       {"cuda.convolution.gemm.f32", "cuda.convolution.direct.f32", "cuda.convolution.cudnn.f32"}) {
    SCOPED_TRACE(name);
    ConvolutionAttrs p;
    expectMatches(*cuda, Case{p, {{1, 16, 7, 9}, {24, 16, 1, 1}}, {}, {1, 24, 7, 9}}, name);
    p.activation = ActivationKind::kClip;
    p.activationAlpha = 0.0f;
    p.activationBeta = 6.0f;
    expectMatches(*cuda, Case{p, {{3, 257, 5, 5}, {65, 257, 1, 1}, {65}}, {}, {3, 65, 5, 5}}, name);
    p.residual = ResidualMode::kBeforeActivation;
    expectMatches(
        *cuda, Case{p, {{2, 32, 4, 4}, {8, 32, 1, 1}, {8}, {2, 8, 4, 4}}, {}, {2, 8, 4, 4}}, name);
    p.residual = ResidualMode::kAfterActivation;
    expectMatches(*cuda,
                  Case{p,
                       {{2, 32, 4, 4}, {8, 32, 1, 1}, {}, {1, 8, 1, 1}},
                       {true, true, false, true},
                       {2, 8, 4, 4}},
                  name);
    ConvolutionAttrs q;  // 1-D
    expectMatches(*cuda, Case{q, {{2, 33, 17}, {5, 33, 1}, {5}}, {}, {2, 5, 17}}, name);
  }
  {
    // What the matrix-product tactic refuses: strides, padding, groups, larger kernels.
    Layer layer;
    layer.name = "layer";
    ConvolutionAttrs s2;
    s2.strides = {2, 2};
    layer.attrs = s2;
    Case c{s2, {{1, 8, 8, 8}, {4, 8, 1, 1}}, {}, {1, 4, 4, 4}};
    LayerDesc d = describe(c, layer);
    for (const Tactic* t : cuda->tactics(d))
      EXPECT_NE(t->name(), "cuda.convolution.gemm.f32");
    const Tactic* gemm = cuda->findTactic("cuda.convolution.gemm.f32");
    ASSERT_NE(gemm, nullptr);
    EXPECT_FALSE(gemm->supports(d).isOk());
  }
  // Asymmetric padding: only the direct kernel gives this output.
  ConvolutionAttrs asym;
  asym.padsBegin = {0, 0};
  asym.padsEnd = {1, 1};
  expectMatches(*cuda, Case{asym, {{1, 2, 8, 8}, {3, 2, 3, 3}}, {}, {1, 3, 7, 7}},
                "cuda.convolution.direct.f32");
  // Transposed: neither device tactic runs it; the reference runs it on the host.
  ConvolutionAttrs t;
  t.transposed = true;
  expectMatches(*cuda, Case{t, {{1, 3, 5, 5}, {3, 3, 3, 3}}, {}, {1, 3, 7, 7}},
                "cuda.host.reference.convolution");
}

TEST(CudaTactics, Pointwise) {
  KILN_REQUIRE_CUDA(cuda);
  const std::string name = "cuda.pointwise.f32";
  struct Expr {
    std::string text;
    std::vector<Dims> inputs;
    Dims y;
  };
  for (const Expr& e : std::vector<Expr>{
           // GELU (erf) spelled out, one input
           {"mul(mul(x0, 0.5), add(erf(mul(x0, 0.70710677)), 1))", {{257}}, {257}},
           // bias + residual + activation over broadcast inputs
           {"relu(add(add(x0, x1), x2), 0, 0)", {{2, 3, 255}, {255}, {2, 3, 255}}, {2, 3, 255}},
           {"leaky_relu(sub(x0, x1), 0.1, 0)", {{3, 1, 5}, {4, 1}}, {3, 4, 5}},
           // comparisons, bools, select and casts
           {"where(greater(x0, x1), x0, neg(x1))", {{4099}, {4099}}, {4099}},
           {"cast_f32(and(less(x0, 0.5), not(isnan(x1))))", {{256}, {1}}, {256}},
           {"where(cast_bool(floor(x0)), sqrt(abs(x0)), tanh(x0, 0, 0))", {{1031}}, {1031}},
           // a normalization tail: (x - mean) * rsqrt(var + eps) * gamma + beta
           {"add(mul(div(sub(x0, x1), sqrt(add(x2, 1e-05))), x3), x4)",
            {{2, 7, 33}, {2, 7, 1}, {2, 7, 1}, {33}, {33}},
            {2, 7, 33}},
           {"mod(x0, 0.75)", {{300}}, {300}},
           {"pow(x0, x1)", {{2, 1, 3, 1}, {1, 5, 1, 7}}, {2, 5, 3, 7}},
           {"sigmoid(x0, 0, 0)", {{}}, {}}}) {
    Case c{PointwiseAttrs{e.text}, e.inputs, {}, e.y};
    // pow and the square root of the variance need positive inputs
    c.positive = e.text.rfind("pow", 0) == 0 || e.text.find("sqrt(add") != std::string::npos;
    SCOPED_TRACE(e.text);
    expectMatches(*cuda, c, name);
  }
}

TEST(CudaTactics, PointwiseNeedsFloat32) {
  KILN_REQUIRE_CUDA(cuda);
  // A bool output: the device tactic refuses it and the layer goes to the host.
  Layer layer;
  layer.name = "layer";
  layer.attrs = PointwiseAttrs{"less(x0, x1)"};
  LayerDesc d;
  d.layer = &layer;
  d.inputs = {TensorDesc{DataType::kFloat32, {4}}, TensorDesc{DataType::kFloat32, {4}}};
  d.inputPresent = {true, true};
  d.constantInputs = {nullptr, nullptr};
  d.outputs = {TensorDesc{DataType::kBool, {4}}};
  auto tactics = cuda->tactics(d);
  ASSERT_FALSE(tactics.empty());
  EXPECT_NE(tactics[0]->name(), "cuda.pointwise.f32");
}

TEST(CudaTactics, Pooling) {
  KILN_REQUIRE_CUDA(cuda);
  const std::string name = "cuda.pooling.f32";
  auto window = [](PoolingKind k, std::vector<int64_t> kernel, std::vector<int64_t> strides,
                   std::vector<int64_t> pads) {
    PoolingAttrs p;
    p.kind = k;
    p.kernelShape = kernel;
    p.strides = strides;
    p.padsBegin = pads;
    p.padsEnd = pads;
    return p;
  };
  for (PoolingKind k : {PoolingKind::kMax, PoolingKind::kAverage}) {
    // max is exact; an average is summed in fp32 here and in fp64 by the reference
    expectMatches(*cuda, Case{window(k, {2, 2}, {2, 2}, {0, 0}), {{1, 2, 8, 8}}, {}, {1, 2, 4, 4}},
                  name, k == PoolingKind::kMax ? 0.0f : 1e-6f);
    // 3x3 stride 2 pad 1 over 257 planes (the block size)
    expectMatches(
        *cuda, Case{window(k, {3, 3}, {2, 2}, {1, 1}), {{1, 257, 9, 9}}, {}, {1, 257, 5, 5}}, name);
    PoolingAttrs inc = window(k, {3, 3}, {2, 2}, {1, 1});
    inc.countIncludePad = true;
    inc.ceilMode = true;  // (10 + 2 - 3) / 2 + 1 = 5.5 -> 6
    expectMatches(*cuda, Case{inc, {{2, 3, 10, 10}}, {}, {2, 3, 6, 6}}, name);
    PoolingAttrs global;
    global.kind = k;
    global.global = true;
    expectMatches(*cuda, Case{global, {{2, 255, 7, 7}}, {}, {2, 255, 1, 1}}, name);
    expectMatches(*cuda, Case{window(k, {3}, {1}, {1}), {{2, 3, 17}}, {}, {2, 3, 17}}, name);
    expectMatches(
        *cuda,
        Case{window(k, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}), {{1, 2, 4, 6, 6}}, {}, {1, 2, 2, 3, 3}},
        name);
  }
  PoolingAttrs dil = window(PoolingKind::kMax, {2, 2}, {1, 1}, {0, 0});
  dil.dilations = {2, 2};
  expectMatches(*cuda, Case{dil, {{1, 2, 7, 7}}, {}, {1, 2, 5, 5}}, name, 0.0f);
}

TEST(CudaTactics, HostFallback) {
  KILN_REQUIRE_CUDA(cuda);
  // An Elementwise Mod layer has no device tactic (only Pointwise expressions evaluate mod): the
  // reference kernel runs on the host between copies.
  Case c{ElementwiseAttrs{ElementwiseKind::kMod}, {{3, 5}, {5}}, {}, {3, 5}};
  c.positive = true;
  expectMatches(*cuda, c, "cuda.host.reference.elementwise", 0.0f);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// ---- Narrow storage (f16, bf16) and TF32 products, against the reference on the same bytes ----

/// The case in storage `t`, run by the tactic "<base>.<suffix of t>".
void expectNarrow(const Backend& cuda, Case c, DataType t, const std::string& base,
                  float tol = 1e-2f) {
  c.dtype = t;
  expectMatches(cuda, c, base + (t == DataType::kFloat16 ? ".f16" : ".bf16"), tol);
}

TEST(CudaNarrow, ElementwiseFamilies) {
  KILN_REQUIRE_CUDA(cuda);
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(dataTypeName(t));
    for (int64_t n : {1, 255, 257, 4099}) {
      ActivationAttrs a;
      a.kind = ActivationKind::kGeluErf;
      expectNarrow(*cuda, Case{a, {{n}}, {}, {n}}, t, "cuda.activation");
      Case u{UnaryAttrs{UnaryKind::kSqrt}, {{n}}, {}, {n}};
      u.positive = true;
      expectNarrow(*cuda, u, t, "cuda.unary");
    }
    expectNarrow(*cuda,
                 Case{ElementwiseAttrs{ElementwiseKind::kMul}, {{3, 1, 5}, {4, 1}}, {}, {3, 4, 5}},
                 t, "cuda.elementwise.broadcast");
    expectNarrow(*cuda,
                 Case{PointwiseAttrs{"relu(add(add(x0, x1), x2), 0, 0)"},
                      {{2, 3, 255}, {255}, {2, 3, 255}},
                      {},
                      {2, 3, 255}},
                 t, "cuda.pointwise");
  }
}

TEST(CudaNarrow, RowsAndWindows) {
  KILN_REQUIRE_CUDA(cuda);
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(dataTypeName(t));
    SoftmaxAttrs sm;
    expectNarrow(*cuda, Case{sm, {{3, 257}}, {}, {3, 257}}, t, "cuda.softmax");
    NormalizationAttrs ln;
    expectNarrow(*cuda, Case{ln, {{4, 768}, {768}, {768}}, {}, {4, 768}}, t,
                 "cuda.normalization.layer");
    PoolingAttrs p;
    p.kind = PoolingKind::kAverage;
    p.kernelShape = {3, 3};
    p.strides = {2, 2};
    p.padsBegin = {1, 1};
    p.padsEnd = {1, 1};
    expectNarrow(*cuda, Case{p, {{2, 3, 9, 9}}, {}, {2, 3, 5, 5}}, t, "cuda.pooling");
    PoolingAttrs g;
    g.kind = PoolingKind::kMax;
    g.global = true;
    expectNarrow(*cuda, Case{g, {{2, 5, 7, 7}}, {}, {2, 5, 1, 1}}, t, "cuda.pooling");
    // Data movement copies the narrow bytes as they are: exact.
    ShuffleAttrs tr;
    tr.mode = ShuffleMode::kTranspose;
    tr.perm = {0, 2, 3, 1};
    Case sc{tr, {{2, 3, 4, 5}}, {}, {2, 4, 5, 3}};
    sc.dtype = t;
    expectMatches(*cuda, sc, "cuda.shuffle", 0.0f);
  }
}

TEST(CudaNarrow, Products) {
  KILN_REQUIRE_CUDA(cuda);
  struct Mnk {
    int64_t m, n, k;
  };
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(dataTypeName(t));
    // bf16 keeps 8 mantissa bits: its inputs already differ from f32 by 2^-9 relative.
    const float tol = t == DataType::kFloat16 ? 5e-3f : 2e-2f;
    for (const Mnk& s : {Mnk{1, 1, 1}, Mnk{15, 17, 33}, Mnk{65, 63, 129}, Mnk{128, 256, 255}}) {
      MatrixMultiplyAttrs a;
      a.transB = true;
      a.activation = ActivationKind::kRelu;
      expectNarrow(*cuda, Case{a, {{s.m, s.k}, {s.n, s.k}, {s.n}}, {}, {s.m, s.n}}, t,
                   "cuda.matrix_multiply.cublaslt", tol);
      MatrixMultiplyAttrs b;
      b.residual = ResidualMode::kAfterActivation;
      b.activation = ActivationKind::kGeluTanh;
      expectNarrow(*cuda,
                   Case{b,
                        {{2, s.m, s.k}, {s.k, s.n}, {}, {2, s.m, s.n}},
                        {true, true, false, true},
                        {2, s.m, s.n}},
                   t, "cuda.matrix_multiply.cublaslt", tol);
    }
    for (const std::string base : {"cuda.convolution.cudnn", "cuda.convolution.gemm"}) {
      SCOPED_TRACE(base);
      ConvolutionAttrs p;  // 1x1: both tactics
      p.activation = ActivationKind::kClip;
      p.activationAlpha = 0.0f;
      p.activationBeta = 6.0f;
      expectNarrow(*cuda, Case{p, {{3, 64, 5, 5}, {32, 64, 1, 1}, {32}}, {}, {3, 32, 5, 5}}, t,
                   base, tol);
    }
    ConvolutionAttrs c;
    c.padsBegin = {1, 1};
    c.padsEnd = {1, 1};
    c.strides = {2, 2};
    c.residual = ResidualMode::kBeforeActivation;
    c.activation = ActivationKind::kRelu;
    expectNarrow(*cuda,
                 Case{c, {{2, 16, 17, 17}, {32, 16, 3, 3}, {32}, {2, 32, 9, 9}}, {}, {2, 32, 9, 9}},
                 t, "cuda.convolution.cudnn", tol);
    ConvolutionAttrs dw;  // depthwise
    dw.group = 32;
    dw.padsBegin = {1, 1};
    dw.padsEnd = {1, 1};
    expectNarrow(*cuda, Case{dw, {{2, 32, 14, 14}, {32, 1, 3, 3}, {32}}, {}, {2, 32, 14, 14}}, t,
                 "cuda.convolution.cudnn", tol);
  }
}

TEST(CudaNarrow, Tf32ProductsOnlyWhereAllowed) {
  KILN_REQUIRE_CUDA(cuda);
  MatrixMultiplyAttrs a;
  Case m{a, {{65, 257}, {257, 63}}, {}, {65, 63}};
  ConvolutionAttrs c;
  c.padsBegin = {1, 1};
  c.padsEnd = {1, 1};
  Case conv{c, {{2, 32, 9, 9}, {16, 32, 3, 3}}, {}, {2, 16, 9, 9}};
  ConvolutionAttrs p;
  Case pointwise{p, {{2, 64, 6, 6}, {32, 64, 1, 1}}, {}, {2, 32, 6, 6}};
  for (auto [cs, name] : {std::pair{m, "cuda.matrix_multiply.cublaslt.tf32"},
                          std::pair{conv, "cuda.convolution.cudnn.tf32"},
                          std::pair{pointwise, "cuda.convolution.gemm.tf32"}}) {
    SCOPED_TRACE(name);
    // Not offered at precision fp32 ...
    Layer layer;
    layer.name = "layer";
    layer.attrs = cs.attrs;
    const Tactic* t = cuda->findTactic(name);
    ASSERT_NE(t, nullptr);
    EXPECT_FALSE(t->supports(describe(cs, layer)).isOk());
    // ... yet a plan that names it (loaded without the build's permission) creates its kernel ...
    EXPECT_TRUE(t->create(describe(cs, layer)).hasValue());
    // ... and within TF32's rounding (10-bit mantissa operands, fp32 sums) where allowed.
    cs.allowTf32 = true;
    EXPECT_TRUE(t->supports(describe(cs, layer)).isOk());
    expectMatches(*cuda, cs, name, 5e-3f);
  }
}

TEST(CudaNarrow, Casts) {
  KILN_REQUIRE_CUDA(cuda);
  const DataType types[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
  for (DataType from : types)
    for (DataType to : types) {
      SCOPED_TRACE(std::string(dataTypeName(from)) + " -> " + dataTypeName(to));
      Case c{CastAttrs{to}, {{1031}}, {}, {1031}};
      c.dtype = from;
      c.outputDtype = to;
      expectMatches(*cuda, c, "cuda.cast", 0.0f);  // both round to nearest even: exact
    }
}

}  // namespace
}  // namespace kiln
