// EELU_MALLOC (allocator.h). glibc serves a block above its mmap threshold (128 KiB, raised
// up to 32 MiB as such blocks are freed) with a fresh mapping, unmaps it on free, and trims
// the heap's free top: each training step then takes its activations' pages from the kernel
// again, zeroed, one page fault each. An 8-epoch run of simple-cnn4 on 2% of Fashion-MNIST
// took 740 thousand page faults with the defaults and 55 thousand with freed memory kept,
// 12% less time, the same numbers to the last digit (docs/performance.md, bench/allocator.sh).
#include "allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace eelu::app {
namespace {

constexpr int kRetainBelow = 1 << 30;  // bytes: blocks below this come from the heap, and
                                       // a free top below this stays in the process

// Whether the user configured glibc's allocator through the environment.
bool user_configured_malloc() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return true;
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                           "MALLOC_MMAP_MAX_"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

void retain_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, kRetainBelow);
  mallopt(M_TRIM_THRESHOLD, kRetainBelow);
#endif
}

}  // namespace

std::string configure_allocator() {
  const char* mode = std::getenv("EELU_MALLOC");
  const std::string value = mode == nullptr ? "retain" : mode;
  if (value == "system") return "";
  if (value != "retain") {
    return "EELU_MALLOC is '" + value +
           "': use 'retain' (the default: freed memory is kept for the next step) or 'system' "
           "(the C library's defaults)";
  }
  if (!user_configured_malloc()) retain_freed_memory();
  return "";
}

}  // namespace eelu::app
