// OpenSSL's libcrypto (libssl-dev): only the EVP digest calls and the error queue, for
// GraftSupport's SHA-256.
#include <openssl/evp.h>
#include <openssl/err.h>
