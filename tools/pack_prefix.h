// The pack directory a source's tree goes under: `PREFIX=DIR` of local trees,
// --files-prefix of files lists, --images-prefix of image lists. One rule for
// all three (index/entry.h's validate_pack_path): relative, '/'-separated, no
// empty, "." or ".." segment, no NUL. So "", ".", "..", "/" and "/x" are
// refused; trailing '/'s are dropped first ("files/" is "files").
#pragma once
#include <string>

namespace kso {

// The prefix without trailing '/'s; throws kso::Error(EINVAL)
// "bad pack path '<prefix>': <why>" when it breaks the rule.
std::string pack_prefix(std::string prefix);

}  // namespace kso
