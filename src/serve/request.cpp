#include "serve/request.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>

#include "tokenizer/tokenizer.h"

namespace ss::serve {
namespace {

using json = nlohmann::json;

// Typed access to optional request fields; a wrong type is a 400 naming it.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}
[[noreturn]] void bad(const std::string& param, const std::string& what) {
  throw ApiError(400, "'" + param + "' " + what, param, "invalid_value");
}
std::optional<int64_t> get_int(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) bad(name, "must be an integer");
  return v->get<int64_t>();
}
std::optional<double> get_number(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, "must be a number");
  return v->get<double>();
}
std::optional<std::string> get_string(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(name, "must be a string");
  return v->get<std::string>();
}
bool get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (v && !v->is_boolean()) bad(name, "must be true or false");
  return v && v->get<bool>();
}
json parse_body(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "",
                   "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object", "", "invalid_json");
  return j;
}

// The cache policy a request asks for: the server's default with its overrides.
CachePolicy request_policy(const json& body, const ServerConfig& cfg) {
  const CachePolicy& p = cfg.policy;
  const auto name = get_string(body, "policy");
  if (name && *name != "sinks" && *name != "window")
    bad("policy", "must be \"sinks\" or \"window\"");
  const auto sinks = get_int(body, "sinks");
  const auto window = get_int(body, "window");
  if (sinks && (*sinks < 0 || *sinks > cfg.max_cache_tokens))
    bad("sinks", "must be in [0, " + std::to_string(cfg.max_cache_tokens) + "]");
  if (window && (*window < 1 || *window > cfg.max_cache_tokens))
    bad("window", "must be in [1, " + std::to_string(cfg.max_cache_tokens) + "]");
  const CachePolicy out = CachePolicy::make(name.value_or(p.name()), int(sinks.value_or(p.sinks)),
                                            int(window.value_or(p.window)));
  if (out.capacity() > cfg.max_cache_tokens)
    bad("window", "sinks + window + 1 = " + std::to_string(out.capacity()) +
                      " is over the limit of " + std::to_string(cfg.max_cache_tokens));
  return out;
}

void request_params(const json& body, bool chat, const ServerConfig& cfg, GenerationRequest& r) {
  GenerateParams& g = r.gen;
  auto max_tokens = get_int(body, "max_tokens");
  if (chat && !max_tokens) max_tokens = get_int(body, "max_completion_tokens");
  const int64_t n = max_tokens.value_or(cfg.default_max_tokens);
  if (n < 0 || n > cfg.max_tokens_limit)
    bad(chat && !field(body, "max_tokens") ? "max_completion_tokens" : "max_tokens",
        "must be in [0, " + std::to_string(cfg.max_tokens_limit) + "]");
  g.max_tokens = int(n);
  const double t = get_number(body, "temperature").value_or(1.0);
  if (!(t >= 0 && t <= 2)) bad("temperature", "must be in [0, 2]");
  const double top_p = get_number(body, "top_p").value_or(1.0);
  if (!(top_p > 0 && top_p <= 1)) bad("top_p", "must be in (0, 1]");
  const int64_t top_k = get_int(body, "top_k").value_or(0);
  if (top_k < 0) bad("top_k", "must be >= 0");
  g.sampling.temperature = float(t);
  g.sampling.top_p = float(top_p);
  g.sampling.top_k = int(std::min<int64_t>(top_k, std::numeric_limits<int>::max()));
  if (const auto seed = get_int(body, "seed")) r.seed = uint64_t(*seed);
  if (get_int(body, "n").value_or(1) != 1) bad("n", "must be 1 (one choice per request)");
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      g.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 4) {
      for (const json& s : *stop) {
        if (!s.is_string()) bad("stop", "must be a string or a list of up to 4 strings");
        g.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "must be a string or a list of up to 4 strings");
    }
    for (const std::string& s : g.stop)
      if (s.empty()) bad("stop", "must not contain empty strings");
  }
  g.trim_leading_space = chat;
  g.ignore_eos = get_bool(body, "ignore_eos");
}

std::vector<ChatMessage> parse_messages(const json& body) {
  const json* msgs = field(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty())
    bad("messages", "must be a non-empty list of messages");
  std::vector<ChatMessage> out;
  for (const json& m : *msgs) {
    if (!m.is_object()) bad("messages", "must hold objects with a role and content");
    const auto role = get_string(m, "role");
    if (!role ||
        (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant"))
      bad("messages", "role must be system, developer, user or assistant");
    ChatMessage cm{*role == "developer" ? "system" : *role, ""};
    const json* c = field(m, "content");
    if (c && c->is_string()) {
      cm.content = c->get<std::string>();
    } else if (c && c->is_array()) {  // content parts: text only
      for (const json& part : *c) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
            !part.contains("text") || !part["text"].is_string())
          bad("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
        cm.content += part["text"].get<std::string>();
      }
    } else if (c || *role != "assistant") {
      bad("messages", "content must be a string or a list of text parts");
    }
    check_utf8(cm.content, "messages");
    out.push_back(std::move(cm));
  }
  return out;
}

void parse_prompt(const json& body, int vocab_size, GenerationRequest& r) {
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "is required");
  const json* one = p;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array()))
    one = &(*p)[0];
  if (one->is_string()) {
    r.prompt_text = one->get<std::string>();
    check_utf8(*r.prompt_text, "prompt");
    return;
  }
  if (!one->is_array()) bad("prompt", "must be a string, a list of token ids or a list of one");
  for (const json& t : *one) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab_size)
      bad("prompt", "token ids must be integers in [0, " + std::to_string(vocab_size) + ")");
    r.prompt_ids.push_back(t.get<int>());
  }
}

std::string session_id(const json& body, std::string_view from_header) {
  const auto from_body = get_string(body, "session_id");
  if (from_body && !from_header.empty() && *from_body != from_header)
    bad("session_id", "differs from the X-Session-Id header");
  const std::string id = from_body.value_or(std::string(from_header));
  static const std::regex ok("[A-Za-z0-9._:-]{1,128}");
  if (!id.empty() && !std::regex_match(id, ok))
    bad("session_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -");
  return id;
}

GenerationRequest parse(std::string_view text, bool chat, std::string_view header_session_id,
                        const ServerConfig& cfg, int vocab_size) {
  const json body = parse_body(text);
  GenerationRequest r;
  r.chat = chat;
  if (const auto m = get_string(body, "model"); m && *m != cfg.model_id)
    throw ApiError(404,
                   "model '" + *m + "' does not exist (this server has '" + cfg.model_id + "')",
                   "model", "model_not_found");
  if (get_bool(body, "echo")) bad("echo", "is not supported");
  r.stream = get_bool(body, "stream");
  const json* opts = field(body, "stream_options");
  if (opts && !opts->is_object()) bad("stream_options", "must be an object");
  r.include_usage = opts && get_bool(*opts, "include_usage");
  r.policy = request_policy(body, cfg);
  r.policy_param = field(body, "window")   ? "window"
                   : field(body, "sinks")  ? "sinks"
                   : field(body, "policy") ? "policy"
                                           : "";
  request_params(body, chat, cfg, r);
  if (chat)
    r.messages = parse_messages(body);
  else
    parse_prompt(body, vocab_size, r);
  r.session_id = session_id(body, header_session_id);
  return r;
}

}  // namespace

GenerationRequest parse_generation_request(std::string_view text, bool chat,
                                           std::string_view header_session_id,
                                           const ServerConfig& cfg, int vocab_size) {
  try {
    return parse(text, chat, header_session_id, cfg, vocab_size);
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {  // invalid UTF-8, say: the client's fault
    throw ApiError(400, e.what(), "", "invalid_value");
  }
}

}  // namespace ss::serve
