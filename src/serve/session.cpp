#include "serve/session.h"

#include <omp.h>

#include <algorithm>

namespace ss::serve {
namespace {

using Clock = std::chrono::steady_clock;

// A session's prompt chunk: each session holds its own workspace (rows of
// this many tokens), so 64 sessions at the Stream's default 512 would hold
// 14 MB each for SmolLM2. Sessions share no workspace yet.
constexpr int kChunk = 64;

// FNV-1a over (role, content) pairs: the chat history in 8 bytes.
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
uint64_t fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}
std::string_view trim(std::string_view s) {
  const auto ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}
// Clients may trim replies before sending them back, so contents are hashed trimmed.
uint64_t extend(uint64_t h, const ChatMessage& m) {
  return fnv(fnv(fnv(fnv(h, m.role), "\x1f"), trim(m.content)), "\x1e");
}

// The end of the longest prefix of s that does not split a UTF-8 sequence.
size_t utf8_boundary(const std::string& s, size_t end) {
  for (size_t back = 1; back <= 4 && back <= end; ++back) {
    const unsigned char c = s[end - back];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back ? end - back : end;
  }
  return end;
}

// Generated text on its way out: held back while it could still be the start
// of a stop string or of an unfinished UTF-8 character.
class TextOut {
 public:
  TextOut(const std::vector<std::string>& stop, bool trim_leading,
          const std::function<bool(const std::string&)>& emit)
      : stop_(stop), trim_(trim_leading), emit_(emit) {}

  // False ends generation: a stop string matched (stopped()) or emit refused.
  bool add(std::string_view piece) {
    if (trim_ && text_.empty())
      piece = piece.substr(std::min(piece.size(), piece.find_first_not_of(" \t\r\n")));
    text_ += piece;
    for (const std::string& s : stop_) {
      const size_t pos = text_.find(s, sent_);
      if (pos != std::string::npos) {
        text_.resize(pos);
        stopped_ = true;
        send(pos);
        return false;
      }
    }
    size_t safe = text_.size();
    for (const std::string& s : stop_)
      for (size_t n = std::min(s.size() - 1, text_.size() - sent_); n > 0; --n)
        if (text_.compare(text_.size() - n, n, s, 0, n) == 0) {
          safe = std::min(safe, text_.size() - n);
          break;
        }
    return send(utf8_boundary(text_, safe));
  }
  bool finish() { return stopped_ || send(text_.size()); }
  bool stopped() const { return stopped_; }
  std::string& text() { return text_; }

 private:
  bool send(size_t end) {
    if (end <= sent_) return true;
    const std::string chunk = text_.substr(sent_, end - sent_);
    sent_ = end;
    return !emit_ || emit_(chunk);
  }
  const std::vector<std::string>& stop_;
  bool trim_;
  const std::function<bool(const std::string&)>& emit_;
  std::string text_;
  size_t sent_ = 0;
  bool stopped_ = false;
};

}  // namespace

Session::Session(std::string id, Mode mode, std::shared_ptr<const Model> model,
                 const CachePolicy& p)
    : id_(std::move(id)),
      mode_(mode),
      backend_(make_cpu_backend()),
      stream_(std::move(model), *backend_, p, kChunk),
      logits_(stream_.model().config().vocab_size),
      history_hash_(kFnvBasis),
      slot_tokens_(p.capacity(), -1),
      last_used_(Clock::now()) {}

void Session::release() {
  {
    std::lock_guard lk(view_mu_);
    last_used_ = Clock::now();
  }
  busy_ = false;
}

std::vector<int> Session::chat_round(const std::vector<ChatMessage>& msgs, const ChatTemplate& tmpl,
                                     const Tokenizer& tok) {
  size_t start = 0;
  uint64_t h = kFnvBasis;
  if (int64_t(msgs.size()) > n_messages_) {
    for (int64_t i = 0; i < n_messages_; ++i) h = extend(h, msgs[i]);
    if (h == history_hash_) start = size_t(n_messages_);
  }
  if (start == 0 && n_messages_ > 0) {
    const bool history = std::any_of(msgs.begin(), msgs.end(),
                                     [](const ChatMessage& m) { return m.role == "assistant"; });
    if (history)
      throw ApiError(400,
                     "messages do not continue the conversation of session '" + id_ +
                         "': send the whole conversation so far or only the new turns",
                     "messages", "session_mismatch");
  }
  h = history_hash_;
  const std::vector<ChatMessage> fresh(msgs.begin() + start, msgs.end());
  for (const ChatMessage& m : fresh) h = extend(h, m);
  pending_hash_ = h;
  pending_messages_ = n_messages_ + int64_t(fresh.size());
  std::vector<int> ids = reply_open_ ? tmpl.end_of_reply(tok) : std::vector<int>{};
  const std::vector<int> turn = tmpl.render(fresh, stream_.n_seen() == 0, tok);
  ids.insert(ids.end(), turn.begin(), turn.end());
  return ids;
}

void Session::commit_chat(const std::string& reply) {
  history_hash_ = extend(pending_hash_, {"assistant", reply});
  n_messages_ = pending_messages_ + 1;
  reply_open_ = true;
}

void Session::feed(const int* ids, int n) {
  stream_.feed(ids, n, logits_.data(), false);
  last_token_ = ids[n - 1];
  // The cache also holds the lead (the sink token, fed before the first
  // token), so token i of the session is the cache's token lead + i.
  const int lead = lead_tokens(stream_.model().config());
  std::lock_guard lk(view_mu_);
  if (seen_ == 0 && lead > 0)
    slot_tokens_[stream_.cache().slot(0)] = stream_.model().config().sink_token_id;
  for (int i = 0; i < n; ++i) {
    newest_slot_ = stream_.cache().slot(lead + seen_ + i);
    slot_tokens_[newest_slot_] = ids[i];
  }
  seen_ += n;
}

GenerateResult Session::generate(const std::vector<int>& prompt, const GenerateParams& p,
                                 const Tokenizer& tok,
                                 const std::function<bool(const std::string&)>& on_text) {
  omp_set_num_threads(p.kernel_threads);  // this thread's teams only
  GenerateResult r;
  const auto t0 = Clock::now();
  check(!prompt.empty(), "session ", id_, ": a round needs at least one new token");
  feed(prompt.data(), int(prompt.size()));
  const auto t1 = Clock::now();
  r.prompt_tokens = int64_t(prompt.size());
  r.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

  sampler_.emplace(p.sampling);
  TextOut out(p.stop, p.trim_leading_space, on_text);
  // Ids past the tokenizer (padded embeddings) are never sampled: they have no text.
  const int V = std::min(int(logits_.size()), tok.vocab_size());
  r.finish_reason = "length";
  while (r.completion_tokens < p.max_tokens && (!p.keep_going || p.keep_going())) {
    const int next = sampler_->sample(logits_.data(), V);
    if (!p.ignore_eos && (next == tok.eos_id() || next == tok.bos_id() || tok.is_eog(next))) {
      r.finish_reason = "stop";
      break;
    }
    const std::string piece = tok.decode(last_token_, next);
    feed(&next, 1);
    ++r.completion_tokens;
    if (p.on_token) p.on_token();
    if (!out.add(piece)) {
      if (out.stopped())
        r.finish_reason = "stop";
      else
        r.cancelled = true;
      break;
    }
  }
  if (!r.cancelled) r.cancelled = !out.finish();
  r.text = std::move(out.text());
  r.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  std::lock_guard lk(view_mu_);
  ++rounds_;
  prompt_tokens_ += r.prompt_tokens;
  completion_tokens_ += r.completion_tokens;
  return r;
}

CacheStats Session::stats() const {
  std::lock_guard lk(view_mu_);
  CacheStats s;
  s.n_seen = seen_;
  s.capacity = stream_.policy().capacity();
  // The cache holds the lead (sink token) too, once anything was fed.
  const int64_t cached = seen_ > 0 ? seen_ + lead_tokens(stream_.model().config()) : 0;
  s.kept = int(std::min<int64_t>(cached, s.capacity));
  s.evicted = cached - s.kept;
  s.bytes = stream_.cache().bytes();
  return s;
}

double Session::idle_seconds() const {
  std::lock_guard lk(view_mu_);
  return busy_ ? 0.0 : std::chrono::duration<double>(Clock::now() - last_used_).count();
}

nlohmann::json Session::describe(const Tokenizer& tok) const {
  const CacheStats s = stats();
  const CachePolicy& p = stream_.policy();
  nlohmann::json j = {{"id", id_},
                      {"object", "session"},
                      {"mode", mode_ == Mode::Chat ? "chat" : "completion"},
                      {"policy", p.name()},
                      {"sinks", p.sinks},
                      {"window", p.window},
                      {"capacity", s.capacity},
                      {"n_seen", s.n_seen},
                      {"kept", s.kept},
                      {"evicted", s.evicted},
                      {"cache_bytes", s.bytes},
                      {"busy", busy()},
                      {"idle_seconds", idle_seconds()}};
  nlohmann::json slots = nlohmann::json::array();
  const int sink = stream_.model().config().sink_token_id;
  std::lock_guard lk(view_mu_);
  for (int id : slot_tokens_)
    slots.push_back(id < 0       ? nlohmann::json()
                    : id == sink ? nlohmann::json("<sink>")
                                 : nlohmann::json(tok.decode(-1, id)));
  j["slots"] = std::move(slots);
  j["newest_slot"] = newest_slot_;
  j["rounds"] = rounds_;
  j["prompt_tokens"] = prompt_tokens_;
  j["completion_tokens"] = completion_tokens_;
  return j;
}

SessionStore::SessionStore(int max_sessions, int max_tombstones)
    : max_(max_sessions), max_tombstones_(max_tombstones) {}

Claim SessionStore::claim(const std::string& id, bool create, const Factory& make) {
  auto take = [&](const std::shared_ptr<Session>& s) {
    if (!s->try_claim())
      throw ApiError(409, "session '" + id + "' is busy with another request", "session_id",
                     "session_busy");
    lru_.splice(lru_.begin(), lru_, by_id_.at(id));
    return Claim(s);
  };
  {
    std::lock_guard lk(mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) return take(*it->second);
    if (tombstones_.count(id))
      throw ApiError(404,
                     "session '" + id +
                         "' was evicted (idle, least recently used; the server keeps " +
                         std::to_string(max_) + "): start a new session id",
                     "session_id", "session_evicted");
    if (!create)
      throw ApiError(404, "no session '" + id + "' on this server", "session_id",
                     "session_not_found");
  }
  std::shared_ptr<Session> s = make();  // outside the lock: it allocates the cache
  std::lock_guard lk(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) return take(*it->second);
  if (int(by_id_.size()) >= max_) evict_one();
  lru_.push_front(s);
  by_id_[id] = lru_.begin();
  return take(s);
}

void SessionStore::evict_one() {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if ((*it)->busy()) continue;
    const std::string id = (*it)->id();
    lru_.erase(std::next(it).base());
    by_id_.erase(id);
    ++evicted_;
    if (tombstones_.insert(id).second) tombstone_order_.push_back(id);
    if (int(tombstone_order_.size()) > max_tombstones_) {
      tombstones_.erase(tombstone_order_.front());
      tombstone_order_.pop_front();
    }
    return;
  }
  throw ApiError(503, "all " + std::to_string(max_) + " sessions are busy; retry later", "",
                 "server_busy");
}

std::shared_ptr<Session> SessionStore::find(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : *it->second;
}

void SessionStore::erase(const std::string& id) {
  std::lock_guard lk(mu_);
  const bool tomb = tombstones_.erase(id) > 0;
  if (tomb) tombstone_order_.erase(std::find(tombstone_order_.begin(), tombstone_order_.end(), id));
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    if (tomb) return;
    throw ApiError(404, "no session '" + id + "' on this server", "session_id",
                   "session_not_found");
  }
  if ((*it->second)->busy())
    throw ApiError(409, "session '" + id + "' is busy with another request", "session_id",
                   "session_busy");
  lru_.erase(it->second);
  by_id_.erase(it);
}

std::vector<std::shared_ptr<Session>> SessionStore::all() const {
  std::lock_guard lk(mu_);
  return {lru_.begin(), lru_.end()};
}

int64_t SessionStore::evicted() const {
  std::lock_guard lk(mu_);
  return evicted_;
}

}  // namespace ss::serve
