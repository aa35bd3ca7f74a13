#include "tools/images/images_list.h"

#include <fstream>

#include "index/error.h"
#include "tools/text.h"

namespace kso::images {

std::vector<ListedImage> read_images_list(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read images list " + file.string());
  std::vector<ListedImage> out;
  std::vector<std::string> errors;  // every malformed line, as files lists report them
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (lineno == 1) strip_utf8_bom(line);
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(" \t\r");
    std::string text = line.substr(b, e - b + 1);
    std::string where = file.string() + ":" + std::to_string(lineno);
    try {
      out.push_back(ListedImage{parse_image_ref(text), where});
    } catch (const Error& err) {
      errors.push_back(where + ": malformed image reference '" + text.substr(0, 200) + "': " + err.what());
    }
  }
  if (in.bad()) throw Error("error reading images list " + file.string());
  if (errors.size() == 1) throw Error(errors[0], EINVAL);
  if (!errors.empty()) throw Error(malformed_lines("images list " + file.string(), errors), EINVAL);
  return out;
}

}  // namespace kso::images
