#include "tools/images/images_list.h"

#include <fstream>

#include "index/error.h"

namespace kso::images {

std::vector<ListedImage> read_images_list(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read images list " + file.string());
  std::vector<ListedImage> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(" \t\r");
    std::string text = line.substr(b, e - b + 1);
    std::string where = file.string() + ":" + std::to_string(lineno);
    try {
      out.push_back(ListedImage{parse_image_ref(text), where});
    } catch (const Error& err) {
      throw Error(where + ": malformed image reference '" + text + "': " + err.what());
    }
  }
  if (in.bad()) throw Error("error reading images list " + file.string());
  return out;
}

}  // namespace kso::images
