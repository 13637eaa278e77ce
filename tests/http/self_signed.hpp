// A throw-away self-signed certificate for loopback TLS servers in tests.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

struct evp_pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct x509_free {
  void operator()(X509* c) const noexcept { X509_free(c); }
};

struct self_signed {
  std::unique_ptr<EVP_PKEY, evp_pkey_free> key{EVP_EC_gen("P-256")};
  std::unique_ptr<X509, x509_free> cert{X509_new()};

  self_signed() {
    X509* c = cert.get();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_set_pubkey(c, key.get());
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);  // NOLINT: OpenSSL takes bytes
    X509_set_issuer_name(c, name);
    X509_sign(c, key.get(), EVP_sha256());
  }
};

// Writes the key and certificate as PEM files (for servers that take paths).
inline bool write_pem_files(const self_signed& id, const std::string& key_path, const std::string& cert_path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> key(std::fopen(key_path.c_str(), "w"), &std::fclose);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> cert(std::fopen(cert_path.c_str(), "w"), &std::fclose);
  if (!key || !cert) return false;
  return PEM_write_PrivateKey(key.get(), id.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1 &&
         PEM_write_X509(cert.get(), id.cert.get()) == 1;
}

}  // namespace
