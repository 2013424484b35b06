#include "serve/chat_template.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"

namespace ss {
namespace {

// Text is encoded in runs (adjacent text pieces together, special-token
// parsing on); a negative entry is a special token, left out when the
// tokenizer has none (GPT-2 style BPE has no BOS).
constexpr int kBos = -1, kEos = -2;
struct Piece {
  int special = 0;  // kBos, kEos or 0 for text
  std::string text;
};

void append(std::vector<int>& out, const std::vector<Piece>& pieces, const Tokenizer& tok) {
  std::string run;
  const auto flush = [&] {
    if (run.empty()) return;
    const std::vector<int> ids = tok.encode_special(run, false, true);
    out.insert(out.end(), ids.begin(), ids.end());
    run.clear();
  };
  for (const Piece& p : pieces) {
    if (p.special == 0) {
      run += p.text;
      continue;
    }
    flush();
    const int id = p.special == kBos ? tok.bos_id() : tok.eos_id();
    if (id >= 0) out.push_back(id);
  }
  flush();
}

std::string read_chat_template(const std::string& file) {
  std::ifstream f(file);
  check(bool(f), "cannot open ", file);
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  check(!j.is_discarded() && j.is_object(), file, ": not a JSON object");
  auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  // A list of named templates: the "default" one, else the first.
  check(it->is_array() && !it->empty(), file, ": chat_template is neither a string nor a list");
  for (const auto& t : *it)
    if (t.value("name", "") == "default") return t.value("template", "");
  return (*it)[0].value("template", "");
}

bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

// The system prompt a ChatML template writes when the conversation has none:
// the literal text of '<|im_start|>system\n...<|im_end|>' (newline written or
// escaped), "" when the template has no such literal.
std::string chatml_default_system(const std::string& jinja) {
  for (std::string_view open : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    size_t at = jinja.find(open);
    while (at != std::string::npos) {
      const size_t begin = at + open.size();
      const size_t end = jinja.find("<|im_end|>", begin);
      if (end == std::string::npos) break;
      std::string text = jinja.substr(begin, end - begin);
      // Built from the messages, not a literal.
      if (!text.empty() && text.find_first_of("'\"{}+") == std::string::npos) {
        std::string out;
        for (size_t i = 0; i < text.size(); ++i) {
          if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
            out += '\n';
            ++i;
          } else {
            out += text[i];
          }
        }
        return out;
      }
      at = jinja.find(open, begin);
    }
  }
  return "";
}

// Python's str.strip() on ASCII whitespace (Jinja's trim).
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The first characters of a template, for warnings.
std::string head(const std::string& jinja) {
  std::string s = jinja.substr(0, 40);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return jinja.size() > 40 ? s + "..." : s;
}

void warn(const std::string& msg, std::string* warning) {
  if (warning) {
    *warning = msg;
  } else {
    std::fprintf(stderr, "warning: %s\n", msg.c_str());
  }
}

}  // namespace

ChatTemplate ChatTemplate::make(const std::string& name) {
  if (name == "plain") return ChatTemplate(Kind::Plain);
  if (name == "llama2") return ChatTemplate(Kind::Llama2);
  if (name == "zephyr") return ChatTemplate(Kind::Zephyr);
  if (name == "chatml") return ChatTemplate(Kind::ChatML);
  if (name == "gemma") return ChatTemplate(Kind::Gemma);
  fail("unknown chat template '", name, "' (known: auto, plain, llama2, zephyr, chatml, gemma)");
}

ChatTemplate ChatTemplate::detect(const std::string& jinja, const std::string& where,
                                  std::string* warning) {
  if (contains(jinja, "<|im_start|>"))
    return ChatTemplate(Kind::ChatML, chatml_default_system(jinja));
  if (contains(jinja, "<start_of_turn>")) return ChatTemplate(Kind::Gemma);
  if (contains(jinja, "[INST]")) return ChatTemplate(Kind::Llama2);
  if (contains(jinja, "<|user|>") && contains(jinja, "<|assistant|>"))
    return ChatTemplate(Kind::Zephyr);
  const std::string msg = "unrecognised chat template in " + where + " (\"" + head(jinja) +
                          "\"; known: ChatML, Gemma, Llama-2, Zephyr)";
  check(warning != nullptr, msg);
  *warning = msg + "; using plain";
  return ChatTemplate(Kind::Plain);
}

ChatTemplate ChatTemplate::for_model(const std::string& model_path, const std::string& name,
                                     std::string* warning) {
  if (name != "auto") return make(name);
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string jinja, where;
  if (fs::is_regular_file(model_path, ec)) {
    char magic[4] = {};
    std::ifstream(model_path, std::ios::binary).read(magic, 4);
    if (std::string_view(magic, 4) == "GGUF") {
      const GgufFile f = GgufFile::open(model_path);
      where = model_path;
      if (f.has("tokenizer.chat_template")) {
        jinja = std::string(f.get_string("tokenizer.chat_template"));
      } else if (f.has("tokenizer.ggml.tokens")) {
        // Gemma's files often come without a template; their turn tokens say it all.
        bool start = false, end = false;
        for (std::string_view t : f.get_string_array("tokenizer.ggml.tokens")) {
          start |= t == "<start_of_turn>";
          end |= t == "<end_of_turn>";
        }
        if (start && end) return ChatTemplate(Kind::Gemma);
      }
    }
  } else if (fs::is_directory(model_path, ec)) {
    const fs::path cfg = fs::path(model_path) / "tokenizer_config.json";
    if (fs::exists(cfg, ec)) {
      where = cfg.string();
      jinja = read_chat_template(where);
    }
  }
  if (jinja.empty()) {
    warn(model_path + " has no chat template; using plain", warning);
    return ChatTemplate(Kind::Plain);
  }
  std::string unrecognised;
  const ChatTemplate t = detect(jinja, where, &unrecognised);
  if (!unrecognised.empty()) warn(unrecognised, warning);
  return t;
}

std::string ChatTemplate::name() const {
  switch (kind_) {
    case Kind::Plain:
      return "plain";
    case Kind::Llama2:
      return "llama2";
    case Kind::Zephyr:
      return "zephyr";
    case Kind::ChatML:
      return "chatml";
    case Kind::Gemma:
      return "gemma";
  }
  return "";
}

std::vector<int> ChatTemplate::render(const std::vector<ChatMessage>& msgs, bool first,
                                      const Tokenizer& tok) const {
  std::vector<Piece> p;
  if (first) p.push_back({kBos, ""});
  switch (kind_) {
    case Kind::Plain: {
      std::string s;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") s += m.content + "\n";
        if (m.role == "user") s += "User: " + m.content + "\n";
        if (m.role == "assistant") s += "Assistant: " + m.content + "\n";
      }
      p.push_back({0, s + "Assistant:"});
      break;
    }
    case Kind::Llama2: {
      // The system prompt goes inside the next [INST]; every [INST] starts with BOS.
      std::string sys;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          sys += m.content;
        } else if (m.role == "user") {
          if (p.empty() || p.back().special != kBos) p.push_back({kBos, ""});
          const std::string s = sys.empty() ? "" : "<<SYS>>\n" + sys + "\n<</SYS>>\n\n";
          p.push_back({0, "[INST] " + s + m.content + " [/INST]"});
          sys.clear();
        } else {
          p.push_back({0, m.content});
          p.push_back({kEos, ""});
        }
      }
      if (!sys.empty()) p.push_back({0, "[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n [/INST]"});
      break;
    }
    case Kind::Zephyr:
      for (const ChatMessage& m : msgs) {
        p.push_back({0, "<|" + m.role + "|>\n" + m.content});
        p.push_back({kEos, ""});
        p.push_back({0, "\n"});
      }
      p.push_back({0, "<|assistant|>\n"});
      break;
    case Kind::ChatML: {
      std::string s;
      if (first && !default_system_.empty() && (msgs.empty() || msgs[0].role != "system"))
        s += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
      for (const ChatMessage& m : msgs)
        s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      p.push_back({0, s + "<|im_start|>assistant\n"});
      break;
    }
    case Kind::Gemma: {
      // A system prompt opens the next user turn; the assistant is "model".
      std::string s, sys;
      for (const ChatMessage& m : msgs) {
        if (m.role == "system") {
          sys += m.content + "\n\n";
          continue;
        }
        const bool user = m.role != "assistant";
        s += "<start_of_turn>" + std::string(user ? m.role : "model") + "\n";
        if (user) {
          s += sys;
          sys.clear();
        }
        s += trim(m.content) + "<end_of_turn>\n";
      }
      if (!sys.empty()) s += "<start_of_turn>user\n" + sys + "<end_of_turn>\n";
      p.push_back({0, s + "<start_of_turn>model\n"});
      break;
    }
  }
  std::vector<int> out;
  append(out, p, tok);
  return out;
}

std::vector<int> ChatTemplate::end_of_reply(const Tokenizer& tok) const {
  std::vector<int> out;
  switch (kind_) {
    case Kind::Plain:
      append(out, {{0, "\n"}}, tok);
      break;
    case Kind::Llama2:
      append(out, {{kEos, ""}}, tok);
      break;
    case Kind::Zephyr:
      append(out, {{kEos, ""}, {0, "\n"}}, tok);
      break;
    case Kind::ChatML:
      append(out, {{0, "<|im_end|>\n"}}, tok);
      break;
    case Kind::Gemma:
      append(out, {{0, "<end_of_turn>\n"}}, tok);
      break;
  }
  return out;
}

std::vector<std::string> ChatTemplate::stops() const {
  if (kind_ == Kind::Plain) return {"\nUser:"};
  return {};
}

}  // namespace ss
