// The vocabularies of the real SmolLM2-135M-Instruct and Gemma 3 270M GGUF
// files (scripts/fetch-models.sh) tokenize as llama.cpp does: every case of
// tests/reference/tokens_*.json (made by tests/reference/make_llamacpp_refs.py
// with llama-cpp-python) on the books in tests/data/text and on tricky
// strings, with and without special tokens. Also: their chat templates, and
// `generate --chat`. Only the vocabularies are loaded, never the weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "serve/chat_template.h"
#include "testutil.h"
#include "tokenizer/gguf_vocab.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sstest::decode_all;
using sstest::error_of;
using sstest::repo;
using sstest::slurp;

// Where scripts/fetch-models.sh puts the models: $SINKSTREAM_MODELS, else models/cache.
std::string model_file(const std::string& name) {
  const char* dir = std::getenv("SINKSTREAM_MODELS");
  return (dir && *dir ? std::string(dir) : repo("models/cache")) + "/" + name;
}
const std::string kSmol = model_file("SmolLM2-135M-Instruct.Q4_1.gguf");
const std::string kGemma = model_file("gemma-3-270m-q4_k_m.gguf");

// The model file, or a one-line failure saying how to get it.
#define REQUIRE_MODEL(path)                                                                    \
  do {                                                                                         \
    if (!fs::exists(path)) FAIL() << path << " is missing: run scripts/fetch-models.sh first"; \
  } while (0)

const ss::GgufTokenizer& vocab(const std::string& path) {
  static std::map<std::string, std::unique_ptr<ss::GgufTokenizer>> cache;
  auto& t = cache[path];
  if (!t) t = std::make_unique<ss::GgufTokenizer>(ss::GgufFile::open(path));
  return *t;
}

// Where two id lists first differ, for a readable failure.
std::string first_difference(const std::vector<int>& got, const std::vector<int>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "equal";
  std::string s =
      "first difference at " + std::to_string(i) + " of " + std::to_string(want.size()) + ": got";
  for (size_t k = i; k < std::min(got.size(), i + 6); ++k) s += " " + std::to_string(got[k]);
  s += ", llama.cpp";
  for (size_t k = i; k < std::min(want.size(), i + 6); ++k) s += " " + std::to_string(want[k]);
  return s;
}

// Runs every case of a reference file; returns (matched, total).
std::pair<int, int> check_reference(const std::string& model, const std::string& reference) {
  const json ref = json::parse(slurp(repo(reference)));
  const ss::GgufTokenizer& tok = vocab(model);
  int matched = 0, total = 0;
  for (const json& c : ref.at("cases")) {
    ++total;
    const std::string name = c.at("name").get<std::string>();
    std::string text;
    if (c.contains("file")) {
      text = slurp(repo(c.at("file").get<std::string>()));
      EXPECT_GT(text.size(), 10000u) << name << ": " << c.at("file");
    } else {
      text = c.at("text").get<std::string>();
    }
    const std::vector<int> want = c.at("ids").get<std::vector<int>>();
    const std::vector<int> got = tok.encode_special(text, c.at("add_special").get<bool>(),
                                                    c.at("parse_special").get<bool>());
    EXPECT_EQ(got == want, true) << reference << " case " << name << ": "
                                 << first_difference(got, want);
    matched += got == want;
  }
  std::printf("[ reference ] %s: %d of %d cases equal llama.cpp's (%s)\n", reference.c_str(),
              matched, total, ref.at("llama_cpp").get<std::string>().c_str());
  return {matched, total};
}

TEST(RealTokenizers, SmolLM2MatchesLlamaCpp) {
  REQUIRE_MODEL(kSmol);
  const auto [matched, total] = check_reference(kSmol, "tests/reference/tokens_smollm2.json");
  EXPECT_EQ(total, 37);
  EXPECT_EQ(matched, total);
}

TEST(RealTokenizers, Gemma3MatchesLlamaCpp) {
  REQUIRE_MODEL(kGemma);
  const auto [matched, total] = check_reference(kGemma, "tests/reference/tokens_gemma3.json");
  EXPECT_EQ(total, 37);
  EXPECT_EQ(matched, total);
}

TEST(RealTokenizers, Settings) {
  REQUIRE_MODEL(kSmol);
  REQUIRE_MODEL(kGemma);
  const ss::GgufTokenizer& smol = vocab(kSmol);
  EXPECT_EQ(smol.kind(), ss::GgufTokenizer::Kind::Bpe);
  EXPECT_EQ(smol.pre(), "smollm");
  EXPECT_EQ(smol.vocab_size(), 49152);
  EXPECT_EQ(smol.bos_id(), -1);  // add_bos_token is false
  EXPECT_EQ(smol.eos_id(), 2);
  EXPECT_TRUE(smol.is_eog(2));   // <|im_end|>
  EXPECT_TRUE(smol.is_eog(0));   // <|endoftext|>
  EXPECT_FALSE(smol.is_eog(1));  // <|im_start|>
  EXPECT_EQ(smol.find("<|im_start|>"), 1);

  const ss::GgufTokenizer& gemma = vocab(kGemma);
  EXPECT_EQ(gemma.kind(), ss::GgufTokenizer::Kind::Spm);
  EXPECT_FALSE(gemma.add_space_prefix());
  EXPECT_EQ(gemma.vocab_size(), 262144);
  EXPECT_EQ(gemma.bos_id(), 2);
  EXPECT_EQ(gemma.eos_id(), 1);
  EXPECT_TRUE(gemma.is_eog(1));    // <eos>
  EXPECT_TRUE(gemma.is_eog(106));  // <end_of_turn>
  EXPECT_FALSE(gemma.is_eog(105));
  // encode() is encode_special() without special parsing.
  EXPECT_EQ(gemma.encode("<start_of_turn>", true),
            gemma.encode_special("<start_of_turn>", true, false));
  EXPECT_EQ(gemma.encode_special("<start_of_turn>", false, true), std::vector<int>{105});
}

TEST(RealTokenizers, BooksDecodeBack) {
  REQUIRE_MODEL(kSmol);
  REQUIRE_MODEL(kGemma);
  for (const char* book : {"austen.txt", "kjv.txt", "tinystories.txt"}) {
    const std::string text = slurp(repo(std::string("tests/data/text/") + book));
    ASSERT_GT(text.size(), 10000u) << book;
    for (const std::string& model : {kSmol, kGemma}) {
      const ss::GgufTokenizer& tok = vocab(model);
      const std::vector<int> ids = tok.encode(text, false);
      EXPECT_EQ(decode_all(tok, ids, -1), text) << book << " with " << model;
      // Fewer tokens than bytes, and more than one per word or so.
      EXPECT_LT(ids.size(), text.size() / 3) << book;
    }
  }
}

TEST(RealTokenizers, InvalidUtf8IsAOneLineError) {
  REQUIRE_MODEL(kSmol);
  REQUIRE_MODEL(kGemma);
  for (const std::string& model : {kSmol, kGemma}) {
    const ss::GgufTokenizer& tok = vocab(model);
    EXPECT_EQ(error_of([&] { tok.encode("ok \xff", true); }),
              "invalid UTF-8 in text to encode at byte 3 (invalid lead byte)");
    EXPECT_EQ(error_of([&] { tok.encode_special("<|im_start|>\xc3", false, true); }),
              "invalid UTF-8 in text to encode at byte 12 (incomplete sequence)");
    EXPECT_EQ(error_of([&] { tok.encode("\xed\xa0\x80", false); }),
              "invalid UTF-8 in text to encode at byte 0 (surrogate code point)");
    EXPECT_EQ(error_of([&] { tok.encode("\xc0\xaf", false); }),
              "invalid UTF-8 in text to encode at byte 0 (overlong encoding)");
  }
}

// --- Chat templates -----------------------------------------------------------------

// The chat templates of the models' Hugging Face repositories, as published.
const char* const kGemma3Template =
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if "
    "messages[0]['content'] is string -%}\n        {%- set first_user_prefix = "
    "messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n        {%- set first_user_prefix = "
    "messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n    {%- set "
    "loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n  "
    "  {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages "
    "-%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n        {{ "
    "raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") "
    "}}\n    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set "
    "role = \"model\" -%}\n    {%- else -%}\n        {%- set role = message['role'] -%}\n    "
    "{%- endif -%}\n    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first "
    "else \"\") }}\n    {%- if message['content'] is string -%}\n        {{ message['content'] "
    "| trim }}\n    {%- elif message['content'] is iterable -%}\n        {%- for item in "
    "message['content'] -%}\n            {%- if item['type'] == 'image' -%}\n                {{ "
    "'<start_of_image>' }}\n            {%- elif item['type'] == 'text' -%}\n                {{ "
    "item['text'] | trim }}\n            {%- endif -%}\n        {%- endfor -%}\n    {%- else "
    "-%}\n        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ "
    "'<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n    "
    "{{'<start_of_turn>model\n'}}\n{%- endif -%}\n";
const char* const kLlama2Template =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% "
    "set system_message = false %}{% endif %}{% for message in loop_messages %}{% if "
    "(message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == "
    "0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] "
    "%}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() "
    "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + "
    "eos_token }}{% endif %}{% endfor %}";
const char* const kZephyrTemplate =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ "
    "'<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' "
    "%}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if "
    "loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

TEST(ChatTemplates, DetectsTheFourKinds) {
  REQUIRE_MODEL(kSmol);
  const ss::GgufFile smol = ss::GgufFile::open(kSmol);
  const std::string chatml(smol.get_string("tokenizer.chat_template"));
  std::string warning;
  const ss::ChatTemplate c = ss::ChatTemplate::detect(chatml, kSmol, &warning);
  EXPECT_EQ(c.name(), "chatml");
  EXPECT_EQ(c.default_system(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(ss::ChatTemplate::detect(kGemma3Template, "gemma", &warning).name(), "gemma");
  EXPECT_EQ(ss::ChatTemplate::detect(kLlama2Template, "llama2", &warning).name(), "llama2");
  EXPECT_EQ(ss::ChatTemplate::detect(kZephyrTemplate, "zephyr", &warning).name(), "zephyr");
  EXPECT_EQ(warning, "");
  // A template without a system literal has no default system prompt.
  EXPECT_EQ(ss::ChatTemplate::detect("{{'<|im_start|>' + message['role'] + '\\n' + "
                                     "message['content'] + '<|im_end|>'}}",
                                     "qwen", &warning)
                .default_system(),
            "");

  // Unrecognised: plain, and a one-line warning naming it by its start.
  const std::string odd = "{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n";
  const ss::ChatTemplate p = ss::ChatTemplate::detect(odd, "odd.json", &warning);
  EXPECT_EQ(p.name(), "plain");
  EXPECT_EQ(warning,
            "unrecognised chat template in odd.json (\"{% for m in messages %}### {{ m['role'] "
            "...\"; known: ChatML, Gemma, Llama-2, Zephyr); using plain");
}

TEST(ChatTemplates, FromTheModelFiles) {
  REQUIRE_MODEL(kSmol);
  REQUIRE_MODEL(kGemma);
  std::string warning;
  EXPECT_EQ(ss::ChatTemplate::for_model(kSmol, "auto", &warning).name(), "chatml");
  // This Gemma file has no tokenizer.chat_template; its turn tokens say Gemma.
  EXPECT_FALSE(ss::GgufFile::open(kGemma).has("tokenizer.chat_template"));
  EXPECT_EQ(ss::ChatTemplate::for_model(kGemma, "auto", &warning).name(), "gemma");
  EXPECT_EQ(warning, "");
  EXPECT_EQ(ss::ChatTemplate::for_model(sstest::kStoriesBin, "auto", &warning).name(), "plain");
  EXPECT_EQ(warning, sstest::kStoriesBin + " has no chat template; using plain");
}

TEST(ChatTemplates, RenderAsLlamaCppTokenizesTheTemplate) {
  REQUIRE_MODEL(kSmol);
  REQUIRE_MODEL(kGemma);
  // The prompts of tests/reference/*_greedy.json, rendered by llama.cpp's
  // templates and tokenized there.
  const json smol_ref = json::parse(slurp(repo("tests/reference/smollm2_greedy.json")));
  const json gemma_ref = json::parse(slurp(repo("tests/reference/gemma3_greedy.json")));
  const std::vector<ss::ChatMessage> msgs = {
      {"user", "What is the capital of France? Answer in two sentences."}};
  const ss::GgufTokenizer& smol = vocab(kSmol);
  const ss::ChatTemplate chatml = ss::ChatTemplate::for_model(kSmol, "auto");
  EXPECT_EQ(chatml.render(msgs, true, smol), smol_ref.at("prompt_ids").get<std::vector<int>>());
  const ss::GgufTokenizer& gemma = vocab(kGemma);
  const ss::ChatTemplate turns = ss::ChatTemplate::for_model(kGemma, "auto");
  EXPECT_EQ(turns.render(msgs, true, gemma), gemma_ref.at("prompt_ids").get<std::vector<int>>());

  // Later rounds: no BOS or default system prompt; the closed reply first.
  EXPECT_EQ(chatml.end_of_reply(smol), smol.encode_special("<|im_end|>\n", false, true));
  EXPECT_EQ(
      chatml.render({{"user", "Hi"}}, false, smol),
      smol.encode_special("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", false, true));
  EXPECT_EQ(turns.end_of_reply(gemma), (std::vector<int>{106, 107}));
  // Gemma: the system prompt opens the first user turn; contents are trimmed;
  // the assistant is "model".
  EXPECT_EQ(
      turns.render(
          {{"system", "Be brief."}, {"user", " Hi \n"}, {"assistant", "Hello."}, {"user", "Bye"}},
          true, gemma),
      gemma.encode_special("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                           "<start_of_turn>model\nHello.<end_of_turn>\n"
                           "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n",
                           true, true));
  // A system message replaces ChatML's default one.
  EXPECT_EQ(chatml.render({{"system", "S"}, {"user", "U"}}, true, smol),
            smol.encode_special(
                "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>"
                "assistant\n",
                false, true));
}

TEST(GenerateChat, TinyModelFallsBackToPlainWithAWarning) {
  const auto r = sstest::run_cli(
      "generate --chat -p 'Tell me a story.' --system 'You are kind.' -n 16 --temperature 0 -m " +
      sstest::kStoriesBin);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + sstest::kStoriesBin + " has no chat template; using plain"),
            std::string::npos)
      << r.err;
  // Only the reply is printed, not the prompt; it stops before a "User:" turn.
  EXPECT_EQ(r.out.find("Tell me a story."), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nUser:"), std::string::npos) << r.out;
  EXPECT_GT(r.out.size(), 1u);
  // The same reply as the plain template's text fed by hand.
  const auto plain = sstest::run_cli("generate -n 16 --temperature 0",
                                     "You are kind.\nUser: Tell me a story.\nAssistant:");
  ASSERT_EQ(plain.status, 0) << plain.err;
  const std::string reply = r.out.substr(0, r.out.size() - 1);  // without the final newline
  EXPECT_NE(plain.out.find("Assistant:" + reply), std::string::npos)
      << "chat: " << r.out << "\nplain: " << plain.out;

  const auto bad = sstest::run_cli("generate --system 'x' -p hi -n 1");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err, "sinkstream: error: --system and --chat-template need --chat\n");
}

}  // namespace

namespace {

TEST(GenerateChat, SmolLM2RepliesAsLlamaCppAndStopsAtEndOfTurn) {
  REQUIRE_MODEL(kSmol);
  // llama.cpp's greedy reply to the same chat prompt ends with <|im_end|>
  // after first_eog tokens; sinkstream prints the same text and stops there.
  const json ref = json::parse(slurp(repo("tests/reference/smollm2_greedy.json")));
  const std::vector<int> greedy = ref.at("greedy_ids").get<std::vector<int>>();
  const int eog = ref.at("first_eog").get<int>();
  ASSERT_GT(eog, 0);
  const ss::GgufTokenizer& tok = vocab(kSmol);
  EXPECT_TRUE(tok.is_eog(greedy[eog]));
  const std::string reply =
      decode_all(tok, std::vector<int>(greedy.begin(), greedy.begin() + eog), -1);
  const auto r = sstest::run_cli("generate -m " + kSmol +
                                 " --chat -p 'What is the capital of France? Answer in two "
                                 "sentences.' -n 64 --temperature 0 -t 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, reply + "\n");
  EXPECT_NE(r.err.find("generated " + std::to_string(eog) + " tok"), std::string::npos) << r.err;
}

}  // namespace
