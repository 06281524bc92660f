/* The validators every command relies on: the tar structure check, image
 * references, store and mount paths, times, the runtime config's values
 * clients parse, and the escaping and capping of messages. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_config.h"
#include "mount_spec.h"
#include "store.h"
#include "timestamp.h"
#include "ref.h"
#include "tar_check.h"

/* ---------- tar_check ---------- */

static void header(unsigned char *b, const char *name, char type, unsigned long size)
{
	memset(b, 0, 512);
	strcpy((char *)b, name);
	sprintf((char *)b + 100, "%07o", 0644);
	sprintf((char *)b + 108, "%07o", 0);
	sprintf((char *)b + 116, "%07o", 0);
	sprintf((char *)b + 124, "%011lo", size);
	sprintf((char *)b + 136, "%011o", 1);
	b[156] = (unsigned char)type;
	memcpy(b + 257, "ustar\0" "00", 8);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b[i];
	sprintf((char *)b + 148, "%06o", sum);
}

/* Feeds buf in pieces of `step` bytes (to cover every split point). */
static int check(const unsigned char *buf, size_t n, size_t step, char **msg)
{
	strata_tar_check c;
	strata_tar_check_init(&c);
	strata_error err = STRATA_ERROR_INIT;
	int r = 0;
	for (size_t off = 0; r == 0 && off < n; off += step)
		r = strata_tar_check_feed(&c, buf + off, off + step > n ? n - off : step, "t", &err);
	if (r == 0)
		r = strata_tar_check_end(&c, "t", &err);
	strata_tar_check_fini(&c);
	*msg = err.msg;
	return r;
}

static void expect_tar(const unsigned char *buf, size_t n, const char *want_error)
{
	static const size_t steps[] = {1, 7, 512, 513, 100000};
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		char *msg = NULL;
		int r = check(buf, n, steps[i], &msg);
		if (want_error == NULL && r != 0)
			fail_msg("step %zu: unexpected error '%s'", steps[i], msg);
		if (want_error != NULL && (r == 0 || strstr(msg, want_error) == NULL))
			fail_msg("step %zu: wanted '%s', got '%s'", steps[i], want_error, msg ? msg : "success");
		free(msg);
	}
}

static void test_tar_check(void **s)
{
	(void)s;
	unsigned char buf[6 * 512];
	memset(buf, 0, sizeof buf);
	header(buf, "a", '0', 5);
	memcpy(buf + 512, "hello", 5);
	expect_tar(buf, 1024, NULL);        /* ends at a header boundary */
	expect_tar(buf, 2048, NULL);        /* with two zero blocks */
	expect_tar(buf, 1536, NULL);        /* one zero block, then the end */
	expect_tar(buf, 6 * 512, NULL);     /* padding after the end */
	expect_tar(buf, 0, NULL);           /* an empty archive */
	expect_tar(buf, 700, "truncated");  /* inside the data */
	expect_tar(buf, 300, "no tar header");
	header(buf + 1536, "late", '0', 0); /* a header after an end block */
	expect_tar(buf, 2048, "a header after an end-of-archive block");
	buf[10] ^= 1; /* checksum no longer matches */
	expect_tar(buf, 1024, "bad checksum");
	const char *text = "just some text that is longer than a tar header block would be, repeated to exceed 512 bytes "
			   "just some text that is longer than a tar header block would be, repeated to exceed 512 bytes "
			   "just some text that is longer than a tar header block would be, repeated to exceed 512 bytes "
			   "just some text that is longer than a tar header block would be, repeated to exceed 512 bytes "
			   "just some text that is longer than a tar header block would be, repeated to exceed 512 bytes "
			   "just some text that is longer than a tar header block would be.";
	expect_tar((const unsigned char *)text, strlen(text), "no tar header (bad checksum)");
	/* a pax size record gives the next entry's size */
	memset(buf, 0, sizeof buf);
	const char rec[] = "13 size=1000\n";
	header(buf, "././@PaxHeader", 'x', sizeof rec - 1);
	memcpy(buf + 512, rec, sizeof rec - 1);
	header(buf + 1024, "big", '0', 1);
	expect_tar(buf, 1536 + 1024, NULL); /* 1000 bytes of data = 2 blocks */
	expect_tar(buf, 1536 + 512, "truncated");
	memcpy(buf + 512, "99 size=1000\n", 13); /* a record longer than the header */
	expect_tar(buf, 1536 + 1024, "malformed pax record");
}

/* ---------- references ---------- */

static void expect_ref(int (*fn)(const char *, strata_error *), const char *s, bool ok)
{
	strata_error err = STRATA_ERROR_INIT;
	int r = fn(s, &err);
	if (ok && r != 0)
		fail_msg("'%s' refused: %s", s, err.msg);
	if (!ok && (r == 0 || err.msg == NULL))
		fail_msg("'%s' accepted", s);
	strata_error_clear(&err);
}

static void test_references(void **s)
{
	(void)s;
	static const char *const good_tags[] = {"latest", "v1.0", "_x", "A-b.c_d", "0"};
	static const char *const bad_tags[] = {"", ".x", "-x", "a b", "a:b", "../x", "a/b", "\x1b"};
	for (size_t i = 0; i < sizeof good_tags / sizeof *good_tags; i++)
		expect_ref(strata_ref_check_tag, good_tags[i], true);
	for (size_t i = 0; i < sizeof bad_tags / sizeof *bad_tags; i++)
		expect_ref(strata_ref_check_tag, bad_tags[i], false);
	char long_tag[130];
	memset(long_tag, 'a', 129);
	long_tag[129] = '\0';
	expect_ref(strata_ref_check_tag, long_tag, false);
	long_tag[128] = '\0';
	expect_ref(strata_ref_check_tag, long_tag, true);

	static const char *const good_names[] = {"hello", "strata/hello", "a__b", "a.b_c-d--e", "localhost/x",
						 "registry.example.com:5000/team/app", "127.0.0.1:5000/x", "docker.io/library/alpine"};
	static const char *const bad_names[] = {"", "Upper", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b",
						"../x", "a b", "host:/x", "host:port/x", "exa_mple.com/x/"};
	for (size_t i = 0; i < sizeof good_names / sizeof *good_names; i++)
		expect_ref(strata_ref_check_name, good_names[i], true);
	for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
		expect_ref(strata_ref_check_name, bad_names[i], false);

	static const char *const good_ann[] = {"v1", "myimage:abc", "a/b:c", "x--y", "a@b+c"};
	static const char *const bad_ann[] = {"", "../x", "a b", ":a", "a:", "a//b", "_x"};
	for (size_t i = 0; i < sizeof good_ann / sizeof *good_ann; i++)
		expect_ref(strata_ref_check_ref_name, good_ann[i], true);
	for (size_t i = 0; i < sizeof bad_ann / sizeof *bad_ann; i++)
		expect_ref(strata_ref_check_ref_name, bad_ann[i], false);

	strata_ref r;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_ref_parse("localhost:5000/a/b:v2", &r, &err), 0);
	assert_string_equal(r.name, "localhost:5000/a/b");
	assert_string_equal(r.tag, "v2");
	assert_null(r.digest);
	strata_ref_fini(&r);
	assert_int_equal(strata_ref_parse("localhost:5000/a", &r, &err), 0);
	assert_string_equal(r.name, "localhost:5000/a");
	assert_null(r.tag);
	strata_ref_fini(&r);
	assert_true(strata_ref_parse("a@sha256:1234", &r, &err) < 0);
	strata_ref_fini(&r);
	strata_error_clear(&err);
}

/* ---------- paths and times ---------- */

static void expect_norm(int (*fn)(const char *, char **, strata_error *), const char *in, const char *want)
{
	char *out = NULL;
	strata_error err = STRATA_ERROR_INIT;
	int r = fn(in, &out, &err);
	if (want == NULL) {
		if (r == 0)
			fail_msg("'%s' accepted as '%s'", in, out);
		assert_non_null(err.msg);
	} else {
		if (r != 0)
			fail_msg("'%s' refused: %s", in, err.msg);
		assert_string_equal(out, want);
	}
	free(out);
	strata_error_clear(&err);
}

/* The io.containerd.image.name rule: Docker's normalisation. */
static void test_qualified_names(void **s)
{
	(void)s;
	static const char *const cases[][2] = {
		{"hello", "docker.io/library/hello:v1"},       {"strata/hello", "docker.io/strata/hello:v1"},
		{"docker.io/x/y", "docker.io/x/y:v1"},         {"ghcr.io/x/y", "ghcr.io/x/y:v1"},
		{"localhost/a", "localhost/a:v1"},             {"localhost:5000/a", "localhost:5000/a:v1"},
		{"localhostx/a", "docker.io/localhostx/a:v1"}, {"reg:5000/a/b/c", "reg:5000/a/b/c:v1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *q = strata_ref_qualified(cases[i][0], "v1");
		assert_string_equal(q, cases[i][1]);
		free(q);
	}
}

static void test_paths(void **s)
{
	(void)s;
	expect_norm(strata_store_dir_normalise, "/nix/store/", "/nix/store");
	expect_norm(strata_store_dir_normalise, "//nix///store", "/nix/store");
	expect_norm(strata_store_dir_normalise, NULL, "/nix/store");
	expect_norm(strata_store_dir_normalise, "nix/store", NULL);
	expect_norm(strata_store_dir_normalise, "/nix/../etc", NULL);
	expect_norm(strata_store_dir_normalise, "/nix/./store", NULL);
	expect_norm(strata_store_dir_normalise, "/", NULL);
	expect_norm(strata_store_dir_normalise, "///", NULL);
	expect_norm(strata_mount_spec_destination, "//data//x/./", "/data/x");
	expect_norm(strata_mount_spec_destination, "/", NULL);
	expect_norm(strata_mount_spec_destination, "/.", NULL);
	expect_norm(strata_mount_spec_destination, "/..", NULL);
	expect_norm(strata_mount_spec_destination, "/a/../b", NULL);
	expect_norm(strata_mount_spec_destination, "rel", NULL);
	expect_norm(strata_mount_spec_destination, "/a..b/.c", "/a..b/.c");
}

static void test_times(void **s)
{
	(void)s;
	long long t;
	strata_error err = STRATA_ERROR_INIT;
	assert_int_equal(strata_timestamp_parse("9999-12-31T23:59:59Z", &t, &err), 0);
	assert_int_equal(t, 253402300799LL);
	char out[32];
	strata_timestamp_format(t, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
	assert_true(strata_timestamp_parse("9999-12-31T23:59:60Z", &t, &err) < 0);
	assert_true(strata_timestamp_parse("9999-12-31T23:00:00-01:00", &t, &err) < 0);
	assert_true(strata_timestamp_parse("1969-12-31T23:59:59Z", &t, &err) < 0);
	assert_int_equal(strata_timestamp_parse("1970-01-01T01:00:00+01:00", &t, &err), 0);
	assert_int_equal(t, 0);
	/* In a config: RFC 3339 as Go reads it, any four-digit year. */
	assert_int_equal(strata_timestamp_parse_image("0001-01-01T00:00:00Z", &t, &err), 0);
	assert_int_equal(t, -62135596800LL);
	assert_int_equal(strata_timestamp_parse_image("0000-01-01T00:00:00Z", &t, &err), 0);
	assert_int_equal(t, -62167219200LL);
	assert_int_equal(strata_timestamp_parse_image("1969-12-31T23:59:59.999999999-00:00", &t, &err), 0);
	assert_int_equal(t, -1);
	assert_int_equal(strata_timestamp_parse_image("2024-01-31T12:00:00.5+01:00", &t, &err), 0);
	assert_int_equal(t, 1706698800LL);
	static const char *const not_in_config[] = {
		"0000-01-01T00:00:00+01:00", /* year -1 in UTC */
		"9999-12-31T23:00:00-01:00", /* year 10000 */
		"2024-01-31T12:00:60Z", "2024-01-31 12:00:00Z", "2024-01-31t12:00:00Z", "2024-01-31T12:00:00z",
		"2024-01-31T12:00:00.Z", "1706702400", "", "2024-01-31T12:00:00",
	};
	for (size_t i = 0; i < sizeof not_in_config / sizeof *not_in_config; i++)
		assert_true(strata_timestamp_parse_image(not_in_config[i], &t, &err) < 0);
	/* the options' parser keeps its lenient forms */
	assert_int_equal(strata_timestamp_parse("2024-01-31 12:00:00z", &t, &err), 0);
	assert_int_equal(strata_timestamp_parse("1706702400", &t, &err), 0);
	strata_error_clear(&err);
}

/* ---------- runtime config: the values clients parse ---------- */

/* cfg as a --config: accepted (want NULL) or refused with want in the
 * message. */
static void expect_config(const char *cfg, const char *want)
{
	strata_error err = STRATA_ERROR_INIT;
	json_t *out = NULL;
	int r = strata_image_config_parse(cfg, strlen(cfg), "config", &out, &err);
	if (want == NULL && r != 0)
		fail_msg("%s refused: %s", cfg, err.msg);
	if (want != NULL && (r == 0 || strstr(err.msg, want) == NULL))
		fail_msg("%s: %s", cfg, r == 0 ? "accepted" : err.msg);
	json_decref(out);
	strata_error_clear(&err);
}

static void expect_each(const char *fmt, const char *const *values, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++) {
		char buf[256];
		snprintf(buf, sizeof buf, fmt, values[i]);
		expect_config(buf, want);
	}
}

#define EXPECT_EACH(fmt, values, want) expect_each(fmt, values, sizeof values / sizeof *values, want)

static void test_runtime_values(void **s)
{
	(void)s;
	/* ExposedPorts keys as podman run -P takes them (docker takes any) */
	static const char *const good_ports[] = {"80", "443/tcp", "53/udp", "9/sctp", "1", "65535/tcp", "00080/tcp",
						 "80/TCP", "000080", "80/", "80-90/tcp", "80-80", "1-65535/udp"};
	static const char *const bad_ports[] = {"", "http", "/tcp", "80/xyz", "0", "0/tcp", "65536", "123456/tcp",
						"90-80/tcp", "80-/tcp", "-80", "80-90-100", "0-5", "80-65536",
						"80/tcp/udp", " 80", "80 ", "+80", "-1", "80/tcp ", "8o/tcp",
						"99999999999999999999/tcp", "80//tcp"};
	EXPECT_EACH("{\"ExposedPorts\": {\"8080/tcp\": {}, \"%s\": {}}}", good_ports, NULL);
	EXPECT_EACH("{\"ExposedPorts\": {\"8080/tcp\": {}, \"%s\": {}}}", bad_ports, "'ExposedPorts' has");
	/* StopSignal as podman parses it when it makes the container */
	static const char *const good_signals[] = {"", "SIGTERM", "TERM", "sigterm", "kill", "SIGRTMIN+3",
						   "RTMIN+15", "SIGRTMAX-14", "RTMAX", "9", "64", "+9", "-1",
						   "CLD", "IOT", "POLL", "PWR", "STKFLT", "SIGIO", "SYS"};
	static const char *const bad_signals[] = {"SIGFOO", "UNUSED", "0", "-0", "65", "99", " TERM", "TERM ",
						  "SIGSIGTERM", "RTMIN+16", "RTMAX-15", "RTMIN+0", "RTMIN+01",
						  "RTMIN+", "RTMIN-1", "+", "9x", "99999999999999999999", "SIG",
						  "-99999999999999999999", "RTMIN+99"};
	EXPECT_EACH("{\"StopSignal\": \"%s\"}", good_signals, NULL);
	EXPECT_EACH("{\"StopSignal\": \"%s\"}", bad_signals, "'StopSignal' must be a signal");
	/* WorkingDir: runc needs an absolute one */
	static const char *const good_dirs[] = {"", "/", "/data", "/a/../b"};
	static const char *const bad_dirs[] = {"data", "./data", " /data", "~/x"};
	EXPECT_EACH("{\"WorkingDir\": \"%s\"}", good_dirs, NULL);
	EXPECT_EACH("{\"WorkingDir\": \"%s\"}", bad_dirs, "'WorkingDir' must be an absolute path");
	/* User: numeric ids in runc's range; names are looked up at run time */
	static const char *const good_users[] = {"", "0", "root", "1000:1000", "2147483647", "nobody:nogroup",
						 ":", "0:wheel", "+5", "-0", "a:b:c", "99999999999x"};
	static const char *const bad_users[] = {"-1", "4294967296", "2147483648", "1000:-1", "0:2147483648",
						"99999999999999999999", "-5:0"};
	EXPECT_EACH("{\"User\": \"%s\"}", good_users, NULL);
	EXPECT_EACH("{\"User\": \"%s\"}", bad_users, "'User' has an id out of range");
	/* Volumes: not the root */
	static const char *const good_vols[] = {"/data", "/a/b/", "data"};
	static const char *const bad_vols[] = {"/", "", "//", "///"};
	EXPECT_EACH("{\"Volumes\": {\"/x\": {}, \"%s\": {}}}", good_vols, NULL);
	EXPECT_EACH("{\"Volumes\": {\"/x\": {}, \"%s\": {}}}", bad_vols, "a volume must be a directory below /");
	/* Env: a name before the = (runc, podman) */
	expect_config("{\"Env\": [\"A=\", \"B==\", \"_=x\"]}", NULL);
	expect_config("{\"Env\": [\"A=1\", \"=x\"]}", "Env entry '=x' has no name");
	expect_config("{\"Env\": [\"A\"]}", "is not KEY=VALUE");
}

/* ---------- messages ---------- */

static void test_messages(void **s)
{
	(void)s;
	strata_error err = STRATA_ERROR_INIT;
	strata_error_set(&err, 0, "name '%s'", "a\x1b[31mb\x07\xff\xc3\xa9");
	assert_string_equal(err.msg, "name 'a\\x1b[31mb\\x07\\xff\xc3\xa9'"); /* é kept, 0xff escaped */
	char *again = strata_error_escape(err.msg);
	assert_string_equal(again, err.msg); /* escaping is idempotent */
	free(again);
	char *big = malloc(70000);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	strata_error_set(&err, 28, "cannot write '%s'", big);
	assert_true(strlen(err.msg) <= STRATA_ERROR_MAX + 64);
	assert_non_null(strstr(err.msg, "bytes cut"));
	assert_non_null(strstr(err.msg, "No space left on device")); /* the tail is kept */
	assert_int_equal(strncmp(err.msg, "cannot write 'xxx", 17), 0); /* and the head */
	strata_error_wrap(&err, "layer %s", big);
	assert_true(strlen(err.msg) <= STRATA_ERROR_MAX + 64);
	free(big);
	strata_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_check),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_qualified_names),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_runtime_values),
		cmocka_unit_test(test_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
