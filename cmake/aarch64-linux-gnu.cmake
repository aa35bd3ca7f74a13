# Cross-compiles kso for arm64 (aarch64) on a Debian amd64 host with Debian's
# cross toolchain (crossbuild-essential-arm64) and the :arm64 -dev packages,
# which install side by side under /usr/lib/aarch64-linux-gnu (multiarch).
# Used by scripts/test-arm64.sh and scripts/package.sh:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian's arm64 libraries live under /usr/lib/aarch64-linux-gnu, not under a
# sysroot, so CMAKE_FIND_ROOT_PATH=/usr/aarch64-linux-gnu would find nothing:
# the library architecture makes find_package/find_library look there.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Tests and tools built for arm64 run through qemu-user. No -L: the binaries'
# interpreter and libraries are found at their multiarch paths on this host,
# and with -L /usr/aarch64-linux-gnu kso-pack build spins forever under qemu.
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-aarch64-static)
