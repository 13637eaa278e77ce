// The process-wide libcurl share object: DNS cache and TLS sessions.
//
// Every client's easy handles point at one CURLSH, so a host resolved (or a
// TLS session negotiated) by one client is reused by all. Connections are
// deliberately not shared this way: a shared connection pool would let one
// client's multi handle drive a socket registered with another client's
// reactor, and each multi handle already keeps its own keep-alive pool.
#pragma once

#include <curl/curl.h>

#include <array>
#include <memory>
#include <mutex>

namespace sluice::http::detail {

class curl_share {
 public:
  /// The live share, created (with curl_global_init, once per process) when
  /// the first client needs it and freed when the last client lets go.
  /// Throws std::runtime_error when libcurl cannot be initialised.
  static std::shared_ptr<curl_share> acquire();

  curl_share(const curl_share&) = delete;
  curl_share& operator=(const curl_share&) = delete;
  ~curl_share();

  [[nodiscard]] CURLSH* handle() const noexcept { return m_share; }

 private:
  curl_share();
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) noexcept;
  static void unlock(CURL*, curl_lock_data data, void* self) noexcept;

  CURLSH* m_share = nullptr;
  // libcurl asks for one lock per kind of shared data; clients on different
  // reactor threads may use the share at once.
  std::array<std::mutex, CURL_LOCK_DATA_LAST> m_locks;
};

}  // namespace sluice::http::detail
