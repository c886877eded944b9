// bindProfiles: the shapes a build is asked for, checked against the network and applied.
#include <set>

#include "ir/shape_inference.h"
#include "passes/passes.h"

namespace kiln {
namespace {

std::string inputList(const NetworkDefinition& net) {
  std::string known;
  for (TensorId in : net.inputs())
    known += (known.empty() ? "" : ", ") + net.tensor(in).name;
  return known;
}

/// Checks one input's range against its declared shape.
Status checkRange(const Tensor& t, const ShapeRange& r, size_t profile) {
  const std::string where = "profile " + std::to_string(profile) + ", input '" + t.name + "'";
  for (const Dims* d : {&r.min, &r.opt, &r.max})
    if (d->size() != t.shape.size())
      return invalidArgument(where + " has rank " + std::to_string(t.shape.size()) + " " +
                             shapeToString(t.shape) + ", but the shape given is " +
                             dimsToString(*d));
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (r.min[i] < 0)
      return invalidArgument(where + ": dimension " + std::to_string(i) + " is negative");
    if (!(r.min[i] <= r.opt[i] && r.opt[i] <= r.max[i]))
      return invalidArgument(where + ": dimension " + std::to_string(i) +
                             " needs min <= opt <= max, found " + std::to_string(r.min[i]) + ", " +
                             std::to_string(r.opt[i]) + ", " + std::to_string(r.max[i]));
    const Dim& d = t.shape[i];
    if (d.isStatic() && (r.min[i] != d.value() || r.max[i] != d.value()))
      return invalidArgument(where + " has static dimension " + std::to_string(i) + " = " +
                             d.toString() + " (shape " + shapeToString(t.shape) +
                             "), but the shape given is " +
                             (r.min == r.max ? dimsToString(r.min)
                                             : dimsToString(r.min) + " to " + dimsToString(r.max)));
  }
  KILN_RETURN_IF_ERROR(byteSize(t.dtype, r.max, t.name).status());
  return Status::ok();
}

/// Replaces the symbols in `fixed` throughout the network (tensor shapes and values).
void substituteEverywhere(NetworkDefinition& net, const SymbolValues& fixed) {
  if (fixed.empty()) return;
  for (size_t i = 0; i < net.tensors().size(); ++i) {
    Tensor& t = net.tensor(static_cast<TensorId>(i));
    for (Dim& d : t.shape)
      d = d.substitute(fixed);
    for (Dim& d : t.values)
      d = d.substitute(fixed);
  }
  for (size_t i = 0; i < net.layers().size(); ++i) {
    Layer& l = net.layer(static_cast<LayerId>(i));
    if (l.kind() == LayerKind::kSymbolicConstant)
      for (Dim& d : l.as<SymbolicConstantAttrs>().values)
        d = d.substitute(fixed);
  }
}

}  // namespace

Expected<BoundProfiles> bindProfiles(NetworkDefinition& net, const BuilderConfig& config,
                                     BuildLog& log) {
  BoundProfiles out;
  if (!config.inputShapes.empty() && !config.profiles.empty())
    return invalidArgument(
        "give input shapes either as fixed shapes (inputShapes, --shapes) or as optimization "
        "profiles (profiles, --min/--opt/--max-shapes), not both");
  out.profiles = config.profiles;
  if (!config.inputShapes.empty()) {
    OptimizationProfile p;
    for (const auto& [name, dims] : config.inputShapes)
      p.inputs[name] = ShapeRange{dims, dims, dims};
    out.profiles.push_back(std::move(p));
  }
  if (out.profiles.empty()) out.profiles.emplace_back();
  // Names and ranges.
  for (size_t p = 0; p < out.profiles.size(); ++p) {
    for (const auto& [name, range] : out.profiles[p].inputs) {
      TensorId t = net.findTensor(name);
      if (t < 0 || !net.tensor(t).isInput)
        return invalidArgument(
            "a shape was given for '" + name +
            "', which is not an input of the network (inputs: " + inputList(net) + ")");
      KILN_RETURN_IF_ERROR(checkRange(net.tensor(t), range, p));
    }
  }
  // Every use of a plain symbol in an input dim, per profile: its [min, max] and opt.
  std::set<std::string> inputSymbols;
  for (TensorId in : net.inputs())
    for (const Dim& d : net.tensor(in).shape)
      if (d.isSymbol()) inputSymbols.insert(d.symbol());
  for (const auto& [sym, v] : config.symbols) {
    if (!inputSymbols.count(sym)) {
      std::string known;
      for (const std::string& s : inputSymbols)
        known += (known.empty() ? "" : ", ") + s;
      return invalidArgument(
          "a value was given for dimension '" + sym +
          "', which no input uses (input dimensions: " + (known.empty() ? "none" : known) + ")");
    }
    if (v < 0)
      return invalidArgument("dimension '" + sym + "' is given the negative value " +
                             std::to_string(v));
  }
  SymbolValues fixed = config.symbols;
  std::vector<SymbolValues> optPerProfile(out.profiles.size());
  for (const std::string& sym : inputSymbols) {
    bool fixedEverywhere = true;
    int64_t fixedValue = -1;
    for (size_t p = 0; p < out.profiles.size(); ++p) {
      int64_t lo = 0, hi = INT64_MAX, opt = -1;
      bool seen = false;
      std::string where;
      for (TensorId in : net.inputs()) {
        const Tensor& t = net.tensor(in);
        auto it = out.profiles[p].inputs.find(t.name);
        if (it == out.profiles[p].inputs.end()) continue;
        for (size_t i = 0; i < t.shape.size(); ++i) {
          if (!t.shape[i].isSymbol() || t.shape[i].symbol() != sym) continue;
          const ShapeRange& r = it->second;
          if (seen && opt != r.opt[i])
            return invalidArgument("profile " + std::to_string(p) + ": dimension '" + sym +
                                   "' has opt " + std::to_string(opt) + " in " + where + " but " +
                                   std::to_string(r.opt[i]) + " in input '" + t.name + "' dim " +
                                   std::to_string(i));
          lo = std::max(lo, r.min[i]);
          hi = std::min(hi, r.max[i]);
          opt = r.opt[i];
          seen = true;
          where = "input '" + t.name + "' dim " + std::to_string(i);
        }
      }
      if (!seen) {
        fixedEverywhere = false;
        continue;
      }
      if (lo > hi)
        return invalidArgument("profile " + std::to_string(p) +
                               ": the ranges given for dimension '" + sym +
                               "' by different inputs do not overlap");
      optPerProfile[p][sym] = opt;
      if (lo != hi || (fixedValue >= 0 && fixedValue != lo)) fixedEverywhere = false;
      fixedValue = lo;
    }
    auto given = config.symbols.find(sym);
    if (given != config.symbols.end()) {
      if (fixedValue >= 0 && fixedEverywhere && fixedValue != given->second)
        return invalidArgument("dimension '" + sym + "' is given the value " +
                               std::to_string(given->second) + " but the shapes give it " +
                               std::to_string(fixedValue));
      continue;
    }
    if (fixedEverywhere && fixedValue >= 0) fixed[sym] = fixedValue;
  }
  // Inputs a profile names must agree with symbols fixed elsewhere.
  for (const auto& [sym, v] : fixed)
    log.add("bind: dimension " + sym + " = " + std::to_string(v));
  substituteEverywhere(net, fixed);
  out.fixed = fixed;
  // Representative shape: profile 0's opt, else 1 for an input's first dim and 64 for others.
  std::string free;
  for (TensorId in : net.inputs()) {
    const Tensor& t = net.tensor(in);
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (!t.shape[i].isSymbol()) continue;
      const std::string sym = t.shape[i].symbol();
      if (out.opt.count(sym)) continue;
      auto it = optPerProfile[0].find(sym);
      if (it != optPerProfile[0].end()) {
        out.opt[sym] = it->second;
      } else {
        out.opt[sym] = i == 0 ? 1 : 64;
        free += (free.empty() ? "" : ", ") + sym + "=" + std::to_string(out.opt[sym]);
      }
    }
  }
  if (!free.empty())
    log.add("bind: dynamic dimensions without a profile: tactics are timed at " + free +
            " (give --opt-shapes to choose)");
  return out;
}

Status inferShapes(NetworkDefinition& net) {
  for (size_t i = 0; i < net.layers().size(); ++i) {
    if (net.layer(static_cast<LayerId>(i)).removed) continue;
    KILN_RETURN_IF_ERROR(inferLayer(net, static_cast<LayerId>(i)));
  }
  return Status::ok();
}

}  // namespace kiln
