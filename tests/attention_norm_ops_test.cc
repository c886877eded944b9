// Tests of RMSNormalization, LRN, LayerNormalization's Mean/InvStdDev outputs, DepthToSpace and
// Attention: each ONNX op imported, built and run on the reference backend against hand-computed
// values, plus the errors they must give.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "test_util.h"
#include "util/float16.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeAttr;

constexpr DataType kF32 = DataType::kFloat32;

Weights f32(Dims dims, std::vector<float> v) {
  return *Weights::copyFrom(kF32, std::move(dims), v.data(), v.size() * sizeof(float));
}

void expectNear(const Weights& w, const Dims& dims, const std::vector<double>& expected,
                double tol = 1e-5) {
  ASSERT_EQ(w.dtype(), kF32);
  EXPECT_EQ(w.dims(), dims);
  ASSERT_EQ(static_cast<size_t>(w.count()), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(w.as<float>()[i], expected[i], tol) << "at " << i;
}

/// A model of one node `op(in...) -> out...`, the inputs declared and fed in order (an empty
/// name is an absent optional input); outputs with an empty name are left unused. Returns the graph
/// outputs.
Expected<std::vector<Weights>> runNode(int64_t opset, const std::string& op,
                                       const std::vector<std::string>& in,
                                       const std::vector<Weights>& inputs,
                                       const std::vector<std::string>& out,
                                       std::vector<NodeAttr> attrs = {}) {
  ModelBuilder b(opset);
  std::vector<NamedTensor> named;
  BuilderConfig config;
  config.backend = "reference";
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (in[i].empty()) continue;  // an absent optional input
    b.input(in[i], inputs[i].dtype(), shapeFromDims(inputs[i].dims()));
    named.push_back({in[i], inputs[i]});
    config.inputShapes[in[i]] = inputs[i].dims();
  }
  b.node({op, in, out, std::move(attrs), "node"});
  for (const std::string& o : out)
    if (!o.empty()) b.output(o);
  const std::string bytes = b.serialize();
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net,
                        OnnxParser::parseBuffer(bytes.data(), bytes.size(), "ops.onnx"));
  KILN_ASSIGN_OR_RETURN(auto engine, Builder::build(net, config));
  return test::runEngine(*engine, named);
}

// ---- RMSNormalization -------------------------------------------------------------------------

TEST(NormOps, RmsNormalizationLastAxis) {
  // Row [1, 7]: mean(x^2) = 25, rms 5; row [1, 1]: rms 1. Scale [2, 0.5].
  auto r = runNode(23, "RMSNormalization", {"x", "s"},
                   {f32({2, 2}, {1, 7, 1, 1}), f32({2}, {2, 0.5f})}, {"y"}, {{"epsilon", 0.0f}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {2, 2}, {0.4, 0.7, 2.0, 0.5});
}

TEST(NormOps, RmsNormalizationAxisZeroWithEpsilon) {
  // axis 0 normalizes all four values: mean(x^2) = (1 + 1 + 9 + 9) / 4 = 5, + epsilon 4 -> 3.
  auto r = runNode(23, "RMSNormalization", {"x", "s"},
                   {f32({2, 2}, {1, -1, 3, -3}), f32({2, 2}, {1, 1, 1, 2})}, {"y"},
                   {{"epsilon", 4.0f}, {"axis", int64_t{0}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {2, 2}, {1.0 / 3, -1.0 / 3, 1.0, -2.0});
}

TEST(NormOps, RmsNormalizationRejectsAnIntegerStashType) {
  auto r = runNode(23, "RMSNormalization", {"x", "s"}, {f32({2}, {1, 2}), f32({2}, {1, 1})}, {"y"},
                   {{"stash_type", int64_t{7}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("stash_type 7"), std::string::npos) << r.status().toString();
}

// ---- LayerNormalization's Mean and InvStdDev --------------------------------------------------

TEST(NormOps, LayerNormalizationMeanAndInvStdDev) {
  // Row [1, 3]: mean 2, var 1, inv std 1; row [2, 6]: mean 4, var 4, inv std 0.5.
  auto r = runNode(17, "LayerNormalization", {"x", "g", "b"},
                   {f32({2, 2}, {1, 3, 2, 6}), f32({2}, {1, 2}), f32({2}, {0, 1})},
                   {"y", "mean", "inv"}, {{"epsilon", 0.0f}});
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->size(), 3u);
  expectNear(r->at(0), {2, 2}, {-1, 3, -1, 3});
  expectNear(r->at(1), {2, 1}, {2, 4});
  expectNear(r->at(2), {2, 1}, {1, 0.5});
}

TEST(NormOps, LayerNormalizationMeanKeepsReducedDimsAsOne) {
  // axis 1 of [1, 2, 2]: statistics over the last two dims, shape [1, 1, 1].
  auto r = runNode(17, "LayerNormalization", {"x", "g"},
                   {f32({1, 2, 2}, {0, 2, 4, 6}), f32({2, 2}, {1, 1, 1, 1})}, {"y", "mean"},
                   {{"axis", int64_t{1}}, {"epsilon", 0.0f}});
  ASSERT_TRUE(r) << r.status().toString();
  // mean 3, var (9 + 1 + 1 + 9) / 4 = 5.
  const double s = 1 / std::sqrt(5.0);
  expectNear(r->at(0), {1, 2, 2}, {-3 * s, -s, s, 3 * s});
  expectNear(r->at(1), {1, 1, 1}, {3});
}

TEST(NormOps, LayerNormalizationInvStdDevWithoutMeanIsRefused) {
  auto r = runNode(17, "LayerNormalization", {"x", "g"}, {f32({2}, {1, 3}), f32({2}, {1, 1})},
                   {"y", "", "inv"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("InvStdDev"), std::string::npos) << r.status().toString();
}

TEST(NormOps, LrnSumsSquaresOverACenteredChannelWindow) {
  // size 3, alpha / size = 1, beta 1, bias 1 over channels [1, 2, 3]: the window of channel c is
  // [c - 1, c + 1] clipped, so y = x / (1 + sum x^2) = 1 / 6, 2 / 15, 3 / 14.
  auto r = runNode(13, "LRN", {"x"}, {f32({1, 3, 1, 1}, {1, 2, 3})}, {"y"},
                   {{"size", int64_t{3}}, {"alpha", 3.0f}, {"beta", 1.0f}, {"bias", 1.0f}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 3, 1, 1}, {1.0 / 6, 2.0 / 15, 3.0 / 14});
}

TEST(NormOps, LrnEvenSizeLeansForward) {
  // size 2: floor(1 / 2) = 0 channels before, ceil(1 / 2) = 1 after; the window of c is [c, c + 1].
  // beta 0.5 over rank 3 (one spatial dim of 2): channel values [1, 2, 3] and [2, 0, 1].
  auto r = runNode(13, "LRN", {"x"}, {f32({1, 3, 2}, {1, 2, 2, 0, 3, 1})}, {"y"},
                   {{"size", int64_t{2}}, {"alpha", 2.0f}, {"beta", 0.5f}, {"bias", 1.0f}});
  ASSERT_TRUE(r) << r.status().toString();
  auto y = [](double x, double s) { return x / std::sqrt(1 + s); };
  expectNear(r->at(0), {1, 3, 2},
             {y(1, 1 + 4), y(2, 4 + 0), y(2, 4 + 9), y(0, 0 + 1), y(3, 9), y(1, 1)});
}

TEST(NormOps, LrnRejectsBadAttributes) {
  auto r = runNode(13, "LRN", {"x"}, {f32({1, 2, 1, 1}, {1, 2})}, {"y"}, {{"size", int64_t{0}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("size"), std::string::npos) << r.status().toString();
  r = runNode(13, "LRN", {"x"}, {f32({1, 2, 1, 1}, {1, 2})}, {"y"});  // size is required
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("size"), std::string::npos) << r.status().toString();
}

// ---- DepthToSpace -----------------------------------------------------------------------------

TEST(MovementOps, DepthToSpaceDcrAndCrd) {
  // 8 channels of one pixel, blocksize 2, 2 output channels. DCR: out[c][i][j] = x[(2i + j) * 2 +
  // c]; CRD: out[c][i][j] = x[4c + 2i + j].
  const Weights x = f32({1, 8, 1, 1}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto dcr = runNode(13, "DepthToSpace", {"x"}, {x}, {"y"}, {{"blocksize", int64_t{2}}});
  ASSERT_TRUE(dcr) << dcr.status().toString();
  expectNear(dcr->at(0), {1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  auto crd = runNode(13, "DepthToSpace", {"x"}, {x}, {"y"},
                     {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}});
  ASSERT_TRUE(crd) << crd.status().toString();
  expectNear(crd->at(0), {1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
}

TEST(MovementOps, DepthToSpaceIsTheInverseOfSpaceToDepth) {
  // Two pixels wide and high per block: SpaceToDepth then DepthToSpace (DCR) gives x back.
  std::vector<float> v(2 * 4 * 6);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(i);
  ModelBuilder b(13);
  b.input("x", kF32, shapeFromDims({1, 2, 4, 6}))
      .node({"SpaceToDepth", {"x"}, {"d"}, {{"blocksize", int64_t{2}}}, "s2d"})
      .node({"DepthToSpace", {"d"}, {"y"}, {{"blocksize", int64_t{2}}}, "d2s"})
      .output("y");
  const std::string bytes = b.serialize();
  auto net = OnnxParser::parseBuffer(bytes.data(), bytes.size(), "ops.onnx");
  ASSERT_TRUE(net) << net.status().toString();
  BuilderConfig config;
  config.backend = "reference";
  auto engine = Builder::build(*net, config);
  ASSERT_TRUE(engine) << engine.status().toString();
  auto r = test::runEngine(**engine, {{"x", f32({1, 2, 4, 6}, v)}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 2, 4, 6}, std::vector<double>(v.begin(), v.end()));
}

TEST(MovementOps, DepthToSpaceRejectsBadInputs) {
  // 6 channels do not split into 2 x 2 blocks.
  auto r = runNode(13, "DepthToSpace", {"x"}, {f32({1, 6, 1, 1}, {0, 1, 2, 3, 4, 5})}, {"y"},
                   {{"blocksize", int64_t{2}}});
  EXPECT_FALSE(r);
  r = runNode(13, "DepthToSpace", {"x"}, {f32({1, 4, 1, 1}, {0, 1, 2, 3})}, {"y"},
              {{"blocksize", int64_t{0}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("blocksize"), std::string::npos) << r.status().toString();
  r = runNode(13, "DepthToSpace", {"x"}, {f32({1, 4, 1, 1}, {0, 1, 2, 3})}, {"y"},
              {{"blocksize", int64_t{2}}, {"mode", std::string("RDC")}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("mode"), std::string::npos) << r.status().toString();
  r = runNode(13, "DepthToSpace", {"x"}, {f32({4}, {0, 1, 2, 3})}, {"y"},
              {{"blocksize", int64_t{2}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("rank"), std::string::npos) << r.status().toString();
}

// ---- Attention --------------------------------------------------------------------------------

// With scale ln 3, q = [1, 0] and keys [1, 0], [0, 0] give logits [ln 3, 0] and probabilities
// [3/4, 1/4]; values 1 and 3 then give 1.5.
const float kLn3 = static_cast<float>(std::log(3.0));

TEST(AttentionOps, FourDimensionalWithScale) {
  auto r = runNode(
      23, "Attention", {"q", "k", "v"},
      {f32({1, 1, 1, 2}, {1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}), f32({1, 1, 2, 1}, {1, 3})},
      {"y"}, {{"scale", kLn3}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {1.5});
}

Weights f16(Dims dims, const std::vector<float>& v) {
  std::vector<Half> h;
  for (float x : v)
    h.push_back(floatToHalf(x));
  return *Weights::copyFrom(DataType::kFloat16, std::move(dims), h.data(), h.size() * sizeof(Half));
}

TEST(AttentionOps, HalfInputsComputeInF32AndReturnHalf) {
  // The FourDimensionalWithScale case in f16, with the cache outputs: all values exact in f16.
  auto r = runNode(23, "Attention", {"q", "k", "v", "", "pk", "pv"},
                   {f16({1, 1, 1, 2}, {1, 0}), f16({1, 1, 1, 2}, {0, 0}), f16({1, 1, 1, 1}, {3}),
                    Weights(), f16({1, 1, 1, 2}, {1, 0}), f16({1, 1, 1, 1}, {1})},
                   {"y", "present_k", "present_v"}, {{"scale", kLn3}});
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), DataType::kFloat16);
  EXPECT_EQ(r->at(0).dims(), (Dims{1, 1, 1, 1}));
  EXPECT_NEAR(halfToFloat(r->at(0).as<Half>()[0]), 1.5, 1e-3);
  ASSERT_EQ(r->at(2).dtype(), DataType::kFloat16);
  EXPECT_EQ(halfToFloat(r->at(2).as<Half>()[0]), 1.0f);
  EXPECT_EQ(halfToFloat(r->at(2).as<Half>()[1]), 3.0f);
}

TEST(AttentionOps, DefaultScaleIsOneOverSqrtHeadSize) {
  // Head size 4, q . k0 = 4 ln 3 (q = k0 = sqrt(ln 3) * [1, 1, 1, 1]): scaled logit 2 ln 3 = ln 9.
  const float e = std::sqrt(kLn3);
  auto r = runNode(23, "Attention", {"q", "k", "v"},
                   {f32({1, 1, 1, 4}, {e, e, e, e}), f32({1, 1, 2, 4}, {e, e, e, e, 0, 0, 0, 0}),
                    f32({1, 1, 2, 1}, {0, 10})},
                   {"y"});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {1.0});  // probabilities [9/10, 1/10]
}

TEST(AttentionOps, BoolMaskAndFullyMaskedRow) {
  // Query 0 sees key 1 only; query 1 sees no key: its output is 0 (not NaN).
  auto mask = *Weights::zeros(DataType::kBool, {2, 2});
  static_cast<bool*>(mask.mutableData())[1] = true;
  auto r = runNode(23, "Attention", {"q", "k", "v", "m"},
                   {f32({1, 1, 2, 2}, {1, 0, 1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}),
                    f32({1, 1, 2, 1}, {1, 3}), mask},
                   {"y"}, {{"scale", kLn3}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 2, 1}, {3, 0});
}

TEST(AttentionOps, ShortFloatMaskIsPaddedWithMinusInfinity) {
  // The mask covers key 0 only; key 1 is masked.
  auto r = runNode(23, "Attention", {"q", "k", "v", "m"},
                   {f32({1, 1, 1, 2}, {1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}),
                    f32({1, 1, 2, 1}, {1, 3}), f32({1, 1}, {0})},
                   {"y"}, {{"scale", kLn3}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {1});
}

TEST(AttentionOps, CausalIsTopLeftWithoutCache) {
  // One query, two keys, no cache: query 0 sees key 0 only (a lower-right diagonal would let it
  // see both and give 1.5).
  auto r = runNode(
      23, "Attention", {"q", "k", "v"},
      {f32({1, 1, 1, 2}, {1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}), f32({1, 1, 2, 1}, {1, 3})},
      {"y"}, {{"scale", kLn3}, {"is_causal", int64_t{1}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {1});
}

TEST(AttentionOps, CacheIsConcatenatedAndShiftsTheCausalDiagonal) {
  // Past key/value [0]/[2], new [0]/[4]: the query (after one cached step) sees both keys.
  auto r = runNode(23, "Attention", {"q", "k", "v", "", "pk", "pv"},
                   {f32({1, 1, 1, 1}, {0}), f32({1, 1, 1, 1}, {0}), f32({1, 1, 1, 1}, {4}),
                    Weights(), f32({1, 1, 1, 1}, {0}), f32({1, 1, 1, 1}, {2})},
                   {"y", "present_k", "present_v"}, {{"is_causal", int64_t{1}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {3});
  expectNear(r->at(1), {1, 1, 2, 1}, {0, 0});
  expectNear(r->at(2), {1, 1, 2, 1}, {2, 4});
}

TEST(AttentionOps, GroupedQueryHeadsShareKeyValueHeadsInRuns) {
  // 4 query heads over 2 kv heads: query heads 0, 1 read kv head 0; 2, 3 read kv head 1.
  auto r = runNode(
      23, "Attention", {"q", "k", "v"},
      {f32({1, 4, 1, 1}, {0, 0, 0, 0}), f32({1, 2, 1, 1}, {0, 0}), f32({1, 2, 1, 1}, {10, 20})},
      {"y"});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 4, 1, 1}, {10, 10, 20, 20});
}

TEST(AttentionOps, ThreeDimensionalSplitsHeads) {
  // Two heads of size 2: head 0 prefers key 0 (3/4), head 1 key 1 (3/4).
  auto r =
      runNode(23, "Attention", {"q", "k", "v"},
              {f32({1, 1, 4}, {1, 0, 0, 1}), f32({1, 2, 4}, {1, 0, 0, 0, 0, 0, 0, 1}),
               f32({1, 2, 2}, {1, 1, 3, 3})},
              {"y"}, {{"scale", kLn3}, {"q_num_heads", int64_t{2}}, {"kv_num_heads", int64_t{2}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 2}, {1.5, 2.5});
}

TEST(AttentionOps, ThreeDimensionalPresentWithoutCacheIsHeadsFirstK) {
  // No cache: present_key is K split to [B, H, S, D].
  auto r = runNode(23, "Attention", {"q", "k", "v"},
                   {f32({1, 1, 4}, {1, 0, 0, 1}), f32({1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}),
                    f32({1, 2, 2}, {1, 1, 3, 3})},
                   {"y", "present_k"}, {{"q_num_heads", int64_t{2}}, {"kv_num_heads", int64_t{2}}});
  ASSERT_TRUE(r) << r.status().toString();
  ASSERT_EQ(r->size(), 2u);
  expectNear(r->at(1), {1, 2, 2, 2}, {1, 2, 5, 6, 3, 4, 7, 8});
}

TEST(AttentionOps, ThreeDimensionalGroupedQuery) {
  // Two query heads over one kv head (all keys equal): both average the values 1 and 3.
  auto r =
      runNode(23, "Attention", {"q", "k", "v"},
              {f32({1, 1, 4}, {1, 0, 0, 1}), f32({1, 2, 2}, {0, 0, 0, 0}), f32({1, 2, 1}, {1, 3})},
              {"y"}, {{"q_num_heads", int64_t{2}}, {"kv_num_heads", int64_t{1}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 2}, {2, 2});
}

TEST(AttentionOps, SoftcapBoundsTheLogits) {
  // Raw logits [100, 0] capped at ln 3: ln 3 tanh(100 / ln 3) = ln 3 (to double precision), so
  // probabilities [3/4, 1/4] (uncapped they would be [1, 0], giving 1).
  auto r = runNode(23, "Attention", {"q", "k", "v"},
                   {f32({1, 1, 1, 1}, {10}), f32({1, 1, 2, 1}, {10, 0}), f32({1, 1, 2, 1}, {1, 3})},
                   {"y"}, {{"scale", 1.0f}, {"softcap", kLn3}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 1, 1}, {1.5});
}

TEST(AttentionOps, QkMatmulOutputModes) {
  auto mask = *Weights::zeros(DataType::kBool, {1, 2});
  static_cast<bool*>(mask.mutableData())[0] = true;  // key 1 masked
  const std::vector<Weights> in = {f32({1, 1, 1, 2}, {1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}),
                                   f32({1, 1, 2, 1}, {1, 3}), mask};
  const double inf = std::numeric_limits<double>::infinity();
  // Mode 0: the scaled logits; mode 2: with the mask's bias; mode 3: the probabilities.
  const std::vector<std::pair<int64_t, std::vector<double>>> modes = {
      {0, {std::log(3.0), 0}}, {2, {std::log(3.0), -inf}}, {3, {1, 0}}};
  for (const auto& [mode, expected] : modes) {
    auto r = runNode(23, "Attention", {"q", "k", "v", "m"}, in, {"y", "", "", "qk"},
                     {{"scale", kLn3}, {"qk_matmul_output_mode", mode}});
    ASSERT_TRUE(r) << r.status().toString();
    expectNear(r->at(0), {1, 1, 1, 1}, {1});
    const Weights& qk = r->at(1);
    ASSERT_EQ(qk.dims(), (Dims{1, 1, 1, 2})) << "mode " << mode;
    EXPECT_NEAR(qk.as<float>()[0], expected[0], 1e-5) << "mode " << mode;
    if (std::isinf(expected[1]))
      EXPECT_EQ(qk.as<float>()[1], -std::numeric_limits<float>::infinity()) << "mode " << mode;
    else
      EXPECT_NEAR(qk.as<float>()[1], expected[1], 1e-5) << "mode " << mode;
  }
}

TEST(AttentionOps, RefusesAmbiguousQkModes) {
  const std::vector<Weights> in = {f32({1, 1, 1, 2}, {1, 0}), f32({1, 1, 2, 2}, {1, 0, 0, 0}),
                                   f32({1, 1, 2, 1}, {1, 3})};
  auto r = runNode(23, "Attention", {"q", "k", "v"}, in, {"y", "", "", "qk"},
                   {{"softcap", 2.0f}, {"qk_matmul_output_mode", int64_t{1}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("qk_matmul_output_mode 1 with softcap"), std::string::npos)
      << r.status().toString();
}

Weights i64(Dims dims, std::vector<int64_t> v) {
  return *Weights::copyFrom(DataType::kInt64, std::move(dims), v.data(),
                            v.size() * sizeof(int64_t));
}

TEST(AttentionOps, NonpadLengthsMaskKeysPerBatch) {
  // Batch 0 has one valid key (value 1), batch 1 two (values 1, 3: mean 2).
  auto r =
      runNode(24, "Attention", {"q", "k", "v", "", "", "", "n"},
              {f32({2, 1, 1, 1}, {0, 0}), f32({2, 1, 2, 1}, {0, 0, 0, 0}),
               f32({2, 1, 2, 1}, {1, 3, 1, 3}), Weights(), Weights(), Weights(), i64({2}, {1, 2})},
              {"y"});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {2, 1, 1, 1}, {1, 2});
}

TEST(AttentionOps, NonpadLengthsOffsetTheCausalDiagonal) {
  // Two queries, three keys, two valid: query i sees keys j <= i + 2 - 2. Without is_causal
  // both queries would average keys 0 and 1 (2, 2).
  auto r = runNode(24, "Attention", {"q", "k", "v", "", "", "", "n"},
                   {f32({1, 1, 2, 1}, {0, 0}), f32({1, 1, 3, 1}, {0, 0, 0}),
                    f32({1, 1, 3, 1}, {1, 3, 5}), Weights(), Weights(), Weights(), i64({1}, {2})},
                   {"y"}, {{"is_causal", int64_t{1}}});
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {1, 1, 2, 1}, {1, 2});
}

TEST(AttentionOps, RejectsBadHeadCounts) {
  // 3-D inputs without head counts.
  auto r = runNode(23, "Attention", {"q", "k", "v"},
                   {f32({1, 1, 4}, {1, 0, 0, 1}), f32({1, 2, 4}, {0, 0, 0, 0, 0, 0, 0, 0}),
                    f32({1, 2, 2}, {1, 1, 3, 3})},
                   {"y"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("q_num_heads"), std::string::npos) << r.status().toString();
  // 3 query heads over 2 kv heads.
  r = runNode(23, "Attention", {"q", "k", "v"},
              {f32({1, 3, 1, 1}, {0, 0, 0}), f32({1, 2, 1, 1}, {0, 0}), f32({1, 2, 1, 1}, {1, 2})},
              {"y"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("multiple of kv heads"), std::string::npos)
      << r.status().toString();
}

}  // namespace
}  // namespace kiln
