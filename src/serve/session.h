// Server-side conversations. A Session owns a Stream over a sink + window
// cache (constant memory however long it runs) and the little chat state a
// round needs; the SessionStore keeps at most N of them, evicting idle ones
// in LRU order.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "model/sampler.h"
#include "model/stream.h"
#include "serve/chat_template.h"

namespace ss::serve {

// A request the server refuses: HTTP status plus OpenAI's error fields.
struct ApiError : Error {
  ApiError(int status, std::string message, std::string param = "", std::string code = "")
      : Error(message), status(status), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string param, code;
};

struct GenerateParams {
  SamplerConfig sampling;
  int max_tokens = 16;
  std::vector<std::string> stop;  // the reply ends before the first match
  bool trim_leading_space = false;
  bool ignore_eos = false;  // EOS is sampled like any token (vLLM's extension)
  // Checked before every token: false ends the reply (deadline, shutdown).
  std::function<bool()> keep_going;
  int kernel_threads = 1;          // OpenMP threads of the calling thread's kernels
  std::function<void()> on_token;  // after every generated token
};

struct GenerateResult {
  std::string text;
  std::string finish_reason;  // "stop" (EOS or a stop string) or "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
  bool cancelled = false;  // on_text returned false (the client went away)
};

// Figures for /metrics and the page; readable while a request runs.
struct CacheStats {
  int64_t n_seen = 0;
  int capacity = 0, kept = 0;
  int64_t evicted = 0;
  size_t bytes = 0;
};

class Session {
 public:
  enum class Mode { Chat, Completion };

  Session(std::string id, Mode mode, std::shared_ptr<const Model> model, const CachePolicy& p);

  const std::string& id() const { return id_; }
  Mode mode() const { return mode_; }
  const CachePolicy& policy() const { return stream_.policy(); }
  int64_t n_seen() const { return stream_.n_seen(); }

  // One request at a time: the store claims a session for a request.
  bool try_claim() { return !busy_.exchange(true); }
  void release();
  bool busy() const { return busy_; }

  // The tokens a chat round feeds: the close of the previous reply plus the
  // messages the session has not seen. msgs is either the whole
  // conversation (OpenAI style; the prefix must match what this session
  // holds) or only the new turns. 400 when it fits neither.
  std::vector<int> chat_round(const std::vector<ChatMessage>& msgs, const ChatTemplate& tmpl,
                              const Tokenizer& tok);
  // Records the round's messages and the reply once it is generated.
  void commit_chat(const std::string& reply);

  // Feeds prompt (not empty) and samples up to max_tokens tokens, every one
  // fed back, calling on_text with text as soon as no stop string can claim it.
  GenerateResult generate(const std::vector<int>& prompt, const GenerateParams& p,
                          const Tokenizer& tok,
                          const std::function<bool(const std::string&)>& on_text);

  CacheStats stats() const;
  // The cache as the page draws it: slots, occupancy, evictions.
  nlohmann::json describe(const Tokenizer& tok) const;
  double idle_seconds() const;

 private:
  void feed(const int* ids, int n);

  const std::string id_;
  const Mode mode_;
  std::atomic<bool> busy_{false};
  std::unique_ptr<Backend> backend_;  // its scratch buffers are per session
  Stream stream_;
  std::optional<Sampler> sampler_;
  std::vector<float> logits_;
  int last_token_ = -1;

  // Chat state: a hash of the messages so far keeps memory constant.
  uint64_t history_hash_;
  int64_t n_messages_ = 0;
  bool reply_open_ = false;  // the last reply has not been closed yet
  uint64_t pending_hash_ = 0;
  int64_t pending_messages_ = 0;

  // What describe() and stats() read, under view_mu_.
  mutable std::mutex view_mu_;
  std::vector<int> slot_tokens_;  // token id per cache slot, -1: empty
  int newest_slot_ = -1;
  int64_t seen_ = 0, rounds_ = 0, prompt_tokens_ = 0, completion_tokens_ = 0;
  std::chrono::steady_clock::time_point last_used_;
};

// A session held busy for one request; releases it when destroyed.
class Claim {
 public:
  explicit Claim(std::shared_ptr<Session> s) : s_(std::move(s)) {}
  Claim(Claim&& o) noexcept = default;
  Claim& operator=(Claim&&) = delete;
  ~Claim() { reset(); }
  // Frees the session for the next request.
  void reset() {
    if (s_) s_->release();
    s_.reset();
  }
  Session* operator->() const { return s_.get(); }
  Session& operator*() const { return *s_; }

 private:
  std::shared_ptr<Session> s_;
};

class SessionStore {
 public:
  using Factory = std::function<std::shared_ptr<Session>()>;
  explicit SessionStore(int max_sessions, int max_tombstones = 4096);

  // Claims session id for one request, creating it with make() when it is
  // new and create is set (evicting the least recently used idle session at
  // the limit). ApiError 404 when it is unknown and !create or was evicted,
  // 409 when another request holds it, 503 when every session is busy.
  Claim claim(const std::string& id, bool create, const Factory& make);
  std::shared_ptr<Session> find(const std::string& id) const;
  // Removes a session (and forgets that it was evicted). 404 unknown, 409 busy.
  void erase(const std::string& id);
  std::vector<std::shared_ptr<Session>> all() const;
  int max_sessions() const { return max_; }
  int64_t evicted() const;

 private:
  void evict_one();  // under mu_

  const int max_, max_tombstones_;
  mutable std::mutex mu_;
  std::list<std::shared_ptr<Session>> lru_;  // most recently claimed first
  std::unordered_map<std::string, std::list<std::shared_ptr<Session>>::iterator> by_id_;
  std::deque<std::string> tombstone_order_;
  std::unordered_set<std::string> tombstones_;
  int64_t evicted_ = 0;
};

}  // namespace ss::serve
