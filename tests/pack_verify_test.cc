// The split between what a mount checks (XXH3, pages, decoding: Pack, the
// reader without OpenSSL) and what proving a pack adds (SHA-256 of each block
// and of the metadata: index/verify.h).
#include <gtest/gtest.h>

#include "index/error.h"
#include "index/format.h"
#include "index/pack_reader.h"
#include "index/verify.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// A block whose bytes changed with its XXH3 and page checksums made to match:
// only its SHA-256 tells. The reader's check passes it; verify_block does not.
TEST(PackVerify, ATamperThatMatchesXxh3IsCaughtBySha256Only) {
  TempDir tmp;
  write_file(tmp / "src" / "random.bin", random_bytes(200000, 3));  // incompressible: a raw block
  fs::path pack = tmp / "p.kso";
  build_pack(pack, {{"files", tmp / "src"}});
  {
    auto p = Pack::open(pack);
    EXPECT_EQ(compute_identity(*p), p->identity());
    for (uint32_t i = 0; i < p->block_count(); i++) EXPECT_NO_THROW(verify_block(*p, i)) << i;
  }
  PackParts parts = split_pack(pack);
  uint32_t id = 0;
  while (id < parts.blocks.size() && parts.blocks[id].codec != Codec::Raw) id++;
  ASSERT_LT(id, parts.blocks.size()) << "no raw block";
  BlockEntry& e = parts.blocks[id];
  const size_t at = size_t(e.offset - kDataStart);
  parts.data[at + 100] ^= 0x01;
  e.xxh3 = xxh3(&parts.data[at], e.stored_size);
  for (uint32_t pg = 0; uint64_t(pg) * kRawPageSize < e.stored_size; pg++) {
    size_t from = size_t(pg) * kRawPageSize;
    parts.pages[e.first_page + pg] = xxh3(&parts.data[at + from], std::min<size_t>(kRawPageSize, e.stored_size - from));
  }
  write_pack(pack, parts);  // identity recomputed: the metadata is consistent again

  auto p = Pack::open(pack);
  EXPECT_EQ(compute_identity(*p), p->identity());
  EXPECT_NO_THROW(p->check_block(id));
  try {
    verify_block(*p, id);
    ADD_FAILURE() << "verify_block passed a block whose SHA-256 does not match";
  } catch (const CorruptError& err) {
    std::string what = err.what();
    EXPECT_NE(what.find("block " + std::to_string(id) + " at offset "), std::string::npos) << what;
    EXPECT_NE(what.find("SHA-256 mismatch (the XXH3 matched: tampered?)"), std::string::npos) << what;
  }
  ToolResult r = kso_pack({"verify", pack.string()});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("SHA-256 mismatch"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace kso
