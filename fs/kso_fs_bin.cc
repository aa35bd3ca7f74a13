#include "fs/kso_fs.h"

int main(int argc, char** argv) { return kso::kso_fs_main(argc, argv); }
