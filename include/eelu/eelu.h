// Everything of the eelu library: the operators, the modules and the activation registry.
#pragma once

#include "eelu/nn/activations.h"
#include "eelu/nn/eelu.h"
#include "eelu/nn/registry.h"
#include "eelu/ops.h"
#include "eelu/reference.h"
