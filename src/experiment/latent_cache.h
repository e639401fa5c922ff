// A grid run's latent measures kept in its folder (Note [Kept measures] in latent_cache.cpp):
// written when `eelu visualize --grid` measures the run's network, read when the network's
// checkpoint is gone, so that an archived run (its records without the weights) still counts.
#pragma once

#include <optional>
#include <string>

#include "eelu/experiment/latent.h"

namespace eelu::experiment {

/// latent.json next to `checkpoint`: the measures, the options they depend on and the digest
/// of the network's state (train::state_digest).
std::string kept_measures_path(const std::string& checkpoint);

void keep_measures(const LatentMeasures& m, const LatentOptions& o, const std::string& digest);

/// The measures kept for `checkpoint`, labelled `label` ("": its activation). With the
/// network's `digest` (the checkpoint is there): nullopt unless they were taken of that
/// network with these options. With digest "" (the checkpoint is gone): nullopt when none
/// are kept, and refused, naming the setting, when they were taken with other options.
std::optional<LatentMeasures> kept_measures(const std::string& checkpoint, const std::string& label,
                                            const LatentOptions& o, const std::string& digest);

}  // namespace eelu::experiment
