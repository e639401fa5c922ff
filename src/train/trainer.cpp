// train(): a run read top to bottom. Its rooms: settings.cpp (checks, defaults, the schedule),
// setup.cpp (data, network, optimiser), step.cpp (one batch), evaluate.cpp, checkpoint.cpp,
// records.cpp, console.cpp.
#include "eelu/train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "eelu/distributed/distributed.h"
#include "eelu/train/device.h"
#include "eelu/util/files.h"
#include "train/amp.h"
#include "train/checkpoint.h"
#include "train/console.h"
#include "train/evaluate.h"
#include "train/recalibrate.h"
#include "train/records.h"
#include "train/settings.h"
#include "train/setup.h"
#include "train/step.h"

namespace eelu::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Note [Distributed training]
// train() is one rank of the job that RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT describe
// (none: a single process; `eelu train --nproc N` and grids start the ranks,
// src/distributed/launch.cpp). Every rank loads the data and takes its shard of each epoch's
// batches (DataLoader's shard, shards); starts from rank 0's weights; draws its own noise and
// dropout from a generator seeded by (seed, rank); reduces its gradients in buckets while the
// backward runs (Note [Gradient buckets], src/distributed/reducer.cpp), and the step's loss,
// accuracy and stop flag in one small reduction after it (step.cpp), so that every rank
// checks the same loss and a signal on any rank stops every rank at the same batch.
// Evaluation sums are reduced over the ranks (evaluate.cpp); with per-rank BatchNorm every
// rank evaluates with rank 0's running statistics. Rank 0 alone writes the records and the
// checkpoint, which holds every rank's generator state (checkpoint.cpp); a resumed job reads
// it on rank 0 and sends it to the others.
struct Job {
  std::shared_ptr<distributed::Group> group;  // null: a single process
  int rank = 0, world = 1;
  bool lead() const { return rank == 0; }
};

Job join_job(const TrainConfig& c, c10::Device device) {
  const distributed::Environment env = distributed::environment_from_env();
  TORCH_CHECK(c.nproc == 1 || env.world_size == c.nproc, "--nproc ", c.nproc,
              ": train() is one rank of a job; start the ranks with `eelu train --nproc ", c.nproc,
              "` (or set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), here WORLD_SIZE is ",
              env.world_size);
  Job job;
  job.rank = env.rank;
  job.world = env.world_size;
  if (env.distributed()) {
    job.group = distributed::Group::connect(
        env, std::chrono::milliseconds(static_cast<int64_t>(c.dist_timeout * 1000)), device);
  }
  return job;
}

// Rank 0 owns the run folder while it trains: it locks it (a second process is refused by
// name), and a folder that holds a run already is refused unless the run is resumed or
// overwritten (then its old records go first, so that no record of two runs mixes).
std::unique_ptr<util::DirectoryLock> claim_run_folder(const TrainConfig& c, int rank) {
  if (rank != 0) return nullptr;
  fs::create_directories(c.out_dir);
  auto lock = std::make_unique<util::DirectoryLock>(c.out_dir, "eelu train");
  const fs::path dir(c.out_dir);
  const bool finished = fs::exists(dir / "summary.json");
  const bool started =
      finished || fs::exists(dir / "checkpoint.pt") || fs::exists(dir / "config.json");
  if (c.overwrite) {
    remove_records(c.out_dir);
  } else if (!c.resume) {
    TORCH_CHECK(!started, c.out_dir, " holds a ", finished ? "finished" : "started",
                " run already; continue it with --resume, or give --overwrite to train a new "
                "run in its place (its records are removed)");
  }
  return lock;
}

// SyncBatchNorm2d layers synchronise over this job's group while train() runs.
struct BatchNormGroup {
  explicit BatchNormGroup(std::shared_ptr<distributed::Group> g) {
    distributed::set_batchnorm_group(std::move(g));
  }
  ~BatchNormGroup() { distributed::set_batchnorm_group(nullptr); }
};

// Note [Devices]
// The network is made and initialised on the CPU from the seed (the same initial weights on
// any device), then moved to the run's device (Placement); batches are built by the loader's
// threads (in pinned memory for a GPU) and copied without blocking. The forward runs under
// autocast with --amp (Note [EELU under autocast] in src/ops/eelu_autocast.cpp), the loss in
// float32; float16 scales the loss (GradScaler). Checkpoints hold the tensors where they
// were; they are loaded onto the device of the run that reads them. On a GPU, the CUDA
// generator's state is saved too (EELU's noise and dropout draw from it there). In a
// distributed job on GPUs every rank takes the GPU of its LOCAL_RANK and the ranks reduce
// over NCCL (Gloo on CPUs); the checkpoint holds every rank's GPU generator state.
struct Where {
  DeviceChoice device;
  Placement placement;
};

Where choose_where(const TrainConfig& c, const distributed::Environment& env) {
  Where w{choose_device(c.device), {}};
  if (w.device.device.is_cuda() && env.distributed()) {
    // One GPU per rank: the rank's LOCAL_RANK-th (torchrun's and --nproc's convention).
    TORCH_CHECK(c.device == "auto" || c.device == "cuda", "--device ", c.device,
                ": in a distributed job every rank takes the GPU of its LOCAL_RANK; give "
                "--device cuda (or auto)");
    w.device = choose_device("cuda:" + std::to_string(env.local_rank));
    TORCH_CHECK(distributed::Group::available(c10::kCUDA),
                "distributed training on GPUs: this eelu was built without NCCL (a CUDA build "
                "against a LibTorch that ships ProcessGroupNCCL and nccl.h, as PyPI's torch "
                "does); train the ranks on the CPU (--device cpu)");
  }
  w.placement.device = w.device.device;
  w.placement.channels_last = c.channels_last;
  const bool cuda = w.device.device.is_cuda();
#if TORCH_VERSION_MAJOR < 2
  TORCH_CHECK(!(c.amp == "fp16" && !cuda), "--amp fp16 on the CPU needs LibTorch 2 (this is ",
              TORCH_VERSION, "); use --amp bf16 on the CPU");
#endif
  if (cuda) {
    // The rank's GPU is the current device (NCCL's communicators, new tensors). Without
    // --deterministic, cuDNN autotunes its algorithms (faster, may differ run to run).
    c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(w.device.device);
    at::globalContext().setBenchmarkCuDNN(!c.deterministic);
    at::globalContext().setDeterministicCuDNN(c.deterministic);
  }
  if (c.deterministic) at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  return w;
}

// Everything one run works with.
struct Run {
  const TrainConfig& c;
  const Job& job;
  const Where& where;
  TrainingData& data;
  models::Classifier& model;
  torch::optim::Optimizer& opt;
  const Console& out;
  int64_t steps;  // batches per epoch
  Progress p;
};

// A new run's records (config.json, an empty metrics.jsonl) and first checkpoint, so that
// --resume works from the first moment.
Progress start_records(const TrainConfig& c, const TrainingData& data, models::Classifier& model,
                       const Optimisation& optim, const Job& job, const Where& where) {
  if (job.lead()) {
    RunFacts facts;
    facts.device = where.device.device.str();
    facts.device_name = where.device.device.is_cuda() ? where.device.name : "";
    facts.world_size = job.world;
    facts.train_images = data.train.size();
    facts.val_images = data.val.size();
    facts.test_images = data.dataset.test.size();
    facts.classes = data.dataset.num_classes();
    facts.mean = data.dataset.mean;
    facts.std = data.dataset.std;
    for (const auto& t : model.parameters()) facts.parameters += t.numel();
    facts.activation_parameters = optim.activation_parameters;
    write_config_record(c, facts);
    write_metrics(c.out_dir, {});
  }
  Progress p;
  p.input_shape = input_shape_of(data.dataset);
  save_checkpoint(c.out_dir, c, model, *optim.optimizer, p, job.group.get());
  return p;
}

void announce(const Run& r) {
  const TrainConfig& c = r.c;
  const int world = r.job.world;
  if (!r.where.device.note.empty()) r.out.say("%s\n", r.where.device.note.c_str());
  const std::string device = r.where.device.device.is_cuda()
                                 ? r.where.device.device.str() + " (" + r.where.device.name + ")"
                                 : std::to_string(at::get_num_threads()) + " CPU thread" +
                                       (at::get_num_threads() == 1 ? "" : "s");
  const std::string precision = (c.amp == "none" ? std::string() : ", " + c.amp + " autocast") +
                                (c.channels_last ? ", channels-last" : "") +
                                (c.deterministic ? ", deterministic" : "");
  r.out.say("%s: %s with %s on %s, %ld training images, %ld epochs of %ld batches, %s%s%s\n",
            c.out_dir.c_str(), c.model.c_str(), c.activation.c_str(), r.data.dataset.name.c_str(),
            (long)r.data.train.size(), (long)c.epochs, (long)r.steps, device.c_str(),
            precision.c_str(),
            world > 1 ? (", " + std::to_string(world) + " ranks (global batch " +
                         std::to_string(c.batch_size * world) +
                         (c.sync_batchnorm ? ", synchronised BatchNorm)" : ")"))
                            .c_str()
                      : "");
}

// The batches of epoch r.p.epoch from r.p.batch on. Returns the epoch's training seconds
// and its last learning rate, or -1 seconds when a stop ended it (after writing a
// checkpoint of where it stopped).
std::pair<double, double> train_epoch(Run& r, TrainStep& step, const std::atomic<bool>* stop) {
  Progress& p = r.p;
  r.model.train();
  r.data.train_loader->start_epoch(p.epoch, p.batch);
  const auto t0 = Clock::now();
  double lr = 0;
  data::Batch b;
  auto waited_from = Clock::now();
  while (p.batch < r.steps && r.data.train_loader->next(b)) {
    p.data_seconds += std::chrono::duration<double>(Clock::now() - waited_from).count();
    lr = learning_rate(r.c, p.epoch * r.steps + p.batch, r.steps);
    for (auto& g : r.opt.param_groups()) g.options().set_lr(lr);
    r.opt.zero_grad();
    const StepSums s = step.run(b, *r.data.train_loader, p.epoch, p.batch, stop && stop->load());
    p.loss_sum += s.loss_sum;
    p.correct += s.correct;
    p.seen += s.seen;
    if (!step.update(r.opt)) ++p.skipped_steps;
    if (step.scaler().enabled()) {
      p.amp_scale = step.scaler().scale_value();
      p.amp_growth = step.scaler().growth_tracker();
    }
    ++p.batch;
    const double elapsed =
        p.epoch_seconds + std::chrono::duration<double>(Clock::now() - t0).count();
    r.out.progress(p.epoch + 1, r.c.epochs, p.batch, r.steps, p.loss_sum / p.seen,
                   double(p.correct) / p.seen, p.seen / elapsed,
                   elapsed / p.batch * (r.steps - p.batch));
    waited_from = Clock::now();
    if (s.stop) {
      p.epoch_seconds = elapsed;
      p.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      save_checkpoint(r.c.out_dir, r.c, r.model, r.opt, p, r.job.group.get());
      r.out.end_progress();
      r.out.say("interrupted: checkpoint written to %s; continue with --resume\n",
                checkpoint_path(r.c.out_dir).c_str());
      return {-1.0, lr};
    }
  }
  r.out.erase_progress();
  return {std::chrono::duration<double>(Clock::now() - t0).count(), lr};
}

// Whether the epoch just finished (0-based) is followed by an evaluation: every
// eval_every-th, and the last.
bool evaluated_after(const TrainConfig& c, int64_t epoch) {
  return (epoch + 1) % c.eval_every == 0 || epoch + 1 == c.epochs;
}

// The finished epoch's metrics: training sums, then (on the epochs --eval-every names) the
// test and validation evaluation.
EpochMetrics epoch_metrics(Run& r, double train_seconds, double lr) {
  const Progress& p = r.p;
  EpochMetrics m;
  m.epoch = p.epoch + 1;
  m.train_loss = p.loss_sum / double(std::max<int64_t>(p.seen, 1));
  m.train_acc = double(p.correct) / double(std::max<int64_t>(p.seen, 1));
  m.lr = lr;
  m.seconds = p.epoch_seconds + train_seconds;
  m.images_per_second = double(p.seen) / std::max(m.seconds, 1e-9);
  m.data_seconds = p.data_seconds;
  m.skipped_steps = p.skipped_steps;
  if (!evaluated_after(r.c, p.epoch)) return m;
  distributed::Group* group = r.job.group.get();
  // Per-rank BatchNorm: every rank evaluates with rank 0's running statistics, the ones
  // the checkpoint holds (DistributedDataParallel's broadcast_buffers).
  if (group && !r.c.sync_batchnorm) distributed::broadcast_buffers(*group, r.model);
  const int64_t classes = r.data.dataset.num_classes();
  const Placement& at = r.where.placement;
  const Eval test = run_eval(r.model, *r.data.test_loader, classes, r.c.max_batches, group, at);
  m.test_loss = test.loss;
  m.test_acc = test.acc;
  if (r.data.val_loader) {
    const Eval val = run_eval(r.model, *r.data.val_loader, classes, r.c.max_batches, group, at);
    m.val_loss = val.loss;
    m.val_acc = val.acc;
  }
  return m;
}

// The epoch's records: the checkpoint first (the record a resume trusts, holding the
// metrics too), then metrics.jsonl.
void record_epoch(Run& r, const EpochMetrics& m, double train_seconds) {
  Progress& p = r.p;
  p.seconds += train_seconds;
  p.history.push_back(m);
  Progress next = p;
  next.epoch = p.epoch + 1;
  next.batch = next.seen = next.correct = 0;
  next.loss_sum = next.epoch_seconds = next.data_seconds = 0;
  next.skipped_steps = 0;
  save_checkpoint(r.c.out_dir, r.c, r.model, r.opt, next, r.job.group.get());
  if (r.job.lead()) write_metrics(r.c.out_dir, p.history);
}

void print_epoch(const Run& r, const EpochMetrics& m, double comm_seconds) {
  char test[96] = "";
  if (m.test_acc >= 0) {
    std::snprintf(test, sizeof test, "  test loss %.4f acc %.2f%%", m.test_loss, 100 * m.test_acc);
  }
  r.out.say(
      "epoch %ld/%ld  train loss %.4f acc %.2f%%%s%s  lr %.4g  %.1f s, %.0f img/s%s\n",
      (long)m.epoch, (long)r.c.epochs, m.train_loss, 100 * m.train_acc, test,
      m.val_acc >= 0 ? (" val acc " + std::to_string(100 * m.val_acc).substr(0, 5) + "%").c_str()
                     : "",
      m.lr, m.seconds, m.images_per_second,
      r.job.group
          ? (", communication " + std::to_string(comm_seconds).substr(0, 5) + " s so far").c_str()
          : "");
}

// The result of the finished run, and (rank 0) its summary.json.
TrainResult finish(const Run& r, double comm_seconds) {
  TrainResult result;
  result.world_size = r.job.world;
  result.epochs = r.p.history;
  result.seconds = r.p.seconds;
  for (const auto& m : r.p.history) {
    if (m.test_acc > result.best_test_acc) {
      result.best_test_acc = m.test_acc;
      result.best_epoch = m.epoch;
    }
  }
  result.final_test_acc = r.p.history.empty() ? 0 : r.p.history.back().test_acc;
  result.communication_seconds = comm_seconds;
  if (r.job.lead()) write_summary(r.c, result, r.model);
  return result;
}

}  // namespace

TrainResult train(const TrainConfig& config_in, const std::atomic<bool>* stop,
                  const std::function<void(const EpochMetrics&)>& on_epoch) {
  const TrainConfig c = resolved(config_in);
  TORCH_CHECK(!(c.resume && c.overwrite), "give --resume or --overwrite, not both");
  const distributed::Environment env = distributed::environment_from_env();
  const Where where = choose_where(c, env);  // Note [Devices]
  const auto folder = claim_run_folder(c, env.rank);
  if (c.threads > 0) at::set_num_threads(c.threads);
  const Job job = join_job(c, where.device.device);  // Note [Distributed training]
  // Rank 0 decides whether the job resumes: a rank that looked after rank 0 wrote a new run's
  // first checkpoint would see one (grid tasks under srun decide by the checkpoint).
  const bool resume =
      job.group ? job.group->broadcast_bytes(c.resume ? "1" : "0", 0) == "1" : c.resume;
  const BatchNormGroup bn_group(c.sync_batchnorm ? job.group : nullptr);
  const Console out(c.quiet, job.lead());

  TrainingData data = load_training_data(c, job.rank, job.world, where.placement.pin_memory());
  const auto model = make_network(c, data.dataset, job.group.get(), job.rank, where.placement);
  const Optimisation optim = make_optimizer(c, *model);
  Progress progress;
  if (resume) {
    progress =
        resume_from_checkpoint(c, *model, *optim.optimizer, job.group.get(), job.rank, job.world);
    where.placement.place(*model);  // the loaded weights in the run's memory format
    if (job.lead()) check_config_record(c);
    // what a kill after the last checkpoint left is dropped
    if (job.lead()) write_metrics(c.out_dir, progress.history);
    out.say("resuming %s at epoch %ld, batch %ld\n", c.out_dir.c_str(), (long)progress.epoch + 1,
            (long)progress.batch);
  } else {
    progress = start_records(c, data, *model, optim, job, where);
  }
  const int64_t batches = data.train_loader->batches_per_epoch();
  progress.input_shape = input_shape_of(data.dataset);
  Run run{c,
          job,
          where,
          data,
          *model,
          *optim.optimizer,
          out,
          c.max_batches > 0 ? std::min(c.max_batches, batches) : batches,
          std::move(progress)};
  announce(run);

  TrainStep step(*model, StepOptions{c.label_smoothing, where.placement, amp_dtype(c.amp)},
                 job.group);
  if (run.p.amp_scale > 0) step.scaler().set_state(run.p.amp_scale, run.p.amp_growth);
  for (Progress& p = run.p; p.epoch < c.epochs; ++p.epoch, p.batch = 0, p.loss_sum = 0,
                 p.correct = 0, p.seen = 0, p.epoch_seconds = 0, p.data_seconds = 0,
                 p.skipped_steps = 0) {
    const auto [train_seconds, lr] = train_epoch(run, step, stop);
    if (train_seconds < 0) {  // stopped, with a checkpoint
      TrainResult interrupted;
      interrupted.world_size = job.world;
      interrupted.interrupted = true;
      interrupted.epochs = p.history;
      return interrupted;
    }
    if (c.bn_recalibrate && p.epoch + 1 == c.epochs) {
      recalibrate_batchnorm(*model, *data.train_loader, c.epochs, c.max_batches, where.placement,
                            amp_dtype(c.amp));
    }
    const EpochMetrics m = epoch_metrics(run, train_seconds, lr);
    record_epoch(run, m, train_seconds);
    if (on_epoch && job.lead()) on_epoch(m);
    print_epoch(run, m, step.communication_seconds());
  }
  return finish(run, step.communication_seconds());
}

}  // namespace eelu::train
