// Ranks from Slurm's environment (include/eelu/distributed/slurm.h).
#include "eelu/distributed/slurm.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cstdlib>

#include "eelu/distributed/distributed.h"

namespace eelu::distributed {
namespace {

constexpr int kPortBase = 12000;  // below Linux's ephemeral ports (32768-60999)
constexpr int kPortSpan = 20000;

long number(const std::string& text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  TORCH_CHECK(!text.empty() && errno == 0 && end && *end == '\0' && v >= 0, what, "='", text,
              "' is not a non-negative integer");
  return v;
}

std::string variable(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

long required(const char* name) {
  const std::string v = variable(name);
  TORCH_CHECK(!v.empty(), name, " is not set, though this is an srun task of several (",
              "SLURM_STEP_NUM_TASKS > 1)");
  return number(v, name);
}

}  // namespace

std::string first_host(const std::string& hostlist) {
  // The first entry ends at the first comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < hostlist.size(); ++end) {
    if (hostlist[end] == '[') ++depth;
    if (hostlist[end] == ']') --depth;
    if (hostlist[end] == ',' && depth == 0) break;
  }
  const std::string entry = hostlist.substr(0, end);
  const size_t open = entry.find('[');
  TORCH_CHECK(!entry.empty() && depth == 0, "cannot read the Slurm host list '", hostlist, "'");
  if (open == std::string::npos) return entry;
  const size_t close = entry.find(']', open);
  TORCH_CHECK(close != std::string::npos && close > open + 1, "cannot read the Slurm host list '",
              hostlist, "'");
  // "07-10,12" -> "07": the first range's first number, its zero padding kept.
  const std::string ranges = entry.substr(open + 1, close - open - 1);
  const std::string first = ranges.substr(0, ranges.find_first_of(",-"));
  TORCH_CHECK(!first.empty() && first.find_first_not_of("0123456789") == std::string::npos,
              "cannot read the Slurm host list '", hostlist, "'");
  return entry.substr(0, open) + first + entry.substr(close + 1);
}

int tasks_on_node(const std::string& tasks_per_node, int node) {
  int seen = 0;
  size_t pos = 0;
  while (pos < tasks_per_node.size()) {
    const size_t comma = tasks_per_node.find(',', pos);
    const std::string item =
        tasks_per_node.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t paren = item.find("(x");
    const long tasks = number(item.substr(0, paren), "SLURM_STEP_TASKS_PER_NODE");
    long repeat = 1;
    if (paren != std::string::npos) {
      TORCH_CHECK(item.back() == ')', "SLURM_STEP_TASKS_PER_NODE='", tasks_per_node,
                  "' is not Slurm's form (2(x3),1)");
      repeat = number(item.substr(paren + 2, item.size() - paren - 3), "SLURM_STEP_TASKS_PER_NODE");
    }
    if (node < seen + repeat) return static_cast<int>(tasks);
    seen += static_cast<int>(repeat);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  TORCH_CHECK(false, "SLURM_STEP_TASKS_PER_NODE='", tasks_per_node, "' names ", seen,
              " nodes; this is node ", node);
}

std::optional<Environment> environment_from_slurm() {
  const std::string step = variable("SLURM_STEP_ID");
  const std::string tasks = variable("SLURM_STEP_NUM_TASKS");
  if (step.empty() || tasks.empty() || number(tasks, "SLURM_STEP_NUM_TASKS") < 2)
    return std::nullopt;
  Environment env;
  env.world_size = static_cast<int>(number(tasks, "SLURM_STEP_NUM_TASKS"));
  env.rank = static_cast<int>(required("SLURM_PROCID"));
  env.local_rank = static_cast<int>(required("SLURM_LOCALID"));
  env.local_world_size = tasks_on_node(variable("SLURM_STEP_TASKS_PER_NODE"),
                                       static_cast<int>(required("SLURM_NODEID")));
  TORCH_CHECK(env.rank < env.world_size && env.local_rank < env.local_world_size,
              "SLURM_PROCID=", env.rank, " / SLURM_LOCALID=", env.local_rank,
              " do not fit the step's ", env.world_size, " tasks");
  const std::string addr = variable("MASTER_ADDR");
  env.master_addr = addr.empty() ? first_host(variable("SLURM_STEP_NODELIST")) : addr;
  const std::string port = variable("MASTER_PORT");
  env.master_port = port.empty()
                        ? kPortBase + static_cast<int>(required("SLURM_JOB_ID") % kPortSpan)
                        : static_cast<int>(number(port, "MASTER_PORT"));
  TORCH_CHECK(env.master_port >= 1 && env.master_port <= 65535, "MASTER_PORT='", port,
              "' is not a port");
  return env;
}

}  // namespace eelu::distributed
