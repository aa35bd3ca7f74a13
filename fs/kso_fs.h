// kso-fs: mounts a pack read-only. The entry point is a function so tests
// can drive it; it returns when the file system is unmounted.
#pragma once

namespace kso {

// argv as given to main: kso-fs PACK MOUNTPOINT [-o OPTIONS] [-f] [-d] [-s].
int kso_fs_main(int argc, char** argv);

}  // namespace kso
