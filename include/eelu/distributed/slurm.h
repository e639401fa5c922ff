// The ranks of a job from Slurm's environment: a task of an `srun` step of several tasks is
// one rank, as under torchrun, without a wrapper that copies SLURM_PROCID into RANK.
#pragma once

#include <optional>
#include <string>

namespace eelu::distributed {

struct Environment;

/// The first host of a Slurm hostlist expression: "vm" -> "vm", "node[07-10,12]" -> "node07",
/// "gpu[1-2]-ib,cpu3" -> "gpu1-ib". An expression it cannot read is an error naming it.
std::string first_host(const std::string& hostlist);

/// How many tasks node `node` (0-based) holds, from Slurm's compressed counts per node
/// (SLURM_STEP_TASKS_PER_NODE): "2(x3),1" is 2, 2, 2, 1.
int tasks_on_node(const std::string& tasks_per_node, int node);

/// The job seen from an srun task: when SLURM_STEP_ID is set and SLURM_STEP_NUM_TASKS > 1
/// (a batch script itself has no step id), rank SLURM_PROCID of SLURM_STEP_NUM_TASKS, local
/// rank SLURM_LOCALID, rendezvous at MASTER_ADDR (default: the step's first node) and
/// MASTER_PORT (default: 12000 + SLURM_JOB_ID mod 20000). nullopt outside such a step.
std::optional<Environment> environment_from_slurm();

}  // namespace eelu::distributed
