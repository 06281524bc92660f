#define _GNU_SOURCE
#include "store.h"
#include "alloc.h"
#include "strata.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define N32(c) [c] = true
/* nix-base32's alphabet: digits and lowercase letters without e, o, u, t. */
static const bool nix32_table[256] = {
	N32('0'), N32('1'), N32('2'), N32('3'), N32('4'), N32('5'), N32('6'), N32('7'), N32('8'), N32('9'),
	N32('a'), N32('b'), N32('c'), N32('d'), N32('f'), N32('g'), N32('h'), N32('i'), N32('j'), N32('k'),
	N32('l'), N32('m'), N32('n'), N32('p'), N32('q'), N32('r'), N32('s'), N32('v'), N32('w'), N32('x'),
	N32('y'), N32('z'),
};
#undef N32

bool strata_store_is_nix32(unsigned char c)
{
	return nix32_table[c];
}

static bool name_char_ok(char c)
{
	/* The characters Nix allows in store path names. */
	return isalnum((unsigned char)c) || strchr("+-._?=", c) != NULL;
}

int strata_store_path_check(const char *path, const char *store_dir, strata_error *err)
{
	size_t sl = strlen(store_dir);
	if (strncmp(path, store_dir, sl) != 0 || path[sl] != '/')
		return strata_error_set(err, 0, "'%s' is not inside the store directory %s", path,
					store_dir);
	const char *base = path + sl + 1;
	size_t bl = strlen(base);
	if (bl < STRATA_HASH_LEN + 2 || base[STRATA_HASH_LEN] != '-')
		return strata_error_set(err, 0, "'%s' is not a store path (expected %s/<hash>-<name>)",
					path, store_dir);
	for (size_t i = 0; i < STRATA_HASH_LEN; i++)
		if (!strata_store_is_nix32((unsigned char)base[i]))
			return strata_error_set(err, 0, "'%s' is not a store path (bad hash part)", path);
	const char *name = base + STRATA_HASH_LEN + 1;
	if (name[0] == '.')
		return strata_error_set(err, 0, "'%s' is not a store path (name starts with '.')", path);
	for (const char *p = name; *p; p++)
		if (!name_char_ok(*p))
			return strata_error_set(err, 0, "'%s' is not a store path (bad character in name)",
						path);
	return 0;
}

int strata_store_dir_normalise(const char *in, char **out, strata_error *err)
{
	if (in == NULL) {
		*out = strata_xstrdup(STRATA_DEFAULT_STORE_DIR);
		return 0;
	}
	if (in[0] != '/')
		return strata_error_set(err, 0, "store directory '%s' must be an absolute path", in);
	char *res = strata_xmalloc(strlen(in) + 1);
	size_t k = 0;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			free(res);
			return strata_error_set(err, 0, "store directory '%s' must not contain '.' or '..'", in);
		}
		if (len > 0) {
			res[k++] = '/';
			memcpy(res + k, p, len);
			k += len;
		}
		p = end;
	}
	res[k] = '\0';
	if (k == 0) {
		free(res);
		return strata_error_set(err, 0, "store directory '%s' cannot be the root directory", in);
	}
	*out = res;
	return 0;
}
