// Text <-> token ids. One interface for every tokenizer format.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ss {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids for text; BOS first when add_bos. Invalid UTF-8 is an ss::Error.
  virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;
  // The bytes token `id` contributes after token `prev`, for streaming output.
  // (SentencePiece drops the leading space of the first piece after BOS.)
  virtual std::string decode(int prev, int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;

  // llama.cpp's llama_tokenize(text, add_special, parse_special): BOS (and
  // EOS) where the tokenizer adds them; with parse_special the text of a
  // control token ("<|im_start|>", "<start_of_turn>") becomes that token,
  // without it such text is plain text. Tokenizers without control-token
  // text encode as encode() does.
  virtual std::vector<int> encode_special(std::string_view text, bool add_special,
                                          bool parse_special) const {
    (void)parse_special;
    return encode(text, add_special);
  }
  // Whether generating `id` ends the text or the turn: EOS, and end-of-turn
  // tokens such as <|im_end|> or <end_of_turn> where the vocabulary has them.
  virtual bool is_eog(int id) const { return id >= 0 && id == eos_id(); }
};

// Opens a tokenizer by file, recognised by its content (or .json / .model
// name): llama2.c tokenizer.bin, SentencePiece tokenizer.model, Hugging Face
// tokenizer.json (byte-level BPE) or the vocabulary of a GGUF file. One-line
// ss::Error on a missing, corrupt or unsupported file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The tokenizer that belongs to a checkpoint: a GGUF file's own vocabulary; in
// a Hugging Face directory tokenizer.model (Llama), else tokenizer.json; or
// tokenizer.bin / tok<N>.bin beside a llama2.c file.
std::unique_ptr<Tokenizer> find_tokenizer(const std::string& model_path);

// Throws a one-line ss::Error naming the byte offset of the first invalid
// UTF-8 sequence in text.
void check_utf8(std::string_view text, std::string_view what);

}  // namespace ss
