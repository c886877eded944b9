#include "passes/events.h"

#include <algorithm>
#include <set>

namespace kiln {

void appendUnique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const std::string& s : from)
    if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
}

EventBuilder::EventBuilder(std::string pass, std::string rule) {
  event_.pass = std::move(pass);
  event_.rule = std::move(rule);
}

void EventBuilder::matched(const NetworkDefinition& net, LayerId id) {
  if (std::find(matched_.begin(), matched_.end(), id) != matched_.end()) return;
  const Layer& l = net.layer(id);
  matched_.push_back(id);
  matchedRules_.push_back(l.rules);
  matchedOrigins_.push_back(l.origins);
  event_.matched.push_back(l.name);
  appendUnique(sources_, l.origins);
}

void EventBuilder::absorbed(const NetworkDefinition& net, LayerId id) {
  const Layer& l = net.layer(id);
  event_.matched.push_back(l.name);
  appendUnique(absorbed_, l.origins);
}

void EventBuilder::produced(LayerId id) {
  if (std::find(produced_.begin(), produced_.end(), id) == produced_.end()) produced_.push_back(id);
}

void EventBuilder::commit(NetworkDefinition& net) {
  event_.sources = sources_;
  std::vector<std::string> goneOrigins, goneRules;
  for (size_t i = 0; i < matched_.size(); ++i) {
    if (!net.layer(matched_[i]).removed) continue;
    appendUnique(goneOrigins, matchedOrigins_[i]);
    appendUnique(goneRules, matchedRules_[i]);
  }
  std::set<std::string> carried;
  for (LayerId id : produced_) {
    Layer& l = net.layer(id);
    if (l.removed) continue;
    appendUnique(l.origins, goneOrigins);
    std::vector<std::string> rules = goneRules;
    appendUnique(rules, l.rules);
    appendUnique(rules, {event_.rule});
    l.rules = std::move(rules);
    event_.produced.push_back(l.name);
    carried.insert(l.origins.begin(), l.origins.end());
  }
  for (LayerId id : matched_) {
    const Layer& l = net.layer(id);
    if (!l.removed) carried.insert(l.origins.begin(), l.origins.end());
  }
  for (const std::string& s : sources_)
    if (!carried.count(s)) event_.removedSources.push_back(s);
  for (const std::string& s : absorbed_) {
    if (carried.count(s)) continue;
    appendUnique(event_.sources, {s});
    appendUnique(event_.removedSources, {s});
  }
  net.provenance().events.push_back(std::move(event_));
}

}  // namespace kiln
