// crc32c.cc - portable slicing-by-8 CRC-32C and an SSE4.2 path.
//
// The hardware path runs three independent CRC streams over adjacent thirds
// of a block: the crc32 instruction has a latency of 3 cycles but a
// throughput of 1, so three interleaved chains keep the unit busy. The three
// partial CRCs are joined with the "zero extension" identity
//   crc(A || B) = shift_len(B)(crc(A)) ^ crc_from_zero(B)
// where shift_n is the (linear) effect of feeding n zero bytes through the
// CRC register. shift_n is applied with four 256-entry tables, one per byte of
// the register, computed at compile time for the two block sizes used.
//
// crc32c_patch moves a CRC state past any number n of zero bytes (a
// multiplication by x^(8n) mod P): with PCLMULQDQ, and the crc32
// instruction as the reduction, when the CPU has both (~20 ns per patch),
// else bit by bit.
#include "codec/crc32c.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#include <wmmintrin.h>
#define KP_CRC32C_X86 1
#endif

namespace kprod::codec {
namespace {

constexpr std::uint32_t poly = 0x82F63B78u;

using table_t = std::array<std::array<std::uint32_t, 256>, 8>;
using shift_table_t = std::array<std::array<std::uint32_t, 256>, 4>;

constexpr table_t make_slicing_tables() {
  table_t t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  return t;
}

constexpr table_t slicing = make_slicing_tables();

// A linear map on the 32-bit register, as the images of the 32 basis bits.
using gf2_matrix = std::array<std::uint32_t, 32>;

constexpr std::uint32_t gf2_apply(const gf2_matrix& m, std::uint32_t v) {
  std::uint32_t r = 0;
  for (std::size_t i = 0; v != 0; ++i, v >>= 1)
    if (v & 1) r ^= m[i];
  return r;
}

constexpr gf2_matrix gf2_compose(const gf2_matrix& a, const gf2_matrix& b) {  // a after b
  gf2_matrix r{};
  for (std::size_t i = 0; i < 32; ++i) r[i] = gf2_apply(a, b[i]);
  return r;
}

// Tables applying shift_n (n zero bytes) to a raw (not inverted) register.
// shift_n = shift_1^n by square-and-multiply (cheap enough for constexpr
// evaluation limits); the tables then follow from the basis images by
// linearity.
constexpr shift_table_t make_shift_tables(std::size_t zero_bytes) {
  gf2_matrix one_byte{};
  for (std::size_t bit = 0; bit < 32; ++bit) {
    std::uint32_t v = 1u << bit;
    one_byte[bit] = slicing[0][v & 0xff] ^ (v >> 8);
  }
  gf2_matrix basis{};
  for (std::size_t bit = 0; bit < 32; ++bit) basis[bit] = 1u << bit;  // identity
  for (gf2_matrix sq = one_byte; zero_bytes != 0; zero_bytes >>= 1, sq = gf2_compose(sq, sq))
    if (zero_bytes & 1) basis = gf2_compose(sq, basis);
  shift_table_t t{};
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t b = 0; b < 256; ++b) {
      std::uint32_t v = 0;
      for (std::size_t i = 0; i < 8; ++i)
        if (b & (std::size_t{1} << i)) v ^= basis[8 * k + i];
      t[k][b] = v;
    }
  return t;
}

inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

namespace detail {

std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint32_t c = ~crc;
  while (n >= 8) {
    std::uint64_t w = load_le64(p);
    std::uint32_t lo = c ^ static_cast<std::uint32_t>(w);
    auto hi = static_cast<std::uint32_t>(w >> 32);
    c = slicing[7][lo & 0xff] ^ slicing[6][(lo >> 8) & 0xff] ^ slicing[5][(lo >> 16) & 0xff] ^
        slicing[4][lo >> 24] ^ slicing[3][hi & 0xff] ^ slicing[2][(hi >> 8) & 0xff] ^
        slicing[1][(hi >> 16) & 0xff] ^ slicing[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = slicing[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

#if defined(KP_CRC32C_X86) && defined(__x86_64__)

namespace {
// Per-stream lengths: long blocks amortise the two shifts, short blocks keep
// the three-way interleave for mid-sized inputs (e.g. a 1 KiB batch).
constexpr std::size_t long_stream = 8192;
constexpr std::size_t short_stream = 256;
constexpr shift_table_t shift_long = make_shift_tables(long_stream);
constexpr shift_table_t shift_short = make_shift_tables(short_stream);

inline std::uint32_t apply_shift(const shift_table_t& t, std::uint32_t c) noexcept {
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

__attribute__((target("sse4.2"))) inline std::uint64_t three_way(const std::uint8_t*& p, std::size_t stream,
                                                                  const shift_table_t& shift, std::uint64_t c0) {
  std::uint64_t c1 = 0, c2 = 0;
  const std::uint8_t* end = p + stream;
  do {
    c0 = _mm_crc32_u64(c0, load_le64(p));
    c1 = _mm_crc32_u64(c1, load_le64(p + stream));
    c2 = _mm_crc32_u64(c2, load_le64(p + 2 * stream));
    p += 8;
  } while (p < end);
  p += 2 * stream;
  std::uint32_t c = apply_shift(shift, static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
  return apply_shift(shift, c) ^ static_cast<std::uint32_t>(c2);
}
}  // namespace

__attribute__((target("sse4.2"))) std::uint32_t crc32c_hw(std::uint32_t crc, const void* data,
                                                           std::size_t n) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint64_t c = static_cast<std::uint32_t>(~crc);
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  while (n >= 3 * long_stream) {
    c = three_way(p, long_stream, shift_long, c);
    n -= 3 * long_stream;
  }
  while (n >= 3 * short_stream) {
    c = three_way(p, short_stream, shift_short, c);
    n -= 3 * short_stream;
  }
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
  return ~static_cast<std::uint32_t>(c);
}

bool crc32c_hw_available() noexcept {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
}

#else

std::uint32_t crc32c_hw(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return crc32c_portable(crc, data, n);
}
bool crc32c_hw_available() noexcept { return false; }

#endif

}  // namespace detail

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  if (detail::crc32c_hw_available()) return detail::crc32c_hw(crc, data, n);
  return detail::crc32c_portable(crc, data, n);
}

std::uint32_t crc32c(const void* data, std::size_t n) noexcept { return crc32c_extend(0, data, n); }

namespace {

// GF(2) polynomial arithmetic modulo the CRC-32C polynomial, bit-reflected as
// the CRC itself is (bit 31 is x^0). a * b mod P.
constexpr std::uint32_t mult_mod_p(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t product = 0;
  for (std::uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;  // no higher powers left in a
    }
    b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
  }
  return product;
}

constexpr std::uint32_t x_pow_0 = 1u << 31;
constexpr std::uint32_t x_pow_1 = 1u << 30;

// x^(2^k) mod P for k = 0..31, by squaring.
constexpr std::array<std::uint32_t, 32> make_x2n_table() noexcept {
  std::array<std::uint32_t, 32> t{};
  std::uint32_t p = x_pow_1;
  for (auto& e : t) {
    e = p;
    p = mult_mod_p(p, p);
  }
  return t;
}
constexpr std::array<std::uint32_t, 32> x2n_table = make_x2n_table();

// x^-1 mod P: P = x*Q + 1, so x*Q = 1 (mod P, in GF(2)) and x^-1 = Q, which
// is P's low coefficients shifted down one power (up one bit, reflected)
// with P's x^32 term becoming x^31 (bit 0).
constexpr std::uint32_t x_inverse = ((poly & 0x7FFFFFFFu) << 1) | 1u;
static_assert(mult_mod_p(x_inverse, x_pow_1) == x_pow_0);

constexpr std::uint32_t x_pow_minus_32 = [] {
  std::uint32_t p = x_pow_0;
  for (int i = 0; i < 32; ++i) p = mult_mod_p(p, x_inverse);
  return p;
}();

// x^(2^k - 32) mod P: factors for the carry-less path, whose reduction (the
// crc32 instruction) multiplies by x^32 as it reduces.
constexpr std::array<std::uint32_t, 32> x2n_minus_32_table = [] {
  std::array<std::uint32_t, 32> t{};
  for (std::size_t k = 0; k < t.size(); ++k) t[k] = mult_mod_p(x2n_table[k], x_pow_minus_32);
  return t;
}();

}  // namespace

namespace detail {

std::uint32_t shift_zero_bytes_portable(std::uint32_t v, std::size_t n) noexcept {
  std::uint32_t p = x_pow_0;
  for (unsigned k = 3; n != 0; n >>= 1, ++k) {
    if (n & 1) p = mult_mod_p(x2n_table[k & 31], p);
  }
  return mult_mod_p(p, v);
}

#if defined(KP_CRC32C_X86) && defined(__x86_64__)

namespace {
// a * b * x^32 mod P. The carry-less product of two reflected 32-bit
// polynomials has x^i at bit 62 - i; shifted up one bit it is a 64-bit
// reflected polynomial, which crc32 (from a zero state) reduces after
// multiplying it by x^32.
__attribute__((target("pclmul,sse4.2"))) inline std::uint32_t mult_mod_p_x32(std::uint32_t a, std::uint32_t b) noexcept {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                               _mm_cvtsi32_si128(static_cast<int>(b)), 0);
  const auto bits = static_cast<std::uint64_t>(_mm_cvtsi128_si64(product)) << 1;
  return static_cast<std::uint32_t>(_mm_crc32_u64(0, bits));
}

__attribute__((target("pclmul,sse4.2"))) std::uint32_t shift_zero_bytes_clmul(std::uint32_t v, std::size_t n) noexcept {
  // p = x^(8n - 32); the last multiplication adds the x^32 back.
  std::uint32_t p = x_pow_minus_32;
  for (unsigned k = 3; n != 0; n >>= 1, ++k) {
    if (n & 1) p = mult_mod_p_x32(x2n_minus_32_table[k & 31], p);
    // (x^(2^k - 32) * p * x^32 = x^(2^k) * p)
  }
  return mult_mod_p_x32(p, v);
}

bool clmul_available() noexcept {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") != 0 && __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
}

}  // namespace

std::uint32_t shift_zero_bytes(std::uint32_t v, std::size_t n) noexcept {
  return clmul_available() ? shift_zero_bytes_clmul(v, n) : shift_zero_bytes_portable(v, n);
}

#else

std::uint32_t shift_zero_bytes(std::uint32_t v, std::size_t n) noexcept { return shift_zero_bytes_portable(v, n); }

#endif

}  // namespace detail

std::uint32_t crc32c_patch(std::uint32_t crc, const std::uint8_t* before, const std::uint8_t* after, std::size_t n,
                           std::size_t tail) noexcept {
  // crc32c(M) ^ crc32c(M') is the raw CRC (zero initial state, no final xor)
  // of M ^ M': zeros, the changed bytes' xor, then `tail` zeros. Leading zeros
  // leave a zero state unchanged; trailing ones multiply it by x^(8*tail).
  std::uint8_t diff[64];
  std::uint32_t raw = 0;  // raw CRC state after the diff so far
  for (std::size_t done = 0; done < n;) {
    const std::size_t k = std::min(n - done, sizeof diff);
    for (std::size_t i = 0; i < k; ++i) diff[i] = before[done + i] ^ after[done + i];
    // crc32c_extend works on finished CRCs: state s is the CRC value ~s.
    raw = ~crc32c_extend(~raw, diff, k);
    done += k;
  }
  return crc ^ detail::shift_zero_bytes(raw, tail);
}

}  // namespace kprod::codec
