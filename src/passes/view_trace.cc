#include "passes/view_trace.h"

#include <algorithm>

#include "passes/rule_util.h"

namespace kiln {

View contiguousView(const Shape& dims) {
  View v;
  v.dims = dims;
  v.strides.assign(dims.size(), Dim(1));
  for (size_t i = dims.size(); i-- > 1;)
    v.strides[i - 1] = v.strides[i] * dims[i];
  return v;
}

View transposed(const View& v, const std::vector<int64_t>& perm) {
  View out;
  out.offset = v.offset;
  for (int64_t p : perm) {
    out.dims.push_back(v.dims[static_cast<size_t>(p)]);
    out.strides.push_back(v.strides[static_cast<size_t>(p)]);
  }
  return out;
}

namespace {

bool isOne(const Dim& d) {
  return d.isStatic() && d.value() == 1;
}

/// Whether `big` is `small` times an expression, for every value of the symbols.
bool dividedBy(const Dim& big, const Dim& small) {
  return Dim::floorDiv(big, small) * small == big;
}

}  // namespace

std::optional<View> reshaped(const View& v, const Shape& dims) {
  // Drop size-1 dims (their stride is irrelevant), then match groups of old and new dims with
  // equal products; each old group must be contiguous in itself for the new dims to be
  // expressible with strides. Products and strides are compared as canonical expressions, so
  // the view holds for every value of the symbols; a symbolic dim that happens to be 1 keeps
  // its (correct) stride.
  Shape od;
  std::vector<Dim> os;
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (!v.dims[i].isKnown() || (v.dims[i].isStatic() && v.dims[i].value() == 0))
      return std::nullopt;
    if (!isOne(v.dims[i])) {
      od.push_back(v.dims[i]);
      os.push_back(v.strides[i]);
    }
  }
  for (const Dim& d : dims)
    if (!d.isKnown() || (d.isStatic() && d.value() == 0)) return std::nullopt;
  View out;
  out.offset = v.offset;
  out.dims = dims;
  out.strides.assign(dims.size(), Dim(0));
  size_t oi = 0, ni = 0;
  while (ni < dims.size() || oi < od.size()) {
    while (ni < dims.size() && isOne(dims[ni])) {
      out.strides[ni] = 0;
      ++ni;
    }
    if (ni == dims.size() && oi == od.size()) break;
    if (ni == dims.size() || oi == od.size()) return std::nullopt;
    Dim po = od[oi], pn = dims[ni];
    size_t oe = oi + 1, ne = ni + 1;
    while (po != pn) {
      // Extend the side whose product is the smaller factor of the other.
      bool extendOld;
      if (po.isStatic() && pn.isStatic())
        extendOld = po.value() < pn.value();
      else if (dividedBy(pn, po))
        extendOld = true;
      else if (dividedBy(po, pn))
        extendOld = false;
      else
        return std::nullopt;
      if (extendOld) {
        if (oe == od.size()) return std::nullopt;
        po *= od[oe++];
      } else {
        if (ne == dims.size()) return std::nullopt;
        pn *= dims[ne++];
      }
      if (!po.isKnown() || !pn.isKnown()) return std::nullopt;
    }
    for (size_t k = oi; k + 1 < oe; ++k)
      if (os[k] != os[k + 1] * od[k + 1]) return std::nullopt;  // the group needs a copy
    Dim stride = os[oe - 1];
    for (size_t k = ne; k-- > ni;) {
      out.strides[k] = isOne(dims[k]) ? Dim(0) : stride;
      stride *= dims[k];
    }
    oi = oe;
    ni = ne;
  }
  return out;
}

namespace {

bool isViewLayer(const NetworkDefinition& net, const Layer& l) {
  switch (l.kind()) {
    case LayerKind::kShuffle:
    case LayerKind::kSplit:
      return true;
    case LayerKind::kSlice: {
      // Positive constant steps only.
      if (l.inputs.size() > 4 && l.inputs[4] != kNoTensor) {
        const Weights* s = net.constantValue(l.inputs[4]);
        if (!s) return false;
        auto v = s->toInts();
        if (!v) return false;
        for (int64_t x : *v)
          if (x <= 0) return false;
      }
      return true;
    }
    case LayerKind::kGather: {
      const auto& a = l.as<GatherAttrs>();
      if (a.mode != GatherMode::kDefault) return false;
      const Weights* idx = net.constantValue(l.inputs.at(1));
      return idx && idx->dims().empty();
    }
    default:
      return false;
  }
}

std::optional<Shape> dimsOf(const NetworkDefinition& net, TensorId t) {
  const Tensor& x = net.tensor(t);
  if (!x.shapeKnown) return std::nullopt;
  for (const Dim& d : x.shape)
    if (!d.isKnown()) return std::nullopt;
  return x.shape;
}

/// The view of `out` (an output of view layer `l`) given the view `in` of its data input.
std::optional<View> step(const NetworkDefinition& net, const Layer& l, TensorId out,
                         const View& in) {
  auto outDims = dimsOf(net, out);
  auto inDims = dimsOf(net, l.inputs[0]);
  if (!outDims || !inDims) return std::nullopt;
  switch (l.kind()) {
    case LayerKind::kShuffle: {
      if (l.as<ShuffleAttrs>().mode == ShuffleMode::kTranspose)
        return transposed(in, transposePerm(net, l));
      return reshaped(in, *outDims);
    }
    case LayerKind::kSplit: {
      const int64_t rank = static_cast<int64_t>(inDims->size());
      int64_t axis = l.as<SplitAttrs>().axis;
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) return std::nullopt;
      Dim start = 0;
      for (TensorId o : l.outputs) {
        if (o == out) break;
        auto d = dimsOf(net, o);
        if (!d) return std::nullopt;
        start += (*d)[static_cast<size_t>(axis)];
      }
      View v = in;
      v.offset += start * v.strides[static_cast<size_t>(axis)];
      v.dims = *outDims;
      return v;
    }
    case LayerKind::kSlice: {
      const Weights* st = net.constantValue(l.inputs[1]);
      if (!st) return std::nullopt;
      auto starts = st->toInts();
      if (!starts) return std::nullopt;
      std::vector<int64_t> axes;
      if (l.inputs.size() > 3 && l.inputs[3] != kNoTensor) {
        const Weights* a = net.constantValue(l.inputs[3]);
        if (!a) return std::nullopt;
        auto av = a->toInts();
        if (!av) return std::nullopt;
        axes = *av;
      } else {
        for (size_t i = 0; i < starts->size(); ++i)
          axes.push_back(static_cast<int64_t>(i));
      }
      std::vector<int64_t> steps(starts->size(), 1);
      if (l.inputs.size() > 4 && l.inputs[4] != kNoTensor) {
        auto sv = net.constantValue(l.inputs[4])->toInts();
        if (!sv) return std::nullopt;
        steps = *sv;
      }
      if (axes.size() != starts->size() || steps.size() != starts->size()) return std::nullopt;
      View v = in;
      const int64_t rank = static_cast<int64_t>(inDims->size());
      for (size_t i = 0; i < axes.size(); ++i) {
        int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (ax < 0 || ax >= rank) return std::nullopt;
        const Dim& dim = (*inDims)[static_cast<size_t>(ax)];
        // The clamped start: min(s, dim) or max(dim + s, 0), exact expressions of the dim.
        Dim s;
        if (dim.isStatic()) {
          int64_t si = (*starts)[i] < 0 ? (*starts)[i] + dim.value() : (*starts)[i];
          s = std::clamp<int64_t>(si, 0, dim.value());
        } else if ((*starts)[i] == 0) {
          s = 0;
        } else if ((*starts)[i] > 0) {
          s = Dim::min(Dim((*starts)[i]), dim);
        } else {
          s = Dim::max(dim + Dim((*starts)[i]), Dim(0));
        }
        if (!s.isKnown()) return std::nullopt;
        v.offset += s * v.strides[static_cast<size_t>(ax)];
        v.strides[static_cast<size_t>(ax)] *= steps[i];
      }
      v.dims = *outDims;
      return v;
    }
    case LayerKind::kGather: {
      const int64_t rank = static_cast<int64_t>(inDims->size());
      int64_t axis = l.as<GatherAttrs>().axis;
      if (axis < 0) axis += rank;
      auto idx = net.constantValue(l.inputs[1])->toInts();
      if (!idx || idx->size() != 1 || axis < 0 || axis >= rank) return std::nullopt;
      Dim i = (*idx)[0];
      if ((*idx)[0] < 0) i += (*inDims)[static_cast<size_t>(axis)];
      View v = in;
      v.offset += i * v.strides[static_cast<size_t>(axis)];
      v.dims.erase(v.dims.begin() + axis);
      v.strides.erase(v.strides.begin() + axis);
      return v;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<TensorId> viewChain(const NetworkDefinition& net, TensorId t) {
  std::vector<TensorId> chain = {t};
  while (true) {
    const Tensor& x = net.tensor(chain.back());
    if (x.producer < 0) break;
    const Layer& l = net.layer(x.producer);
    if (l.removed || !isViewLayer(net, l)) break;
    chain.push_back(l.inputs[0]);
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

std::optional<View> viewOf(const NetworkDefinition& net, TensorId t, TensorId base) {
  std::vector<TensorId> chain = viewChain(net, t);
  auto it = std::find(chain.begin(), chain.end(), base);
  if (it == chain.end()) return std::nullopt;
  auto baseDims = dimsOf(net, base);
  if (!baseDims) return std::nullopt;
  View v = contiguousView(*baseDims);
  for (++it; it != chain.end(); ++it) {
    const Layer& l = net.layer(net.tensor(*it).producer);
    auto next = step(net, l, *it, v);
    if (!next) return std::nullopt;
    v = *next;
  }
  return v;
}

}  // namespace kiln
