// producer.cc - the public kprod::producer facade.
#include "kprod/producer.h"

#include "producer/producer_impl.h"

namespace kprod {

result<std::unique_ptr<producer>> producer::create(const producer_config& config) {
  auto valid = validate(config);
  if (!valid.ok()) return valid.error();
  return std::unique_ptr<producer>(new producer(std::make_unique<producer_detail::producer_impl>(valid.value())));
}

result<std::unique_ptr<producer>> producer::create(const std::map<std::string, std::string>& properties) {
  auto cfg = producer_config_from_properties(properties);
  if (!cfg.ok()) return cfg.error();
  return create(cfg.value());
}

producer::producer(std::unique_ptr<producer_detail::producer_impl> impl) : impl_(std::move(impl)) {}

producer::~producer() = default;

result<void> producer::send(const record& r) { return enqueue(r, {}, true, false); }

result<void> producer::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }

result<void> producer::close(std::chrono::milliseconds timeout) { return impl_->close(timeout); }

result<std::vector<partition_info>> producer::partitions_for(std::string_view topic) {
  return impl_->partitions_for(topic);
}

result<cluster_info> producer::cluster_metadata() { return impl_->cluster_metadata(); }

const producer_config& producer::config() const noexcept { return impl_->config(); }

producer_metrics producer::metrics() const { return impl_->metrics(); }

result<void> producer::enqueue(const record& r, detail::completion&& done, bool may_block, bool report_enqueue_errors) {
  return impl_->enqueue(r, std::move(done), may_block, report_enqueue_errors);
}

}  // namespace kprod
