// crc32c.h - CRC-32C (Castagnoli), the checksum of v2 record batches.
//
// Standard parameters: reflected polynomial 0x82F63B78, initial value and
// final xor 0xFFFFFFFF, so crc32c("123456789") == 0xE3069283. On x86-64 with
// SSE4.2 the `crc32` instruction is used (picked once at run time); otherwise
// a portable slicing-by-8 table implementation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kprod::codec {

// CRC-32C of n bytes.
std::uint32_t crc32c(const void* data, std::size_t n) noexcept;

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a followed by b).
// crc32c_extend(0, p, n) == crc32c(p, n).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;

// The CRC of a message after n of its bytes changed from `before` to
// `after`, given its CRC before the change and how many bytes follow the
// changed ones. Costs O(n + log tail), not a pass over the message: CRCs are
// linear, so the change's own CRC, moved past `tail` zero bytes (a
// multiplication by x^(8*tail) mod P), is what the CRC changes by.
std::uint32_t crc32c_patch(std::uint32_t crc, const std::uint8_t* before, const std::uint8_t* after, std::size_t n,
                           std::size_t tail) noexcept;

namespace detail {
// Both implementations, exposed so tests and benchmarks can compare them.
// Same contract as crc32c_extend.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept;
// Only callable when crc32c_hw_available(); the portable path otherwise.
std::uint32_t crc32c_hw(std::uint32_t crc, const void* data, std::size_t n) noexcept;
bool crc32c_hw_available() noexcept;
// v * x^(8n) mod P (a raw CRC state moved past n zero bytes): with
// carry-less multiplication when the CPU has it, else the portable bitwise
// multiplication. Exposed so tests can compare the two.
std::uint32_t shift_zero_bytes(std::uint32_t v, std::size_t n) noexcept;
std::uint32_t shift_zero_bytes_portable(std::uint32_t v, std::size_t n) noexcept;
}  // namespace detail

}  // namespace kprod::codec
