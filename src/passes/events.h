// kiln — recording rewrite events (RewriteEvent in kiln/network.h), so that every source node
// stays accounted for: in a layer's origins, or in the removed sources of the event that
// dropped it.
#pragma once

#include <string>
#include <vector>

#include "kiln/network.h"

namespace kiln {

/// Collects one event. Note the matched layers before changing them (their names, origins and
/// rules are read then), the produced ones after; commit() appends the event.
class EventBuilder {
 public:
  EventBuilder(std::string pass, std::string rule);
  /// A layer the rewrite consumes or changes.
  void matched(const NetworkDefinition& net, LayerId id);
  /// A layer removed as a consequence of the rewrite (a constant nobody reads any more): its
  /// origins are recorded as removed by this rule, not inherited by the produced layers.
  void absorbed(const NetworkDefinition& net, LayerId id);
  /// A layer the rewrite creates or changes.
  void produced(LayerId id);
  const std::vector<LayerId>& producedLayers() const { return produced_; }
  /// Source nodes of the matched layers, in first-seen order.
  const std::vector<std::string>& sources() const { return sources_; }
  /// Gives every produced layer the origins and rule history of the matched layers that are
  /// gone, appends this rule to their rules, computes the removed sources (matched sources no
  /// live produced or matched layer carries) and appends the event to the provenance.
  void commit(NetworkDefinition& net);

 private:
  RewriteEvent event_;
  std::vector<LayerId> matched_, produced_;
  std::vector<std::vector<std::string>> matchedRules_;
  std::vector<std::vector<std::string>> matchedOrigins_;
  std::vector<std::string> sources_;
  std::vector<std::string> absorbed_;
};

/// Appends the strings of `from` that `to` lacks, keeping order.
void appendUnique(std::vector<std::string>& to, const std::vector<std::string>& from);

}  // namespace kiln
