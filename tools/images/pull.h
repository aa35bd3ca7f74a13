// The image-list source: reads images.list files, pulls every image's
// index/manifests and the blobs of the selected platforms from their
// registries (parallel, verified, cached), and lays them out as registry:2
// storage under the images prefix.
#pragma once
#include <vector>

#include "cli/tool_io.h"
#include "index/entry.h"
#include "fetch/net_options.h"
#include "tools/images/images_options.h"

namespace kso::images {

struct PullStats {
  size_t images = 0, repositories = 0;
  size_t manifests = 0;               // indexes and image manifests stored
  size_t blobs = 0;                   // configs and layers stored (each once)
  uint64_t blob_bytes = 0;            // their total size
  size_t downloaded = 0, from_cache = 0;  // manifests and blobs
  size_t resumed = 0;                 // downloads that continued a partial file of an earlier run
  uint64_t bytes_downloaded = 0;      // size of what was downloaded (resumed files counted whole)
};

// Pulls everything opts names. Returns the layout's entries (blob data from
// the download cache, link files inline). Throws kso::Error with a one-line
// message naming the image (or list file and line) on any failure.
// Progress goes to io.err; the default auth files and SOURCE_DATE_EPOCH (the
// registry entries' mtime; else now) come from io's environment.
std::vector<SourceEntry> pull_images(const ImagesOptions& opts, const fetch::NetOptions& net,
                                     PullStats* stats = nullptr, ToolIo& io = ToolIo::process());

}  // namespace kso::images
