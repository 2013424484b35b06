// sinkstream info: what a checkpoint is.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace ss::cli {
namespace {

const char* position_name(const ModelConfig& c) {
  switch (c.position) {
    case PositionKind::Rope:
      return c.rope_layout == RopeLayout::Interleaved ? "rope (interleaved pairs)"
                                                      : "rope (rotate-half)";
    case PositionKind::Alibi:
      return "alibi";
    case PositionKind::Learned:
      return "learned absolute";
    case PositionKind::None:
      return "none";
  }
  return "?";
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::SiLU:
      return "silu";
    case Activation::GELU:
      return "gelu";
    case Activation::GELUTanh:
      return "gelu (tanh)";
    case Activation::ReLU:
      return "relu";
  }
  return "?";
}

void run(const ModelOptions& o, bool json) {
  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();
  std::map<std::string, int64_t> dtypes;
  for (auto& [name, t] : model->checkpoint().tensors.tensors)
    dtypes[dtype_name(t.dtype)] += t.numel();
  nlohmann::ordered_json j = {
      {"model", o.model},
      {"format", model->checkpoint().format},
      {"family", c.family},
      {"parameters", model->n_params()},
      {"dtypes", dtypes},
      {"dim", c.dim},
      {"hidden_dim", c.hidden_dim},
      {"n_layers", c.n_layers},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"training_context", c.max_seq_len},
      {"norm", c.norm == NormKind::RMSNorm ? "rmsnorm" : "layernorm"},
      {"ffn", std::string(c.gated_ffn ? "gated " : "") + activation_name(c.act)},
      {"residual", c.parallel_residual ? "parallel" : "sequential"},
      {"positions", position_name(c)},
      {"tied_embeddings", c.tied_embeddings}};
  if (c.position == PositionKind::Rope) {
    j["rope_theta"] = c.rope_theta;
    j["rotary_dims"] = c.rot_dim();
  }
  if (c.position == PositionKind::Alibi) j["alibi_bias_max"] = c.alibi_bias_max;
  if (c.clip_qkv > 0) j["clip_qkv"] = c.clip_qkv;
  if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  for (auto& [k, v] : j.items())
    std::printf("%-18s %s\n", k.c_str(),
                v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
}

}  // namespace

void add_info(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("info", "Describe a checkpoint: family, sizes, dtypes, quirks");
  o->add(cmd);
  cmd->add_option("model", o->model, "Model path (same as -m)");
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([o, json] { run(*o, *json); });
}

}  // namespace ss::cli
