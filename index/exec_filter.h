// Executable filters (format v4): a reversible transform of machine code that
// turns relative branch targets into absolute ones, so the same call target
// gives the same bytes everywhere and the block codec finds more matches.
// The algorithms are xz's BCJ filters (liblzma simple/x86.c, simple/arm64.c),
// applied to a whole block at once with the block's first byte at position 0.
//
// decode(encode(x)) == x for every byte string x, of any length, and the
// decoder stays within its buffer on any input: a hostile pack can make a
// filtered block decode to some bytes but never crash or overrun the decoder
// (its checksums are over the stored bytes, checked before any decoding).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kso {

// Values of the block entry's `filter` byte.
enum class ExecFilter : uint8_t {
  None = 0,
  X86 = 1,    // x86 / x86-64: E8 (call) and E9 (jmp) rel32 made absolute
  Arm64 = 2,  // AArch64: BL imm26 and ADRP imm21 (within +-512 MiB) made absolute
};
constexpr uint8_t kMaxFilter = 2;  // the highest value a v4 reader knows

const char* exec_filter_name(uint8_t f);  // "none", "x86", "arm64", "unknown"

// The filter for a file that starts with `head` (its first bytes): X86 for a
// 64-bit little-endian ELF with e_machine EM_X86_64 (62), Arm64 for EM_AARCH64
// (183), None for anything else (or fewer than 20 bytes).
ExecFilter elf_exec_filter(std::string_view head);

// In place, on `n` bytes; `f` None leaves them as they are. Throws Error on
// an unknown filter value.
void exec_encode(ExecFilter f, char* data, size_t n);
void exec_decode(ExecFilter f, char* data, size_t n);

}  // namespace kso
