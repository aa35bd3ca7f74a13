#include "fs/kso_fs.h"

int main(int argc, char** argv) {
  return kso::kso_fs_main(std::vector<std::string>(argv + 1, argv + argc), kso::ToolIo::process());
}
