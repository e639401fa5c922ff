// Everything of the eelu library: the operators and the modules.
#pragma once

#include "eelu/nn/eelu.h"
#include "eelu/ops.h"
#include "eelu/reference.h"
