#include "kprod/types.h"

namespace kprod {

std::string_view to_string(compression_type c) noexcept {
  switch (c) {
    case compression_type::none: return "none";
    case compression_type::gzip: return "gzip";
    case compression_type::snappy: return "snappy";
    case compression_type::lz4: return "lz4";
    case compression_type::zstd: return "zstd";
  }
  return "unknown";
}

}  // namespace kprod
