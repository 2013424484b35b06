// GGUF architectures against llama.cpp's own conversion: for each family,
// tests/reference/make_gguf_arch_refs.py wrote one tiny random checkpoint
// twice, as a Hugging Face directory and as the GGUF convert_hf_to_gguf.py
// makes of it (gguf-py's writer and tensor names, the converter's QKV
// reorderings, llama's q/k permutation, GPT-2's transposes, its metadata
// keys). sinkstream must read both as the same model: same configuration,
// same logits.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "io/gguf.h"
#include "io/gguf_arch.h"
#include "model/stream.h"
#include "testutil.h"

using namespace ss;

namespace {

std::vector<float> logits(const std::shared_ptr<const Model>& m, const std::vector<int>& ids,
                          int chunk) {
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("dense", 0, int(ids.size())));
  const int V = m->config().vocab_size;
  std::vector<float> out(ids.size() * V);
  for (size_t i = 0; i < ids.size(); i += chunk) {
    const int n = int(std::min<size_t>(chunk, ids.size() - i));
    s.feed(ids.data() + i, n, out.data() + i * V, true);
  }
  return out;
}

class GgufArch : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufArch, LlamaCppConversionIsTheHuggingFaceModel) {
  const std::string dir = sstest::repo("tests/reference/gguf_arch/" + GetParam());
  const auto hf = Model::load(dir);
  const auto gg = Model::load(dir + "/model.gguf");
  ASSERT_EQ(gg->checkpoint().format, "gguf");
  const ModelConfig &h = hf->config(), &g = gg->config();
  EXPECT_EQ(g.family, h.family);
  EXPECT_EQ(g.n_layers, h.n_layers);
  EXPECT_EQ(g.n_heads, h.n_heads);
  EXPECT_EQ(g.n_kv_heads, h.n_kv_heads);
  EXPECT_EQ(g.hidden_dim, h.hidden_dim);
  EXPECT_EQ(g.max_seq_len, h.max_seq_len);
  EXPECT_EQ(g.norm, h.norm);
  EXPECT_FLOAT_EQ(g.norm_eps, h.norm_eps);
  EXPECT_EQ(g.act, h.act);
  EXPECT_EQ(g.position, h.position);
  EXPECT_EQ(g.rot_dim(), h.rot_dim());
  EXPECT_EQ(g.parallel_residual, h.parallel_residual);
  EXPECT_FLOAT_EQ(g.clip_qkv, h.clip_qkv);
  if (h.position == PositionKind::Rope) {
    EXPECT_FLOAT_EQ(float(g.rope_theta), float(h.rope_theta));
  }
  if (h.position == PositionKind::Alibi) {
    EXPECT_EQ(g.alibi_bias_max, h.alibi_bias_max);
  }
  std::mt19937 rng(7);
  std::vector<int> ids(20);
  for (int& t : ids) t = int(rng() % h.vocab_size);
  const auto want = logits(hf, ids, int(ids.size()));
  double diff = 0, spread = 0;
  for (int chunk : {int(ids.size()), 1}) {
    const auto got = logits(gg, ids, chunk);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      diff = std::max(diff, double(std::abs(got[i] - want[i])));
      spread = std::max(spread, double(std::abs(want[i])));
    }
  }
  EXPECT_LT(diff, 1e-5) << GetParam();
  EXPECT_GT(spread, 0.1) << "logits too flat to tell layouts apart";
}

INSTANTIATE_TEST_SUITE_P(GgufArch, GgufArch,
                         ::testing::Values("llama", "qwen2", "gptneox", "falcon", "bloom", "mpt",
                                           "gpt2"),
                         [](const auto& info) { return info.param; });

// Every family's tensors under llama.cpp's names: the converted files hold
// exactly the names gguf_tensor_names maps, and sinkstream's own writer
// produces the same set (bloom aside, whose converter copies the embedding).
TEST(GgufArchNames, OurWriterUsesLlamaCppsNames) {
  for (const std::string name : {"llama", "qwen2", "gptneox", "falcon", "mpt", "gpt2"}) {
    const std::string dir = sstest::repo("tests/reference/gguf_arch/" + name);
    const GgufFile ref = GgufFile::open(dir + "/model.gguf");
    const std::string ours = sstest::temp_dir() + "/" + name + ".gguf";
    const auto r = sstest::run_cli("convert --type f32 -m " + dir + " -o " + ours);
    ASSERT_EQ(r.status, 0) << r.err;
    const GgufFile mine = GgufFile::open(ours);
    std::set<std::string> a, b;
    for (const GgufTensorInfo& t : ref.tensors()) a.insert(t.name);
    for (const GgufTensorInfo& t : mine.tensors()) b.insert(t.name);
    EXPECT_EQ(a, b) << name;
    EXPECT_EQ(std::string(mine.get_string("general.architecture")),
              std::string(ref.get_string("general.architecture")));
    for (const GgufTensorInfo& t : ref.tensors()) {
      if (const GgufTensorInfo* u = mine.find_tensor(t.name)) {
        EXPECT_EQ(u->dims, t.dims) << t.name;
      }
    }
  }
}

}  // namespace
