// `minilm-embed[-lite] --serve`: the binary as a long-lived child, one JSON request per stdin line,
// one JSON reply per stdout line, each with its request's "id" (the protocol of python_ref/serve_pipe.py,
// which drives wasm_port's Node runner the same way). First line out, once the model is loaded:
// {"ok": true, "dim", "threads", "runtime", "pad_id", ...}.
//   {"op": "embed", "texts": [str] | "b64": [base64 bytes]}    -> {"ok", "n", "dim", "data": base64 f32}
//   {"op": "tokenize", "texts" | "b64"}                        -> {"ok", "ids": [[int]]}
//   ("embed_bytes" / "tokenize_bytes": the same, the Node runner's names for the "b64" form)
//   {"op": "forward", "n", "t", "ids", "mask": base64 int32}    -> {"ok", "n", "dim", "data"}
//   {"op": "time", "what": "embed"|"tokenize"|"forward", "texts", "warmup", "repeat"} -> {"ok", "ms": [..]}
//   {"op": "info"}                                             -> the first line again
// Timings are taken here (steady_clock around each call), so no pipe is ever timed. A failure is
// {"ok": false, "error": one line, "code": -2 (a text's bytes: invalid UTF-8) | -1 (anything else)}.
// Leaves out: concurrency (one request at a time, in order), sockets.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"

namespace portbench {
namespace {

using json = nlohmann::json;

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
    return vectors(e, e.embed(texts), texts.size());
  }
  if (op == "tokenize") {
    std::vector<int32_t> ids, mask;
    const auto texts = texts_of(req);
    const size_t t = e.tokenize(texts, ids, mask);
    json rows = json::array();
    for (size_t i = 0; i < texts.size(); ++i) {
      json row = json::array();
      for (size_t j = 0; j < t && mask[i * t + j]; ++j) row.push_back(ids[i * t + j]);
      rows.push_back(std::move(row));
    }
    return {{"ok", true}, {"ids", std::move(rows)}};
  }
  if (op == "forward") {
    const size_t n = req.at("n").get<size_t>(), t = req.at("t").get<size_t>();
    if (n > (1u << 24) || t > (1u << 20)) throw std::runtime_error("forward: batch shape too large");
    const auto ids = int32s(req, "ids", n * t), mask = int32s(req, "mask", n * t);
    return vectors(e, e.forward(ids.data(), mask.data(), n, t), n);
  }
  if (op == "time") {
    const std::string what = req.value("what", "embed");
    const int warmup = req.value("warmup", 3), repeat = req.value("repeat", 20);
    if (warmup < 0 || repeat < 1 || warmup + repeat > 100000) throw std::runtime_error("time: warmup/repeat out of range");
    const auto texts = texts_of(req);
    std::vector<int32_t> ids, mask;
    const size_t t = e.tokenize(texts, ids, mask);
    std::function<void()> fn;
    if (what == "embed") fn = [&] { e.embed(texts); };
    else if (what == "tokenize") fn = [&] { std::vector<int32_t> i, m; e.tokenize(texts, i, m); };
    else if (what == "forward") fn = [&] { e.forward(ids.data(), mask.data(), texts.size(), t); };
    else throw std::runtime_error("time: \"what\" must be embed, tokenize or forward");
    std::vector<double> ms;
    for (int r = 0; r < warmup + repeat; ++r) {
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
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const json req = json::parse(line, nullptr, false);
    // every reply echoes its request's "id", so the client never takes one call's reply for another's
    const json id = req.is_object() && req.contains("id") ? req["id"] : json();
    auto answer = [&](json j) {
      if (!id.is_null()) j["id"] = id;
      reply(j);
    };
    try {
      if (!req.is_object()) throw std::runtime_error("a request is one JSON object per line");
      answer(handle(e, req));
    } catch (const InputError& x) {
      const bool utf8 = std::string(x.what()).find("UTF-8") != std::string::npos;
      answer({{"ok", false}, {"code", utf8 ? -2 : -1}, {"error", "texts[" + std::to_string(x.index) + "]: " + x.what()}});
    } catch (const std::exception& x) {
      const std::string msg = x.what();
      answer({{"ok", false}, {"code", -1}, {"error", msg.substr(0, msg.find('\n'))}});
    }
  }
  return 0;
}

}  // namespace portbench
