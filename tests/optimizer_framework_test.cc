// The optimizer's framework: the use-def index, the pass manager (--disable-pass, --dump-ir,
// verification), the rule driver (patterns, captures, guards, fixed point), provenance events,
// `explain`, and the plan keeping all of it.
#include <filesystem>
#include <fstream>

#include "optimizer_util.h"

namespace kiln {
namespace {

constexpr DataType kF32 = DataType::kFloat32;

Shape dims(std::initializer_list<int64_t> d) {
  return shapeFromDims(Dims(d));
}

// ---- use-def index ---------------------------------------------------------------------------

TEST(UseDefIndex, KeptByTheMutators) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({4}));
  TensorId a = *net.addActivation(x, ActivationKind::kRelu);
  TensorId b = *net.addElementwise(a, x, ElementwiseKind::kAdd);
  ASSERT_TRUE(net.markOutput(b).isOk());
  EXPECT_EQ(net.consumers(x).size(), 2u);
  EXPECT_EQ(net.consumers(a), std::vector<LayerId>{net.tensor(b).producer});
  // x + x reads x twice but is listed once.
  TensorId c = *net.addElementwise(x, x, ElementwiseKind::kMul);
  EXPECT_EQ(net.consumers(x).size(), 3u);
  net.replaceLayerUses(a, c);
  EXPECT_TRUE(net.consumers(a).empty());
  EXPECT_EQ(net.consumers(c).size(), 1u);
  net.setLayerInput(net.tensor(b).producer, 1, a);
  EXPECT_EQ(net.consumers(a).size(), 1u);
  EXPECT_EQ(net.consumers(x).size(), 2u);  // the relu and the x * x
  net.setLayerInput(net.tensor(b).producer, 1, x);
  net.removeLayer(net.tensor(a).producer);
  EXPECT_EQ(net.consumers(x).size(), 2u);
  // b now reads c, which a later layer produces: sorting and compacting keep the index right.
  ASSERT_TRUE(net.topologicalSort().isOk());
  EXPECT_TRUE(net.verify().isOk()) << net.verify().toString();
  const std::string cName = net.tensor(c).name;
  net.compact();
  EXPECT_TRUE(net.verify().isOk()) << net.verify().toString();
  EXPECT_TRUE(net.hasSingleUse(net.findTensor(cName)));
}

TEST(NetworkStorage, ReferencesSurviveAddingLayersAndTensors) {
  // Rules bind `const Layer&` / `const Tensor&` into the network and then add layers; with
  // storage that moves on growth that was a use-after-free (ASan) or a silently stale read.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({2, 3}));
  TensorId first = *net.addActivation(x, ActivationKind::kRelu);
  const Tensor& t = net.tensor(first);
  const Layer& l = net.layer(t.producer);
  const std::string name = l.name;
  const LayerId producer = t.producer;
  TensorId cur = first;
  for (int i = 0; i < 5000; ++i)
    cur = *net.addActivation(cur, ActivationKind::kRelu);
  EXPECT_EQ(l.name, name);
  EXPECT_EQ(l.inputs, std::vector<TensorId>{x});
  EXPECT_EQ(t.producer, producer);
  // A layer added with inputs that live in another layer's storage.
  auto again = net.addLayer("again", ActivationAttrs{}, net.layer(producer).outputs);
  ASSERT_TRUE(again.hasValue()) << again.status().toString();
  EXPECT_EQ(net.layer(*again).inputs, std::vector<TensorId>{first});
  ASSERT_TRUE(net.markOutput(cur).isOk());
  EXPECT_TRUE(net.verify().isOk()) << net.verify().toString();
}

TEST(UseDefIndex, VerifierCatchesAnEditThatBypassesIt) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({4}));
  TensorId y = *net.addInput("y", kF32, dims({4}));
  TensorId a = *net.addActivation(x, ActivationKind::kRelu);
  ASSERT_TRUE(net.markOutput(a).isOk());
  net.layer(net.tensor(a).producer).inputs[0] = y;  // not through setLayerInput
  Status s = net.verify();
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("use-def index"), std::string::npos) << s.message();
}

// ---- pass manager ----------------------------------------------------------------------------

NetworkDefinition reluChain(int n) {
  NetworkDefinition net;
  TensorId t = *net.addInput("x", kF32, dims({2, 3}));
  for (int i = 0; i < n; ++i)
    t = *net.addActivation(t, ActivationKind::kRelu);
  EXPECT_TRUE(net.markOutput(t).isOk());
  return net;
}

TEST(PassManager, UnknownAndRequiredPassesAreRefused) {
  BuilderConfig config;
  config.disabledPasses = {"no-such-pass"};
  auto e = Builder::build(reluChain(2), config);
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("unknown pass 'no-such-pass'"), std::string::npos)
      << e.status().message();
  EXPECT_NE(e.status().message().find("simplify"), std::string::npos) << e.status().message();
  config.disabledPasses = {"fold"};
  e = Builder::build(reluChain(2), config);
  ASSERT_FALSE(e.hasValue());
  EXPECT_NE(e.status().message().find("required"), std::string::npos) << e.status().message();
}

TEST(PassManager, DisabledPassesAreSkippedAndLogged) {
  // softmax(x * 1): the multiply is removed by "simplify" unless it is disabled.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({3}));
  TensorId one = net.addConstant("one", Weights::fromFloats({1}, true));
  TensorId y = *net.addElementwise(x, one, ElementwiseKind::kMul);
  TensorId z = net.layer(*net.addLayer("softmax", SoftmaxAttrs{}, {y})).outputs[0];
  ASSERT_TRUE(net.markOutput(z).isOk());
  auto on = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(on.hasValue()) << on.status().toString();
  EXPECT_EQ((*on)->layers().size(), 1u);
  BuilderConfig off;
  off.disabledPasses = {"simplify"};
  auto e = Builder::build(net, off);
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  EXPECT_EQ((*e)->layers().size(), 2u);
  std::string log;
  for (const auto& l : (*e)->buildLog())
    log += l + "\n";
  EXPECT_NE(log.find("pass simplify: disabled"), std::string::npos) << log;
}

TEST(PassManager, DumpIrWritesBeforeAndAfterEachPass) {
  std::string dir = test::tempDir("dump_ir");
  BuilderConfig config;
  config.dumpIrDir = dir + "/ir";
  auto e = Builder::build(reluChain(2), config);
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  int before = 0, after = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/ir")) {
    std::string n = f.path().filename().string();
    before += n.find(".before.txt") != std::string::npos;
    after += n.find(".after.txt") != std::string::npos;
  }
  EXPECT_EQ(before, static_cast<int>(defaultPipeline().size()));
  EXPECT_EQ(after, before);
  std::ifstream f(dir + "/ir/00-bind-shapes.before.txt");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("Activation{kind=relu"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
}

TEST(PassManager, VerificationNamesThePassThatBrokeTheIr) {
  // A pass that bypasses the mutators is caught right after it runs.
  NetworkDefinition net = reluChain(2);
  BuildLog log;
  BackendEvaluator ev(referenceBackend());
  AllCapabilities all;
  BuilderConfig config;
  PassContext ctx{net, log, all, ev, config, 1 << 20};
  std::vector<Pass> passes = {{"fine", "", false, [](PassContext&) { return Status::ok(); }},
                              {"vandal", "", false, [](PassContext& c) {
                                 c.net.layer(1).inputs[0] = c.net.inputs()[0];
                                 return Status::ok();
                               }}};
  PipelineOptions o;
  o.verify = true;
  Status s = runPipeline(passes, ctx, o);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("after pass 'vandal'"), std::string::npos) << s.message();
}

// ---- rule driver -----------------------------------------------------------------------------

/// relu(relu(x)) -> relu(x): a rule for the driver's tests.
Rule doubleRelu() {
  return Rule{.name = "relu-idempotent",
              .algebra = "relu(relu(x)) -> relu(x)",
              .pattern = Pattern::activation(
                  ActivationKind::kRelu,
                  Pattern::activation(ActivationKind::kRelu, Pattern::any("x"), "inner"), "y"),
              .rewrite = [](Rewriter& rw, const Match& m) {
                return rw.replace(m.tensor("y"), m.tensor("inner"));
              }};
}

TEST(RuleDriver, FiresToAFixedPointAndRecordsEvents) {
  NetworkDefinition net = reluChain(4);
  for (size_t i = 0; i < net.layers().size(); ++i)
    net.layer(static_cast<LayerId>(i)).origins = {"node" + std::to_string(i)};
  RuleHits hits;
  auto out = test::applyRules(net, {doubleRelu()}, &hits);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(test::kinds(*out), std::vector<std::string>{"Activation"});
  EXPECT_EQ(hits["relu-idempotent"], 3);
  const auto& events = out->provenance().events;
  int fired = 0;
  for (const RewriteEvent& e : events)
    if (e.rule == "relu-idempotent") {
      ++fired;
      EXPECT_EQ(e.pass, "test");
      EXPECT_EQ(e.matched.size(), 2u);
      EXPECT_EQ(e.removedSources.size(), 1u);  // the outer relu: a no-op now
    }
  EXPECT_EQ(fired, 3);
}

TEST(RuleDriver, InnerValueWithOtherUsersIsNotConsumed) {
  // relu(relu(x)) where the inner relu is also an output: the pattern needs it single-use.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({3}));
  TensorId a = *net.addActivation(x, ActivationKind::kRelu);
  TensorId b = *net.addActivation(a, ActivationKind::kRelu);
  ASSERT_TRUE(net.markOutput(a).isOk());
  ASSERT_TRUE(net.markOutput(b).isOk());
  RuleHits hits;
  auto out = test::applyRules(net, {doubleRelu()}, &hits);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(hits.count("relu-idempotent"), 0u);
  EXPECT_EQ(test::kinds(*out).size(), 2u);
}

TEST(RuleDriver, CommutativePatternsAndCaptureConsistency) {
  // x * x matches mul(any("a"), any("a")); x * y does not.
  Rule square{
      .name = "square",
      .algebra = "x * x -> pow(x, 2)",
      .pattern = Pattern::binary(ElementwiseKind::kMul, Pattern::any("a"), Pattern::any("a"), "y"),
      .rewrite = [](Rewriter& rw, const Match& m) -> Status {
        TensorId two = rw.addConstant("two", Weights::fromFloats({2}, true));
        KILN_ASSIGN_OR_RETURN(TensorId p, rw.add("pow", ElementwiseAttrs{ElementwiseKind::kPow},
                                                 {m.tensor("a"), two}));
        return rw.replace(m.tensor("y"), p);
      }};
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({3}));
  TensorId y = *net.addInput("y", kF32, dims({3}));
  TensorId xx = *net.addElementwise(x, x, ElementwiseKind::kMul);
  TensorId xy = *net.addElementwise(x, y, ElementwiseKind::kMul);
  TensorId s = *net.addElementwise(xx, xy, ElementwiseKind::kAdd);
  ASSERT_TRUE(net.markOutput(s).isOk());
  RuleHits hits;
  auto out = test::applyRules(net, {square}, &hits);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(hits["square"], 1);
  // Commutative: a constant on either side of an add matches scalar(0).
  for (bool left : {false, true}) {
    NetworkDefinition n2;
    TensorId x2 = *n2.addInput("x", kF32, dims({3}));
    TensorId r = *n2.addActivation(x2, ActivationKind::kRelu);
    TensorId zero = n2.addConstant("zero", Weights::fromFloats({0}, true));
    TensorId sum = left ? *n2.addElementwise(zero, r, ElementwiseKind::kAdd)
                        : *n2.addElementwise(r, zero, ElementwiseKind::kAdd);
    TensorId t = *n2.addActivation(sum, ActivationKind::kTanh);
    ASSERT_TRUE(n2.markOutput(t).isOk());
    auto o2 = test::applyRules(n2, simplifyRules(), &hits);
    ASSERT_TRUE(o2.hasValue()) << o2.status().toString();
    EXPECT_EQ(test::kinds(*o2), (std::vector<std::string>{"Activation", "Activation"}));
  }
}

TEST(RuleDriver, RulesThatNeverSettleAreAnError) {
  // a -> b and b -> a flip forever.
  auto flip = [](ActivationKind from, ActivationKind to) {
    return Rule{.name = std::string("flip-") + enumName(from),
                .algebra = "flip",
                .pattern = Pattern::activation(from, Pattern::any("x"), "y"),
                .rewrite = [to](Rewriter& rw, const Match& m) {
                  return rw.setAttrs(m.root(), ActivationAttrs{to});
                }};
  };
  NetworkDefinition net = reluChain(1);
  auto out = test::applyRules(net, {flip(ActivationKind::kRelu, ActivationKind::kTanh),
                                    flip(ActivationKind::kTanh, ActivationKind::kRelu)});
  ASSERT_FALSE(out.hasValue());
  EXPECT_NE(out.status().message().find("still fire"), std::string::npos) << out.status().message();
}

TEST(RuleDriver, GraphOutputsKeepTheirNames) {
  // relu(relu(x)) with the outer relu the graph output "out": after the rewrite the output is
  // still called "out".
  NetworkDefinition net;
  TensorId x = *net.addInput("x", kF32, dims({3}));
  TensorId a = *net.addActivation(x, ActivationKind::kRelu);
  auto l = net.addLayer("outer", ActivationAttrs{}, {a}, 1, {"out"});
  ASSERT_TRUE(net.markOutput(net.layer(*l).outputs[0]).isOk());
  auto out = test::applyRules(net, {doubleRelu()});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  EXPECT_EQ(out->tensor(out->outputs()[0]).name, "out");
  EXPECT_EQ(test::kinds(*out).size(), 1u);
}

// ---- explain and the plan --------------------------------------------------------------------

TEST(Explain, EveryNodeOfASharedModelIsAccountedForAndSurvivesThePlan) {
  const std::string dir = test::modelDir("bert_mini");
  auto net = OnnxParser::parseFile(dir + "/model.onnx");
  ASSERT_TRUE(net.hasValue()) << net.status().toString();
  EXPECT_EQ(net->provenance().sourceNodes.size(), 223u);
  auto inputs = test::readSet(dir + "/test_data_set_0", "input");
  auto engine = test::buildFor(*net, inputs);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  Explanation x = explain(**engine);
  ASSERT_EQ(x.nodes.size(), 223u);
  for (const SourceNodeFate& n : x.nodes)
    EXPECT_NE(n.fate, SourceNodeFate::Fate::kUnaccounted) << n.name << " (" << n.op << ")";
  EXPECT_GT(x.ruleHits["fold"], 0);
  // The plan keeps the provenance and each layer's rules.
  auto bytes = (*engine)->serialize();
  ASSERT_TRUE(bytes.hasValue());
  auto loaded = Runtime::deserialize(bytes->data(), bytes->size());
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  Explanation y = explain(**loaded);
  ASSERT_EQ(y.nodes.size(), x.nodes.size());
  for (size_t i = 0; i < x.nodes.size(); ++i) {
    EXPECT_EQ(y.nodes[i].fate, x.nodes[i].fate) << x.nodes[i].name;
    EXPECT_EQ(y.nodes[i].layers, x.nodes[i].layers) << x.nodes[i].name;
  }
  EXPECT_EQ(y.ruleHits, x.ruleHits);
  auto la = (*engine)->layers(), lb = (*loaded)->layers();
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_EQ(la[i].rules, lb[i].rules) << la[i].name;
}

TEST(Explain, NodesThatMakeNoLayerAreImportAliases) {
  // An Identity node makes no layer at import: explain names it as removed by import/alias.
  NetworkDefinition net = reluChain(1);
  net.provenance().sourceNodes = {{"id0", "Identity"}, {"relu0", "Relu"}};
  net.provenance().events.push_back({"import", "alias", {}, {}, {"id0"}, {"id0"}});
  net.layer(0).origins = {"relu0"};
  auto e = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  Explanation x = explain(**e);
  ASSERT_EQ(x.nodes.size(), 2u);
  EXPECT_EQ(x.nodes[0].fate, SourceNodeFate::Fate::kRemoved);
  EXPECT_EQ(x.nodes[0].removedBy, "import/alias");
  EXPECT_EQ(x.nodes[1].fate, SourceNodeFate::Fate::kLayer);
}

TEST(Explain, TheCliPrintsEveryNodeAsTextAndJson) {
  const std::string dir = test::modelDir("bert_mini");
  std::string tmp = test::tempDir("explain");
  auto r = test::runCommand(test::cliPath() + " build " + dir + "/model.onnx -o " + tmp +
                            "/m.plan --shapes input_ids=2x64,attention_mask=2x64 --explain");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("source nodes: 223 ->"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" 0 unaccounted)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("node_Shape_0 (Shape): removed by"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rule hits:"), std::string::npos) << r.output;
  auto j = test::runCommand(test::cliPath() + " inspect " + tmp + "/m.plan --json");
  ASSERT_EQ(j.exitCode, 0) << j.output;
  EXPECT_NE(j.output.find("\"source_nodes\""), std::string::npos);
  EXPECT_NE(j.output.find("\"unaccounted\": 0"), std::string::npos) << j.output.substr(0, 2000);
  EXPECT_NE(j.output.find("\"rule_hits\""), std::string::npos);
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace kiln
