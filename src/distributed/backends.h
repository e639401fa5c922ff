// The collective engines a Group runs on (private to src/distributed): Gloo for ranks on
// CPUs, NCCL for ranks on CUDA GPUs, each made by its own file so that each is built only
// where its headers are (CMakeLists.txt: Gloo's with the system's LibTorch, NCCL's with a
// CUDA LibTorch that ships ProcessGroupNCCL and nccl.h, as PyPI's does).
#pragma once

#include <torch/version.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

#include "eelu/distributed/distributed.h"

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace eelu::distributed::detail {

// What both engines are: c10d::Backend in LibTorch 2, c10d::ProcessGroup in 1.13.
#if TORCH_VERSION_MAJOR >= 2
using Engine = c10d::Backend;
#else
using Engine = c10d::ProcessGroup;
#endif

/// Gloo over the network device GLOO_SOCKET_IFNAME names (loopback for a loopback
/// MASTER_ADDR, else the host name's address).
c10::intrusive_ptr<Engine> make_gloo(const c10::intrusive_ptr<c10d::Store>& store,
                                     const Environment& env, std::chrono::milliseconds timeout);

/// NCCL on this rank's GPU (the current CUDA device, which the caller has set).
c10::intrusive_ptr<Engine> make_nccl(const c10::intrusive_ptr<c10d::Store>& store,
                                     const Environment& env, std::chrono::milliseconds timeout);

}  // namespace eelu::distributed::detail
