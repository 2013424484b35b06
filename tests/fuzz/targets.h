// The fuzz targets' bodies, one function per target: fuzz_<name>.cpp is
// LLVMFuzzerTestOneInput calling fuzz::<name>, and
// tests/test_fuzz_regressions.cpp replays every input in regressions/ and
// corpus/ through the same functions in every build.
#pragma once
#include <cstdlib>

#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "serve/request.h"

namespace fuzz {

// GGUF: the parser (every metadata value read by its type), the model loader
// (checkpoint, Model's shape checks, three tokens) and the GGUF vocabulary.
inline void gguf(const uint8_t* data, size_t size) {
  const std::string path = fuzz::put("model.gguf", {reinterpret_cast<const char*>(data), size});
  fuzz::refusing([&] {
    const ss::GgufFile f = ss::GgufFile::open(path);
    for (const ss::GgufKv& kv : f.metadata())
      fuzz::refusing([&] {
        if (kv.type == ss::GgufType::String) {
          f.get_string(kv.key);
        } else if (kv.type == ss::GgufType::Array) {
          if (kv.elem_type == ss::GgufType::String)
            f.get_string_array(kv.key);
          else
            f.get_int_array(kv.key);
        } else if (kv.type == ss::GgufType::F32 || kv.type == ss::GgufType::F64) {
          f.get_float(kv.key);
        } else if (kv.type == ss::GgufType::Bool) {
          f.get_bool(kv.key);
        } else {
          f.get_int(kv.key);
        }
      });
  });
  fuzz::refusing([&] {
    auto model = std::make_shared<const ss::Model>(ss::load_checkpoint(path));
    fuzz::run_model(std::move(model));
  });
  fuzz::refusing([&] {
    auto tok = ss::load_tokenizer(path);
    fuzz::run_tokenizer(*tok, "Hello world! 123 <|im_start|>user\n  naïve 日本\n");
  });
}

// A Hugging Face directory: config.json, then model.safetensors, or with a
// third part, model.safetensors.index.json naming the second part's shard
// model-00001-of-00001.safetensors. Loaded, built into a Model and run.
inline void safetensors(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split(data, size, 3);
  fuzz::put("config.json", parts[0]);
  const std::string_view weights = parts.size() > 1 ? parts[1] : std::string_view();
  const char* shard = "model-00001-of-00001.safetensors";
  if (parts.size() == 3) {
    fuzz::remove("model.safetensors");
    fuzz::put(shard, weights);
    fuzz::put("model.safetensors.index.json", parts[2]);
  } else {
    fuzz::remove(shard);
    fuzz::remove("model.safetensors.index.json");
    fuzz::put("model.safetensors", weights);
  }
  fuzz::refusing([&] {
    auto model = std::make_shared<const ss::Model>(ss::load_checkpoint(fuzz::dir()));
    fuzz::run_model(std::move(model));
  });
}

// llama2.c: a checkpoint (.bin), then a tokenizer.bin. The checkpoint is
// loaded, built into a Model and run; the tokenizer encodes and decodes.
inline void llama2c(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split(data, size, 2);
  const std::string model_path = fuzz::put("model.bin", parts[0]);
  const std::string tok_path =
      fuzz::put("tokenizer.bin", parts.size() > 1 ? parts[1] : std::string_view());
  fuzz::refusing([&] {
    auto model = std::make_shared<const ss::Model>(ss::load_checkpoint(model_path));
    fuzz::run_model(std::move(model));
  });
  fuzz::refusing([&] {
    auto tok = ss::load_tokenizer(tok_path);
    fuzz::run_tokenizer(*tok, "Once upon a time, Lily saw a big dog. 123 naïve\n");
  });
}

// Hugging Face tokenizer.json (byte-level BPE, PCRE2 pre-tokenizers), then
// the text to encode, then optionally tokenizer_config.json.
inline void tokenizer_json(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split(data, size, 3);
  const std::string path = fuzz::put("tokenizer.json", parts[0]);
  if (parts.size() == 3)
    fuzz::put("tokenizer_config.json", parts[2]);
  else
    fuzz::remove("tokenizer_config.json");
  const std::string_view text = parts.size() > 1 ? parts[1] : std::string_view();
  fuzz::refusing([&] {
    auto tok = ss::load_tokenizer(path);
    fuzz::run_tokenizer(*tok, text);
  });
}

// The server's request parsing: a JSON body to a completion and to a chat
// request, as parse_generation_request reads it (no socket). A refusal is an
// ApiError (an ss::Error) with a 4xx status.
inline void request(const uint8_t* data, size_t size) {
  static const ss::serve::ServerConfig cfg = [] {
    ss::serve::ServerConfig c;
    c.model_id = "stories260K";
    c.policy = ss::CachePolicy::make("sinks", 4, 60);
    return c;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (const bool chat : {false, true}) {
    try {
      const ss::serve::GenerationRequest r =
          ss::serve::parse_generation_request(body, chat, "", cfg, 512);
      if (r.policy.capacity() > cfg.max_cache_tokens) std::abort();
      if (r.gen.max_tokens < 0 || r.gen.max_tokens > cfg.max_tokens_limit) std::abort();
      if (chat && r.messages.empty()) std::abort();
      for (const int id : r.prompt_ids)
        if (id < 0 || id >= 512) std::abort();
    } catch (const ss::serve::ApiError& e) {
      if (e.status < 400 || e.status >= 500) std::abort();
    }
  }
}

}  // namespace fuzz
