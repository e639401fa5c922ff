// BatchNorm's running statistics re-estimated after training with the noise off
// (--bn-recalibrate): the ablation of issue 19 that asks whether EELU's elastic noise leaves
// the statistics that evaluation uses fitted to noisy activations.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

#include <cstdint>

#include "eelu/data/loader.h"
#include "eelu/models/models.h"
#include "train/placement.h"

namespace eelu::train {

/// Replaces every BatchNorm layer's running mean and variance by their averages over one pass
/// of `loader` (epoch `epoch` of its order and augmentation; at most `max_batches` batches
/// when > 0), computed with the rest of the network in evaluation mode: no activation noise,
/// no dropout, the layers below already recalibrated (a cumulative average, as
/// torch.optim.swa_utils.update_bn). No gradient, no random number drawn. The network is left
/// in evaluation mode with its BatchNorm momentum as it was. In a distributed job every rank
/// calls it (synchronised BatchNorm reduces each batch over the ranks).
void recalibrate_batchnorm(models::Classifier& model, data::DataLoader& loader, int64_t epoch,
                           int64_t max_batches, const Placement& where,
                           c10::optional<at::ScalarType> amp);

}  // namespace eelu::train
