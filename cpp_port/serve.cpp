// `minilm-embed[-lite] --serve`: the binary as a long-lived child, one JSON request per stdin line,
// one JSON reply per stdout line, each with its request's "id" (the protocol of contract/serve_pipe.py,
// which drives wasm_port's Node runner the same way). First line out, once the model is loaded:
// {"ok": true, "dim", "threads", "runtime", "pad_id", ...}.
//   {"op": "embed", "texts": [str] | "b64": [base64 bytes]}    -> {"ok", "n", "dim", "data": base64 f32}
//   {"op": "tokenize", "texts" | "b64"}                        -> {"ok", "ids": [[int]], "prompt_length"}
//   ("embed_bytes" / "tokenize_bytes": the same, the Node runner's names for the "b64" form)
//   embed, tokenize and time take "prompt_name": str or "prompt": str (the prompt in front of every text,
//   ModelSpec::resolve_prompt's; neither: the model's default prompt); "prompt_length": its tokens
//   {"op": "forward", "n", "t", "ids", "mask": base64 int32, "prompt_length"?} -> {"ok", "n", "dim", "data"}
//   {"op": "time", "what": "embed"|"tokenize"|"forward", "texts", "warmup", "repeat"} -> {"ok", "ms": [..]}
//   {"op": "info"}                                             -> the first line again
//   {"op": "peak", "threads", "ms"}      -> {"ok", "gflops", "threads", "lanes"}: the multiply-add peak
//                                          (wasm_port/peak.cpp; minilm-embed-lite only: its kernels' width)
// Timings are taken here (steady_clock around each call), so no pipe is ever timed. A failure is
// {"ok": false, "error": one line, "code": -2 (a text's bytes: invalid UTF-8) | -7 (a prompt_name the model
// lacks, or a prompt that is not a string) | -1 (anything else)}.
// Every request is bounded before it is acted on (a line, its nesting, its values, its "id", each
// count): one that is not gets that one line, and the loop goes on to the next.
// Leaves out: concurrency (one request at a time, in order), sockets.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli.h"

namespace portbench {
namespace {

using json = nlohmann::json;

// The bounds on one request. The parse itself is iterative, but copying, echoing or dumping a value
// recurses once per level (200,000 levels overflowed the stack), and a line's values each cost a
// node: depth and count are checked as nlohmann's parser callback sees them, before any of that.
constexpr size_t kMaxLine = size_t(256) << 20;   // bytes; a longer line is read to its end, unkept
constexpr size_t kMaxValues = size_t(1) << 20;   // values and keys in one request (so texts, too)
constexpr size_t kMaxIdBytes = 256;
constexpr int kMaxDepth = 32;

// std::getline with a bound (the standard library has none for std::string): false at EOF; a line
// over `cap` bytes is consumed to its newline, its first `cap` bytes kept, and `too_long` set.
bool read_line(std::istream& in, std::string& line, size_t cap, bool& too_long) {
  std::streambuf* sb = in.rdbuf();
  line.clear();
  too_long = false;
  int c = sb->sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  for (; c != std::char_traits<char>::eof() && c != '\n'; c = sb->sbumpc()) {
    if (line.size() < cap) line += char(c);
    else too_long = true;
  }
  return true;
}

json parse_request(const std::string& line) {
  size_t values = 0;
  const json::parser_callback_t bound = [&](int depth, json::parse_event_t ev, json&) {
    if (depth >= kMaxDepth) throw std::runtime_error("a request nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (ev != json::parse_event_t::array_end && ev != json::parse_event_t::object_end && ++values > kMaxValues)
      throw std::runtime_error("a request of more than " + std::to_string(kMaxValues) + " values");
    return true;
  };
  json req = json::parse(line, bound, false);
  if (!req.is_object()) throw std::runtime_error("a request is one JSON object per line");
  return req;
}

// A reply echoes "id", so it must be small and flat: a number, a string of at most kMaxIdBytes, null.
json id_of(const json& req) {
  const auto it = req.find("id");
  if (it == req.end()) return json();
  if (!(it->is_number() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().size() <= kMaxIdBytes)))
    throw std::runtime_error("\"id\" must be a number or a string of at most " + std::to_string(kMaxIdBytes) + " bytes");
  return *it;
}

// An integer field in lo..hi (0 <= lo), else `dflt` when absent (none: required). Each bound is
// checked on its own in 64 bits, so no sum or narrowing cast can overflow before the check.
int64_t integer(const json& req, const char* key, int64_t lo, int64_t hi, std::optional<int64_t> dflt = std::nullopt) {
  const auto it = req.find(key);
  if (it == req.end() && dflt) return *dflt;
  const bool ok = it != req.end() && it->is_number_integer() &&
                  (it->is_number_unsigned() ? it->get<uint64_t>() >= uint64_t(lo) && it->get<uint64_t>() <= uint64_t(hi)
                                            : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi);
  if (!ok) throw std::runtime_error(std::string("\"") + key + "\" must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return it->get<int64_t>();
}

// base64 (RFC 4648) by hand: 20 lines, where a library would be the binary's only dependency.
const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
std::string b64_encode(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const size_t left = n - i;
    const uint32_t v = uint32_t(p[i]) << 16 | (left > 1 ? uint32_t(p[i + 1]) << 8 : 0) | (left > 2 ? p[i + 2] : 0);
    out += kB64[v >> 18 & 63];
    out += kB64[v >> 12 & 63];
    out += left > 1 ? kB64[v >> 6 & 63] : '=';
    out += left > 2 ? kB64[v & 63] : '=';
  }
  return out;
}
std::string b64_decode(const std::string& s) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : s) {
    const char* at = c ? std::strchr(kB64, c) : nullptr;
    if (c == '=') break;
    if (!at) throw std::runtime_error("malformed base64 in the request");
    v = v << 6 | uint32_t(at - kB64), bits += 6;
    if (bits >= 8) out += char((v >> (bits -= 8)) & 0xFF);
  }
  return out;
}

std::vector<std::string> texts_of(const json& req) {
  std::vector<std::string> out;
  const bool raw = req.contains("b64");
  const json& list = raw ? req["b64"] : req.value("texts", json::array());
  if (!list.is_array()) throw std::runtime_error("\"texts\" must be a list of strings");
  for (const json& t : list) {
    if (!t.is_string()) throw std::runtime_error("\"texts\" must be a list of strings");
    out.push_back(raw ? b64_decode(t.get<std::string>()) : t.get<std::string>());
  }
  return out;
}

// The request's prompt ("prompt", else "prompt_name", else the model's default), resolved by the spec.
std::string prompt_of(const Embedder& e, const json& req) {
  OptString name, text;
  for (auto [key, out] : {std::pair<const char*, OptString*>{"prompt_name", &name}, {"prompt", &text}})
    if (const auto it = req.find(key); it != req.end() && !it->is_null()) {
      if (!it->is_string()) throw std::invalid_argument(std::string("\"") + key + "\" must be a string");
      *out = {true, it->get<std::string>()};
    }
  return e.spec.resolve_prompt(name, text);
}

json vectors(const Embedder& e, const std::vector<float>& v, size_t n) {
  return {{"ok", true}, {"n", n}, {"dim", e.model->dim()}, {"data", b64_encode(v.data(), v.size() * sizeof(float))}};
}

std::vector<int32_t> int32s(const json& req, const char* key, size_t count) {
  const std::string bytes = b64_decode(req.at(key).get<std::string>());
  if (bytes.size() != count * 4) throw std::runtime_error(std::string("\"") + key + "\" does not hold n * t int32 values");
  std::vector<int32_t> out(count);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

json handle(const Embedder& e, const json& req) {
  std::string op = req.value("op", "");
  if (op == "embed_bytes" || op == "tokenize_bytes") op.resize(op.size() - 6);   // the texts come as "b64"
  if (op == "info")
    return {{"ok", true}, {"dim", e.model->dim()}, {"threads", e.model->threads()}, {"runtime", kRuntime},
            {"binary", kBinaryName}, {"max_len", e.tok.max_len()}, {"pad_id", e.tok.pad_id()}};
  if (op == "embed") {
    const auto texts = texts_of(req);
    return vectors(e, e.embed(texts, prompt_of(e, req)), texts.size());
  }
  if (op == "tokenize") {
    std::vector<int32_t> ids, mask;
    const auto texts = texts_of(req);
    const std::string prompt = prompt_of(e, req);
    const size_t t = e.tokenize(texts, ids, mask, prompt);
    json rows = json::array();
    for (size_t i = 0; i < texts.size(); ++i) {
      json row = json::array();
      for (size_t j = 0; j < t && mask[i * t + j]; ++j) row.push_back(ids[i * t + j]);
      rows.push_back(std::move(row));
    }
    return {{"ok", true}, {"ids", std::move(rows)}, {"prompt_length", e.prompt_length(prompt)}};
  }
  if (op == "forward") {
    const size_t n = size_t(integer(req, "n", 0, kMaxValues)), t = size_t(integer(req, "t", 0, 1 << 20));
    const auto ids = int32s(req, "ids", n * t), mask = int32s(req, "mask", n * t);
    const int prompt_length = int(integer(req, "prompt_length", 0, 1 << 20, 0));
    return vectors(e, e.forward(ids.data(), mask.data(), n, t, prompt_length), n);
  }
  if (op == "peak") {
    const int threads = int(integer(req, "threads", 1, 1024, 1)), ms = int(integer(req, "ms", 1, 10000, 300));
    const double gflops = e.model->fma_peak(threads, ms);
    if (gflops < 0) throw std::runtime_error(std::string("peak: ") + kBinaryName + "'s kernels are not its own (no probe)");
    return {{"ok", true}, {"gflops", gflops}, {"threads", threads}, {"lanes", e.model->peak_lanes()}};
  }
  if (op == "time") {
    const std::string what = req.value("what", "embed");
    const int64_t warmup = integer(req, "warmup", 0, 100000, 3), repeat = integer(req, "repeat", 1, 100000, 20);
    if (warmup + repeat > 100000) throw std::runtime_error("time: warmup + repeat must be at most 100000");
    const auto texts = texts_of(req);
    const std::string prompt = prompt_of(e, req);
    const int prompt_length = e.prompt_length(prompt);
    std::vector<int32_t> ids, mask;
    const size_t t = e.tokenize(texts, ids, mask, prompt);
    std::function<void()> fn;
    if (what == "embed") fn = [&] { e.embed(texts, prompt); };
    else if (what == "tokenize") fn = [&] { std::vector<int32_t> i, m; e.tokenize(texts, i, m, prompt); };
    else if (what == "forward") fn = [&] { e.forward(ids.data(), mask.data(), texts.size(), t, prompt_length); };
    else throw std::runtime_error("time: \"what\" must be embed, tokenize or forward");
    std::vector<double> ms;
    for (int64_t r = 0; r < warmup + repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r >= warmup) ms.push_back(dt);
    }
    return {{"ok", true}, {"ms", ms}};
  }
  throw std::runtime_error("unknown op \"" + op + "\"");
}

}  // namespace

int serve(const Embedder& e) {
  auto reply = [](const json& j) {
    const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  reply(handle(e, {{"op", "info"}}));
  std::string line;
  bool too_long = false;
  while (read_line(std::cin, line, kMaxLine, too_long)) {
    if (line.empty()) continue;
    json id;   // every reply echoes its request's "id", so the client never takes one call's reply for another's
    auto answer = [&](json j) {
      if (!id.is_null()) j["id"] = id;
      reply(j);
    };
    try {
      if (too_long) throw std::runtime_error("a request line longer than " + std::to_string(kMaxLine) + " bytes");
      const json req = parse_request(line);
      id = id_of(req);
      answer(handle(e, req));
    } catch (const InputError& x) {
      const bool utf8 = std::string(x.what()).find("UTF-8") != std::string::npos;
      answer({{"ok", false}, {"code", utf8 ? -2 : -1}, {"error", "texts[" + std::to_string(x.index) + "]: " + x.what()}});
    } catch (const std::invalid_argument& x) {   // a prompt_name the model lacks
      answer({{"ok", false}, {"code", -7}, {"error", x.what()}});
    } catch (const std::exception& x) {
      const std::string msg = x.what();
      answer({{"ok", false}, {"code", -1}, {"error", msg.substr(0, msg.find('\n'))}});
    }
  }
  return 0;
}

}  // namespace portbench
