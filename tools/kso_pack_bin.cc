#include "tools/kso_pack.h"

int main(int argc, char** argv) {
  return kso::kso_pack_main(std::vector<std::string>(argv + 1, argv + argc), kso::ToolIo::process());
}
