// The fused layer vocabulary on the reference backend: Convolution / MatrixMultiply epilogues,
// Pointwise expressions and Attention, each against the unfused layers it stands for.
#include "ir/pointwise_expr.h"
#include "ir/shape_inference.h"
#include "optimizer_util.h"

namespace kiln {
namespace {

constexpr DataType kF32 = DataType::kFloat32;

Shape dims(std::initializer_list<int64_t> d) {
  return shapeFromDims(Dims(d));
}

// ---- epilogues -------------------------------------------------------------------------------

/// relu(conv(x, w, b) + r) written out, and as one convolution with an epilogue.
TEST(Epilogue, ConvolutionResidualThenReluEqualsTheChainBitForBit) {
  auto build = [](bool fused, ResidualMode mode, ActivationKind act) {
    NetworkDefinition net;
    TensorId x = *net.addInput("x", kF32, dims({1, 3, 5, 5}));
    TensorId r = *net.addInput("r", kF32, dims({1, 4, 5, 5}));
    TensorId w = net.addConstant("w", test::randomF32({4, 3, 3, 3}, 1));
    TensorId b = net.addConstant("b", test::randomF32({4}, 2));
    ConvolutionAttrs a;
    a.padsBegin = {1, 1};
    a.padsEnd = {1, 1};
    TensorId y;
    if (fused) {
      a.activation = act;
      a.residual = mode;
      y = net.layer(*net.addLayer("conv", a, {x, w, b, r})).outputs[0];
    } else {
      y = *net.addConvolution(x, w, b, a);
      if (mode == ResidualMode::kBeforeActivation)
        y = *net.addElementwise(y, r, ElementwiseKind::kAdd);
      y = *net.addActivation(y, act);
      if (mode == ResidualMode::kAfterActivation)
        y = *net.addElementwise(y, r, ElementwiseKind::kAdd);
    }
    EXPECT_TRUE(net.markOutput(y).isOk());
    return net;
  };
  std::vector<NamedTensor> in = {{"x", test::randomF32({1, 3, 5, 5}, 3)},
                                 {"r", test::randomF32({1, 4, 5, 5}, 4)}};
  for (auto mode : {ResidualMode::kBeforeActivation, ResidualMode::kAfterActivation}) {
    for (auto act : {ActivationKind::kRelu, ActivationKind::kGeluErf, ActivationKind::kSigmoid}) {
      bool identical = false;
      test::compareNetworks(build(false, mode, act), build(true, mode, act), in, &identical);
      EXPECT_TRUE(identical) << enumName(mode) << " " << enumName(act);
    }
  }
}

TEST(Epilogue, MatrixMultiplyGeluAndBroadcastResidual) {
  auto build = [](bool fused) {
    NetworkDefinition net;
    TensorId a = *net.addInput("a", kF32, dims({2, 3, 8}));
    TensorId r = *net.addInput("r", kF32, dims({3, 5}));
    TensorId w = net.addConstant("w", test::randomF32({8, 5}, 1));
    TensorId c = net.addConstant("c", test::randomF32({5}, 2));
    MatrixMultiplyAttrs at;
    TensorId y;
    if (fused) {
      at.activation = ActivationKind::kGeluTanh;
      at.residual = ResidualMode::kAfterActivation;
      y = net.layer(*net.addLayer("mm", at, {a, w, c, r})).outputs[0];
    } else {
      y = *net.addMatrixMultiply(a, w, c, at);
      y = *net.addActivation(y, ActivationKind::kGeluTanh);
      y = *net.addElementwise(y, r, ElementwiseKind::kAdd);
    }
    EXPECT_TRUE(net.markOutput(y).isOk());
    return net;
  };
  bool identical = false;
  test::compareNetworks(build(false), build(true),
                        {{"a", test::randomF32({2, 3, 8}, 5)}, {"r", test::randomF32({3, 5}, 6)}},
                        &identical);
  EXPECT_TRUE(identical);
}

TEST(Epilogue, InferenceChecksTheResidual) {
  NetworkDefinition net;
  TensorId a = *net.addInput("a", kF32, dims({3, 8}));
  TensorId r = *net.addInput("r", kF32, dims({4, 5}));
  TensorId w = net.addConstant("w", test::randomF32({8, 5}, 1));
  MatrixMultiplyAttrs at;
  at.residual = ResidualMode::kBeforeActivation;
  TensorId y = net.layer(*net.addLayer("mm", at, {a, w, kNoTensor, r})).outputs[0];
  ASSERT_TRUE(net.markOutput(y).isOk());
  auto e = Builder::build(net, BuilderConfig{});
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("residual [4, 5] does not broadcast"), std::string::npos)
      << e.status().message();
}

// ---- Pointwise -------------------------------------------------------------------------------

TEST(PointwiseExpr, ParsesPrintsAndTypes) {
  const std::string text =
      "where(and(x0, greater(x1, 0)), leaky_relu(add(x1, -inf), 0.00999999978, 0), "
      "cast_f32(isnan(x2)))";
  auto e = pointwise::parse(text);
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  EXPECT_EQ(pointwise::print(*e), text);
  EXPECT_EQ(e->inputCount(), 3);
  auto t = pointwise::typeCheck(*e, {DataType::kBool, kF32, kF32});
  ASSERT_TRUE(t.hasValue()) << t.status().toString();
  EXPECT_EQ(t->back(), kF32);
  auto bad = pointwise::typeCheck(*e, {kF32, kF32, kF32});
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("and(x0, greater(x1, 0))"), std::string::npos)
      << bad.status().message();
  for (const char* wrong : {"add(x0)", "frobnicate(x0)", "add(x0, x1", "relu(x0, x1, 0)", ""}) {
    auto p = pointwise::parse(wrong);
    EXPECT_FALSE(p.hasValue()) << wrong;
  }
  EXPECT_FALSE(pointwise::typeCheck(*pointwise::parse("add(x0, x0)"), {DataType::kInt64}));
}

TEST(Pointwise, EqualsTheUnfusedChainBitForBit) {
  // y = 0.5 * x * (1 + erf(x / 1.41421354)) + b, with b broadcast over rows; NaN and inf in x.
  auto build = [](bool fused) {
    NetworkDefinition net;
    TensorId x = *net.addInput("x", kF32, dims({4, 6}));
    TensorId b = *net.addInput("b", kF32, dims({6}));
    TensorId y;
    if (fused) {
      y = net.layer(*net.addLayer("pw",
                                  PointwiseAttrs{"add(mul(mul(x0, 0.5), add(erf(div(x0, "
                                                 "1.41421354)), 1)), x1)"},
                                  {x, b}))
              .outputs[0];
    } else {
      auto c = [&](float v) { return net.addConstant("c", Weights::fromFloats({v}, true)); };
      TensorId d = *net.addElementwise(x, c(1.41421354f), ElementwiseKind::kDiv);
      TensorId e = net.layer(*net.addLayer("erf", UnaryAttrs{UnaryKind::kErf}, {d})).outputs[0];
      TensorId a = *net.addElementwise(e, c(1), ElementwiseKind::kAdd);
      TensorId h = *net.addElementwise(x, c(0.5f), ElementwiseKind::kMul);
      TensorId m = *net.addElementwise(h, a, ElementwiseKind::kMul);
      y = *net.addElementwise(m, b, ElementwiseKind::kAdd);
    }
    EXPECT_TRUE(net.markOutput(y).isOk());
    return net;
  };
  Weights x = test::randomF32({4, 6}, 9, -4, 4);
  float* xs = static_cast<float*>(x.mutableData());
  xs[3] = std::numeric_limits<float>::quiet_NaN();
  xs[5] = std::numeric_limits<float>::infinity();
  xs[7] = -std::numeric_limits<float>::infinity();
  bool identical = false;
  test::compareNetworks(build(false), build(true), {{"x", x}, {"b", test::randomF32({6}, 10)}},
                        &identical);
  EXPECT_TRUE(identical);
}

TEST(Pointwise, InferenceNamesTheLayerOnBadExpressions) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({3}));
  TensorId y = net.layer(*net.addLayer("pw", PointwiseAttrs{"add(x0, x1)"}, {x})).outputs[0];
  ASSERT_TRUE(net.markOutput(y).isOk());
  auto e = Builder::build(net, BuilderConfig{});
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("'pw'"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("reads 2 inputs"), std::string::npos) << e.status().message();
}

// ---- Attention -------------------------------------------------------------------------------

/// softmax(s * q k^T + mask) v written out for heads-first q, k, v [B, H, S, D].
TensorId unfusedAttention(NetworkDefinition& net, TensorId q, TensorId k, TensorId v, TensorId mask,
                          float scale) {
  ShuffleAttrs t;
  t.mode = ShuffleMode::kTranspose;
  t.perm = {0, 1, 3, 2};
  TensorId kt = net.layer(*net.addLayer("kt", t, {k})).outputs[0];
  TensorId qk = *net.addMatrixMultiply(q, kt);
  TensorId s = net.addConstant("scale", Weights::fromFloats({scale}, true));
  TensorId l = *net.addElementwise(qk, s, ElementwiseKind::kMul);
  if (mask != kNoTensor) l = *net.addElementwise(l, mask, ElementwiseKind::kAdd);
  TensorId p = net.layer(*net.addLayer("softmax", SoftmaxAttrs{}, {l})).outputs[0];
  return *net.addMatrixMultiply(p, v);
}

TEST(Attention, EachLayoutMatchesTheUnfusedComputation) {
  const int64_t b = 2, h = 3, s = 5, d = 4;
  Weights q = test::randomF32({b, h, s, d}, 1), k = test::randomF32({b, h, s, d}, 2),
          v = test::randomF32({b, h, s, d}, 3), mask = test::randomF32({b, 1, s, s}, 4, -2, 0);
  // Reference: heads-first, unfused.
  NetworkDefinition ref;
  {
    TensorId iq = *ref.addInput("q", kF32, dims({b, h, s, d}));
    TensorId ik = *ref.addInput("k", kF32, dims({b, h, s, d}));
    TensorId iv = *ref.addInput("v", kF32, dims({b, h, s, d}));
    TensorId im = *ref.addInput("mask", kF32, dims({b, 1, s, s}));
    ASSERT_TRUE(ref.markOutput(unfusedAttention(ref, iq, ik, iv, im, 0.5f)).isOk());
  }
  auto expected = test::runUnoptimized(ref, {{"q", q}, {"k", k}, {"v", v}, {"mask", mask}});
  ASSERT_TRUE(expected.hasValue()) << expected.status().toString();

  // heads_first
  NetworkDefinition hf;
  {
    TensorId iq = *hf.addInput("q", kF32, dims({b, h, s, d}));
    TensorId ik = *hf.addInput("k", kF32, dims({b, h, s, d}));
    TensorId iv = *hf.addInput("v", kF32, dims({b, h, s, d}));
    TensorId im = *hf.addInput("mask", kF32, dims({b, 1, s, s}));
    AttentionAttrs a;
    a.scale = 0.5f;
    ASSERT_TRUE(
        hf.markOutput(hf.layer(*hf.addLayer("att", a, {iq, ik, iv, im})).outputs[0]).isOk());
  }
  auto got = test::runUnoptimized(hf, {{"q", q}, {"k", k}, {"v", v}, {"mask", mask}});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  EXPECT_LT(test::maxDifference(*expected, *got), 1e-6);

  // packed: qkv [B, S, 3*H*D] with q | k | v, heads interleaved; output [B, S, H*D].
  std::vector<float> packed(static_cast<size_t>(b * s * 3 * h * d));
  auto at = [&](const Weights& w, int64_t bi, int64_t hi, int64_t si, int64_t di) {
    return w.as<float>()[((bi * h + hi) * s + si) * d + di];
  };
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t si = 0; si < s; ++si)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t di = 0; di < d; ++di) {
          const int64_t row = (bi * s + si) * 3 * h * d;
          packed[static_cast<size_t>(row + hi * d + di)] = at(q, bi, hi, si, di);
          packed[static_cast<size_t>(row + h * d + hi * d + di)] = at(k, bi, hi, si, di);
          packed[static_cast<size_t>(row + 2 * h * d + hi * d + di)] = at(v, bi, hi, si, di);
        }
  NetworkDefinition pk;
  {
    TensorId qkv = *pk.addInput("qkv", kF32, dims({b, s, 3 * h * d}));
    TensorId im = *pk.addInput("mask", kF32, dims({b, 1, s, s}));
    AttentionAttrs a;
    a.layout = AttentionLayout::kPacked;
    a.numHeads = h;
    a.scale = 0.5f;
    ASSERT_TRUE(
        pk.markOutput(pk.layer(*pk.addLayer("att", a, {qkv, kNoTensor, kNoTensor, im})).outputs[0])
            .isOk());
  }
  Weights qkvW =
      Weights::copyFrom(kF32, {b, s, 3 * h * d}, packed.data(), packed.size() * 4).value();
  auto gotPacked = test::runUnoptimized(pk, {{"qkv", qkvW}, {"mask", mask}});
  ASSERT_TRUE(gotPacked.hasValue()) << gotPacked.status().toString();
  const Weights& y = (*gotPacked)[0];
  ASSERT_EQ(y.dims(), (Dims{b, s, h * d}));
  double worst = 0;
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t si = 0; si < s; ++si)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t di = 0; di < d; ++di)
          worst =
              std::max<double>(worst, std::fabs(y.as<float>()[(bi * s + si) * h * d + hi * d + di] -
                                                at((*expected)[0], bi, hi, si, di)));
  EXPECT_LT(worst, 1e-6);
}

TEST(Attention, CausalAndFullyMaskedRows) {
  // Causal: query i sees keys j <= i. A row whose mask is all -inf gives NaN, or 0 with
  // zero_nan_probabilities.
  const int64_t s = 3, d = 2;
  NetworkDefinition net;
  TensorId q = *net.addInput("q", kF32, dims({1, 1, s, d}));
  TensorId m = *net.addInput("m", kF32, dims({1, 1, s, s}));
  AttentionAttrs a;
  a.causal = true;
  TensorId y1 = net.layer(*net.addLayer("causal", a, {q, q, q})).outputs[0];
  AttentionAttrs z;
  z.zeroNanProbabilities = true;
  TensorId y2 = net.layer(*net.addLayer("masked", z, {q, q, q, m})).outputs[0];
  ASSERT_TRUE(net.markOutput(y1).isOk());
  ASSERT_TRUE(net.markOutput(y2).isOk());
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> qs = {1, 2, 3, 4, 5, 6};
  std::vector<float> ms = {0, 0, 0, -inf, -inf, -inf, 0, -inf, 0};
  auto out = test::runUnoptimized(
      net, {{"q", Weights::copyFrom(kF32, {1, 1, s, d}, qs.data(), 24).value()},
            {"m", Weights::copyFrom(kF32, {1, 1, s, s}, ms.data(), 36).value()}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  // Causal row 0 attends to key 0 only: its output is v[0].
  EXPECT_FLOAT_EQ((*out)[0].as<float>()[0], 1);
  EXPECT_FLOAT_EQ((*out)[0].as<float>()[1], 2);
  // Row 1 of the masked one is all -inf: zeros.
  EXPECT_EQ((*out)[1].as<float>()[2], 0);
  EXPECT_EQ((*out)[1].as<float>()[3], 0);
}

TEST(Attention, InferenceChecksLayouts) {
  NetworkDefinition net;
  TensorId qkv = *net.addInput("qkv", kF32, dims({1, 4, 10}));
  AttentionAttrs a;
  a.layout = AttentionLayout::kPacked;
  a.numHeads = 2;
  TensorId y = net.layer(*net.addLayer("att", a, {qkv})).outputs[0];
  ASSERT_TRUE(net.markOutput(y).isOk());
  auto e = Builder::build(net, BuilderConfig{});
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("not 3 * num_heads"), std::string::npos)
      << e.status().message();
}

TEST(Normalization, RmsNormalizationHasNoMean) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({1, 4}));
  TensorId g = net.addConstant("g", Weights::fromFloats({1, 1, 1, 1}));
  NormalizationAttrs n;
  n.rms = true;
  n.epsilon = 0;
  TensorId y = net.layer(*net.addLayer("rms", n, {x, g})).outputs[0];
  ASSERT_TRUE(net.markOutput(y).isOk());
  std::vector<float> xs = {1, 1, 1, 1};
  auto out =
      test::runUnoptimized(net, {{"x", Weights::copyFrom(kF32, {1, 4}, xs.data(), 16).value()}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_FLOAT_EQ((*out)[0].as<float>()[0], 1.0f);  // layer norm would give 0
}

}  // namespace
}  // namespace kiln
