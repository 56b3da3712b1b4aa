# Every dependency is a Debian -dev package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(KP_LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(KP_ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_library(KP_SNAPPY_LIB snappy REQUIRED)
find_path(KP_SNAPPY_INCLUDE snappy.h REQUIRED)
find_path(KP_ASIO_INCLUDE asio.hpp REQUIRED)

add_library(kp_compression_libs INTERFACE)
target_include_directories(kp_compression_libs INTERFACE ${KP_SNAPPY_INCLUDE})
target_link_libraries(kp_compression_libs INTERFACE ZLIB::ZLIB PkgConfig::KP_LZ4
                      PkgConfig::KP_ZSTD ${KP_SNAPPY_LIB})

# Standalone Asio (header-only, no Boost).
add_library(kp_asio INTERFACE)
target_include_directories(kp_asio SYSTEM INTERFACE ${KP_ASIO_INCLUDE})
# Compiled once in src/client/asio_impl.cc (ASIO_SEPARATE_COMPILATION): every
# other translation unit only sees declarations, which keeps builds fast.
target_compile_definitions(kp_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED ASIO_SEPARATE_COMPILATION)
