#include "curl_share.hpp"

#include <stdexcept>

namespace sluice::http::detail {

namespace {
void global_init_once() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  // curl_global_cleanup is never called: other libraries in the process may
  // use libcurl too, and cleanup at exit races their threads.
  if (code != CURLE_OK) throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(code));
}
}  // namespace

std::shared_ptr<curl_share> curl_share::acquire() {
  static std::mutex mutex;
  static std::weak_ptr<curl_share> current;
  std::lock_guard lock(mutex);
  global_init_once();
  if (auto live = current.lock()) return live;
  std::shared_ptr<curl_share> fresh(new curl_share());
  current = fresh;
  return fresh;
}

curl_share::curl_share() : m_share(curl_share_init()) {
  if (!m_share) throw std::runtime_error("curl_share_init failed");
  curl_share_setopt(m_share, CURLSHOPT_LOCKFUNC, &curl_share::lock);
  curl_share_setopt(m_share, CURLSHOPT_UNLOCKFUNC, &curl_share::unlock);
  curl_share_setopt(m_share, CURLSHOPT_USERDATA, this);
  curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

curl_share::~curl_share() { curl_share_cleanup(m_share); }

void curl_share::lock(CURL*, curl_lock_data data, curl_lock_access, void* self) noexcept {
  static_cast<curl_share*>(self)->m_locks[static_cast<std::size_t>(data)].lock();
}

void curl_share::unlock(CURL*, curl_lock_data data, void* self) noexcept {
  static_cast<curl_share*>(self)->m_locks[static_cast<std::size_t>(data)].unlock();
}

}  // namespace sluice::http::detail
