// Chat messages -> token ids, one round at a time, so that a session feeds
// only the tokens each round adds.
#pragma once
#include <string>
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
  };

  // "plain" | "llama2" | "zephyr", or "auto": the model's chat_template
  // (tokenizer_config.json beside a Hugging Face model) when it has one, else
  // plain. One-line ss::Error on an unknown name or an unsupported template.
  static ChatTemplate for_model(const std::string& model_path, const std::string& name);
  static ChatTemplate make(const std::string& name);
  // Recognises a Jinja chat_template by its markers; ss::Error naming `where`
  // when it matches none of the built-in ones.
  static ChatTemplate detect(const std::string& jinja, const std::string& where);

  Kind kind() const { return kind_; }
  std::string name() const;

  // Tokens for `msgs` added to a conversation followed by the assistant's
  // generation prompt. first: nothing has been fed yet (BOS goes first).
  std::vector<int> render(const std::vector<ChatMessage>& msgs, bool first,
                          const Tokenizer& tok) const;
  // Tokens that close a reply the model generated, before the next round.
  std::vector<int> end_of_reply(const Tokenizer& tok) const;
  // Strings that end a reply besides EOS (plain: the next "User:" turn).
  std::vector<std::string> stops() const;

 private:
  explicit ChatTemplate(Kind k) : kind_(k) {}
  Kind kind_;
};

}  // namespace ss
