// Which spans the CPU kernels run: the best instruction set this library and this CPU both
// have, or the one EELU_CPU_CAPABILITY or set_cpu_capability names (Note [CPU kernel
// structure] in eelu_spans.h).
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "eelu/ops.h"
#include "ops/cpu/eelu_spans.h"

namespace eelu::cpu {

#if !defined(EELU_HAVE_AVX2)
const SpanTable* avx2_span_table() { return nullptr; }
#endif

namespace {

bool cpu_has_avx2_fma() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const SpanTable* table_named(const std::string& name) {
  if (name == "default") return scalar_span_table();
  if (name == "avx2") {
    TORCH_CHECK(avx2_span_table() != nullptr,
                "eelu: the AVX2 kernels were not built into this library (sleef.h or "
                "compiler support was missing at configure time)");
    TORCH_CHECK(cpu_has_avx2_fma(), "eelu: this CPU lacks AVX2 or FMA; use 'default'");
    return avx2_span_table();
  }
  TORCH_CHECK(false, "eelu: unknown CPU capability '", name,
              "'; valid: default, avx2 (or empty for the best this CPU supports)");
}

const SpanTable* best_table() {
  if (const char* env = std::getenv("EELU_CPU_CAPABILITY")) {
    if (*env) return table_named(env);
  }
  return avx2_span_table() && cpu_has_avx2_fma() ? avx2_span_table() : scalar_span_table();
}

std::atomic<const SpanTable*>& current_table() {
  static std::atomic<const SpanTable*> table{best_table()};
  return table;
}

}  // namespace

const SpanTable* current_span_table() { return current_table().load(); }

}  // namespace eelu::cpu

namespace eelu {

const char* cpu_capability() { return cpu::current_span_table()->name; }

void set_cpu_capability(const std::string& name) {
  cpu::current_table().store(name.empty() ? cpu::best_table() : cpu::table_named(name));
}

}  // namespace eelu
