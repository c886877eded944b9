// kiln — Stream: an ordered queue of work on one backend.
#pragma once

#include "kiln/status.h"

namespace kiln {

/// An ordered queue of work. Work enqueued on one stream runs in order; the host stream of the
/// CPU backends runs it inline. Get one from Engine::createStream().
class Stream {
 public:
  virtual ~Stream() = default;
  /// Waits until all enqueued work is done; returns the first error of that work.
  virtual Status synchronize() = 0;
  /// The backend's native queue (a cudaStream_t on the cuda backend); nullptr for the host
  /// stream, which runs work inline.
  virtual void* nativeHandle() const { return nullptr; }
};

}  // namespace kiln
