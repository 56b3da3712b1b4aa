// The one translation unit that compiles Asio's implementation
// (ASIO_SEPARATE_COMPILATION is set for every target using kp_asio).
#include <asio/impl/src.hpp>
