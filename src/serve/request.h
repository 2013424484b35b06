// The JSON body of a completion or chat request, read and checked field by
// field without a socket (the server calls it; so does the fuzzer). Every
// refusal is an ApiError with OpenAI's fields: 400 naming the field, 404 for
// another model's name.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/policy.h"
#include "serve/chat_template.h"
#include "serve/server.h"
#include "serve/session.h"

namespace ss::serve {

struct GenerationRequest {
  bool chat = false;
  bool stream = false, include_usage = false;
  CachePolicy policy;  // the server's default with the request's overrides
  // The field a session's fixed policy blames ("window", "sinks", "policy");
  // empty when the request names no policy.
  std::string policy_param;
  // Sampling, max_tokens, the request's stop strings, ignore_eos and
  // trim_leading_space; the server adds the seed when none is given, the
  // template's stops, the deadline and the hooks.
  GenerateParams gen;
  std::optional<uint64_t> seed;
  std::vector<ChatMessage> messages;  // chat: at least one
  // Completions: the prompt as text, or as token ids (each below vocab_size).
  std::optional<std::string> prompt_text;
  std::vector<int> prompt_ids;
  std::string session_id;  // from the body or the X-Session-Id header; empty: none
};

// body: the request body; header_session_id: the X-Session-Id header (may be
// empty); vocab_size: the tokenizer's, for prompts given as token ids.
GenerationRequest parse_generation_request(std::string_view body, bool chat,
                                           std::string_view header_session_id,
                                           const ServerConfig& cfg, int vocab_size);

}  // namespace ss::serve
