#include "eelu/experiment/store.h"

#include <c10/util/Exception.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "experiment/this_host.h"

namespace eelu::experiment {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// How long a statement waits for another process's lock before giving up; the environment
// variable EELU_DB_BUSY_TIMEOUT (seconds) overrides it (tests use a short one).
int busy_timeout_ms() {
  static const int ms = [] {
    if (const char* env = std::getenv("EELU_DB_BUSY_TIMEOUT")) {
      try {
        return std::max(0, static_cast<int>(std::stod(env) * 1000));
      } catch (const std::exception&) {
      }
    }
    return 30000;
  }();
  return ms;
}

[[noreturn]] void sql_fail(sqlite3* db, int rc, const std::string& what) {
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    TORCH_CHECK(false, "experiment database: ", what,
                ": the database is locked by another "
                "process (waited ",
                busy_timeout_ms() / 1000.0, " s); nothing was changed");
  }
  TORCH_CHECK(false, "experiment database: ", what, ": ",
              db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

// A prepared statement; bind with 1-based indices.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr);
    if (rc != SQLITE_OK) sql_fail(db, rc, "preparing " + sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // true while there is a row
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sql_fail(db_, rc, "running a statement");
  }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const {
    return sqlite3_column_type(s_, c) == SQLITE_NULL ? -1.0 : sqlite3_column_double(s_, c);
  }
  std::string text(int c) const {
    const auto* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on an exception.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) sql_fail(db_, rc, "starting a transaction");
  }
  void commit() {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) sql_fail(db_, rc, "committing");
    done_ = true;
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  key TEXT UNIQUE NOT NULL,
  axes TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'done', 'failed')),
  owner TEXT, host TEXT, pid INTEGER, heartbeat REAL,
  started REAL, finished REAL,
  attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  final_test_acc REAL, best_test_acc REAL, best_epoch INTEGER, seconds REAL);
CREATE TABLE IF NOT EXISTS epochs (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  epoch INTEGER NOT NULL,
  train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL,
  val_loss REAL, val_acc REAL, lr REAL, seconds REAL, images_per_second REAL,
  PRIMARY KEY (run_id, epoch));
)sql";

}  // namespace

Store::Store(sqlite3* db) : db_(db) {}
Store::Store(Store&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
Store& Store::operator=(Store&& o) noexcept {
  std::swap(db_, o.db_);
  return *this;
}
Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const std::string& sql) const {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sql_fail(db_, rc, sql.substr(0, 40));
    TORCH_CHECK(false, "experiment database: ", message);
  }
}

Store Store::open(const std::string& dir, const GridConfig* grid) {
  const fs::path path = fs::path(dir) / "experiment.db";
  if (!grid) {
    TORCH_CHECK(fs::exists(path), "no experiment database in ", dir, " (", path.string(),
                " does not exist; run `eelu grid CONFIG` first)");
  } else {
    fs::create_directories(dir);
  }
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (grid ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.string().c_str(), &raw, flags, nullptr);
  Store store(raw);
  if (rc != SQLITE_OK) sql_fail(raw, rc, "opening " + path.string());
  sqlite3_busy_timeout(raw, busy_timeout_ms());
  store.exec("PRAGMA journal_mode=WAL");
  store.exec("PRAGMA synchronous=NORMAL");
  store.exec("PRAGMA foreign_keys=ON");
  {
    // A file that is not SQLite fails here with SQLite's own words; say which file.
    try {
      Stmt probe(raw, "SELECT count(*) FROM sqlite_master");
      probe.step();
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, path.string(),
                  " is not a usable experiment database: ", e.what_without_backtrace());
    }
  }
  if (!grid) {
    TORCH_CHECK(!store.meta("grid_digest").empty(), path.string(),
                " is not an experiment database (no grid recorded in it)");
    return store;
  }
  Transaction t(raw);
  store.exec(kSchema);
  const std::string existing = store.meta("grid_digest");
  if (!existing.empty()) {
    TORCH_CHECK(existing == grid->digest, path.string(), " belongs to another grid ('",
                store.meta("grid_name"), "' from ", store.meta("config_path"), ", digest ",
                existing, "); this config (", grid->path, ", digest ", grid->digest,
                ") has other runs or settings. Nothing was changed: use another "
                "directory, or remove the old one");
    t.commit();
    return store;
  }
  auto set_meta = [&](const std::string& k, const std::string& v) {
    Stmt(raw, "INSERT INTO meta(key, value) VALUES(?, ?)").bind(1, k).bind(2, v).step();
  };
  set_meta("format", "1");
  set_meta("grid_name", grid->name);
  set_meta("grid_digest", grid->digest);
  set_meta("description", grid->description);
  set_meta("config_path", grid->path);
  json axes = json::array();
  for (const auto& [name, values] : grid->axes)
    axes.push_back({{"name", name}, {"values", values}});
  set_meta("axes", axes.dump());
  set_meta("created", std::to_string(wall_seconds()));
  for (const RunSpec& r : grid->runs) {
    json a = json::object();
    for (const auto& [k, v] : r.axes) a[k] = v;
    Stmt(raw, "INSERT INTO runs(key, axes, config) VALUES(?, ?, ?)")
        .bind(1, r.key)
        .bind(2, a.dump())
        .bind(3, train::config_json(r.config))
        .step();
  }
  t.commit();
  return store;
}

std::string Store::meta(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  return s.step() ? s.text(0) : "";
}

namespace {
RunRecord read_run(const Stmt& s) {
  RunRecord r;
  r.id = s.i64(0);
  r.key = s.text(1);
  r.axes_json = s.text(2);
  r.config_json = s.text(3);
  r.status = s.text(4);
  r.error = s.text(5);
  r.attempts = s.i64(6);
  r.final_test_acc = s.f64(7);
  r.best_test_acc = s.f64(8);
  r.best_epoch = s.i64(9);
  r.seconds = s.f64(10);
  r.owner = s.text(11);
  return r;
}
constexpr const char* kRunColumns =
    "id, key, axes, config, status, error, attempts, final_test_acc, best_test_acc, "
    "best_epoch, seconds, owner";
}  // namespace

std::optional<RunRecord> Store::claim(const std::string& owner, double stale_seconds) {
  Transaction t(db_);
  const std::string host = hostname();
  const double now = wall_seconds();
  int64_t chosen = -1;
  {
    Stmt s(db_,
           "SELECT id, status, host, pid, heartbeat FROM runs "
           "WHERE status IN ('pending', 'running') ORDER BY id");
    while (s.step()) {
      if (s.text(1) == "pending") {
        chosen = s.i64(0);
        break;
      }
      const bool dead_here = s.text(2) == host && process_gone(s.i64(3));
      const bool silent = now - s.f64(4) > stale_seconds;
      if (dead_here || silent) {
        chosen = s.i64(0);
        break;
      }
    }
  }
  if (chosen < 0) return std::nullopt;
  Stmt(db_,
       "UPDATE runs SET status = 'running', owner = ?, host = ?, pid = ?, heartbeat = ?, "
       "started = coalesce(started, ?), attempts = attempts + 1, error = NULL "
       "WHERE id = ?")
      .bind(1, owner)
      .bind(2, host)
      .bind(3, static_cast<int64_t>(::getpid()))
      .bind(4, now)
      .bind(5, now)
      .bind(6, chosen)
      .step();
  Stmt s(db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  s.bind(1, chosen);
  s.step();
  RunRecord r = read_run(s);
  t.commit();
  return r;
}

void Store::heartbeat(int64_t run_id) {
  Stmt(db_, "UPDATE runs SET heartbeat = ? WHERE id = ?")
      .bind(1, wall_seconds())
      .bind(2, run_id)
      .step();
}

void Store::record_epoch(int64_t run_id, const train::EpochMetrics& m) {
  Stmt(db_,
       "INSERT OR REPLACE INTO epochs(run_id, epoch, train_loss, train_acc, test_loss, "
       "test_acc, val_loss, val_acc, lr, seconds, images_per_second) "
       "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, run_id)
      .bind(2, m.epoch)
      .bind(3, m.train_loss)
      .bind(4, m.train_acc)
      .bind(5, m.test_loss)
      .bind(6, m.test_acc)
      .bind(7, m.val_loss)
      .bind(8, m.val_acc)
      .bind(9, m.lr)
      .bind(10, m.seconds)
      .bind(11, m.images_per_second)
      .step();
  heartbeat(run_id);
}

void Store::finish(int64_t run_id, const train::TrainResult& result) {
  Transaction t(db_);
  for (const auto& m : result.epochs) record_epoch(run_id, m);
  Stmt(db_,
       "UPDATE runs SET status = 'done', finished = ?, final_test_acc = ?, "
       "best_test_acc = ?, best_epoch = ?, seconds = ?, error = NULL WHERE id = ?")
      .bind(1, wall_seconds())
      .bind(2, result.final_test_acc)
      .bind(3, result.best_test_acc)
      .bind(4, result.best_epoch)
      .bind(5, result.seconds)
      .bind(6, run_id)
      .step();
  t.commit();
}

void Store::fail(int64_t run_id, const std::string& error) {
  Stmt(db_, "UPDATE runs SET status = 'failed', finished = ?, error = ? WHERE id = ?")
      .bind(1, wall_seconds())
      .bind(2, error)
      .bind(3, run_id)
      .step();
}

void Store::release(int64_t run_id) {
  Stmt(db_, "UPDATE runs SET status = 'pending', owner = NULL, pid = NULL WHERE id = ?")
      .bind(1, run_id)
      .step();
}

void Store::retry_failed() {
  exec("UPDATE runs SET status = 'pending', error = NULL WHERE status = 'failed'");
}

void Store::set_task_state(int64_t run_id, const std::string& status, const std::string& owner,
                           const std::string& host, double heartbeat, int64_t attempts,
                           const std::string& error) {
  Stmt(db_,
       "UPDATE runs SET status = ?, owner = nullif(?, ''), host = nullif(?, ''), pid = NULL, "
       "heartbeat = ?, attempts = max(attempts, ?), error = nullif(?, ''), "
       "finished = CASE WHEN ? = 'failed' THEN ? ELSE finished END WHERE id = ?")
      .bind(1, status)
      .bind(2, owner)
      .bind(3, host)
      .bind(4, heartbeat)
      .bind(5, attempts)
      .bind(6, error)
      .bind(7, status)
      .bind(8, wall_seconds())
      .bind(9, run_id)
      .step();
}

std::vector<RunRecord> Store::runs() const {
  Stmt s(db_, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::vector<EpochRecord> Store::epochs() const {
  Stmt s(db_,
         "SELECT run_id, epoch, train_loss, train_acc, test_loss, test_acc, val_loss, "
         "val_acc, lr, seconds, images_per_second FROM epochs ORDER BY run_id, epoch");
  std::vector<EpochRecord> out;
  while (s.step()) {
    EpochRecord e;
    e.run_id = s.i64(0);
    e.m.epoch = s.i64(1);
    e.m.train_loss = s.f64(2);
    e.m.train_acc = s.f64(3);
    e.m.test_loss = s.f64(4);
    e.m.test_acc = s.f64(5);
    e.m.val_loss = s.f64(6);
    e.m.val_acc = s.f64(7);
    e.m.lr = s.f64(8);
    e.m.seconds = s.f64(9);
    e.m.images_per_second = s.f64(10);
    out.push_back(e);
  }
  return out;
}

int64_t Store::epoch_count(int64_t run_id) const {
  Stmt s(db_, "SELECT count(*) FROM epochs WHERE run_id = ?");
  s.bind(1, run_id);
  s.step();
  return s.i64(0);
}

int64_t Store::count(const std::string& status) const {
  Stmt s(db_, "SELECT count(*) FROM runs WHERE status = ?");
  s.bind(1, status);
  s.step();
  return s.i64(0);
}

}  // namespace eelu::experiment
