// How the tool asks the C library's allocator to treat freed memory (docs/performance.md,
// "The allocator on the CPU").
#pragma once

#include <string>

namespace eelu::app {

/// Applies EELU_MALLOC before any work: unset or "retain" keeps freed memory in the process
/// for the next training step (glibc: no mmap below 1 GiB, no trimming below 1 GiB) unless
/// the user has set glibc's malloc tunables or MALLOC_*_ variables; "system" leaves the C
/// library's defaults. Returns an error message for any other value, else an empty string.
std::string configure_allocator();

}  // namespace eelu::app
