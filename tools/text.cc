#include "tools/text.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <memory>

#include "index/error.h"
#include "index/hash.h"

namespace kso {

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return s;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock NUL-terminates
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), int(data.size()));
  out.resize(size_t(n));
  return out;
}

std::string base64_decode(std::string_view text) {
  // EVP_DecodeBlock alone is lenient (blanks around, '=' anywhere, leftover
  // bits): check the shape first and the round trip after.
  auto letter = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') pad++;
  bool ok = text.size() % 4 == 0;
  for (size_t i = 0; ok && i < text.size() - pad; i++) ok = letter(text[i]);
  if (!ok) throw Error("malformed base64");
  if (text.empty()) return "";
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  if (n < 0 || size_t(n) != out.size()) throw Error("malformed base64");
  out.resize(out.size() - pad);  // EVP_DecodeBlock counts the padding as zero bytes
  if (base64_encode(out) != text) throw Error("malformed base64");  // leftover bits set
  return out;
}

std::string base64url_encode(std::string_view data) {
  std::string s = base64_encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::string url_escape(std::string_view s, std::string_view keep) {
  std::string out;
  while (!s.empty()) {
    size_t n = keep.empty() ? s.size() : s.find_first_of(keep);
    if (n == std::string_view::npos) n = s.size();
    if (n == 0) {  // a kept character
      out += s[0];
      s.remove_prefix(1);
      continue;
    }
    std::unique_ptr<char, decltype(&curl_free)> e(curl_easy_escape(nullptr, s.data(), int(n)), curl_free);
    if (!e) throw Error("out of memory escaping a URL part");
    out += e.get();
    s.remove_prefix(n);
  }
  return out;
}

std::string url_unescape(std::string_view s) {
  int n = 0;
  std::unique_ptr<char, decltype(&curl_free)> d(curl_easy_unescape(nullptr, s.data(), int(s.size()), &n), curl_free);
  if (!d) throw Error("out of memory unescaping a URL part");
  return std::string(d.get(), size_t(n));
}

bool strip_utf8_bom(std::string& line) {
  if (line.compare(0, 3, "\xef\xbb\xbf") != 0) return false;
  line.erase(0, 3);
  return true;
}

std::string malformed_lines(const std::string& what, const std::vector<std::string>& errors, size_t shown) {
  std::string msg = std::to_string(errors.size()) + " malformed line(s) in " + what;
  for (size_t i = 0; i < errors.size() && i < shown; i++) msg += "\n  " + errors[i];
  if (errors.size() > shown) msg += "\n  ...";
  return msg;
}

std::string printable(const std::string& name) {
  std::string out;
  auto esc = [&](unsigned char c) { out += "\\x" + to_hex(&c, 1); };
  for (size_t i = 0; i < name.size();) {
    unsigned char c = (unsigned char)name[i];
    if (c == '\\') {
      out += "\\\\";
      i++;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      esc(c);
      i++;
      continue;
    }
    if (c < 0x80) {
      out += char(c);
      i++;
      continue;
    }
    // RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = n && i + n <= name.size();
    for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)name[i + k] & 0xc0) == 0x80;
    unsigned char c1 = ok ? (unsigned char)name[i + 1] : 0;
    if (ok && n == 2 && c == 0xc2 && c1 < 0xa0) ok = false;  // C1 controls
    if (ok && ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
               (c == 0xf4 && c1 > 0x8f)))
      ok = false;
    if (!ok) {
      esc(c);
      i++;
      continue;
    }
    out.append(name, i, n);
    i += n;
  }
  return out;
}

}  // namespace kso
