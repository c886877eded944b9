// Simplification rules (rules_simplify.cc): each no-op and identity before / after, the guards'
// negative cases, and the numbers bit for bit on the reference backend.
#include "optimizer_util.h"

namespace kiln {
namespace {

using test::expectNoRewrite;
using test::expectRewrite;
using test::shape;
constexpr DataType kF32 = DataType::kFloat32;

/// relu(op(x)) with op built by `make`; the relu keeps something to execute.
NetworkDefinition around(const std::function<TensorId(NetworkDefinition&, TensorId)>& make,
                         Shape in = shape({2, 3})) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, in);
  TensorId y = *net.addActivation(make(net, x), ActivationKind::kRelu);
  EXPECT_TRUE(net.markOutput(y).isOk());
  return net;
}

TEST(SimplifyRules, NoOpsGoAway) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3})}};
  const std::vector<std::string> reluOnly = {"Activation"};
  expectRewrite(around([](NetworkDefinition& n, TensorId x) {
                  return test::layer(n, "id", UnaryAttrs{UnaryKind::kIdentity}, {x});
                }),
                simplifyRules(), reluOnly, in, 0, "remove-identity");
  expectRewrite(around([](NetworkDefinition& n, TensorId x) {
                  return test::layer(n, "cast", CastAttrs{kF32}, {x});
                }),
                simplifyRules(), reluOnly, in, 0, "remove-same-type-cast");
  expectRewrite(around([](NetworkDefinition& n, TensorId x) {
                  return test::reshape(n, x, {2, 3});
                }),
                simplifyRules(), reluOnly, in, 0, "remove-same-shape-reshape");
  expectRewrite(around([](NetworkDefinition& n, TensorId x) {
                  TensorId s = n.addConstant("s", Weights::fromInts({2, 3}));
                  return test::layer(n, "expand", ExpandAttrs{}, {x, s});
                }),
                simplifyRules(), reluOnly, in, 0, "remove-same-shape-expand");
  expectRewrite(around([](NetworkDefinition& n, TensorId x) {
                  return test::transpose(n, x, {0, 1});
                }),
                simplifyRules(), reluOnly, in, 0, "remove-identity-transpose");
}

TEST(SimplifyRules, AlgebraicIdentities) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3})}};
  struct Case {
    ElementwiseKind op;
    float c;
    const char* rule;
  };
  for (Case c :
       {Case{ElementwiseKind::kMul, 1, "mul-by-one"}, Case{ElementwiseKind::kAdd, 0, "add-zero"},
        Case{ElementwiseKind::kSub, 0, "sub-zero"}, Case{ElementwiseKind::kDiv, 1, "div-by-one"}}) {
    expectRewrite(around([&](NetworkDefinition& n, TensorId x) {
                    return *n.addElementwise(x, test::scalar(n, c.c), c.op);
                  }),
                  simplifyRules(), {"Activation"}, in, 0, c.rule);
  }
  // Guard: x - 0 is not 0 - x; 1 / x is not x.
  expectNoRewrite(around([](NetworkDefinition& n, TensorId x) {
                    return *n.addElementwise(test::scalar(n, 0), x, ElementwiseKind::kSub);
                  }),
                  simplifyRules(), "sub-zero");
  expectNoRewrite(around([](NetworkDefinition& n, TensorId x) {
                    return *n.addElementwise(test::scalar(n, 1), x, ElementwiseKind::kDiv);
                  }),
                  simplifyRules(), "div-by-one");
  // Guard (shape): ones of a larger shape broadcast x up; the multiply is not a no-op.
  expectNoRewrite(around([](NetworkDefinition& n, TensorId x) {
                    TensorId ones = n.addConstant("ones", Weights::fromFloats({1, 1, 1, 1, 1, 1}));
                    TensorId r = test::reshape(n, ones, {1, 2, 3});
                    return *n.addElementwise(x, r, ElementwiseKind::kMul);
                  }),
                  simplifyRules(), "mul-by-one");
  // Guard (not a splat): x * [1, 2, 1] is not x.
  expectNoRewrite(around([](NetworkDefinition& n, TensorId x) {
                    TensorId c = n.addConstant("c", Weights::fromFloats({1, 2, 1}));
                    return *n.addElementwise(x, c, ElementwiseKind::kMul);
                  }),
                  simplifyRules(), "mul-by-one");
}

TEST(SimplifyRules, GraphOutputsThatAreInputsKeepTheirLayer) {
  // y = identity(x) with x an input and y an output: removing it would rename the output.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({3}));
  TensorId y = test::layer(net, "id", UnaryAttrs{UnaryKind::kIdentity}, {x});
  ASSERT_TRUE(net.markOutput(y).isOk());
  expectNoRewrite(net, simplifyRules(), "remove-identity");
  // An identity whose output is a graph output but whose input is computed goes; the output
  // keeps its name.
  NetworkDefinition n2;
  TensorId x2 = *n2.addInput("x", kF32, shape({3}));
  TensorId r = *n2.addActivation(x2, ActivationKind::kRelu);
  auto id = n2.addLayer("id", UnaryAttrs{UnaryKind::kIdentity}, {r}, 1, {"y"});
  ASSERT_TRUE(n2.markOutput(n2.layer(*id).outputs[0]).isOk());
  auto out = test::applyRules(n2, simplifyRules());
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(test::kinds(*out), std::vector<std::string>{"Activation"});
  EXPECT_EQ(out->tensor(out->outputs()[0]).name, "y");
}

TEST(SimplifyRules, TransposesMergeAndCancel) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3, 4})}};
  // [1, 2, 0] then [2, 0, 1] is the identity: both go.
  expectRewrite(around(
                    [](NetworkDefinition& n, TensorId x) {
                      return test::transpose(n, test::transpose(n, x, {1, 2, 0}), {2, 0, 1});
                    },
                    shape({2, 3, 4})),
                simplifyRules(), {"Activation"}, in, 0, "merge-transposes");
  // [1, 0, 2] then [0, 2, 1] is one transpose [1, 2, 0].
  auto out =
      expectRewrite(around(
                        [](NetworkDefinition& n, TensorId x) {
                          return test::transpose(n, test::transpose(n, x, {1, 0, 2}), {0, 2, 1});
                        },
                        shape({2, 3, 4})),
                    simplifyRules(), {"Shuffle", "Activation"}, in, 0, "merge-transposes");
  EXPECT_EQ(test::only(out, LayerKind::kShuffle)->as<ShuffleAttrs>().perm,
            (std::vector<int64_t>{1, 2, 0}));
  // Guard: the inner transpose has another user.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, shape({2, 3, 4}));
  TensorId t1 = test::transpose(net, x, {1, 0, 2});
  TensorId t2 = test::transpose(net, t1, {0, 2, 1});
  ASSERT_TRUE(net.markOutput(t1).isOk());
  ASSERT_TRUE(net.markOutput(t2).isOk());
  expectNoRewrite(net, simplifyRules(), "merge-transposes");
}

TEST(SimplifyRules, ReshapesMerge) {
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3, 4})}};
  expectRewrite(around(
                    [](NetworkDefinition& n, TensorId x) {
                      return test::reshape(n, test::reshape(n, x, {6, 4}), {4, 6});
                    },
                    shape({2, 3, 4})),
                simplifyRules(), {"Shuffle", "Activation"}, in, 0, "merge-reshapes");
}

TEST(SimplifyRules, TransposeThroughBatchReshape) {
  // The exporters' k^T: [B, H, S, D] -> [B*H, S, D] -> transpose -> [B, H, D, S].
  std::vector<NamedTensor> in = {{"x", test::randomF32({2, 3, 4, 5})}};
  auto make = [](Dims back) {
    return around(
        [back](NetworkDefinition& n, TensorId x) {
          TensorId r = test::reshape(n, x, {6, 4, 5});
          return test::reshape(n, test::transpose(n, r, {0, 2, 1}), back);
        },
        shape({2, 3, 4, 5}));
  };
  auto out = expectRewrite(make({2, 3, 5, 4}), simplifyRules(), {"Shuffle", "Activation"}, in, 0,
                           "transpose-through-batch-reshape");
  EXPECT_EQ(test::only(out, LayerKind::kShuffle)->as<ShuffleAttrs>().perm,
            (std::vector<int64_t>{0, 1, 3, 2}));
  // Guard: split back into other batch dims ([3, 2] instead of [2, 3]).
  expectNoRewrite(make({3, 2, 5, 4}), simplifyRules(), "transpose-through-batch-reshape");
}

}  // namespace
}  // namespace kiln
