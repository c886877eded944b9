// kiln — symbolic dimensions.
//
// A Dim is a constant, a named symbol ("batch", "seq") or an expression over symbols built with
// +, -, *, floor and ceil division, min and max. Expressions are kept in one canonical form: a
// polynomial with integer coefficients over atoms, where an atom is a symbol or an operation
// that polynomials cannot express (floor(a / b), min(...), max(...)) whose arguments are canonical
// themselves. Two Dims are equal exactly when their canonical forms are, so `batch*seq*4` built
// in any order compares equal to `4*seq*batch`, and `(2*seq + 2) / 2` simplifies to `seq + 1`.
//
// Arithmetic on constants is checked: an overflow, a division by zero or an operation on an
// unknown dim gives the unknown Dim (isKnown() false), which shape inference reports as an error
// naming the layer. Symbols stand for sizes, so they are never negative.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

class Status;
template <class T>
class Expected;

namespace dim_detail {
struct Poly;
struct Access;
}  // namespace dim_detail

/// Values of named dimension symbols.
using SymbolValues = std::map<std::string, int64_t>;

/// Inclusive range of values a symbol (or an expression) can take.
struct DimRange {
  int64_t min = 0;
  int64_t max = INT64_MAX;
};
/// Ranges of symbols; a symbol not listed ranges over [0, INT64_MAX].
using SymbolRanges = std::map<std::string, DimRange>;

/// One dimension of a shape: constant, symbol, or canonical expression over symbols.
class Dim {
 public:
  /// The unknown dim (printed "?"): an unresolved dimension, or the result of an overflow.
  Dim() = default;
  /// A constant (implicit, so that `Shape s = {1, 3}` and `d == 1` read naturally).
  Dim(int64_t value) : known_(true), c_(value) {}  // NOLINT: implicit by design
  Dim(int value) : known_(true), c_(value) {}      // NOLINT: implicit by design

  static Dim fixed(int64_t value) { return Dim(value); }
  /// A named symbol; an empty name gives the unknown dim.
  static Dim named(const std::string& symbol);
  static Dim unknown() { return Dim(); }

  bool isKnown() const { return known_; }
  /// A known constant.
  bool isStatic() const { return known_ && !poly_; }
  /// A single symbol (not a compound expression).
  bool isSymbol() const;
  /// The constant; 0 unless isStatic().
  int64_t value() const { return isStatic() ? c_ : 0; }
  /// The symbol's name when isSymbol(), else "".
  std::string symbol() const;

  /// Canonical text: "batch*seq + 1", "floor((seq + -1) / 2)", "min(seq, 512)", "?" when
  /// unknown. parse() reads it back to an equal Dim.
  std::string toString() const;
  /// Parses toString()'s syntax (integers, symbols, quoted 'symbols', + - *, floor(a / b),
  /// ceil(a / b), min(a, ...), max(a, ...), parentheses, "?"). Error on anything else.
  static Expected<Dim> parse(std::string_view text);

  /// Names of the symbols the expression uses.
  void collectSymbols(std::set<std::string>& out) const;
  bool hasSymbols() const { return poly_ != nullptr; }
  /// Value with every symbol given; error naming the missing symbol, an overflow or a division
  /// by zero.
  Expected<int64_t> evaluate(const SymbolValues& values) const;
  /// Replaces the symbols listed in `values` by constants (others are kept).
  Dim substitute(const SymbolValues& values) const;
  /// Range of values given the symbols' ranges (saturating at the int64 limits; the full
  /// range for unknown dims).
  DimRange bounds(const SymbolRanges& ranges = {}) const;

  friend Dim operator+(const Dim& a, const Dim& b);
  friend Dim operator-(const Dim& a, const Dim& b);
  friend Dim operator*(const Dim& a, const Dim& b);
  Dim operator-() const;
  Dim& operator+=(const Dim& b) { return *this = *this + b; }
  Dim& operator-=(const Dim& b) { return *this = *this - b; }
  Dim& operator*=(const Dim& b) { return *this = *this * b; }
  /// floor(a / b); unknown when b is 0.
  static Dim floorDiv(const Dim& a, const Dim& b);
  /// ceil(a / b); unknown when b is 0.
  static Dim ceilDiv(const Dim& a, const Dim& b);
  static Dim min(const Dim& a, const Dim& b);
  static Dim max(const Dim& a, const Dim& b);

  /// Structural equality of canonical forms (two unknown dims are never equal).
  bool operator==(const Dim& o) const;
  bool operator!=(const Dim& o) const { return !(*this == o); }
  /// A total order on canonical forms (for sorting; not numeric for symbols).
  bool operator<(const Dim& o) const { return key() < o.key(); }

  /// True when a and b are known to differ for every value of their symbols (for example two
  /// different constants, or `seq` and `seq + 1`). Inference reports an error only then.
  static bool provablyDifferent(const Dim& a, const Dim& b, const SymbolRanges& ranges = {});

  /// Canonical key used for ordering and equality.
  std::string key() const;

 private:
  friend struct dim_detail::Access;

  bool known_ = false;
  int64_t c_ = 0;                                 // the constant, when poly_ is null
  std::shared_ptr<const dim_detail::Poly> poly_;  // non-constant canonical polynomial
};

/// A possibly symbolic shape.
using Shape = std::vector<Dim>;

}  // namespace kiln
