#define _GNU_SOURCE
#include "nix_db.h"
#include "alloc.h"
#include "file.h"
#include "fs_tree.h"
#include "nar_hash.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strata_nix_db {
	char *dir;  /* the temporary directory */
	char *root; /* dir/root: holds nix/var/nix */
};

const char *strata_nix_db_root(const strata_nix_db *db)
{
	return db->root;
}

void strata_nix_db_free(strata_nix_db *db)
{
	if (db == NULL)
		return;
	if (db->dir)
		strata_fs_remove_tree(db->dir);
	free(db->dir);
	free(db->root);
	free(db);
}

/* nix-store --load-db's input: per path, the path, its hash, its NAR size,
 * its deriver (none), the number of references and each of them. */
static int registration(const strata_closure *c, const strata_cancel *cancel, int fd, strata_error *err)
{
	for (size_t i = 0; i < c->npaths; i++) {
		const strata_store_path *sp = &c->paths[i];
		char hex[65];
		uint64_t size = 0;
		int r = strata_nar_hash(sp->path, cancel, hex, &size, err);
		if (r < 0)
			return strata_error_wrap(err, "Nix database");
		size_t nrefs = sp->nrefs + (sp->self_ref ? 1 : 0);
		cleanup_free char *head = strata_xasprintf("%s\nsha256:%s\n%llu\n\n%zu\n", sp->path, hex,
							   (unsigned long long)size, nrefs);
		/* References sorted by path: the closure's order, with the path
		 * itself in its place. */
		size_t cap = strlen(head) + 1;
		for (size_t k = 0; k < sp->nrefs; k++)
			cap += strlen(c->paths[sp->refs[k]].path) + 1;
		if (sp->self_ref)
			cap += strlen(sp->path) + 1;
		cleanup_free char *text = strata_xmalloc(cap);
		char *q = stpcpy(text, head);
		bool self_done = !sp->self_ref;
		for (size_t k = 0; k <= sp->nrefs; k++) {
			if (!self_done && (k == sp->nrefs || sp->refs[k] > i)) {
				q = stpcpy(stpcpy(q, sp->path), "\n");
				self_done = true;
			}
			if (k < sp->nrefs)
				q = stpcpy(stpcpy(q, c->paths[sp->refs[k]].path), "\n");
		}
		if (strata_file_write_all(fd, text, (size_t)(q - text)) < 0)
			return strata_error_set(err, errno, "Nix database: cannot write the registration");
	}
	return lseek(fd, 0, SEEK_SET) < 0 ? strata_error_set(err, errno, "Nix database: cannot rewind") : 0;
}

/* What a failing helper said last, after its error. */
static void last_line(int fd, strata_error *err)
{
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (*line && err->msg) {
		cleanup_free char *msg = strata_xstrdup(err->msg);
		strata_error_set(err, 0, "%s: %s", msg, line);
	}
}

/* The database files, copied (not read whole: a large closure has a large
 * database). */
static int copy_file(const char *from, const char *to, strata_error *err)
{
	cleanup_close int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (in < 0 || out < 0)
		return strata_error_set(err, errno, "Nix database: cannot copy '%s'", from);
	int r = strata_file_copy_data(in, out, from, to, NULL, NULL, err);
	return r == 0 && fchmod(out, 0644) < 0 ? strata_error_set(err, errno, "cannot write '%s'", to) : r;
}

static bool referenced(const strata_closure *c, size_t i)
{
	for (size_t k = 0; k < c->npaths; k++)
		for (size_t j = 0; j < c->paths[k].nrefs; j++)
			if (c->paths[k].refs[j] == i)
				return true;
	return false;
}

/* nix/var/nix/gcroots/docker/<name>, one per root, as nixpkgs. */
static int gcroots(const strata_nix_db *db, const strata_closure *c, char *const *roots, size_t nroots,
		   strata_error *err)
{
	cleanup_free char *dir = strata_xasprintf("%s/nix/var/nix/gcroots/docker", db->root);
	cleanup_free char *parent = strata_xasprintf("%s/nix/var/nix/gcroots", db->root);
	if (mkdir(parent, 0755) < 0 || chmod(parent, 0755) < 0 || mkdir(dir, 0755) < 0 || chmod(dir, 0755) < 0)
		return strata_error_set(err, errno, "cannot create '%s'", dir);
	for (size_t i = 0; i < (nroots ? nroots : c->npaths); i++) {
		const char *p = nroots ? roots[i] : c->paths[i].path;
		if (!nroots && referenced(c, i))
			continue;
		cleanup_free char *link = strata_xasprintf("%s/%s", dir, strrchr(p, '/') + 1);
		if (symlink(p, link) < 0 && errno != EEXIST)
			return strata_error_set(err, errno, "cannot create '%s'", link);
	}
	return 0;
}

int strata_nix_db_make(const strata_closure *c, char *const *roots, size_t nroots, long long registration_time,
		       const strata_cancel *cancel, strata_nix_db **out, strata_error *err)
{
	cleanup_free char *nix_store = strata_spawn_find("nix-store");
	cleanup_free char *sqlite = strata_spawn_find("sqlite3");
	if (nix_store == NULL)
		return strata_error_set(err, 0, "the Nix database needs nix-store on $PATH (Debian: apt install nix-bin)");
	if (sqlite == NULL)
		return strata_error_set(err, 0, "the Nix database needs sqlite3 on $PATH (Debian: apt install sqlite3)");
	const char *tmp = getenv("TMPDIR");
	strata_nix_db *db = strata_xcalloc(1, sizeof *db);
	db->dir = strata_xasprintf("%s/strata-nixdb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int r = 0;
	if (mkdtemp(db->dir) == NULL) {
		r = strata_error_set(err, errno, "cannot create a directory in %s", tmp && *tmp ? tmp : "/tmp");
		free(db->dir);
		db->dir = NULL;
	}
	int reg = r == 0 ? strata_file_tmpfile(err) : -1;
	if (r == 0 && reg < 0)
		r = -1;
	if (r == 0)
		r = registration(c, cancel, reg, err);
	cleanup_free char *state = db->dir ? strata_xasprintf("%s/state", db->dir) : NULL;
	if (r == 0) {
		cleanup_free char *e1 = strata_xasprintf("NIX_STATE_DIR=%s", state);
		cleanup_free char *e2 = strata_xasprintf("NIX_STORE_DIR=%s", c->store_dir);
		cleanup_free char *e3 = strata_xasprintf("NIX_LOG_DIR=%s/log", state);
		cleanup_free char *e4 = strata_xasprintf("NIX_CONF_DIR=%s/conf", state);
		char *env[] = {e1, e2, e3, e4, "NIX_REMOTE=local", NULL};
		char *argv[] = {nix_store, "--load-db", NULL};
		/* nix-store's own warnings (about the host's nix.conf) are noise
		 * here: its output goes to a file, shown only if it fails. */
		cleanup_close int log = strata_file_tmpfile(err);
		strata_spawn_options so = {.in_fd = reg, .out_fd = log, .err_to_out = true, .env = env,
					   .what = "nix-store --load-db", .cancel = cancel};
		r = log < 0 ? -1 : strata_spawn_run(argv, &so, err);
		if (r < 0 && log >= 0)
			last_line(log, err);
	}
	if (reg >= 0)
		close(reg);
	cleanup_free char *sqlite_db = state ? strata_xasprintf("%s/db/db.sqlite", state) : NULL;
	if (r == 0) {
		cleanup_free char *sql = strata_xasprintf("UPDATE ValidPaths SET registrationTime = %lld;", registration_time);
		char *argv[] = {sqlite, sqlite_db, sql, NULL};
		strata_spawn_options so = {.in_fd = -1, .out_fd = -1, .what = "sqlite3", .cancel = cancel};
		r = strata_spawn_run(argv, &so, err);
	}
	if (r == 0) {
		db->root = strata_xasprintf("%s/root", db->dir);
		static const char *const dirs[] = {"", "/nix", "/nix/var", "/nix/var/nix", "/nix/var/nix/db"};
		for (size_t i = 0; i < STRATA_ARRAY_LEN(dirs) && r == 0; i++) {
			cleanup_free char *d = strata_xasprintf("%s%s", db->root, dirs[i]);
			if (mkdir(d, 0755) < 0 || chmod(d, 0755) < 0)
				r = strata_error_set(err, errno, "cannot create '%s'", d);
		}
	}
	if (r == 0) {
		cleanup_free char *to = strata_xasprintf("%s/nix/var/nix/db/db.sqlite", db->root);
		cleanup_free char *schema = strata_xasprintf("%s/db/schema", state);
		cleanup_free char *to_schema = strata_xasprintf("%s/nix/var/nix/db/schema", db->root);
		if ((r = copy_file(sqlite_db, to, err)) == 0)
			r = copy_file(schema, to_schema, err);
	}
	if (r == 0)
		r = gcroots(db, c, roots, nroots, err);
	if (r < 0) {
		strata_nix_db_free(db);
		return r;
	}
	*out = db;
	return 0;
}
