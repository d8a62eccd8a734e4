// cpp_port model spec: see model_spec.h. read_spec() follows contract/spec.py (and spec_tokenizer.py) line by line (the
// rules and why are documented there); `dumps` renders values as Python's json.dumps does, so the
// refusal lines are the same text in both.
#include "model_spec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>
#include <nlohmann/json.hpp>

namespace portbench {

using json = nlohmann::json;

void to_json(json& j, const OptString& o) { j = o.set ? json(o.value) : json(); }
void from_json(const json& j, OptString& o) {
  o.set = !j.is_null();
  o.value = o.set ? j.get<std::string>() : "";
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DenseSpec, path, in_features, out_features, bias, activation)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelSpec, dir, name, model_type, hidden_act, tensor_names, tensor_prefix,
                                   hidden_size, num_attention_heads, num_hidden_layers,
                                   intermediate_size, vocab_size, max_position_embeddings, type_vocab_size,
                                   layer_norm_eps, max_seq_length, clean_text, handle_chinese_chars, strip_accents,
                                   lowercase, cls_id, sep_id, unk_id, pad_id, added_tokens, pooling, include_prompt,
                                   dense, normalize, prompts, default_prompt_name)

namespace {

[[noreturn]] void refuse(const std::string& msg) { throw ModelDirError(msg); }
std::string dumps(const json& v) { return v.dump(-1, ' ', true); }
bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
// Whether dir/rel is a regular file (false: absent); anything else there is refused, as spec.py's _regular.
bool regular(const std::string& dir, const std::string& rel) {
  struct stat st;
  if (stat((dir + "/" + rel).c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) refuse(rel + ": not a regular file");
  return true;
}
std::string sub(std::string path, const std::string& name) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  return path.empty() || path == "." ? name : path + "/" + name;
}

// The JSON file `rel`: an object (or a list), or null if absent and not required.
json load(const std::string& dir, const std::string& rel, bool required, bool list = false) {
  if (!regular(dir, rel)) {
    if (required) refuse(rel + ": missing in " + dir);
    return json();
  }
  json j = json::parse(read_file(dir + "/" + rel), nullptr, false);
  if (j.is_discarded()) refuse(rel + ": malformed JSON");
  if (list ? !j.is_array() : !j.is_object()) refuse(rel + ": malformed (not a JSON " + (list ? "list)" : "object)"));
  return j;
}
json get(const json& obj, const std::string& key, const json& dflt = json()) {
  return obj.is_object() && obj.contains(key) ? obj.at(key) : dflt;
}
// get() without the copy, for tokenizer.json's model and its 30k-entry vocabulary (two copies of
// that map were most of minilm-embed-lite's start); dflt must outlive the reference.
const json kNull, kObject = json::object();
const json& ref(const json& obj, const std::string& key, const json& dflt) {
  if (obj.is_object())
    if (auto it = obj.find(key); it != obj.end()) return *it;
  return dflt;
}
int get_int(const json& obj, const std::string& key, const std::string& rel, const json& dflt = json(), int lo = 1) {
  json v = get(obj, key, dflt);
  if (v.is_null()) refuse(rel + ": lacks " + key);
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > INT32_MAX ||
      (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX))
    refuse(rel + ": " + key + " " + dumps(v) + " must be an integer from " + std::to_string(lo) + " to " +
           std::to_string(INT32_MAX));
  return v.get<int>();
}
// true/false, or -1 for null (absent with no default).
int get_bool(const json& obj, const std::string& key, const std::string& rel, const json& dflt) {
  json v = get(obj, key, dflt);
  if (v.is_null()) return -1;
  if (!v.is_boolean()) refuse(rel + ": " + key + " " + dumps(v) + " must be true or false");
  return v.get<bool>();
}
json token(const json& v) { return v.is_object() ? get(v, "content") : v; }
std::string tail(const std::string& s) { return s.substr(s.rfind('.') == std::string::npos ? 0 : s.rfind('.') + 1); }

const std::vector<std::pair<std::string, std::string>> kLegacyPooling = {
    {"pooling_mode_cls_token", "cls"}, {"pooling_mode_max_tokens", "max"}, {"pooling_mode_mean_tokens", "mean"},
    {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"}, {"pooling_mode_weightedmean_tokens", "weightedmean"},
    {"pooling_mode_lasttoken", "lasttoken"}};
const std::vector<std::string> kPoolings = {"mean", "cls", "max", "mean_sqrt_len_tokens"};
const std::vector<std::string> kActs = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu"};   // spec.py's ACTS
// spec.py's BERT_MODULES and DISTILBERT_MODULES ("" : DistilBERT has no such tensor)
const std::vector<std::pair<std::string, std::string>> kModules = {
    {"embeddings.word_embeddings", "embeddings.word_embeddings"},
    {"embeddings.position_embeddings", "embeddings.position_embeddings"},
    {"embeddings.token_type_embeddings", ""},
    {"embeddings.LayerNorm", "embeddings.LayerNorm"},
    {"encoder.layer.{i}.attention.self.query", "transformer.layer.{i}.attention.q_lin"},
    {"encoder.layer.{i}.attention.self.key", "transformer.layer.{i}.attention.k_lin"},
    {"encoder.layer.{i}.attention.self.value", "transformer.layer.{i}.attention.v_lin"},
    {"encoder.layer.{i}.attention.output.dense", "transformer.layer.{i}.attention.out_lin"},
    {"encoder.layer.{i}.attention.output.LayerNorm", "transformer.layer.{i}.sa_layer_norm"},
    {"encoder.layer.{i}.intermediate.dense", "transformer.layer.{i}.ffn.lin1"},
    {"encoder.layer.{i}.output.dense", "transformer.layer.{i}.ffn.lin2"},
    {"encoder.layer.{i}.output.LayerNorm", "transformer.layer.{i}.output_layer_norm"}};
std::string join_sorted(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// config_sentence_transformers.json -> prompts over sentence-transformers' own (query, document: ""), a
// null prompt being "", and default_prompt_name, which must name one (spec.py's _read_prompts).
void read_prompts(const json& st, ModelSpec& s) {
  const std::string rel = "config_sentence_transformers.json";
  json saved = get(st, "prompts");
  if (saved.is_null()) saved = json::object();
  if (!saved.is_object()) refuse(rel + ": prompts " + dumps(saved) + " must be an object of name: text");
  s.prompts = {{"query", ""}, {"document", ""}};
  for (const auto& [k, v] : saved.items()) {
    if (!v.is_null() && !v.is_string()) refuse(rel + ": prompts " + dumps(k) + " must be a string, not " + dumps(v));
    s.prompts[k] = v.is_null() ? "" : v.get<std::string>();
  }
  const json dflt = get(st, "default_prompt_name");
  if (!dflt.is_null() && (!dflt.is_string() || !s.prompts.count(dflt.get<std::string>())))
    refuse(rel + ": default_prompt_name " + dumps(dflt) + " is not one of the prompts (" + join_sorted(s.prompts) + ")");
  s.default_prompt_name = dflt.is_null() ? OptString{} : OptString{true, dflt.get<std::string>()};
}

void read_modules(const std::string& dir, const json& modules, ModelSpec& s) {
  std::vector<std::string> kinds;
  for (const json& m : modules)
    if (!m.is_object() || !get(m, "type").is_string() || !get(m, "path", "").is_string())
      refuse("modules.json: malformed (a list of {type, path} objects expected)");
  for (const json& m : modules) {
    std::string type = m.at("type"), kind = tail(type);
    if (type.rfind("sentence_transformers.", 0) != 0 ||
        (kind != "Transformer" && kind != "Pooling" && kind != "Dense" && kind != "Normalize"))
      refuse("modules.json: module " + type + " is not supported (Transformer, Pooling, Dense, Normalize)");
    kinds.push_back(kind);
  }
  std::string root = modules.empty() ? "" : get(modules[0], "path", "").get<std::string>();
  if (kinds.empty() || kinds[0] != "Transformer" || (root != "" && root != "."))
    refuse("modules.json: the first module must be the Transformer at the directory root");
  if (kinds.size() < 2 || kinds[1] != "Pooling") refuse("modules.json: the second module must be Pooling");
  for (size_t i = 2; i < kinds.size(); ++i)
    if (kinds[i] == "Transformer" || kinds[i] == "Pooling" || (kinds[i] == "Normalize" && i + 1 < kinds.size())) {
      std::string order;
      for (size_t k = 0; k < kinds.size(); ++k) order += (k ? " -> " : "") + kinds[k];
      refuse("modules.json: module order " + order + " is not supported (Transformer -> Pooling -> Dense* -> Normalize?)");
    }
  std::string rel = sub(get(modules[1], "path", ""), "config.json");
  json pc = load(dir, rel, true);
  std::vector<std::pair<std::string, std::string>> modes;  // (mode, the setting that asks for it)
  if (pc.contains("pooling_mode")) {
    json raw = pc["pooling_mode"];
    for (const json& m : raw.is_array() ? raw : json::array({raw}))
      modes.emplace_back(m.is_string() ? m.get<std::string>() : dumps(m), "pooling_mode " + dumps(m));
  } else {
    for (const auto& [key, mode] : kLegacyPooling)
      if (get_bool(pc, key, rel, false) == 1) modes.emplace_back(mode, key);
    if (modes.empty()) modes.emplace_back("mean", "");
  }
  for (const auto& [mode, key] : modes)
    if (std::find(kPoolings.begin(), kPoolings.end(), mode) == kPoolings.end())
      refuse(rel + ": " + key + " is not supported (mean, cls, max, mean_sqrt_len_tokens)");
  if (modes.size() != 1) {
    std::string keys;
    for (size_t k = 0; k < modes.size(); ++k) keys += (k ? ", " : "") + modes[k].second;
    refuse(rel + ": more than one pooling mode (" + keys + ") is not supported");
  }
  json width = get(pc, "embedding_dimension", get(pc, "word_embedding_dimension", s.hidden_size));
  if (width != json(s.hidden_size))
    refuse(rel + ": word_embedding_dimension " + dumps(width) + " does not match config.json hidden_size " +
           std::to_string(s.hidden_size));
  s.pooling = modes[0].first;
  s.include_prompt = get_bool(pc, "include_prompt", rel, true) == 1;
  int w = s.hidden_size;
  for (size_t i = 2; i < modules.size(); ++i) {
    std::string path = get(modules[i], "path", ""), crel = sub(path, "config.json");
    json cfg = load(dir, crel, kinds[i] == "Dense");
    for (const char* key : {"module_input_name", "module_output_name"}) {
      json v = get(cfg, key, "sentence_embedding");
      if (!v.is_null() && v != "sentence_embedding") refuse(crel + ": " + key + " " + dumps(v) + " is not supported");
    }
    if (kinds[i] != "Dense") continue;
    DenseSpec d;
    d.path = path;
    d.in_features = get_int(cfg, "in_features", crel);
    d.out_features = get_int(cfg, "out_features", crel);
    if (d.in_features != w)
      refuse(crel + ": in_features " + std::to_string(d.in_features) + " does not match the " + std::to_string(w) +
             " dimensions before it");
    if (get_bool(cfg, "use_residual", crel, false) == 1) refuse(crel + ": use_residual true is not supported");
    json act = get(cfg, "activation_function", "torch.nn.modules.activation.Tanh");
    if (!act.is_string() || act.get<std::string>().rfind("torch.", 0) != 0)
      act = "torch.nn.modules.activation.Tanh";  // sentence-transformers falls back to Tanh too
    std::string name = tail(act);
    if (name != "Tanh" && name != "Identity")
      refuse(crel + ": activation_function " + act.get<std::string>() + " is not supported (Tanh, Identity)");
    if (!regular(dir, sub(path, "model.safetensors")))
      refuse(sub(path, "model.safetensors") + ": missing" +
             (is_file(dir + "/" + sub(path, "pytorch_model.bin")) ? " (pytorch_model.bin is not supported)" : ""));
    d.bias = get_bool(cfg, "bias", crel, true) == 1;
    d.activation = name == "Tanh" ? "tanh" : "identity";
    s.dense.push_back(d);
    w = d.out_features;
  }
  s.normalize = kinds.back() == "Normalize";
}

// tokenizer.json + tokenizer_config.json -> s's tokenizer fields; returns model_max_length.
json read_tokenizer(const std::string& dir, ModelSpec& s) {
  json tj = load(dir, "tokenizer.json", true), tc = load(dir, "tokenizer_config.json", false);
  if (tc.is_null()) tc = json::object();
  json tcls = get(tc, "tokenizer_class");
  bool bert = tcls.is_null() || tcls == "BertTokenizer" || tcls == "BertTokenizerFast" || tcls == "DistilBertTokenizer" ||
              tcls == "DistilBertTokenizerFast";
  if (!bert && tcls != "PreTrainedTokenizerFast" && tcls != "TokenizersBackend")
    refuse("tokenizer_config.json: tokenizer_class " + dumps(tcls) +
           " is not supported (BertTokenizer, BertTokenizerFast, DistilBertTokenizer, PreTrainedTokenizerFast)");
  json norm = get(tj, "normalizer");
  std::map<std::string, int> f;  // clean_text, handle_chinese_chars, strip_accents, lowercase
  if (norm.is_null()) {
    f = {{"clean_text", 0}, {"handle_chinese_chars", 0}, {"strip_accents", 0}, {"lowercase", 0}};
  } else if (get(norm, "type") == "BertNormalizer") {
    f["clean_text"] = get_bool(norm, "clean_text", "tokenizer.json", true);
    f["handle_chinese_chars"] = get_bool(norm, "handle_chinese_chars", "tokenizer.json", true);
    f["strip_accents"] = get_bool(norm, "strip_accents", "tokenizer.json", json());
    f["lowercase"] = get_bool(norm, "lowercase", "tokenizer.json", true);
    if (f["strip_accents"] < 0) f["strip_accents"] = f["lowercase"];
  } else {
    refuse("tokenizer.json: normalizer " + dumps(get(norm, "type")) + " is not supported (BertNormalizer)");
  }
  if (bert) {  // transformers rebuilds the normalizer from tokenizer_config.json
    int lower = get_bool(tc, "do_lower_case", "tokenizer_config.json", true);
    int strip = get_bool(tc, "strip_accents", "tokenizer_config.json", json());
    int cjk = get_bool(tc, "tokenize_chinese_chars", "tokenizer_config.json", true);
    const std::vector<std::tuple<std::string, int, std::string>> want = {
        {"lowercase", lower, "do_lower_case"}, {"strip_accents", strip < 0 ? lower : strip, "strip_accents"},
        {"clean_text", 1, "clean_text (always true)"}, {"handle_chinese_chars", cjk, "tokenize_chinese_chars"}};
    for (const auto& [k, v, key] : want)
      if (f[k] != v)
        refuse("tokenizer_config.json: " + key + " " + dumps((bool)v) + " disagrees with tokenizer.json normalizer " + k +
               " " + dumps((bool)f[k]));
  }
  s.clean_text = f["clean_text"], s.handle_chinese_chars = f["handle_chinese_chars"];
  s.strip_accents = f["strip_accents"], s.lowercase = f["lowercase"];
  json pre = get(get(tj, "pre_tokenizer", json::object()), "type");
  if (pre != "BertPreTokenizer") refuse("tokenizer.json: pre_tokenizer " + dumps(pre) + " is not supported (BertPreTokenizer)");
  const json& model = ref(tj, "model", kObject);
  if (get(model, "type") != "WordPiece" || get(model, "continuing_subword_prefix", "##") != "##" ||
      get(model, "max_input_chars_per_word", 100) != json(100))
    refuse("tokenizer.json: model must be WordPiece with prefix '##' and max_input_chars_per_word 100");
  const json& vocab = ref(model, "vocab", kNull);
  if (!regular(dir, "vocab.txt")) refuse("vocab.txt: missing in " + dir);
  std::string txt = read_file(dir + "/vocab.txt");
  if (!Tokenizer::validate_utf8(txt, nullptr)) refuse("vocab.txt: not UTF-8");
  std::unordered_map<std::string, int64_t> lines;  // vocab.txt as python_ref reads it: the last line of a token wins
  lines.reserve(txt.size() / 6 + 16);
  int64_t id = 0;
  for (size_t pos = 0; pos < txt.size(); ++id) {
    size_t end = std::min(txt.find('\n', pos), txt.size());
    size_t len = end - pos - (end > pos && txt[end - 1] == '\r');  // CRLF line ends: the same token
    lines[txt.substr(pos, len)] = id;
    pos = end + 1;
  }
  bool same = vocab.is_object() && vocab.size() == lines.size();
  for (auto it = lines.begin(); same && it != lines.end(); ++it) {
    const auto f = vocab.find(it->first);
    same = f != vocab.end() && *f == json(it->second);
  }
  if (!same) refuse("vocab.txt: does not match tokenizer.json's model.vocab");
  // [CLS] $A [SEP]: the two special tokens (text, id) around a single sequence.
  json pp = get(tj, "post_processor", json::object()), single = get(pp, "single", json::array());
  std::string cls_tok, sep_tok;
  json cls_id, sep_id;
  if (get(pp, "type") == "BertProcessing") {
    cls_tok = pp.at("cls").at(0), cls_id = pp.at("cls").at(1), sep_tok = pp.at("sep").at(0), sep_id = pp.at("sep").at(1);
  } else if (get(pp, "type") == "TemplateProcessing" && single.size() == 3 && single[0].contains("SpecialToken") &&
             single[1].contains("Sequence") && single[2].contains("SpecialToken")) {
    json* ids[2] = {&cls_id, &sep_id};
    std::string* toks[2] = {&cls_tok, &sep_tok};
    for (int k = 0; k < 2; ++k) {
      *toks[k] = single[2 * k]["SpecialToken"]["id"];
      json v = get(get(get(pp, "special_tokens", json::object()), *toks[k], json::object()), "ids");
      if (!v.is_array() || v.size() != 1)
        refuse("tokenizer.json: post_processor special token " + dumps(*toks[k]) + " must map to one id");
      *ids[k] = v[0];
    }
  } else {
    refuse("tokenizer.json: post_processor " + dumps(get(pp, "type")) + " is not supported (single sequence [CLS] $A [SEP] only)");
  }
  std::string unk_tok = get(model, "unk_token", "[UNK]");
  std::vector<std::pair<std::string, std::string>> want;
  if (bert) want = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
  auto wanted = [&](const std::string& key) {
    for (const auto& [k, d] : want) if (k == key) return token(get(tc, k, d));
    return json("<none>");
  };
  for (const auto& [key, have] : std::vector<std::pair<std::string, std::string>>{
           {"cls_token", cls_tok}, {"sep_token", sep_tok}, {"unk_token", unk_tok}})
    if (bert && wanted(key) != have)
      refuse("tokenizer_config.json: " + key + " " + dumps(wanted(key)) + " disagrees with tokenizer.json's " + dumps(have));
  for (const auto& [t, tid] : std::vector<std::pair<std::string, json>>{{cls_tok, cls_id}, {sep_tok, sep_id}, {unk_tok, json()}})
    if (!vocab.contains(t) || (!tid.is_null() && tid != vocab[t]))
      refuse("tokenizer.json: special token " + dumps(t) + " is not in the vocabulary" +
             (tid.is_null() ? "" : " with id " + dumps(tid)));
  // (file, id, token); an id that is not a usable integer is kept as the JSON it was, to be refused below
  std::vector<std::tuple<std::string, json, json>> listed;
  for (const json& t : get(tj, "added_tokens", json::array())) listed.emplace_back("tokenizer.json", get(t, "id"), t);
  const json decoder = get(tc, "added_tokens_decoder", json::object());   // named: .items() of a temporary dangles
  for (const auto& [k, t] : decoder.items()) {
    if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos)   // transformers fails on it (int(key))
      refuse("tokenizer_config.json: added_tokens_decoder key " + dumps(k) + " is not an id");
    const std::string digits = k.substr(std::min(k.find_first_not_of('0'), k.size() - 1));   // "007" is 7
    listed.emplace_back("tokenizer_config.json", digits.size() > 10 ? json(digits) : json(std::stoll(digits)), t);
  }
  for (const auto& [rel, tid, t] : listed) {
    for (const char* flag : {"normalized", "lstrip", "rstrip", "single_word"}) {
      json dflt = std::string(flag) == "normalized" ? json(!(get(t, "special") == json(true))) : json(false);
      if (get(t, flag, dflt) == json(true))
        refuse(rel + ": added token " + dumps(get(t, "content")) + " with " + flag + " true is not supported");
    }
    if (!tid.is_number_integer() || tid.get<int64_t>() < 0 || tid.get<int64_t>() > INT32_MAX || !get(t, "content").is_string())
      refuse(rel + ": added token " + dumps(get(t, "content")) + " needs a string content and an id >= 0, not " +
             (tid.is_string() ? tid.get<std::string>() : dumps(tid)));
  }
  // Ids as upstream gives them (contract/spec_tokenizer.py's _added_ids): in id order, by content.
  std::stable_sort(listed.begin(), listed.end(),
                   [](const auto& a, const auto& b) { return std::get<1>(a).template get<int64_t>() < std::get<1>(b).template get<int64_t>(); });
  std::vector<std::pair<std::string, int32_t>> added;
  std::unordered_map<std::string, int32_t> index;   // content -> id: linear in the number of tokens
  int64_t next = id;
  for (const auto& [rel, tid_json, t] : listed) {
    const int64_t tid = tid_json.get<int64_t>();
    const std::string c = t.at("content");
    if (c.empty()) continue;   // upstream ignores an empty token
    auto have = index.find(c);
    const int64_t want = have != index.end() ? have->second : vocab.contains(c) ? vocab[c].get<int64_t>() : next;
    if (tid != want)
      refuse(rel + ": added token " + dumps(c) + " has id " + std::to_string(tid) + " where tokenizers gives it " +
             std::to_string(want) + " (its vocabulary id, else the next id after the vocabulary)");
    if (have == index.end()) index.emplace(c, (int32_t)tid), added.emplace_back(c, (int32_t)tid);
    next = std::max(next, tid + 1);
  }
  const json extra = get(tc, "additional_special_tokens", json::array());
  if (!extra.is_null() && !extra.is_array())   // transformers fails to load such a tokenizer
    refuse("tokenizer_config.json: additional_special_tokens " + dumps(extra) + " must be a list");
  std::vector<json> specials;
  for (const auto& [k, d] : want) specials.push_back(token(get(tc, k, d)));
  for (const json& t : extra.is_array() ? extra : json::array()) specials.push_back(token(t));
  for (const json& t : specials) {
    if (t.is_null() || (t.is_string() && index.count(t.get<std::string>()))) continue;
    if (!t.is_string() || !vocab.contains(t)) refuse("tokenizer_config.json: special token " + dumps(t) + " is not in the vocabulary");
    const int32_t v = vocab[t.get<std::string>()];
    index.emplace(t.get<std::string>(), v), added.emplace_back(t.get<std::string>(), v);
  }
  std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  });
  s.added_tokens = added;
  s.cls_id = vocab[cls_tok], s.sep_id = vocab[sep_tok], s.unk_id = vocab[unk_tok];
  json pad = token(get(tc, "pad_token", "[PAD]"));
  s.pad_id = pad.is_string() && vocab.contains(pad) ? vocab[pad.get<std::string>()].get<int32_t>() : 0;
  int64_t top = id - 1;  // the last line of vocab.txt
  for (const auto& a : added) top = std::max<int64_t>(top, a.second);
  if (top >= s.vocab_size)  // the embedding table has one row per id
    refuse("config.json: vocab_size " + std::to_string(s.vocab_size) + " is too small for the tokenizer's largest id " +
           std::to_string(top));
  return get(tc, "model_max_length");
}

ModelSpec read_spec_or_throw(const std::string& dir) {
  ModelSpec s;
  json cfg = load(dir, "config.json", true);
  const json arch = get(cfg, "model_type");
  if (arch != "bert" && arch != "distilbert")
    refuse("config.json: model_type " + dumps(arch) + " is not supported (bert, distilbert)");
  const bool bert = arch == "bert";
  s.model_type = arch;
  const std::string act_key = bert ? "hidden_act" : "activation";
  const json act = get(cfg, act_key, "gelu");
  if (!act.is_string() || std::find(kActs.begin(), kActs.end(), act.get<std::string>()) == kActs.end())
    refuse("config.json: " + act_key + " " + dumps(act) + " is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
  s.hidden_act = act;
  if (bert && get(cfg, "position_embedding_type", "absolute") != "absolute")
    refuse("config.json: position_embedding_type " + dumps(cfg["position_embedding_type"]) + " is not supported (absolute only)");
  if (!bert && get_bool(cfg, "sinusoidal_pos_embds", "config.json", false) == 1)
    refuse("config.json: sinusoidal_pos_embds true is not supported (learned position embeddings only)");
  // spec.py's CONFIG_KEYS: DistilBERT's sizes under BERT's names
  const std::string k_hidden = bert ? "hidden_size" : "dim", k_heads = bert ? "num_attention_heads" : "n_heads";
  s.hidden_size = get_int(cfg, k_hidden, "config.json");
  s.num_attention_heads = get_int(cfg, k_heads, "config.json");
  s.num_hidden_layers = get_int(cfg, bert ? "num_hidden_layers" : "n_layers", "config.json");
  s.intermediate_size = get_int(cfg, bert ? "intermediate_size" : "hidden_dim", "config.json");
  s.vocab_size = get_int(cfg, "vocab_size", "config.json");
  s.max_position_embeddings = get_int(cfg, "max_position_embeddings", "config.json", 512);
  s.type_vocab_size = bert ? get_int(cfg, "type_vocab_size", "config.json", 2) : 0;   // DistilBERT: no token types
  if (s.hidden_size % s.num_attention_heads)
    refuse("config.json: " + k_hidden + " " + std::to_string(s.hidden_size) + " is not divisible by " + k_heads + " " +
           std::to_string(s.num_attention_heads));
  json eps = bert ? get(cfg, "layer_norm_eps", 1e-12) : json(1e-12);   // DistilBERT's LayerNorms: 1e-12, fixed
  if (!eps.is_number() || !std::isfinite(eps.get<double>()) || !(eps.get<double>() > 0) ||
      eps.get<double>() > (double)FLT_MAX)
    refuse("config.json: layer_norm_eps " + dumps(eps) + " must be a number > 0 (and a float32)");
  s.layer_norm_eps = eps.get<double>();
  s.tensor_names.clear();
  for (const auto& [m, distil] : kModules)
    if (bert || !distil.empty()) s.tensor_names[m] = bert ? m : distil;
  s.tensor_prefix = arch.get<std::string>() + ".";
  json modules = load(dir, "modules.json", false, true), sbert = json::object();
  if (modules.is_null()) {  // not saved by sentence-transformers: it builds Transformer + mean Pooling
    s.pooling = "mean";
  } else {
    read_modules(dir, modules, s);
    sbert = load(dir, "sentence_bert_config.json", false);
  }
  read_prompts(load(dir, "config_sentence_transformers.json", false), s);
  json mml = read_tokenizer(dir, s);
  int mpe = s.max_position_embeddings;
  if (!get(sbert, "max_seq_length").is_null()) {
    s.max_seq_length = get_int(sbert, "max_seq_length", "sentence_bert_config.json", json(), 2);
    if (s.max_seq_length > mpe)
      refuse("sentence_bert_config.json: max_seq_length " + std::to_string(s.max_seq_length) +
             " exceeds config.json max_position_embeddings " + std::to_string(mpe));
  } else {  // the tokenizer's model_max_length, capped by the positions the model has
    s.max_seq_length = mml.is_number() && mml.get<double>() >= 2 ? (int)std::min<double>(mml.get<double>(), mpe) : mpe;
  }
  if (get_bool(sbert, "do_lower_case", "sentence_bert_config.json", false) == 1) s.lowercase = true;
  s.dir = dir;
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  s.name = d.substr(d.rfind('/') + 1);
  if (s.name == "model" && d.rfind('/') != std::string::npos) {
    std::string parent = d.substr(0, d.rfind('/'));
    s.name = parent.substr(parent.rfind('/') + 1);
  }
  return s;
}

}  // namespace

int open_regular_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0) throw ModelDirError("cannot open " + path + " (" + std::strerror(errno) + ")");
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelDirError(path + ": not a regular file");
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_file(const std::string& path) {
  int fd = open_regular_file(path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t k = ::read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      ::close(fd);
      if (k < 0) throw ModelDirError("cannot read " + path + " (" + std::strerror(errno) + ")");
      return out;
    }
    out.append(buf, (size_t)k);
  }
}

ModelSpec read_spec(const std::string& dir) {
  try {
    return read_spec_or_throw(dir);
  } catch (const json::exception& e) {  // a file of the wrong shape
    throw ModelDirError("malformed model directory " + dir + ": " + e.what());
  }
}

ModelSpec spec_from_json(const std::string& text) {
  try {
    return json::parse(text).get<ModelSpec>();
  } catch (const json::exception& e) {
    throw ModelDirError(std::string("malformed model spec: ") + e.what());
  }
}

std::string spec_to_json(const ModelSpec& spec) { return json(spec).dump(-1, ' ', false); }

std::string ModelSpec::tensor_name(const std::string& name) const {   // spec.py's tensor_name
  const size_t dot = name.rfind('.');
  const std::string module = name.substr(0, dot), param = name.substr(dot + 1);
  std::string key = module, layer;
  const size_t at = module.find(".layer.");
  if (at != std::string::npos) {
    const size_t begin = at + 7, end = module.find('.', begin);
    layer = module.substr(begin, end - begin);
    key = module.substr(0, begin) + "{i}" + (end == std::string::npos ? "" : module.substr(end));
  }
  const auto it = tensor_names.find(key);
  if (it == tensor_names.end()) return "";
  std::string out = it->second;
  if (const size_t i = out.find("{i}"); i != std::string::npos) out.replace(i, 3, layer);
  return out + "." + param;
}

std::string ModelSpec::resolve_prompt(const OptString& prompt_name, const OptString& prompt) const {
  if (prompt.set) return prompt.value;
  if (!prompt_name.set) {
    if (!default_prompt_name.set) return "";
    const auto it = prompts.find(default_prompt_name.value);
    return it == prompts.end() ? "" : it->second;
  }
  const auto it = prompts.find(prompt_name.value);
  if (it == prompts.end())
    throw std::invalid_argument("prompt_name " + dumps(prompt_name.value) + " is not one of the model's prompts (" +
                                join_sorted(prompts) + ")");
  return it->second;
}

TokenizerOptions ModelSpec::tokenizer_options() const {
  TokenizerOptions o;
  o.max_len = max_seq_length;
  o.clean_text = clean_text, o.handle_chinese_chars = handle_chinese_chars;
  o.strip_accents = strip_accents, o.lowercase = lowercase;
  o.cls_id = cls_id, o.sep_id = sep_id, o.unk_id = unk_id, o.pad_id = pad_id;
  return o;
}

}  // namespace portbench
