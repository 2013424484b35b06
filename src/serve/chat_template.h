// Chat messages -> token ids, one round at a time, so that a session feeds
// only the tokens each round adds.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ss {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  enum class Kind {
    Plain,   // "User: ...\nAssistant:" for base models (stories260K)
    Llama2,  // <s>[INST] <<SYS>>...<</SYS>> ... [/INST] reply </s>
    Zephyr,  // <|user|>\n...</s>\n<|assistant|>\n (TinyLlama-Chat)
    ChatML,  // <|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n (SmolLM2, Qwen2)
    Gemma,   // <bos><start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n
  };

  // "plain" | "llama2" | "zephyr" | "chatml" | "gemma", or "auto": the
  // model's chat template (a GGUF file's tokenizer.chat_template, or
  // tokenizer_config.json's in a Hugging Face directory); a GGUF file without
  // one whose vocabulary has <start_of_turn> and <end_of_turn> gets Gemma's.
  // A model without a template, or with one that matches none of the kinds,
  // gets plain, and a one-line warning (naming the template by its first
  // characters) goes to *warning, or to stderr when warning is null. A one-line
  // ss::Error on an unknown name.
  static ChatTemplate for_model(const std::string& model_path, const std::string& name,
                                std::string* warning = nullptr);
  static ChatTemplate make(const std::string& name);
  // Recognises a Jinja chat template by its markers: <|im_start|> (ChatML,
  // with the default system prompt the template writes when the conversation
  // has none), <start_of_turn> (Gemma), [INST] (Llama-2), <|user|> and
  // <|assistant|> (Zephyr). When it matches none: plain, with *warning set
  // (naming `where` and the template's first characters), or without
  // `warning` a one-line ss::Error saying so.
  static ChatTemplate detect(const std::string& jinja, const std::string& where,
                             std::string* warning = nullptr);

  Kind kind() const { return kind_; }
  std::string name() const;
  // ChatML: the system prompt used when the conversation starts without one.
  const std::string& default_system() const { return default_system_; }

  // Tokens for `msgs` added to a conversation followed by the assistant's
  // generation prompt. first: nothing has been fed yet (BOS goes first).
  // Markup and contents are encoded together with special-token parsing on,
  // as llama.cpp encodes a rendered template.
  std::vector<int> render(const std::vector<ChatMessage>& msgs, bool first,
                          const Tokenizer& tok) const;
  // Tokens that close a reply the model generated (its end-of-turn token is
  // not fed), before the next round.
  std::vector<int> end_of_reply(const Tokenizer& tok) const;
  // Strings that end a reply besides EOS (plain: the next "User:" turn).
  std::vector<std::string> stops() const;

 private:
  explicit ChatTemplate(Kind k, std::string default_system = "")
      : kind_(k), default_system_(std::move(default_system)) {}
  Kind kind_;
  std::string default_system_;
};

}  // namespace ss
