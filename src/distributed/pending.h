// The handle of an asynchronous collective (private to src/distributed).
#pragma once

#include <torch/csrc/distributed/c10d/Work.hpp>

#include "eelu/distributed/distributed.h"

namespace eelu::distributed {

class Group::Pending {
 public:
  c10::intrusive_ptr<c10d::Work> work;
  at::Tensor result, sent;  // the caller's tensor, and what the engine reduces (a device copy)
};

}  // namespace eelu::distributed
