// record_identity_log: under which idempotence identities (producer id,
// epoch, topic, partition, sequence) each record value was sent, as seen by
// the fault proxy.
//
// librdkafka 2.0.2's mock does not deduplicate the batches of a
// non-transactional idempotent producer: a batch appended whose response was
// lost is appended again when the client resends it. A real broker keeps one
// copy of a resend with the same (pid, epoch, sequence). So a record found
// twice in the mock's log is a client bug only if the client sent it under
// two identities; one identity means the broker would have deduplicated it.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace kprod::test {

class record_identity_log {
 public:
  using identity = std::tuple<std::int64_t, std::int16_t, std::string, std::int32_t, std::int32_t>;

  // `body`: a Produce request after its header. Undecodable input is ignored
  // (the sequence auditor reports it).
  void on_produce_request(std::int16_t version, std::span<const std::uint8_t> body);
  // Distinct identities the record with this value was sent under (0: never
  // sent as an idempotent record).
  std::size_t identities(std::string_view value) const;
  std::vector<identity> identities_of(std::string_view value) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<identity>> by_value_;
};

}  // namespace kprod::test
