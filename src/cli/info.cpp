// sinkstream info: what a checkpoint is.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/common.h"

namespace ss::cli {
namespace {

void run(const ModelOptions& o, bool json) {
  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();
  std::map<std::string, int64_t> dtypes;
  for (auto& [name, t] : model->checkpoint().tensors.tensors)
    dtypes[dtype_name(t.dtype)] += t.numel();
  std::string dt;
  for (auto& [k, n] : dtypes) dt += (dt.empty() ? "" : ", ") + k + " (" + std::to_string(n) + ")";
  const char* rope = c.rope_layout == RopeLayout::Interleaved ? "interleaved" : "rotate-half";
  if (json) {
    nlohmann::json j = {{"path", o.model},
                        {"format", model->checkpoint().format},
                        {"family", c.family},
                        {"params", model->n_params()},
                        {"dtypes", dtypes},
                        {"dim", c.dim},
                        {"hidden_dim", c.hidden_dim},
                        {"n_layers", c.n_layers},
                        {"n_heads", c.n_heads},
                        {"n_kv_heads", c.n_kv_heads},
                        {"head_dim", c.head_dim},
                        {"vocab_size", c.vocab_size},
                        {"max_seq_len", c.max_seq_len},
                        {"rope_theta", c.rope_theta},
                        {"rope_layout", rope},
                        {"tied_embeddings", c.tied_embeddings}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("model            %s\n", o.model.c_str());
  std::printf("format           %s\n", model->checkpoint().format.c_str());
  std::printf("family           %s\n", c.family.c_str());
  std::printf("parameters       %lld\n", (long long)model->n_params());
  std::printf("dtypes           %s\n", dt.c_str());
  std::printf("dim / hidden     %d / %d\n", c.dim, c.hidden_dim);
  std::printf("layers           %d\n", c.n_layers);
  std::printf("heads / kv heads %d / %d (head dim %d)\n", c.n_heads, c.n_kv_heads, c.head_dim);
  std::printf("vocab            %d\n", c.vocab_size);
  std::printf("training context %d\n", c.max_seq_len);
  std::printf("rope             theta %g, %s\n", c.rope_theta, rope);
  std::printf("output           %s\n", c.tied_embeddings ? "tied to the embedding" : "untied");
}

}  // namespace

void add_info(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "Describe a checkpoint: architecture, sizes, dtypes");
  o->add(cmd);
  cmd->add_option("model", o->model, "Model path (same as -m)");
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([o, json] { run(*o, *json); });
}

}  // namespace ss::cli
