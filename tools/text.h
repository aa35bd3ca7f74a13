// Text helpers the sources share: ASCII case folding, base64 (OpenSSL's
// EVP_EncodeBlock/EVP_DecodeBlock underneath) and URL percent-encoding
// (libcurl's curl_easy_escape/curl_easy_unescape).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kso {

// ASCII lower case; other bytes unchanged.
std::string lower(std::string s);
// Drops a UTF-8 byte-order mark (EF BB BF) from the start of `line` (lists
// saved by some Windows editors begin with one); true if there was one.
bool strip_utf8_bom(std::string& line);
// One error message for the malformed lines of a list: "N malformed line(s)
// in WHAT" and the first `shown` of `errors`, one per line.
std::string malformed_lines(const std::string& what, const std::vector<std::string>& errors, size_t shown = 20);

// A name from a pack made safe for a terminal (and for JSON): control
// characters (C0, DEL, C1) and bytes that are not UTF-8 become \xNN, a
// backslash \\; valid UTF-8 is kept as it is. One name, one result.
std::string printable(const std::string& name);

// Standard base64 (RFC 4648 section 4) with '=' padding.
std::string base64_encode(std::string_view data);
// Decodes standard padded base64, strictly: only the 64 letters, a length
// that is a multiple of 4, '=' only as the last one or two characters, and no
// leftover bits set in the last letter (the one encoding of the data).
// Throws kso::Error("malformed base64") otherwise.
std::string base64_decode(std::string_view text);
// base64url (RFC 4648 section 5) without padding, as JWTs use.
std::string base64url_encode(std::string_view data);

// %XX for every byte but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~)
// and those in `keep`.
std::string url_escape(std::string_view s, std::string_view keep = {});
// Decodes every %XX (two hex digits); anything else is kept as it is.
std::string url_unescape(std::string_view s);

}  // namespace kso
