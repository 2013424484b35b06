// sinkstream convert: write a checkpoint as GGUF (float or 32-value block types).
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "io/gguf_model.h"

namespace ss::cli {
namespace {

struct ConvertOptions {
  ModelOptions m;
  std::string out, type = "f16";
};

void run(const ConvertOptions& o) {
  const DTypeTraits* tr = traits_of_name(o.type);
  check(tr && tr->quantize, "--type must be one of ", dtype_names(true), ", not '", o.type, "'");
  const DType t = tr->type;
  const Checkpoint ck = load_checkpoint(o.m.model);
  // A --tokenizer that cannot be used is an error; without one, a model with
  // no tokenizer beside it is written without a vocabulary, with a warning.
  std::unique_ptr<Tokenizer> tok;
  if (!o.m.tokenizer.empty()) {
    tok = o.m.load_tokenizer(ck.config);
  } else {
    try {
      tok = o.m.load_tokenizer(ck.config);
    } catch (const Error& e) {
      std::fprintf(stderr, "sinkstream: warning: writing no vocabulary: %s\n", e.what());
    }
  }
  save_gguf(ck, tok.get(), t, o.out);
  std::printf("wrote %s (%s)\n", o.out.c_str(), o.type.c_str());
}

}  // namespace

void add_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd =
      app.add_subcommand("convert", "Write a llama-family checkpoint as GGUF (llama.cpp's format)");
  o->m.add(cmd, false);
  cmd->get_option("--tokenizer")
      ->description(
          "Tokenizer whose vocabulary the GGUF carries (default: the one beside the "
          "model; without one the file has no vocabulary)");
  cmd->add_option("-o,--output", o->out, "Output .gguf file")->required();
  cmd->add_option("--type", o->type, "Weight type: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1 or q8_0")
      ->capture_default_str();
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
