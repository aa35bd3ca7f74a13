#include "fetch/remote.h"

namespace kso::fetch {

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

std::string redact_url(const std::string& url) { return url.substr(0, url.find('?')); }

}  // namespace kso::fetch
