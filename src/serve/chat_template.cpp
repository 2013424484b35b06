#include "serve/chat_template.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ss {
namespace {

// Text segments are encoded one by one; a negative entry is a special token,
// left out when the tokenizer has none (GPT-2 style BPE has no BOS).
constexpr int kBos = -1, kEos = -2;
struct Piece {
  int special = 0;  // kBos, kEos or 0 for text
  std::string text;
};

void append(std::vector<int>& out, const std::vector<Piece>& pieces, const Tokenizer& tok) {
  for (const Piece& p : pieces) {
    if (p.special != 0) {
      const int id = p.special == kBos ? tok.bos_id() : tok.eos_id();
      if (id >= 0) out.push_back(id);
    } else {
      const std::vector<int> ids = tok.encode(p.text, false);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }
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

}  // namespace

ChatTemplate ChatTemplate::make(const std::string& name) {
  if (name == "plain") return ChatTemplate(Kind::Plain);
  if (name == "llama2") return ChatTemplate(Kind::Llama2);
  if (name == "zephyr") return ChatTemplate(Kind::Zephyr);
  fail("unknown chat template '", name, "' (known: auto, plain, llama2, zephyr)");
}

ChatTemplate ChatTemplate::detect(const std::string& jinja, const std::string& where) {
  if (jinja.find("[INST]") != std::string::npos) return ChatTemplate(Kind::Llama2);
  if (jinja.find("<|user|>") != std::string::npos &&
      jinja.find("<|assistant|>") != std::string::npos)
    return ChatTemplate(Kind::Zephyr);
  fail("unsupported chat_template in ", where,
       " (recognised: Llama-2 [INST], Zephyr <|user|>); pass --chat-template plain, llama2 or "
       "zephyr");
}

ChatTemplate ChatTemplate::for_model(const std::string& model_path, const std::string& name) {
  if (name != "auto") return make(name);
  const std::filesystem::path cfg = std::filesystem::path(model_path) / "tokenizer_config.json";
  if (!std::filesystem::is_directory(model_path) || !std::filesystem::exists(cfg))
    return ChatTemplate(Kind::Plain);
  const std::string jinja = read_chat_template(cfg.string());
  return jinja.empty() ? ChatTemplate(Kind::Plain) : detect(jinja, cfg.string());
}

std::string ChatTemplate::name() const {
  switch (kind_) {
    case Kind::Plain:
      return "plain";
    case Kind::Llama2:
      return "llama2";
    case Kind::Zephyr:
      return "zephyr";
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
  }
  return out;
}

std::vector<std::string> ChatTemplate::stops() const {
  if (kind_ == Kind::Plain) return {"\nUser:"};
  return {};
}

}  // namespace ss
