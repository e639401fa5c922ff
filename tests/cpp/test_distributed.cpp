// Distributed training's parts, in one process: the loader's shards, and two real ranks
// (two threads, each with its own TCPStore client and Gloo process group on loopback)
// checking the collectives, synchronised BatchNorm and the gradient buckets against the
// same computation on the whole batch in float64.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <functional>
#include <future>
#include <numeric>
#include <set>
#include <thread>

#include "eelu/data/loader.h"
#include "eelu/distributed/distributed.h"
#include "eelu/distributed/launch.h"
#include "eelu/distributed/slurm.h"
#include "eelu/distributed/sync_batchnorm.h"

namespace eelu::test {
namespace {

using distributed::Group;

data::ImageSplit numbered_split(int64_t n) {
  data::ImageSplit s;
  s.images = at::zeros({n, 1, 2, 2}, at::kByte);
  s.labels = at::arange(n, at::kLong);  // label = position: what a batch holds is visible
  return s;
}

// The labels of every batch of `epoch`, per shard.
std::vector<std::vector<std::vector<int64_t>>> shard_batches(int64_t n, int64_t batch,
                                                             int64_t shards, int64_t epoch) {
  std::vector<std::vector<std::vector<int64_t>>> out(static_cast<size_t>(shards));
  for (int64_t r = 0; r < shards; ++r) {
    data::LoaderOptions o;
    o.batch_size = batch;
    o.workers = 0;
    o.seed = 7;
    o.shard = r;
    o.shards = shards;
    data::DataLoader loader(numbered_split(n), {0.0}, {1.0}, o);
    loader.start_epoch(epoch);
    data::Batch b;
    while (loader.next(b)) {
      const at::Tensor l = b.labels.contiguous();
      out[static_cast<size_t>(r)].emplace_back(l.data_ptr<int64_t>(),
                                               l.data_ptr<int64_t>() + l.numel());
    }
  }
  return out;
}

TEST(DistributedLoader, ShardsAreDisjointCompleteAndFormTheGlobalBatches) {
  for (const auto& [n, batch, shards] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1000, 32, 2}, {1000, 30, 3}, {65, 32, 2}, {129, 32, 2}, {7, 1, 3}, {100, 64, 1}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " batch=" + std::to_string(batch) +
                 " shards=" + std::to_string(shards));
    for (int64_t epoch : {0, 1}) {
      const auto per_shard = shard_batches(n, batch, shards, epoch);
      auto whole = shard_batches(n, batch * shards, 1, epoch)[0];
      if (whole.size() > 1 && static_cast<int64_t>(whole.back().size()) < shards) {
        // the documented exception: a tail too small for every shard joins the batch before
        whole[whole.size() - 2].insert(whole[whole.size() - 2].end(), whole.back().begin(),
                                       whole.back().end());
        whole.pop_back();
      }
      std::vector<int64_t> seen;
      for (int64_t r = 0; r < shards; ++r) {
        // every shard has the same number of batches, none empty
        ASSERT_EQ(per_shard[static_cast<size_t>(r)].size(), whole.size());
        for (const auto& b : per_shard[static_cast<size_t>(r)]) {
          ASSERT_FALSE(b.empty());
          seen.insert(seen.end(), b.begin(), b.end());
        }
      }
      // disjoint and complete
      ASSERT_EQ(static_cast<int64_t>(seen.size()), n);
      std::set<int64_t> unique(seen.begin(), seen.end());
      ASSERT_EQ(static_cast<int64_t>(unique.size()), n);
      // batch i of the shards together is batch i of one loader with the global batch size
      for (size_t i = 0; i < whole.size(); ++i) {
        std::vector<int64_t> joined;
        for (int64_t r = 0; r < shards; ++r) {
          const auto& b = per_shard[static_cast<size_t>(r)][i];
          joined.insert(joined.end(), b.begin(), b.end());
        }
        ASSERT_EQ(joined, whole[i]) << "global batch " << i;
      }
    }
  }
  // The permutation depends on the epoch.
  EXPECT_NE(shard_batches(1000, 32, 2, 0)[0][0], shard_batches(1000, 32, 2, 1)[0][0]);
  // A last global batch smaller than the shard count joins the one before: 65 = 64 + 1.
  const auto tail = shard_batches(65, 32, 2, 0);
  EXPECT_EQ(tail[0].size(), 1u);
  EXPECT_EQ(tail[0][0].size() + tail[1][0].size(), 65u);
}

TEST(DistributedLoader, BadShardsAreRefused) {
  data::LoaderOptions o;
  o.shard = 2;
  o.shards = 2;
  EXPECT_THROW(data::DataLoader(numbered_split(10), {0.0}, {1.0}, o), c10::Error);
  o.shard = 0;
  o.shards = 11;
  try {
    data::DataLoader loader(numbered_split(10), {0.0}, {1.0}, o);
    FAIL() << "10 images in 11 shards";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-empty shards"), std::string::npos) << e.what();
  }
}

// Runs `body(group)` on `world` ranks, one thread each, and rethrows the first failure.
void on_ranks(int world, const std::function<void(Group&)>& body) {
  const int port = distributed::free_port();
  std::vector<std::future<void>> done;
  for (int r = 0; r < world; ++r) {
    done.push_back(std::async(std::launch::async, [=] {
      distributed::Environment env;
      env.rank = r;
      env.world_size = world;
      env.master_addr = "127.0.0.1";
      env.master_port = port;
      auto group = Group::connect(env, std::chrono::seconds(30));
      body(*group);
    }));
  }
  for (auto& d : done) d.get();
}

TEST(DistributedGroup, CollectivesGiveTheSumsAndRankZerosValues) {
  if (!Group::available()) GTEST_SKIP() << "this eelu was built without distributed training";
  on_ranks(3, [](Group& g) {
    ASSERT_EQ(g.world_size(), 3);
    at::Tensor x = at::full({5}, double(g.rank() + 1), at::kDouble);
    g.all_reduce_sum({x});
    EXPECT_TRUE(at::equal(x, at::full({5}, 6.0, at::kDouble)));
    at::Tensor y = at::full({2, 2}, float(g.rank()), at::kFloat);
    g.broadcast({y}, 1);
    EXPECT_TRUE(at::equal(y, at::full({2, 2}, 1.0f)));
    const at::Tensor rows = g.all_gather(at::full({2}, double(10 * g.rank()), at::kDouble));
    EXPECT_TRUE(
        at::equal(rows, at::tensor({0.0, 0.0, 10.0, 10.0, 20.0, 20.0}, at::kDouble).view({3, 2})));
    const std::string text =
        g.broadcast_bytes(g.rank() == 0 ? std::string("rank zero\0bytes", 15) : "");
    EXPECT_EQ(text, std::string("rank zero\0bytes", 15));
    at::Tensor z = at::full({3}, float(g.rank() + 1), at::kFloat);
    auto pending = g.all_reduce_sum_async(z);
    g.wait(*pending);
    EXPECT_TRUE(at::equal(z, at::full({3}, 6.0f))) << z;  // reduced in place, once
    g.barrier();
  });
}

// Ranks on GPUs need NCCL: a build without it says so by name before any rendezvous.
TEST(DistributedGroup, RanksOnGpusWithoutNcclAreRefusedByName) {
  if (Group::available(c10::kCUDA)) GTEST_SKIP() << "this eelu has NCCL";
  distributed::Environment env;
  env.rank = 0;
  env.world_size = 2;
  env.master_addr = "127.0.0.1";
  env.master_port = distributed::free_port();
  try {
    Group::connect(env, std::chrono::milliseconds(1000), c10::Device(c10::kCUDA, 0));
    FAIL() << "a CUDA group without NCCL";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("NCCL"), std::string::npos) << e.what();
  }
}

TEST(DistributedGroup, AnUnreachableMasterFailsWithAClearErrorAfterTheTimeout) {
  if (!Group::available()) GTEST_SKIP() << "this eelu was built without distributed training";
  distributed::Environment env;
  env.rank = 1;
  env.world_size = 2;
  env.master_addr = "127.0.0.1";
  env.master_port = distributed::free_port();  // nobody serves it
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Group::connect(env, std::chrono::milliseconds(1500));
    FAIL() << "connected to nobody";
  } catch (const c10::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(
        m.find("could not reach the rendezvous at 127.0.0.1:" + std::to_string(env.master_port)),
        std::string::npos)
        << m;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 30.0);
}

// Synchronised BatchNorm on two ranks, each with half the batch, against at::batch_norm on
// the whole batch (float64): outputs, all three gradients and the running statistics.
TEST(DistributedSyncBatchNorm, TwoHalvesEqualTheWholeBatch) {
  if (!Group::available()) GTEST_SKIP() << "this eelu was built without distributed training";
  at::manual_seed(3);
  // Uneven halves (5 and 3 images) and a non-zero mean, as real shards may be.
  const at::Tensor x = at::randn({8, 4, 3, 5}, at::kDouble) * 2 + 1;
  const at::Tensor w0 = at::rand({4}, at::kDouble) + 0.5, b0 = at::randn({4}, at::kDouble);
  const at::Tensor dy = at::randn({8, 4, 3, 5}, at::kDouble);
  const double momentum = 0.1, eps = 1e-5;
  // Reference.
  at::Tensor xr = x.clone().set_requires_grad(true), wr = w0.clone().set_requires_grad(true),
             br = b0.clone().set_requires_grad(true);
  at::Tensor rm = at::zeros({4}, at::kDouble), rv = at::ones({4}, at::kDouble);
  const at::Tensor yr = at::batch_norm(xr, wr, br, rm, rv, true, momentum, eps, false);
  (yr * dy).sum().backward();

  std::vector<at::Tensor> y(2), gx(2), gw(2), gb(2), rms(2), rvs(2);
  on_ranks(2, [&](Group& g) {
    const int r = g.rank();
    const int64_t lo = r == 0 ? 0 : 5, hi = r == 0 ? 5 : 8;
    at::Tensor xs = x.slice(0, lo, hi).clone().set_requires_grad(true);
    at::Tensor ws = w0.clone().set_requires_grad(true), bs = b0.clone().set_requires_grad(true);
    at::Tensor m = at::zeros({4}, at::kDouble), v = at::ones({4}, at::kDouble);
    const at::Tensor out = distributed::sync_batch_norm(xs, ws, bs, m, v, momentum, eps, &g);
    (out * dy.slice(0, lo, hi)).sum().backward();
    y[r] = out.detach();
    gx[r] = xs.grad();
    gw[r] = ws.grad();
    gb[r] = bs.grad();
    rms[r] = m;
    rvs[r] = v;
  });
  EXPECT_TRUE(at::allclose(at::cat(y), yr, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(at::cat(gx), xr.grad(), 1e-10, 1e-12));
  // Each rank's weight and bias gradients are its own part; their sum is the whole.
  EXPECT_TRUE(at::allclose(gw[0] + gw[1], wr.grad(), 1e-10, 1e-12));
  EXPECT_TRUE(at::allclose(gb[0] + gb[1], br.grad(), 1e-10, 1e-12));
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(at::allclose(rms[r], rm, 1e-12, 1e-14));
    EXPECT_TRUE(at::allclose(rvs[r], rv, 1e-12, 1e-14));
  }
}

// Gradient buckets: small buckets (several of them, sent while backward runs), a parameter
// that gets no gradient, and the sums written into .grad, scaled.
TEST(DistributedGradientReducer, BucketsSumTheGradientsOfEveryRank) {
  if (!Group::available()) GTEST_SKIP() << "this eelu was built without distributed training";
  std::vector<std::vector<at::Tensor>> grads(2);
  std::vector<std::vector<at::Tensor>> local(2);
  std::vector<size_t> buckets(2);
  on_ranks(2, [&](Group& g) {
    const int r = g.rank();
    at::manual_seed(11);  // same parameters on both ranks
    std::vector<at::Tensor> params;
    for (int64_t n : {300, 7, 64, 1000, 5})
      params.push_back(at::randn({n}, at::kFloat).set_requires_grad(true));
    at::Tensor unused = at::zeros({3}, at::kFloat).set_requires_grad(true);
    params.push_back(unused);
    std::shared_ptr<Group> shared(&g, [](Group*) {});
    distributed::GradientReducer reducer(shared, params, /*bucket_bytes=*/1024,
                                         /*first_bucket_bytes=*/16);
    buckets[r] = reducer.bucket_count();
    for (int step = 0; step < 2; ++step) {
      for (auto& p : params) p.mutable_grad() = at::Tensor();
      reducer.prepare();
      at::Tensor loss = at::zeros({}, at::kFloat);
      for (size_t i = 0; i + 1 < params.size(); ++i) {
        loss = loss + (params[i] * params[i]).sum() * float(r + 1) * float(i + 1 + step);
      }
      loss.backward();
      if (step == 1) {
        local[r].clear();
        for (size_t i = 0; i + 1 < params.size(); ++i) local[r].push_back(params[i].grad().clone());
      }
      reducer.finish(0.5);
    }
    for (auto& p : params) grads[r].push_back(p.grad().clone());
  });
  EXPECT_GE(buckets[0], 3u);
  for (size_t i = 0; i + 1 < grads[0].size(); ++i) {
    const at::Tensor expected = (local[0][i] + local[1][i]) * 0.5;
    EXPECT_TRUE(at::allclose(grads[0][i], expected, 1e-6, 1e-6)) << "parameter " << i;
    EXPECT_TRUE(at::equal(grads[0][i], grads[1][i])) << "parameter " << i;
  }
  EXPECT_TRUE(at::equal(grads[0].back(), at::zeros({3}, at::kFloat)));  // no gradient: zeros
}

TEST(DistributedEnvironment, VariablesAreCheckedByName) {
  struct Env {
    const char* name;
    const char* value;
  };
  auto with = [](std::vector<Env> vars, const std::function<void()>& body) {
    for (const char* k :
         {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "LOCAL_WORLD_SIZE"}) {
      ::unsetenv(k);
    }
    for (const auto& v : vars) ::setenv(v.name, v.value, 1);
    body();
    for (const auto& v : vars) ::unsetenv(v.name);
  };
  with({}, [] { EXPECT_EQ(distributed::environment_from_env().world_size, 1); });
  with({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}},
       [] {
         const auto e = distributed::environment_from_env();
         EXPECT_EQ(e.rank, 1);
         EXPECT_EQ(e.world_size, 2);
         EXPECT_EQ(e.master_addr, "10.0.0.1");
         EXPECT_EQ(e.master_port, 29500);
       });
  auto refused = [&](std::vector<Env> vars, const std::string& needle) {
    with(vars, [&] {
      try {
        distributed::environment_from_env();
        ADD_FAILURE() << "accepted; expected an error naming " << needle;
      } catch (const c10::Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      }
    });
  };
  refused({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}},
          "RANK='2'");
  refused({{"RANK", "0"}, {"WORLD_SIZE", "two"}}, "WORLD_SIZE='two'");
  refused({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}, "MASTER_ADDR is not set");
  refused({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}},
          "MASTER_PORT='70000'");
  refused({{"WORLD_SIZE", "2"}}, "RANK is not set");
}

TEST(DistributedEnvironment, SlurmHostListsAndTaskCounts) {
  EXPECT_EQ(distributed::first_host("vm"), "vm");
  EXPECT_EQ(distributed::first_host("node[07-10,12]"), "node07");
  EXPECT_EQ(distributed::first_host("gpu[1-2]-ib,cpu3"), "gpu1-ib");
  EXPECT_EQ(distributed::first_host("a,b[1-2]"), "a");
  EXPECT_EQ(distributed::first_host("n[3,5]"), "n3");
  for (const char* bad : {"", "node[", "node[]", "node[a-b]"}) {
    EXPECT_THROW(distributed::first_host(bad), c10::Error) << bad;
  }
  EXPECT_EQ(distributed::tasks_on_node("2", 0), 2);
  for (int node : {0, 1, 2}) EXPECT_EQ(distributed::tasks_on_node("2(x3),1", node), 2);
  EXPECT_EQ(distributed::tasks_on_node("2(x3),1", 3), 1);
  EXPECT_THROW(distributed::tasks_on_node("2(x3),1", 4), c10::Error);
  EXPECT_THROW(distributed::tasks_on_node("two", 0), c10::Error);
}

TEST(DistributedEnvironment, AnSrunTaskOfSeveralIsARank) {
  const std::vector<const char*> names = {"RANK",
                                          "WORLD_SIZE",
                                          "MASTER_ADDR",
                                          "MASTER_PORT",
                                          "LOCAL_RANK",
                                          "LOCAL_WORLD_SIZE",
                                          "SLURM_STEP_ID",
                                          "SLURM_STEP_NUM_TASKS",
                                          "SLURM_PROCID",
                                          "SLURM_LOCALID",
                                          "SLURM_NODEID",
                                          "SLURM_STEP_TASKS_PER_NODE",
                                          "SLURM_STEP_NODELIST",
                                          "SLURM_JOB_ID"};
  auto with = [&](std::vector<std::pair<const char*, const char*>> vars,
                  const std::function<void()>& body) {
    for (const char* k : names) ::unsetenv(k);
    for (const auto& [k, v] : vars) ::setenv(k, v, 1);
    body();
    for (const char* k : names) ::unsetenv(k);
  };
  const std::vector<std::pair<const char*, const char*>> step = {
      {"SLURM_STEP_ID", "0"},
      {"SLURM_STEP_NUM_TASKS", "6"},
      {"SLURM_PROCID", "4"},
      {"SLURM_LOCALID", "1"},
      {"SLURM_NODEID", "1"},
      {"SLURM_STEP_TASKS_PER_NODE", "4,2"},
      {"SLURM_STEP_NODELIST", "n[3-4]"},
      {"SLURM_JOB_ID", "54321"}};
  with(step, [] {
    const auto e = distributed::environment_from_env();
    EXPECT_EQ(e.rank, 4);
    EXPECT_EQ(e.world_size, 6);
    EXPECT_EQ(e.local_rank, 1);
    EXPECT_EQ(e.local_world_size, 2);
    EXPECT_EQ(e.master_addr, "n3");
    EXPECT_EQ(e.master_port, 12000 + 54321 % 20000);
  });
  auto with_port = step;
  with_port.push_back({"MASTER_PORT", "29400"});
  with_port.push_back({"MASTER_ADDR", "10.1.1.1"});
  with(with_port, [] {
    const auto e = distributed::environment_from_env();
    EXPECT_EQ(e.master_port, 29400);
    EXPECT_EQ(e.master_addr, "10.1.1.1");
  });
  // A batch script (no step id) or a one-task step is a single process.
  auto batch = step;
  batch.erase(batch.begin());
  with(batch, [] { EXPECT_EQ(distributed::environment_from_env().world_size, 1); });
  with({{"SLURM_STEP_ID", "0"}, {"SLURM_STEP_NUM_TASKS", "1"}, {"SLURM_PROCID", "0"}},
       [] { EXPECT_EQ(distributed::environment_from_env().world_size, 1); });
  // torchrun's variables win over Slurm's.
  auto both = step;
  both.insert(both.end(), {{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  with(both, [] { EXPECT_EQ(distributed::environment_from_env().world_size, 1); });
  auto no_procid = step;
  no_procid.erase(no_procid.begin() + 2);
  with(no_procid, [] {
    try {
      distributed::environment_from_env();
      ADD_FAILURE() << "accepted a step without SLURM_PROCID";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("SLURM_PROCID is not set"), std::string::npos);
    }
  });
}

}  // namespace
}  // namespace eelu::test
