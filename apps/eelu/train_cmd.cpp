#include "train_cmd.h"
#include "commands.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "eelu/distributed/distributed.h"
#include "eelu/distributed/launch.h"
#include "eelu/train/device.h"

namespace eelu::app {
namespace {

std::atomic<bool> g_stop{false};

// Ctrl-C (SIGINT) and SIGTERM finish the current batch, write a checkpoint and exit 130.
void on_signal(int) { g_stop.store(true); }

void install_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

// A directory name for an activation spec: "eelu(eps=0.6)" -> "eelu_eps=0.6".
std::string dir_name(const std::string& spec) {
  std::string out;
  for (char ch : spec) {
    if (ch == ' ' || ch == ')') continue;
    out += (ch == '(' || ch == ',' || ch == '/') ? '_' : ch;
  }
  return out;
}

// A finite number > 0 (CLI11's PositiveNumber prints its range as 1.8e308 in full).
CLI::Validator positive_number() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v <= 0) {
          return "must be a finite number > 0, got '" + text + "'";
        }
        return "";
      },
      "> 0");
}

}  // namespace

void add_train_options(CLI::App* cmd, train::TrainConfig& c) {
  cmd->add_option("--dataset", c.dataset,
                  "fashion-mnist (default), mnist, cifar10, cifar100, tiny-imagenet, imagenet");
  cmd->add_option("--data-dir", c.data_dir, "where the dataset's files are");
  cmd->add_option("--model", c.model,
                  "simple-cnn4 (default), simple-cnn, vgg16, resnet20/32/56/110, resnet18/34/50");
  cmd->add_option("--init", c.init, "kaiming (default) or taylor (MPELU/EELU initialisation)");
  cmd->add_option("--epochs", c.epochs,
                  "epochs (default: MNIST-like 30 on the whole set, 30*sqrt(whole/subset) on a "
                  "subset; 100 CIFAR, 60 Tiny ImageNet, 90 ImageNet)")
      ->check(CLI::Range(int64_t(1), int64_t(100000)));
  cmd->add_option("--batch-size", c.batch_size,
                  "images per batch (default: 64 MNIST-like, 128 else)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", c.optimizer, "sgd (default) or adamw");
  cmd->add_option("--lr", c.lr,
                  "peak learning rate (default: sgd 0.1 MNIST-like, 0.05 else; adamw 0.001)")
      ->check(positive_number());
  cmd->add_option("--momentum", c.momentum, "SGD momentum (default 0.9)");
  cmd->add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  cmd->add_option("--weight-decay", c.weight_decay, "weight decay (default 5e-4)");
  cmd->add_option("--act-weight-decay", c.act_weight_decay,
                  "weight decay of the activations' parameters (default 0)");
  cmd->add_option("--lr-schedule", c.lr_schedule, "cosine (default), step or constant");
  cmd->add_option("--milestones", c.milestones,
                  "step schedule: epochs where the lr is multiplied by gamma")
      ->delimiter(',');
  cmd->add_option("--gamma", c.gamma, "step schedule factor (default 0.1)");
  cmd->add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up epochs (default 0)");
  cmd->add_option("--label-smoothing", c.label_smoothing, "label smoothing (default 0)");
  cmd->add_option("--seed", c.seed, "seed of initialisation, data order, subsets and noise");
  cmd->add_option("--train-fraction", c.train_fraction,
                  "train on this stratified fraction of the training set");
  cmd->add_option("--train-per-class", c.train_per_class, "train on this many images per class");
  cmd->add_option("--val-fraction", c.val_fraction,
                  "hold out this stratified fraction for validation");
  cmd->add_option("--crop-padding", c.crop_padding,
                  "random crop padding (default: 2 MNIST-like, 4 CIFAR, 8 Tiny ImageNet, 0 "
                  "image folders)");
  cmd->add_option("--flip", c.flip, "random horizontal flip, 0 or 1 (default: 1 except MNIST)")
      ->check(CLI::Range(0, 1));
  cmd->add_option("--workers", c.workers, "data loader threads (default 2)");
  cmd->add_option("--threads", c.threads, "intra-op threads (default: LibTorch's)");
  cmd->add_option("--max-batches", c.max_batches,
                  "at most this many batches per epoch and per evaluation (smoke runs; the "
                  "accuracies then cover only those batches)");
  cmd->add_option("--eval-every", c.eval_every,
                  "evaluate on the test (and validation) set after every N-th epoch and the "
                  "last (default 1; the weights do not depend on it)")
      ->check(CLI::Range(int64_t(1), int64_t(100000)));
  cmd->add_flag("--quiet", c.quiet, "no progress output");
  cmd->add_flag("--resume", c.resume, "continue the run(s) in --out from their checkpoints");
  cmd->add_flag("--overwrite", c.overwrite,
                "train a new run in place of one already in --out (its records are removed)");
  cmd->add_flag("--bn-recalibrate", c.bn_recalibrate,
                "after the last epoch, re-estimate BatchNorm's statistics over the training set "
                "with the activations' noise and dropout off");
  cmd->add_flag("--sync-bn", c.sync_batchnorm,
                "distributed: BatchNorm statistics over the global batch (default: per rank)");
  cmd->add_option("--device", c.device,
                  "where to train: auto (default: the first GPU when there is one, else the "
                  "CPU), cpu, cuda or cuda:N");
  cmd->add_option("--amp", c.amp,
                  "mixed precision: none (default), bf16 or fp16 (autocast; fp16 with a gradient "
                  "scaler)");
  cmd->add_flag("--channels-last", c.channels_last, "channels-last (NHWC) memory format");
  cmd->add_flag("--deterministic", c.deterministic,
                "GPU: cuDNN's deterministic algorithms, no autotuning (slower; see "
                "docs/training.md)");
  cmd->add_option("--dist-timeout", c.dist_timeout,
                  "distributed: seconds to wait for the rendezvous and for any collective before "
                  "failing (default 300)")
      ->check(CLI::PositiveNumber);
}

int run_train(const train::TrainConfig& config, int argc, char** argv) {
  install_handlers();
  (void)train::resolved(config);  // every setting checked before a rank is started
  train::check_ranks_fit(config.device, config.nproc);
  // A rank already (torchrun's variables, or an srun task of several) trains; otherwise
  // --nproc N starts the ranks here.
  if (config.nproc > 1 && !distributed::environment_from_env().distributed()) {
    // The launcher: the same command once per rank (the ranks see RANK and train). Ctrl-C
    // reaches the ranks directly (same process group); a SIGTERM here is passed on.
    std::vector<std::string> args{distributed::current_executable()};
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    std::signal(SIGINT, SIG_IGN);
    const auto ranks =
        distributed::spawn_ranks(args, static_cast<int>(config.nproc), 0, distributed::free_port());
    return distributed::wait_ranks(ranks, &g_stop);
  }
  distributed::die_with_launcher();
  const train::TrainResult r = train::train(config, &g_stop);
  if (r.interrupted) return 130;
  if (!config.quiet && distributed::environment_from_env().rank == 0) {
    std::printf(
        "final test accuracy %.2f%%, best %.2f%% (epoch %ld), %.1f s of training; records in %s\n",
        100 * r.final_test_acc, 100 * r.best_test_acc, (long)r.best_epoch, r.seconds,
        config.out_dir.c_str());
  }
  return 0;
}

int run_compare(const train::TrainConfig& config, const std::vector<std::string>& activations) {
  install_handlers();
  struct Row {
    std::string act;
    train::TrainResult r;
  };
  auto config_of = [&](const std::string& act) {
    train::TrainConfig c = config;
    c.activation = act;
    c.out_dir = (std::filesystem::path(config.out_dir) / dir_name(act)).string();
    return c;
  };
  std::vector<std::string> seen;  // canonical spellings: one activation, one run
  for (size_t i = 0; i < activations.size(); ++i) {
    seen.push_back(train::resolved(config_of(activations[i])).activation);  // all, first
    const auto twin = std::find(seen.begin(), seen.end() - 1, seen.back());
    TORCH_CHECK(twin == seen.end() - 1, "--act '", activations[size_t(twin - seen.begin())],
                "' and '", activations[i], "' are the same activation (", seen.back(), ")");
  }
  (void)train::choose_device(config.device);
  std::vector<Row> rows;
  for (const auto& act : activations) {
    train::TrainConfig c = config_of(act);
    const std::filesystem::path dir(c.out_dir);
    if (config.resume && std::filesystem::exists(dir / "summary.json")) {
      rows.push_back({act, train::finished_result(c.out_dir)});  // done before the stop
      continue;
    }
    c.resume = config.resume && std::filesystem::exists(dir / "checkpoint.pt");
    rows.push_back({act, train::train(c, &g_stop)});
    if (rows.back().r.interrupted) return 130;
  }
  std::printf("\n%s, %s, seed %llu: test accuracy\n", config.dataset.c_str(), config.model.c_str(),
              (unsigned long long)config.seed);
  std::printf("%-44s %10s %16s %10s\n", "activation", "final", "best (epoch)", "seconds");
  for (const auto& row : rows) {
    std::printf("%-44s %9.2f%% %9.2f%% (%2ld) %10.1f\n", row.act.c_str(),
                100 * row.r.final_test_acc, 100 * row.r.best_test_acc, (long)row.r.best_epoch,
                row.r.seconds);
  }
  std::printf(
      "(one seed each: differences between single runs are not evidence either way; "
      "compare over several seeds)\n");
  return 0;
}

int run_eval(const EvalArgs& args) {
  const std::string& checkpoint = args.checkpoint;
  const train::Evaluation e =
      train::evaluate_checkpoint(checkpoint, args.data_dir, args.device, args.bn_recalibrate);
  std::printf("%s%s: test loss %.4f, accuracy %.2f%%\n\nper class:\n", checkpoint.c_str(),
              args.bn_recalibrate ? " (BatchNorm recalibrated)" : "", e.loss, 100 * e.accuracy);
  for (size_t i = 0; i < e.classes.size(); ++i) {
    std::printf("  %3zu %-24s %6.2f%%\n", i, e.classes[i].c_str(), 100 * e.per_class[i]);
  }
  if (e.classes.size() <= 20) {
    std::printf("\nconfusion matrix (rows: true class, columns: predicted)\n     ");
    for (size_t j = 0; j < e.classes.size(); ++j) std::printf("%6zu", j);
    std::printf("\n");
    for (size_t i = 0; i < e.confusion.size(); ++i) {
      std::printf("  %3zu", i);
      for (int64_t v : e.confusion[i]) std::printf("%6ld", (long)v);
      std::printf("\n");
    }
  }
  return 0;
}

CommandRunner add_train_commands(CLI::App& app, int argc, char** argv) {
  auto train_config = std::make_shared<train::TrainConfig>();
  auto* train_cmd =
      app.add_subcommand("train", "train a network with an activation and write its records");
  add_train_options(train_cmd, *train_config);
  train_cmd->add_option("--act", train_config->activation,
                        "activation spec (see `eelu activations`), default relu");
  train_cmd
      ->add_option("--out", train_config->out_dir,
                   "directory for config.json, metrics.jsonl, summary.json, checkpoint.pt")
      ->required();
  train_cmd
      ->add_option("--nproc", train_config->nproc,
                   "start this many ranks on this machine (data parallel over c10d/Gloo; "
                   "--batch-size is per rank)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)));

  auto compare_config = std::make_shared<train::TrainConfig>();
  auto compare_acts = std::make_shared<std::vector<std::string>>();
  auto* compare_cmd = app.add_subcommand(
      "compare", "train one run per activation and print their accuracies side by side");
  add_train_options(compare_cmd, *compare_config);
  compare_cmd->add_option("--act", *compare_acts, "an activation spec; give it once per activation")
      ->required();
  compare_cmd
      ->add_option("--out", compare_config->out_dir, "directory; each run goes into a subdirectory")
      ->required();

  auto eval_args = std::make_shared<EvalArgs>();
  auto* eval_cmd = app.add_subcommand(
      "eval", "test accuracy, per-class accuracy and confusion matrix of a checkpoint");
  eval_cmd
      ->add_option("--checkpoint", eval_args->checkpoint, "a checkpoint.pt written by eelu train")
      ->required();
  eval_cmd->add_option("--data-dir", eval_args->data_dir,
                       "where the dataset is, if not where it was in training");
  eval_cmd->add_flag("--bn-recalibrate", eval_args->bn_recalibrate,
                     "re-estimate BatchNorm's statistics first, as train --bn-recalibrate does "
                     "after the last epoch (one pass of the run's training subset, noise off)");
  eval_cmd->add_option("--device", eval_args->device,
                       "where to evaluate: auto (default), cpu, cuda, cuda:N (wherever it was "
                       "trained)");

  return [=] {
    if (train_cmd->parsed()) return run_train(*train_config, argc, argv);
    if (compare_cmd->parsed()) return run_compare(*compare_config, *compare_acts);
    if (eval_cmd->parsed()) return run_eval(*eval_args);
    return -1;
  };
}

}  // namespace eelu::app
