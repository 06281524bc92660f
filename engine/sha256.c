#include "sha256.h"
#include "alloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* OpenSSL initialises itself on its first use; when that is on a pool
 * thread, OpenSSL 3.0 keeps that thread's error state past its exit (a leak
 * LeakSanitizer reports, 904 bytes). Done on the loading thread instead,
 * before any pool exists. */
__attribute__((constructor)) static void init_openssl(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
}

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A strata_sha256 is an EVP_MD_CTX; the opaque type keeps OpenSSL out of the
 * other headers. */
strata_sha256 *strata_sha256_create(void)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		strata_oom();
	return (strata_sha256 *)c;
}

void strata_sha256_update(strata_sha256 *s, const void *data, size_t n)
{
	EVP_DigestUpdate((EVP_MD_CTX *)s, data, n);
}

void strata_sha256_final_hex(strata_sha256 *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_DigestFinal_ex((EVP_MD_CTX *)s, md, &len);
	hex(md, len, out);
}

void strata_sha256_free(strata_sha256 *s)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)s);
}

void strata_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	hex(md, len, out);
}
