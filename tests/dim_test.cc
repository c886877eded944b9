// Symbolic dimensions (include/kiln/dim.h): canonical forms, simplification, printing and
// parsing, evaluation, bounds and overflow.
#include "kiln/dim.h"

#include <gtest/gtest.h>

#include "kiln/status.h"

namespace kiln {
namespace {

const Dim b = Dim::named("batch");
const Dim s = Dim::named("seq");

TEST(Dim, ConstantsAndSymbols) {
  EXPECT_TRUE(Dim(3).isStatic());
  EXPECT_EQ(Dim(3).value(), 3);
  EXPECT_TRUE(s.isSymbol());
  EXPECT_EQ(s.symbol(), "seq");
  EXPECT_FALSE(s.isStatic());
  EXPECT_FALSE(Dim().isKnown());
  EXPECT_FALSE(Dim() == Dim());  // unknown dims are never equal
  EXPECT_FALSE(Dim::named("").isKnown());
}

TEST(Dim, CanonicalFormIgnoresTheOrderOfOperations) {
  EXPECT_EQ(b * s * 4, 4 * s * b);
  EXPECT_EQ((b + 1) * (s + 2), b * s + 2 * b + s + 2);
  EXPECT_EQ(s - s, Dim(0));
  EXPECT_TRUE((s - s).isStatic());
  EXPECT_EQ((b + 1) * (b - 1), b * b - 1);
  EXPECT_EQ((b * s * 4).toString(), "4*batch*seq");
}

TEST(Dim, DivisionSimplifies) {
  EXPECT_EQ(Dim::floorDiv(2 * s + 2, 2), s + 1);
  EXPECT_EQ(Dim::floorDiv(256 * b * s, 4 * b * s), Dim(64));
  EXPECT_EQ(Dim::floorDiv(b * s * 12, s), 12 * b);
  EXPECT_EQ(Dim::floorDiv(s, s), Dim(1));
  // floor((2s + 3) / 2) = s + 1 + floor(1 / 2) = s + 1
  EXPECT_EQ(Dim::floorDiv(2 * s + 3, 2), s + 1);
  // Nested floors by constants merge.
  EXPECT_EQ(Dim::floorDiv(Dim::floorDiv(s, 2), 3), Dim::floorDiv(s, 6));
  EXPECT_EQ(Dim::floorDiv(Dim(-7), 2), Dim(-4));
  EXPECT_EQ(Dim::ceilDiv(Dim(7), 2), Dim(4));
  EXPECT_EQ(Dim::ceilDiv(Dim(-7), 2), Dim(-3));
  EXPECT_FALSE(Dim::floorDiv(s, 0).isKnown());
  EXPECT_FALSE(Dim::floorDiv(Dim(INT64_MIN), -1).isKnown());
}

TEST(Dim, MinMaxUseThatSymbolsAreSizes) {
  EXPECT_EQ(Dim::min(s, 0), Dim(0));
  EXPECT_EQ(Dim::max(s, 0), s);
  EXPECT_EQ(Dim::max(s, s + 1), s + 1);
  EXPECT_EQ(Dim::min(Dim::min(s, 5), 3), Dim::min(s, 3));
  EXPECT_EQ(Dim::min(s, Dim(INT64_MAX)), s);
  EXPECT_EQ(Dim::min(s, 512), Dim::min(Dim(512), s));
  EXPECT_EQ(Dim::min(s, 512).toString(), "min(seq, 512)");
  EXPECT_EQ(Dim::min(b, s).toString(), "min(batch, seq)");
  // min(x, c) <= x and max(x, c) >= x, whatever x is.
  EXPECT_EQ(Dim::max(Dim::min(s, 512), s), s);
  EXPECT_EQ(Dim::min(Dim::min(s, 512), s), Dim::min(s, 512));
  EXPECT_EQ(Dim::min(Dim::max(b, s), b), b);
  EXPECT_EQ(Dim::max(Dim::max(b, s), b), Dim::max(b, s));
}

TEST(Dim, PrintAndParseRoundTrip) {
  const Dim named = Dim::named("batch size");
  for (const Dim& d : {b * s * 4, Dim::floorDiv(s - 1, 2) + 1, Dim::min(s, 512) * b, named * 2 + 1,
                       Dim::ceilDiv(s, 3), -s + 2, Dim(-5), Dim(0), Dim::max(b, s) - 3}) {
    auto p = Dim::parse(d.toString());
    ASSERT_TRUE(p.hasValue()) << d.toString() << ": " << p.status().toString();
    EXPECT_EQ(*p, d) << d.toString() << " -> " << p->toString();
    EXPECT_EQ(p->toString(), d.toString());
  }
  EXPECT_EQ(named.toString(), "'batch size'");
  EXPECT_EQ(Dim::named("it's").toString(), "'it\\'s'");
  EXPECT_EQ(*Dim::parse(Dim::named("it's").toString()), Dim::named("it's"));
  for (const char* bad : {"", "1 +", "floor(3)", "min(1)", "foo(2)", "'unterminated", "2 3",
                          "99999999999999999999", "((((", ")"}) {
    auto p = Dim::parse(bad);
    EXPECT_FALSE(p.hasValue()) << bad;
  }
  // Deep nesting is refused rather than exhausting the stack.
  std::string deep(10000, '(');
  EXPECT_FALSE(Dim::parse(deep).hasValue());
}

TEST(Dim, EvaluateAndSubstitute) {
  SymbolValues v{{"batch", 3}, {"seq", 7}};
  EXPECT_EQ(*(Dim::floorDiv(s - 1, 2) * b).evaluate(v), 9);
  EXPECT_EQ(*Dim::min(s, 5).evaluate(v), 5);
  auto missing = (s * Dim::named("heads")).evaluate(v);
  ASSERT_FALSE(missing.hasValue());
  EXPECT_NE(missing.status().message().find("'heads'"), std::string::npos);
  EXPECT_FALSE(Dim::floorDiv(b, s - 7).evaluate(v).hasValue());  // division by zero
  EXPECT_FALSE((b * s).evaluate({{"batch", INT64_MAX}, {"seq", 2}}).hasValue());  // overflow
  EXPECT_EQ((b * s + 1).substitute({{"seq", 4}}), 4 * b + 1);
  EXPECT_EQ(Dim::min(s, 512).substitute({{"seq", 600}}), Dim(512));
}

TEST(Dim, BoundsAndProofs) {
  EXPECT_EQ(s.bounds().min, 0);
  EXPECT_EQ((s + 1).bounds().min, 1);
  EXPECT_EQ((-s).bounds().max, 0);
  EXPECT_TRUE(Dim::provablyDifferent(s, s + 1));
  EXPECT_FALSE(Dim::provablyDifferent(s, b));
  EXPECT_TRUE(Dim::provablyDifferent(Dim(2), Dim(3)));
  EXPECT_FALSE(Dim::provablyDifferent(Dim(), Dim(3)));
  SymbolRanges r{{"seq", {1, 128}}};
  EXPECT_EQ(Dim::floorDiv(s, 2).bounds(r).max, 64);
  EXPECT_EQ((s * s).bounds({{"seq", {-3, 2}}}).min, 0);  // a square is never negative
}

TEST(Dim, OverflowGivesTheUnknownDim) {
  const Dim big(INT64_MAX);
  EXPECT_FALSE((big + 1).isKnown());
  EXPECT_FALSE((big * 2).isKnown());
  EXPECT_FALSE((Dim(INT64_MIN) - 1).isKnown());
  EXPECT_FALSE((big * s * 2).isKnown());
  EXPECT_FALSE((s * big + s * big).isKnown());
  EXPECT_FALSE(((s + Dim()) * 2).isKnown());
}

}  // namespace
}  // namespace kiln
