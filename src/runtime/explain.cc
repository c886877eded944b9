#include "kiln/explain.h"

#include <algorithm>
#include <unordered_map>

#include "runtime/engine_data.h"

namespace kiln {

const char* fateName(SourceNodeFate::Fate f) {
  switch (f) {
    case SourceNodeFate::Fate::kLayer:
      return "layer";
    case SourceNodeFate::Fate::kConstant:
      return "constant";
    case SourceNodeFate::Fate::kRemoved:
      return "removed";
    case SourceNodeFate::Fate::kUnaccounted:
      return "unaccounted";
  }
  return "?";
}

Explanation explain(const Engine& engine) {
  const NetworkDefinition& net = engine.data().network;
  const Provenance& prov = net.provenance();
  Explanation out;
  std::unordered_map<std::string, size_t> index;
  for (const SourceNode& n : prov.sourceNodes) {
    index.emplace(n.name, out.nodes.size());
    SourceNodeFate f;
    f.name = n.name;
    f.op = n.op;
    out.nodes.push_back(std::move(f));
  }
  auto addUnique = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const RewriteEvent& e : prov.events) {
    ++out.ruleHits[e.rule];
    for (const std::string& s : e.sources) {
      auto it = index.find(s);
      if (it != index.end()) addUnique(out.nodes[it->second].rules, e.rule);
    }
    for (const std::string& s : e.removedSources) {
      auto it = index.find(s);
      if (it != index.end()) out.nodes[it->second].removedBy = e.pass + "/" + e.rule;
    }
  }
  std::vector<bool> executed(out.nodes.size(), false);
  for (const Layer& l : net.layers()) {
    if (l.removed) continue;
    const bool constant = l.kind() == LayerKind::kConstant;
    if (!constant) ++out.executedLayers;
    for (const std::string& o : l.origins) {
      auto it = index.find(o);
      if (it == index.end()) continue;
      SourceNodeFate& f = out.nodes[it->second];
      if (!constant) {
        if (!executed[it->second]) f.layers.clear();
        executed[it->second] = true;
        f.fate = SourceNodeFate::Fate::kLayer;
        addUnique(f.layers, l.name);
      } else if (!executed[it->second]) {
        f.fate = SourceNodeFate::Fate::kConstant;
        addUnique(f.layers, l.name);
      }
    }
  }
  for (SourceNodeFate& f : out.nodes)
    if (f.fate == SourceNodeFate::Fate::kUnaccounted && !f.removedBy.empty())
      f.fate = SourceNodeFate::Fate::kRemoved;
  return out;
}

}  // namespace kiln
