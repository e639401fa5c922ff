// `eelu data info`: what a dataset holds, read from the user's files.
#pragma once

#include <cstdint>
#include <string>

namespace eelu::app {

struct DataInfoOptions {
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  bool coarse = false;
  bool skip_corrupt = false;
  double train_fraction = 1.0;
  int64_t train_per_class = 0;
  double val_fraction = 0.0;
  uint64_t seed = 0;
};

int data_info(const DataInfoOptions& options);

}  // namespace eelu::app
