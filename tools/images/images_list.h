// images.list files: one image reference a line; blank lines and '#'
// comments (whole-line or after the reference) are ignored.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "tools/images/reference.h"

namespace kso::images {

struct ListedImage {
  ImageRef ref;
  std::string where;  // "images.list:12", for messages
};

// Parses one list. Throws kso::Error "FILE:LINE: malformed image reference 'X': why".
std::vector<ListedImage> read_images_list(const std::filesystem::path& file);

}  // namespace kso::images
