// kiln — symbolic dimensions: the canonical polynomial form, its arithmetic, bounds, evaluation,
// printing and parsing. See include/kiln/dim.h for the model.
#include "kiln/dim.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "kiln/status.h"

namespace kiln {
namespace dim_detail {

/// An atom of a monomial: a symbol, or an operation polynomials cannot express.
struct Atom {
  enum Kind { kSymbol, kFloorDiv, kMin, kMax };
  Kind kind = kSymbol;
  std::string name;       ///< kSymbol
  std::vector<Dim> args;  ///< kFloorDiv: {numerator, denominator}; kMin/kMax: sorted, >= 2
  std::string key;        ///< canonical and injective
};
using AtomPtr = std::shared_ptr<const Atom>;

/// coeff * product of factors (sorted by key; a repeated factor is a power).
struct Term {
  int64_t coeff = 0;
  std::vector<AtomPtr> factors;
  std::string key;  ///< the factors' keys joined by '*'
};

/// constant + sum of terms; terms sorted by key, coefficients non-zero, at least one term.
struct Poly {
  int64_t constant = 0;
  std::vector<Term> terms;
  std::string key;
};

/// The one door to Dim's private representation.
struct Access {
  static const Poly* poly(const Dim& d) { return d.poly_.get(); }
  static Dim make(int64_t constant, std::vector<Term> terms) {
    if (terms.empty()) return Dim(constant);
    auto p = std::make_shared<Poly>();
    p->constant = constant;
    p->terms = std::move(terms);
    for (const Term& t : p->terms)
      p->key += std::to_string(t.coeff) + "." + t.key + "+";
    p->key += std::to_string(constant);
    Dim d;
    d.known_ = true;
    d.poly_ = std::move(p);
    return d;
  }
};

}  // namespace dim_detail

namespace {

using dim_detail::Access;
using dim_detail::Atom;
using dim_detail::AtomPtr;
using dim_detail::Poly;
using dim_detail::Term;

std::string factorsKey(const std::vector<AtomPtr>& factors) {
  std::string k;
  for (const AtomPtr& a : factors) {
    if (!k.empty()) k += '*';
    k += a->key;
  }
  return k;
}

AtomPtr makeAtom(Atom::Kind kind, std::string name, std::vector<Dim> args) {
  auto a = std::make_shared<Atom>();
  a->kind = kind;
  a->name = std::move(name);
  a->args = std::move(args);
  if (kind == Atom::kSymbol) {
    // Escaped so that keys stay injective whatever characters a name holds; sorted by name.
    a->key = "s:";
    for (char c : a->name) {
      if (c == '\\' || c == '*' || c == ',' || c == '(' || c == ')' || c == '+' || c == '.')
        a->key += '\\';
      a->key += c;
    }
  } else {
    a->key = kind == Atom::kFloorDiv ? "F(" : kind == Atom::kMin ? "m(" : "M(";
    for (size_t i = 0; i < a->args.size(); ++i)
      a->key += (i ? "," : "") + a->args[i].key();
    a->key += ")";
  }
  return a;
}

/// The dim made of one atom (coefficient 1, no constant).
Dim atomDim(AtomPtr a) {
  std::string k = a->key;
  std::vector<Term> terms;
  terms.push_back(Term{1, {std::move(a)}, std::move(k)});
  return Access::make(0, std::move(terms));
}

/// The single atom of `d` when d is exactly one atom with coefficient 1, else nullptr.
const Atom* soleAtom(const Dim& d) {
  const Poly* p = Access::poly(d);
  if (!p || p->constant != 0 || p->terms.size() != 1) return nullptr;
  const Term& t = p->terms[0];
  if (t.coeff != 1 || t.factors.size() != 1) return nullptr;
  return t.factors[0].get();
}

/// A polynomial under construction: term key -> term.
struct PolyBuilder {
  bool ok = true;
  int64_t constant = 0;
  std::map<std::string, Term> terms;

  void addConstant(int64_t c) {
    if (__builtin_add_overflow(constant, c, &constant)) ok = false;
  }
  void addTerm(int64_t coeff, std::vector<AtomPtr> factors) {
    if (coeff == 0) return;
    if (factors.empty()) return addConstant(coeff);
    std::string k = factorsKey(factors);
    auto it = terms.find(k);
    if (it == terms.end()) {
      terms.emplace(k, Term{coeff, std::move(factors), k});
      return;
    }
    if (__builtin_add_overflow(it->second.coeff, coeff, &it->second.coeff)) ok = false;
    if (it->second.coeff == 0) terms.erase(it);
  }
  /// Adds scale * d.
  void add(const Dim& d, int64_t scale = 1) {
    if (!d.isKnown()) {
      ok = false;
      return;
    }
    int64_t c = 0;
    if (const Poly* p = Access::poly(d)) {
      for (const Term& t : p->terms) {
        int64_t coeff = 0;
        if (__builtin_mul_overflow(t.coeff, scale, &coeff)) {
          ok = false;
          return;
        }
        addTerm(coeff, t.factors);
      }
      if (__builtin_mul_overflow(p->constant, scale, &c)) ok = false;
    } else if (__builtin_mul_overflow(d.value(), scale, &c)) {
      ok = false;
    }
    addConstant(c);
  }
  Dim build() {
    if (!ok) return Dim();
    std::vector<Term> v;
    v.reserve(terms.size());
    for (auto& [k, t] : terms)
      v.push_back(std::move(t));
    return Access::make(constant, std::move(v));
  }
};

/// The terms of d as (coeff, factors) including the constant as a term without factors.
std::vector<std::pair<int64_t, const std::vector<AtomPtr>*>> termsOf(const Dim& d) {
  static const std::vector<AtomPtr> kNone;
  std::vector<std::pair<int64_t, const std::vector<AtomPtr>*>> out;
  if (const Poly* p = Access::poly(d)) {
    for (const Term& t : p->terms)
      out.emplace_back(t.coeff, &t.factors);
    if (p->constant != 0) out.emplace_back(p->constant, &kNone);
  } else if (d.value() != 0) {
    out.emplace_back(d.value(), &kNone);
  }
  return out;
}

int64_t satAdd(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return a > 0 ? INT64_MAX : INT64_MIN;
}

int64_t satMul(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_mul_overflow(a, b, &r)) return r;
  return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

/// floor(a / b) for b != 0, saturating the one overflowing case (INT64_MIN / -1).
int64_t floorDivInt(int64_t a, int64_t b) {
  if (b == -1) return a == INT64_MIN ? INT64_MAX : -a;
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

constexpr DimRange kFullRange{INT64_MIN, INT64_MAX};

DimRange mulRange(DimRange a, DimRange b) {
  int64_t c[4] = {satMul(a.min, b.min), satMul(a.min, b.max), satMul(a.max, b.min),
                  satMul(a.max, b.max)};
  return {*std::min_element(c, c + 4), *std::max_element(c, c + 4)};
}

DimRange atomBounds(const Atom& a, const SymbolRanges& ranges) {
  switch (a.kind) {
    case Atom::kSymbol: {
      auto it = ranges.find(a.name);
      return it != ranges.end() ? it->second : DimRange{0, INT64_MAX};
    }
    case Atom::kFloorDiv: {
      DimRange n = a.args[0].bounds(ranges), d = a.args[1].bounds(ranges);
      if (d.min <= 0 && d.max >= 0) return kFullRange;
      int64_t c[4] = {floorDivInt(n.min, d.min), floorDivInt(n.min, d.max),
                      floorDivInt(n.max, d.min), floorDivInt(n.max, d.max)};
      return {*std::min_element(c, c + 4), *std::max_element(c, c + 4)};
    }
    case Atom::kMin:
    case Atom::kMax: {
      DimRange r = a.args[0].bounds(ranges);
      for (size_t i = 1; i < a.args.size(); ++i) {
        DimRange x = a.args[i].bounds(ranges);
        if (a.kind == Atom::kMin)
          r = {std::min(r.min, x.min), std::min(r.max, x.max)};
        else
          r = {std::max(r.min, x.min), std::max(r.max, x.max)};
      }
      return r;
    }
  }
  return kFullRange;
}

/// min or max of dims, simplified: nested min/max flattened, duplicates removed, and any
/// argument that can never be the result dropped (by the bounds of the differences, with
/// symbols >= 0).
Dim minMax(bool isMin, const std::vector<Dim>& args) {
  std::vector<Dim> flat;
  for (const Dim& d : args) {
    if (!d.isKnown()) return Dim();
    const Atom* a = soleAtom(d);
    if (a && a->kind == (isMin ? Atom::kMin : Atom::kMax))
      flat.insert(flat.end(), a->args.begin(), a->args.end());
    else
      flat.push_back(d);
  }
  std::vector<bool> drop(flat.size(), false);
  for (size_t i = 0; i < flat.size(); ++i) {
    for (size_t j = 0; j < flat.size() && !drop[i]; ++j) {
      if (i == j || drop[j]) continue;
      // Structure first: min(x, ...) <= x and max(x, ...) >= x.
      const Atom* ay = soleAtom(flat[i]);
      const Atom* ax = soleAtom(flat[j]);
      auto hasArg = [](const Atom* a, Atom::Kind k, const Dim& d) {
        return a && a->kind == k && std::find(a->args.begin(), a->args.end(), d) != a->args.end();
      };
      if (isMin ? (hasArg(ay, Atom::kMax, flat[j]) || hasArg(ax, Atom::kMin, flat[i]))
                : (hasArg(ay, Atom::kMin, flat[j]) || hasArg(ax, Atom::kMax, flat[i]))) {
        drop[i] = true;
        continue;
      }
      Dim diff = flat[j] - flat[i];  // x = flat[j] against y = flat[i]
      if (!diff.isKnown()) continue;
      DimRange r = diff.bounds();
      // min: y can go when x <= y always; max: when x >= y always. Equal ones keep the first.
      bool xNeverWorse = isMin ? r.max <= 0 : r.min >= 0;
      bool equal = r.min == 0 && r.max == 0;
      if (xNeverWorse && (!equal || j < i)) drop[i] = true;
    }
  }
  std::vector<Dim> kept;
  for (size_t i = 0; i < flat.size(); ++i)
    if (!drop[i]) kept.push_back(flat[i]);
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  if (kept.size() == 1) return kept[0];
  if (kept.empty()) return Dim();
  return atomDim(makeAtom(isMin ? Atom::kMin : Atom::kMax, "", std::move(kept)));
}

/// Whether every factor of `m` appears in `f` (as multisets, both sorted by key); `rest` gets f
/// without them.
bool divideFactors(const std::vector<AtomPtr>& f, const std::vector<AtomPtr>& m,
                   std::vector<AtomPtr>& rest) {
  rest.clear();
  size_t j = 0;
  for (const AtomPtr& a : f) {
    if (j < m.size() && a->key == m[j]->key) {
      ++j;
      continue;
    }
    rest.push_back(a);
  }
  return j == m.size();
}

bool isIdentifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':'))
      return false;
  return true;
}

std::string quoteSymbol(const std::string& s) {
  if (isIdentifier(s)) return s;
  std::string q = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') q += '\\';
    q += c;
  }
  return q + "'";
}

/// An operand of floor(a / b): parenthesized unless a constant or a single factor.
std::string operandString(const Dim& d) {
  std::string s = d.toString();
  const Poly* p = Access::poly(d);
  bool simple = !p || (p->constant == 0 && p->terms.size() == 1 && p->terms[0].coeff == 1);
  return simple ? s : "(" + s + ")";
}

std::string atomToString(const Atom& a) {
  switch (a.kind) {
    case Atom::kSymbol:
      return quoteSymbol(a.name);
    case Atom::kFloorDiv:
      return "floor(" + operandString(a.args[0]) + " / " + operandString(a.args[1]) + ")";
    case Atom::kMin:
    case Atom::kMax: {
      std::string s = a.kind == Atom::kMin ? "min(" : "max(";
      for (size_t i = 0; i < a.args.size(); ++i)
        s += (i ? ", " : "") + a.args[i].toString();
      return s + ")";
    }
  }
  return "?";
}

/// Recursive-descent parser for Dim::toString's syntax.
class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Expected<Dim> parseAll() {
    Expected<Dim> d = expr();
    if (!d) return d;
    skipSpace();
    if (pos_ != s_.size()) return fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return d;
  }

 private:
  Status fail(const std::string& what) const {
    return invalidArgument("cannot parse dimension '" + std::string(s_) + "' at offset " +
                           std::to_string(pos_) + ": " + what);
  }
  void skipSpace() {
    while (pos_ < s_.size() && s_[pos_] == ' ')
      ++pos_;
  }
  bool eat(char c) {
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool depthExceeded() { return ++depth_ > 200; }

  Expected<Dim> expr() {
    if (depthExceeded()) return fail("nested too deeply");
    bool negate = eat('-');
    KILN_ASSIGN_OR_RETURN(Dim acc, term());
    if (negate) acc = -acc;
    while (true) {
      if (eat('+')) {
        KILN_ASSIGN_OR_RETURN(Dim t, term());
        acc = acc + t;
      } else if (eat('-')) {
        KILN_ASSIGN_OR_RETURN(Dim t, term());
        acc = acc - t;
      } else {
        break;
      }
    }
    --depth_;
    return acc;
  }

  Expected<Dim> term() {
    KILN_ASSIGN_OR_RETURN(Dim acc, factor());
    while (eat('*')) {
      KILN_ASSIGN_OR_RETURN(Dim f, factor());
      acc = acc * f;
    }
    return acc;
  }

  Expected<Dim> factor() {
    skipSpace();
    if (pos_ >= s_.size()) return fail("unexpected end");
    char c = s_[pos_];
    if (c == '?') {
      ++pos_;
      return Dim();
    }
    if (c == '-') {  // a negative constant inside a product
      ++pos_;
      KILN_ASSIGN_OR_RETURN(Dim f, factor());
      return -f;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      int64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[pos_] - '0', &v))
          return fail("integer out of range");
        ++pos_;
      }
      return Dim(v);
    }
    if (c == '(') {
      ++pos_;
      KILN_ASSIGN_OR_RETURN(Dim d, expr());
      if (!eat(')')) return fail("expected ')'");
      return d;
    }
    if (c == '\'') {
      ++pos_;
      std::string name;
      while (true) {
        if (pos_ >= s_.size()) return fail("unterminated quoted symbol");
        char x = s_[pos_++];
        if (x == '\'') break;
        if (x == '\\') {
          if (pos_ >= s_.size()) return fail("unterminated quoted symbol");
          x = s_[pos_++];
        }
        name += x;
      }
      if (name.empty()) return fail("empty symbol name");
      return Dim::named(name);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                  s_[pos_] == '_' || s_[pos_] == '.' || s_[pos_] == ':'))
        ++pos_;
      std::string word(s_.substr(start, pos_ - start));
      if (pos_ < s_.size() && s_[pos_] == '(') {
        ++pos_;
        if (word == "floor" || word == "ceil") {
          KILN_ASSIGN_OR_RETURN(Dim a, expr());
          if (!eat('/')) return fail("expected '/' in " + word + "()");
          KILN_ASSIGN_OR_RETURN(Dim b, expr());
          if (!eat(')')) return fail("expected ')'");
          return word == "floor" ? Dim::floorDiv(a, b) : Dim::ceilDiv(a, b);
        }
        if (word == "min" || word == "max") {
          KILN_ASSIGN_OR_RETURN(Dim acc, expr());
          int n = 1;
          while (eat(',')) {
            KILN_ASSIGN_OR_RETURN(Dim b, expr());
            acc = word == "min" ? Dim::min(acc, b) : Dim::max(acc, b);
            ++n;
          }
          if (n < 2) return fail(word + "() needs at least two arguments");
          if (!eat(')')) return fail("expected ')'");
          return acc;
        }
        return fail("unknown function '" + word + "'");
      }
      return Dim::named(word);
    }
    return fail("unexpected '" + std::string(1, c) + "'");
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Dim Dim::named(const std::string& symbol) {
  if (symbol.empty()) return Dim();
  return atomDim(makeAtom(Atom::kSymbol, symbol, {}));
}

bool Dim::isSymbol() const {
  const Atom* a = soleAtom(*this);
  return a && a->kind == Atom::kSymbol;
}

std::string Dim::symbol() const {
  const Atom* a = soleAtom(*this);
  return a && a->kind == Atom::kSymbol ? a->name : std::string();
}

std::string Dim::key() const {
  if (!known_) return "?";
  if (!poly_) return "c" + std::to_string(c_);
  return poly_->key;
}

bool Dim::operator==(const Dim& o) const {
  if (!known_ || !o.known_) return false;
  if (!poly_ || !o.poly_) return !poly_ && !o.poly_ && c_ == o.c_;
  return poly_ == o.poly_ || poly_->key == o.poly_->key;
}

std::string Dim::toString() const {
  if (!known_) return "?";
  if (!poly_) return std::to_string(c_);
  std::string s;
  for (const Term& t : poly_->terms) {
    std::string f;
    for (const AtomPtr& a : t.factors)
      f += (f.empty() ? "" : "*") + atomToString(*a);
    int64_t c = t.coeff;
    if (s.empty()) {
      if (c == 1)
        s = f;
      else if (c == -1)
        s = "-" + f;
      else
        s = std::to_string(c) + "*" + f;
    } else {
      bool neg = c < 0;
      uint64_t mag = neg ? 0 - static_cast<uint64_t>(c) : static_cast<uint64_t>(c);
      s += neg ? " - " : " + ";
      s += mag == 1 ? f : std::to_string(mag) + "*" + f;
    }
  }
  if (poly_->constant > 0) s += " + " + std::to_string(poly_->constant);
  if (poly_->constant < 0) s += " - " + std::to_string(0 - static_cast<uint64_t>(poly_->constant));
  return s;
}

Expected<Dim> Dim::parse(std::string_view text) {
  return Parser(text).parseAll();
}

void Dim::collectSymbols(std::set<std::string>& out) const {
  if (!poly_) return;
  for (const Term& t : poly_->terms)
    for (const AtomPtr& a : t.factors) {
      if (a->kind == Atom::kSymbol)
        out.insert(a->name);
      else
        for (const Dim& d : a->args)
          d.collectSymbols(out);
    }
}

Expected<int64_t> Dim::evaluate(const SymbolValues& values) const {
  if (!known_) return invalidArgument("cannot evaluate an unknown dimension");
  if (!poly_) return c_;
  auto overflow = [&] { return invalidArgument("dimension " + toString() + " overflows 64 bits"); };
  int64_t sum = poly_->constant;
  for (const Term& t : poly_->terms) {
    int64_t prod = t.coeff;
    for (const AtomPtr& a : t.factors) {
      int64_t v = 0;
      switch (a->kind) {
        case Atom::kSymbol: {
          auto it = values.find(a->name);
          if (it == values.end())
            return invalidArgument("dimension " + toString() + ": symbol '" + a->name +
                                   "' has no value");
          v = it->second;
          break;
        }
        case Atom::kFloorDiv: {
          KILN_ASSIGN_OR_RETURN(int64_t n, a->args[0].evaluate(values));
          KILN_ASSIGN_OR_RETURN(int64_t d, a->args[1].evaluate(values));
          if (d == 0) return invalidArgument("dimension " + toString() + " divides by zero");
          if (n == INT64_MIN && d == -1) return overflow();
          v = floorDivInt(n, d);
          break;
        }
        case Atom::kMin:
        case Atom::kMax: {
          KILN_ASSIGN_OR_RETURN(v, a->args[0].evaluate(values));
          for (size_t i = 1; i < a->args.size(); ++i) {
            KILN_ASSIGN_OR_RETURN(int64_t x, a->args[i].evaluate(values));
            v = a->kind == Atom::kMin ? std::min(v, x) : std::max(v, x);
          }
          break;
        }
      }
      if (__builtin_mul_overflow(prod, v, &prod)) return overflow();
    }
    if (__builtin_add_overflow(sum, prod, &sum)) return overflow();
  }
  return sum;
}

Dim Dim::substitute(const SymbolValues& values) const {
  if (!poly_ || values.empty()) return *this;
  Dim sum(poly_->constant);
  for (const Term& t : poly_->terms) {
    Dim prod(t.coeff);
    for (const AtomPtr& a : t.factors) {
      Dim v;
      switch (a->kind) {
        case Atom::kSymbol: {
          auto it = values.find(a->name);
          v = it != values.end() ? Dim(it->second) : atomDim(a);
          break;
        }
        case Atom::kFloorDiv:
          v = floorDiv(a->args[0].substitute(values), a->args[1].substitute(values));
          break;
        case Atom::kMin:
        case Atom::kMax: {
          std::vector<Dim> args;
          for (const Dim& x : a->args)
            args.push_back(x.substitute(values));
          v = minMax(a->kind == Atom::kMin, args);
          break;
        }
      }
      prod = prod * v;
    }
    sum = sum + prod;
  }
  return sum;
}

DimRange Dim::bounds(const SymbolRanges& ranges) const {
  if (!known_) return kFullRange;
  if (!poly_) return {c_, c_};
  DimRange sum{poly_->constant, poly_->constant};
  for (const Term& t : poly_->terms) {
    DimRange prod{t.coeff, t.coeff};
    // A repeated factor (x*x) is not negative: multiply ranges of equal factors as squares.
    for (size_t i = 0; i < t.factors.size();) {
      size_t j = i;
      while (j < t.factors.size() && t.factors[j]->key == t.factors[i]->key)
        ++j;
      DimRange r = atomBounds(*t.factors[i], ranges);
      DimRange pw = r;
      for (size_t k = i + 1; k < j; ++k)
        pw = mulRange(pw, r);
      if ((j - i) % 2 == 0 && pw.min < 0) pw.min = 0;
      prod = mulRange(prod, pw);
      i = j;
    }
    sum = {satAdd(sum.min, prod.min), satAdd(sum.max, prod.max)};
  }
  return sum;
}

Dim operator+(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) {
    int64_t r;
    if (__builtin_add_overflow(a.value(), b.value(), &r)) return Dim();
    return Dim(r);
  }
  PolyBuilder pb;
  pb.add(a);
  pb.add(b);
  return pb.build();
}

Dim operator-(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) {
    int64_t r;
    if (__builtin_sub_overflow(a.value(), b.value(), &r)) return Dim();
    return Dim(r);
  }
  PolyBuilder pb;
  pb.add(a);
  pb.add(b, -1);
  return pb.build();
}

Dim Dim::operator-() const {
  return Dim(0) - *this;
}

Dim operator*(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) {
    int64_t r;
    if (__builtin_mul_overflow(a.value(), b.value(), &r)) return Dim();
    return Dim(r);
  }
  if (!a.isKnown() || !b.isKnown()) return Dim();
  PolyBuilder pb;
  for (const auto& [ca, fa] : termsOf(a))
    for (const auto& [cb, fb] : termsOf(b)) {
      int64_t c;
      if (__builtin_mul_overflow(ca, cb, &c)) return Dim();
      std::vector<AtomPtr> f = *fa;
      f.insert(f.end(), fb->begin(), fb->end());
      std::sort(f.begin(), f.end(),
                [](const AtomPtr& x, const AtomPtr& y) { return x->key < y->key; });
      pb.addTerm(c, std::move(f));
    }
  return pb.build();
}

Dim Dim::floorDiv(const Dim& a, const Dim& b) {
  if (!a.isKnown() || !b.isKnown()) return Dim();
  if (b.isStatic()) {
    int64_t k = b.value();
    if (k == 0) return Dim();
    if (a.isStatic()) {
      if (a.value() == INT64_MIN && k == -1) return Dim();
      return Dim(floorDivInt(a.value(), k));
    }
    if (k == 1) return a;
    if (k < 0) {
      if (k == INT64_MIN) return Dim();
      return floorDiv(-a, Dim(-k));
    }
    // floor((k*P + R) / k) = P + floor(R / k): the terms divisible by k leave the floor, and so
    // does the constant's quotient.
    const Poly* p = Access::poly(a);
    PolyBuilder quotient, remainder;
    for (const Term& t : p->terms) {
      if (t.coeff % k == 0)
        quotient.addTerm(t.coeff / k, t.factors);
      else
        remainder.addTerm(t.coeff, t.factors);
    }
    int64_t cq = floorDivInt(p->constant, k);
    quotient.addConstant(cq);
    remainder.addConstant(p->constant - cq * k);
    Dim q = quotient.build();
    if (remainder.terms.empty()) return q;  // 0 <= constant remainder < k
    Dim r = remainder.build();
    // floor(floor(x / m) / k) = floor(x / (m*k)) for positive m, k.
    const Atom* inner = soleAtom(r);
    if (inner && inner->kind == Atom::kFloorDiv && inner->args[1].isStatic() &&
        inner->args[1].value() > 0) {
      int64_t mk;
      if (!__builtin_mul_overflow(inner->args[1].value(), k, &mk))
        return q + floorDiv(inner->args[0], Dim(mk));
    }
    return q + atomDim(makeAtom(Atom::kFloorDiv, "", {r, b}));
  }
  if (a == b) return Dim(1);
  // Exact division by a single term c*M: every term of a is a multiple of M and of c.
  const Poly* pb = Access::poly(b);
  if (pb->constant == 0 && pb->terms.size() == 1) {
    const Term& m = pb->terms[0];
    PolyBuilder quotient;
    bool exact = true;
    std::vector<AtomPtr> rest;
    for (const auto& [coeff, factors] : termsOf(a)) {
      if (coeff % m.coeff != 0 || !divideFactors(*factors, m.factors, rest)) {
        exact = false;
        break;
      }
      quotient.addTerm(coeff / m.coeff, rest);
    }
    if (exact) return quotient.build();
  }
  return atomDim(makeAtom(Atom::kFloorDiv, "", {a, b}));
}

Dim Dim::ceilDiv(const Dim& a, const Dim& b) {
  // ceil(a / b) = -floor(-a / b)
  return -floorDiv(-a, b);
}

Dim Dim::min(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(std::min(a.value(), b.value()));
  return minMax(true, {a, b});
}

Dim Dim::max(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(std::max(a.value(), b.value()));
  return minMax(false, {a, b});
}

bool Dim::provablyDifferent(const Dim& a, const Dim& b, const SymbolRanges& ranges) {
  if (!a.isKnown() || !b.isKnown()) return false;
  if (a.isStatic() && b.isStatic()) return a.value() != b.value();
  Dim d = a - b;
  if (!d.isKnown()) return false;
  DimRange r = d.bounds(ranges);
  return r.min > 0 || r.max < 0;
}

}  // namespace kiln
