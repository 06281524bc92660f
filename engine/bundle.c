#define _GNU_SOURCE
#include "strata.h"
#include "closure_load.h"
#include "mount_spec.h"
#include "store_scan.h"
#include "fs_tree.h"
#include "json_check.h"
#include "output.h"
#include "file.h"
#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---------- config.json ---------- */

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *mount(const char *dest, const char *type, const char *source, const char *const *opts,
		     size_t nopts)
{
	json_t *m = json_object();
	json_object_set_new(m, "destination", json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source));
	if (opts != NULL)
		json_object_set_new(m, "options", str_array(opts, nopts));
	return m;
}

#define MOUNT(dest, type, src, ...)                                                               \
	do {                                                                                      \
		static const char *const o_[] = {__VA_ARGS__};                                    \
		size_t n_ = 0;                                                                    \
		const char *k_[STRATA_ARRAY_LEN(o_)];                                             \
		for (size_t i_ = 0; i_ < STRATA_ARRAY_LEN(o_); i_++)                              \
			if (!rootless || (strncmp(o_[i_], "uid=", 4) && strncmp(o_[i_], "gid=", 4))) \
				k_[n_++] = o_[i_];                                                 \
		json_array_append_new(mounts, mount(dest, type, src, k_, n_));                    \
	} while (0)

/* The default mounts of `runc spec` (and, with rootless, of
 * `runc spec --rootless`: /sys bind-mounted, no uid=/gid= options). */
static void default_mounts(json_t *mounts, bool rootless)
{
	json_array_append_new(mounts, mount("/proc", "proc", "proc", NULL, 0));
	MOUNT("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
	MOUNT("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
	      "gid=5");
	MOUNT("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
	MOUNT("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
	if (rootless)
		MOUNT("/sys", "none", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro");
	else
		MOUNT("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
	MOUNT("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
}

static json_t *make_config(const strata_bundle_options *o, json_t *bind_mounts, json_t *user_mounts)
{
	static const char *const caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
	json_t *cfg = json_object();
	/* 1.0.2: what every runtime accepts (crun before 1.14 refuses 1.2.0); the
	 * bundle uses nothing newer. */
	json_object_set_new(cfg, "ociVersion", json_string(o->oci_version ? o->oci_version : "1.0.2"));

	json_t *proc = json_object();
	json_object_set_new(proc, "terminal", json_boolean(o->terminal));
	json_t *user = json_object();
	json_object_set_new(user, "uid", json_integer(0));
	json_object_set_new(user, "gid", json_integer(0));
	json_object_set_new(proc, "user", user);
	json_object_set_new(proc, "args", str_array((const char *const *)o->args, o->nargs));
	json_t *env = json_array();
	bool has_path = false;
	for (size_t i = 0; i < o->nenv; i++)
		has_path |= strncmp(o->env[i], "PATH=", 5) == 0;
	if (!has_path)
		json_array_append_new(env, json_string(DEFAULT_PATH));
	for (size_t i = 0; i < o->nenv; i++)
		json_array_append_new(env, json_string(o->env[i]));
	json_object_set_new(proc, "env", env);
	json_object_set_new(proc, "cwd", json_string(o->cwd ? o->cwd : "/"));
	json_t *cap = json_object();
	static const char *const sets[] = {"bounding", "effective", "permitted"};
	for (size_t i = 0; i < 3; i++)
		json_object_set_new(cap, sets[i], str_array(caps, 3));
	json_object_set_new(proc, "capabilities", cap);
	json_t *rl = json_object();
	json_object_set_new(rl, "type", json_string("RLIMIT_NOFILE"));
	json_object_set_new(rl, "hard", json_integer(1024));
	json_object_set_new(rl, "soft", json_integer(1024));
	json_t *rls = json_array();
	json_array_append_new(rls, rl);
	json_object_set_new(proc, "rlimits", rls);
	json_object_set_new(proc, "noNewPrivileges", json_true());
	json_object_set_new(cfg, "process", proc);

	json_t *root = json_object();
	json_object_set_new(root, "path", json_string("rootfs"));
	json_object_set_new(root, "readonly", json_boolean(o->readonly));
	json_object_set_new(cfg, "root", root);
	if (o->hostname)
		json_object_set_new(cfg, "hostname", json_string(o->hostname));

	json_t *mounts = json_array();
	default_mounts(mounts, o->rootless);
	json_array_extend(mounts, bind_mounts);
	json_array_extend(mounts, user_mounts);
	json_object_set_new(cfg, "mounts", mounts);

	json_t *linux_ = json_object();
	if (!o->rootless) {
		json_t *res = json_object(), *devs = json_array(), *d = json_object();
		json_object_set_new(d, "allow", json_false());
		json_object_set_new(d, "access", json_string("rwm"));
		json_array_append_new(devs, d);
		json_object_set_new(res, "devices", devs);
		json_object_set_new(linux_, "resources", res);
	} else {
		static const char *const kinds[] = {"uidMappings", "gidMappings"};
		for (size_t k = 0; k < 2; k++) {
			json_t *m = json_object(), *a = json_array();
			json_object_set_new(m, "containerID", json_integer(0));
			json_object_set_new(m, "hostID", json_integer(k == 0 ? (json_int_t)geteuid() : (json_int_t)getegid()));
			json_object_set_new(m, "size", json_integer(1));
			json_array_append_new(a, m);
			json_object_set_new(linux_, kinds[k], a);
		}
	}
	json_t *ns = json_array();
	static const char *const nss[] = {"pid", "network", "ipc", "uts", "mount"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(nss); i++) {
		if (o->rootless && !strcmp(nss[i], "network"))
			continue; /* runc spec --rootless drops it */
		json_t *n = json_object();
		json_object_set_new(n, "type", json_string(nss[i]));
		json_array_append_new(ns, n);
	}
	if (o->rootless) {
		json_t *n = json_object();
		json_object_set_new(n, "type", json_string("user"));
		json_array_append_new(ns, n);
	}
	json_object_set_new(linux_, "namespaces", ns);
	static const char *const masked[] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
					     "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
					     "/proc/sched_debug", "/sys/firmware", "/proc/scsi"};
	static const char *const ro_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					       "/proc/sysrq-trigger"};
	json_object_set_new(linux_, "maskedPaths", str_array(masked, STRATA_ARRAY_LEN(masked)));
	json_object_set_new(linux_, "readonlyPaths", str_array(ro_paths, STRATA_ARRAY_LEN(ro_paths)));
	json_object_set_new(cfg, "linux", linux_);
	return cfg;
}

/* ---------- rootfs ---------- */

static int mkdirs(const char *path, strata_error *err)
{
	cleanup_free char *p = strata_xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return strata_error_set(err, errno, "cannot create '%s'", p);
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* Copying a store into a bundle, as root, on trees other people made:
 *   - sources are reached through their parent's fd with O_NOFOLLOW and
 *     checked to be the entry the walk lstat'ed, so a directory swapped for
 *     a symlink mid-copy cannot pull in a file from outside the store;
 *   - destinations are created through the fd of the directory being
 *     filled (which the walk enters and leaves with the source);
 *   - no copy carries more privilege than its source: the owner is kept
 *     where the process may (as root), and a set-user-id or set-group-id
 *     bit is dropped whenever the copy's owner or group differs from the
 *     source's, so a user's setuid file never becomes a root one. */
typedef struct populate {
	strata_store_mode mode;
	const strata_cancel *cancel;
	int dst_fd;     /* the destination directory of the entries now visited */
	uint64_t bytes; /* copied */
} populate;

static mode_t safe_mode(int fd, const struct stat *src)
{
	mode_t mode = src->st_mode & 07777;
	struct stat now;
	if (fstat(fd, &now) < 0)
		return mode & 0777;
	if (now.st_uid != src->st_uid)
		mode &= ~(mode_t)S_ISUID;
	if (now.st_gid != src->st_gid)
		mode &= ~(mode_t)S_ISGID;
	return mode;
}

/* Owner first (chown clears set-id bits), then the mode the rule allows. */
static int give_owner_and_mode(int fd, const struct stat *src, const char *name, strata_error *err)
{
	if (geteuid() == 0 && fchown(fd, src->st_uid, src->st_gid) < 0)
		return strata_error_set(err, errno, "cannot chown '%s'", name);
	if (fchmod(fd, safe_mode(fd, src)) < 0)
		return strata_error_set(err, errno, "cannot chmod '%s'", name);
	return 0;
}

static int replaced(const char *path, strata_error *err)
{
	return strata_error_set(err, 0, "'%s' was replaced while it was read", path);
}

static int copy_file(populate *p, const strata_fs_entry *e, strata_error *err)
{
	cleanup_close int owned = -1;
	int in = strata_fs_entry_open(e, &owned, err);
	if (in < 0)
		return in;
	cleanup_close int out = openat(p->dst_fd, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return strata_error_set(err, errno, "cannot create the copy of '%s'", e->path);
	int r = strata_file_copy_data(in, out, e->path, e->name, p->cancel, &p->bytes, err);
	if (r == 0)
		r = give_owner_and_mode(out, &e->st, e->path, err);
	if (r == 0 && close(strata_get_and_reset(&out)) < 0)
		r = strata_error_set(err, errno, "cannot write the copy of '%s'", e->path);
	return r;
}

static int link_file(populate *p, const strata_fs_entry *e, strata_error *err)
{
	if (linkat(e->dir_fd, strata_fs_entry_rel(e), p->dst_fd, e->name, 0) < 0) {
		if (errno == EXDEV)
			return strata_error_set(err, 0, "hardlink store mode: '%s' is on another filesystem than the bundle "
						"(copy or bind it instead)", e->path);
		return strata_error_set(err, errno, "cannot link '%s'", e->path);
	}
	/* A link to a file swapped in after the walk's lstat is not ours. */
	struct stat now;
	if (fstatat(p->dst_fd, e->name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != e->st.st_dev ||
	    now.st_ino != e->st.st_ino) {
		unlinkat(p->dst_fd, e->name, 0);
		return replaced(e->path, err);
	}
	return 0;
}

static int populate_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	populate *p = arg;
	if (S_ISDIR(e->st.st_mode)) {
		/* Owner-writable until left: the final (often read-only) mode
		 * is given in populate_leave. */
		if (mkdirat(p->dst_fd, e->name, 0700) < 0)
			return strata_error_set(err, errno, "cannot create the copy of '%s'", e->path);
		int fd = openat(p->dst_fd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return strata_error_set(err, errno, "cannot open the copy of '%s'", e->path);
		/* Depth 0 enters from the store directory, which stays open. */
		if (e->depth > 0)
			close(p->dst_fd);
		p->dst_fd = fd;
		return 0;
	}
	if (S_ISLNK(e->st.st_mode)) {
		if (symlinkat(e->link_target, p->dst_fd, e->name) < 0)
			return strata_error_set(err, errno, "cannot create the copy of symlink '%s'", e->path);
		if (geteuid() == 0)
			fchownat(p->dst_fd, e->name, e->st.st_uid, e->st.st_gid, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	return p->mode == STRATA_STORE_HARDLINK ? link_file(p, e, err) : copy_file(p, e, err);
}

static int populate_leave(void *arg, const strata_fs_entry *e, strata_error *err)
{
	populate *p = arg;
	int r = give_owner_and_mode(p->dst_fd, &e->st, e->path, err);
	if (e->depth == 0) {
		close(p->dst_fd);
		p->dst_fd = -1;
		return r;
	}
	/* Back to the parent copy: ours, so ".." is the directory we made. */
	int up = openat(p->dst_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (up < 0 && r == 0)
		r = strata_error_set(err, errno, "cannot reopen the copy's parent of '%s'", e->path);
	close(p->dst_fd);
	p->dst_fd = up;
	return r;
}

/* An empty directory or file where a store path will be bind-mounted: of the
 * kind of what the mount source resolves to. */
static int make_mount_point(int store_fd, const char *name, const char *source, strata_error *err)
{
	struct stat st;
	if (stat(source, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", source);
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(store_fd, name, 0755) < 0)
			return strata_error_set(err, errno, "cannot create the mount point for '%s'", source);
		return 0;
	}
	int fd = openat(store_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create the mount point for '%s'", source);
	close(fd);
	return 0;
}

/* A bind mount of a store path follows a symlink: only to a target inside
 * the store (Nix allows a store path that is a symlink to '/'). Returns the
 * resolved source. */
static int resolve_bind_source(const char *path, const char *real_store, char **out, strata_error *err)
{
	char *real = realpath(path, NULL);
	if (real == NULL)
		return strata_error_set(err, errno, "cannot resolve store path '%s'", path);
	size_t n = strlen(real_store);
	if (strncmp(real, real_store, n) != 0 || real[n] != '/') {
		int r = strata_error_set(err, 0, "store path '%s' resolves to '%s', outside the store: refusing to bind-mount it",
					 path, real);
		free(real);
		return r;
	}
	*out = real;
	return 0;
}

static int populate_store(populate *p, const char *store_dst, const strata_closure *c, json_t *bind_mounts,
			  strata_error *err)
{
	/* Only a copy reads the files. */
	strata_fs_walk_ops ops = {populate_visit, populate_leave, p->mode == STRATA_STORE_COPY ? STRATA_FS_OPEN_FILES : 0,
				  p->cancel};
	int store_fd = open(store_dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (store_fd < 0)
		return strata_error_set(err, errno, "cannot open '%s'", store_dst);
	cleanup_free char *real_store = NULL;
	if (p->mode == STRATA_STORE_BIND && (real_store = realpath(c->store_dir, NULL)) == NULL) {
		close(store_fd);
		return strata_error_set(err, errno, "cannot resolve the store '%s'", c->store_dir);
	}
	int r = 0;
	for (size_t i = 0; i < c->npaths && r == 0; i++) {
		const strata_store_path *sp = &c->paths[i];
		if (p->mode == STRATA_STORE_BIND) {
			char *src = NULL;
			if ((r = resolve_bind_source(sp->path, real_store, &src, err)) == 0 &&
			    (r = make_mount_point(store_fd, strrchr(sp->path, '/') + 1, src, err)) == 0) {
				static const char *const ro[] = {"rbind", "ro", "nosuid", "nodev"};
				json_array_append_new(bind_mounts, mount(sp->path, "bind", src, ro, 4));
			}
			free(src);
		} else {
			p->dst_fd = store_fd;
			r = strata_fs_walk(sp->path, &ops, p, err);
			if (p->dst_fd >= 0 && p->dst_fd != store_fd)
				close(p->dst_fd); /* a walk that failed inside a directory */
		}
	}
	close(store_fd);
	return r;
}

/* ---------- the bundle ---------- */

/* PROGRAM must be a regular executable file inside the store: no '..', and
 * whatever symlinks it goes through must end inside the store. */
static int check_program(const char *prog, const char *store_dir, strata_error *err)
{
	size_t sl = strlen(store_dir);
	if (strncmp(prog, store_dir, sl) != 0 || prog[sl] != '/')
		return strata_error_set(err, 0, "program '%s' is not inside the store %s", prog, store_dir);
	for (const char *p = prog; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return strata_error_set(err, 0, "program '%s' must not contain '..'", prog);
	cleanup_free char *real = realpath(prog, NULL);
	if (real == NULL)
		return strata_error_set(err, errno, "program '%s'", prog);
	cleanup_free char *real_store = realpath(store_dir, NULL);
	size_t rl = real_store ? strlen(real_store) : 0;
	if (real_store == NULL || strncmp(real, real_store, rl) != 0 || real[rl] != '/')
		return strata_error_set(err, 0, "program '%s' resolves to '%s', outside the store %s", prog, real,
					store_dir);
	struct stat st;
	if (stat(real, &st) < 0)
		return strata_error_set(err, errno, "program '%s'", prog);
	if (!S_ISREG(st.st_mode))
		return strata_error_set(err, 0, "program '%s' is a %s, not an executable file", prog,
					strata_file_type_name(st.st_mode));
	if ((st.st_mode & 0111) == 0)
		return strata_error_set(err, 0, "program '%s' is not executable", prog);
	return 0;
}

/* MAJOR.MINOR.PATCH with an optional -SUFFIX of [0-9A-Za-z.-] (semver, as
 * the runtime-spec's ociVersion). */
static bool is_spec_version(const char *v)
{
	for (int part = 0; part < 3; part++) {
		if (*v < '0' || *v > '9')
			return false;
		while (*v >= '0' && *v <= '9')
			v++;
		if (part < 2 && *v++ != '.')
			return false;
	}
	if (*v == '-')
		return v[1] && strspn(v + 1, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-") == strlen(v + 1);
	return *v == '\0';
}

static int check_options(const strata_bundle_options *o, const char *store_dir, strata_error *err)
{
	if (o->nargs == 0)
		return strata_error_set(err, 0, "no program given");
	/* config.json is JSON: a value jansson refuses would go missing. */
	int t = 0;
	for (size_t i = 0; i < o->nargs && t == 0; i++)
		t = strata_json_check_text(o->args[i], i == 0, "argument", err);
	for (size_t i = 0; i < o->nenv && t == 0; i++)
		t = strata_json_check_text(o->env[i], false, "environment entry", err);
	if (t == 0 && o->cwd)
		t = strata_json_check_text(o->cwd, true, "working directory", err);
	if (t < 0)
		return t;
	int r = check_program(o->args[0], store_dir, err);
	if (r < 0)
		return r;
	if (o->cwd && o->cwd[0] != '/')
		return strata_error_set(err, 0, "working directory '%s' must be an absolute path", o->cwd);
	if (o->cwd && strstr(o->cwd, "/..") != NULL)
		return strata_error_set(err, 0, "working directory '%s' must not contain '..'", o->cwd);
	for (size_t i = 0; i < o->nenv; i++)
		if (strchr(o->env[i], '=') == NULL || o->env[i][0] == '=')
			return strata_error_set(err, 0, "environment entry '%s' is not KEY=VALUE", o->env[i]);
	if (o->hostname) {
		for (const char *p = o->hostname; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
				return strata_error_set(err, 0, "hostname '%s' has characters a host name cannot have", o->hostname);
		if (!*o->hostname || strlen(o->hostname) > 64)
			return strata_error_set(err, 0, "hostname '%s' must be 1 to 64 characters", o->hostname);
	}
	if (o->oci_version && !is_spec_version(o->oci_version))
		return strata_error_set(err, 0, "runtime-spec version '%s' is not MAJOR.MINOR.PATCH[-SUFFIX]", o->oci_version);
	return 0;
}

/* The closure of the store paths the arguments name. */
static int bundle_closure(const strata_bundle_options *o, const char *store_dir, strata_closure **c, strata_error *err)
{
	size_t sl = strlen(store_dir);
	char **roots = strata_xcalloc(o->nargs, sizeof *roots);
	size_t nroots = 0;
	for (size_t i = 0; i < o->nargs; i++) {
		const char *a = o->args[i];
		if (strncmp(a, store_dir, sl) != 0 || a[sl] != '/')
			continue;
		const char *end = strchr(a + sl + 1, '/');
		roots[nroots++] = end ? strata_xstrndup(a, (size_t)(end - a)) : strata_xstrdup(a);
	}
	int r;
	if (o->closure_file) {
		r = strata_closure_load(o->closure_file, store_dir, NULL, o->cancel, c, err);
		if (r == 0)
			r = strata_closure_restrict(*c, roots, nroots, err);
	} else {
		r = strata_store_scan_discover(roots, nroots, store_dir, o->cancel, c, err);
	}
	for (size_t i = 0; i < nroots; i++)
		free(roots[i]);
	free(roots);
	return r;
}

static int make_rootfs(const strata_bundle_options *o, const char *dir, const strata_closure *c, populate *p,
		       json_t *bind_mounts, strata_error *err)
{
	cleanup_free char *rootfs = strata_xasprintf("%s/rootfs", dir);
	static const char *const sub[] = {"", "/dev", "/proc", "/sys"};
	for (size_t i = 0; i < STRATA_ARRAY_LEN(sub); i++) {
		cleanup_free char *d = strata_xasprintf("%s%s", rootfs, sub[i]);
		if (mkdir(d, 0755) < 0)
			return strata_error_set(err, errno, "cannot create '%s'", d);
	}
	cleanup_free char *sd = strata_xasprintf("%s%s", rootfs, c->store_dir);
	int r = mkdirs(sd, err);
	if (r == 0) {
		p->mode = o->store_mode;
		p->cancel = o->cancel;
		r = populate_store(p, sd, c, bind_mounts, err);
	}
	return r;
}

int strata_bundle_build(const strata_bundle_options *o, json_t **summary_ret, strata_error *err)
{
	cleanup_free char *store_dir = NULL;
	int r = strata_store_dir_normalise(o->store_dir, &store_dir, err);
	if (r < 0 || (r = check_options(o, store_dir, err)) < 0)
		return r;
	json_t *user_mounts = json_array(), *bind_mounts = json_array();
	const char **inputs = strata_xcalloc(o->nmounts + 2, sizeof *inputs);
	size_t ninputs = 0;
	inputs[ninputs++] = o->closure_file;
	for (size_t i = 0; i < o->nmounts && r == 0; i++) {
		json_t *m = NULL;
		if ((r = strata_mount_spec_parse(o->mounts[i], &m, err)) == 0) {
			json_array_append_new(user_mounts, m);
			if (!strcmp(json_string_value(json_object_get(m, "type")), "bind"))
				inputs[ninputs++] = json_string_value(json_object_get(m, "source"));
		}
	}
	strata_closure *c = NULL;
	if (r == 0)
		r = bundle_closure(o, store_dir, &c, err);
	/* The store paths read are inputs; the store directory is one only
	 * as a whole (a Nix build writes its bundle as a new store path). */
	if (r == 0) {
		inputs = strata_xrealloc(inputs, (ninputs + c->npaths + 1) * sizeof *inputs);
		for (size_t i = 0; i < c->npaths; i++)
			inputs[ninputs++] = c->paths[i].path;
	}
	strata_output *out = NULL;
	const char *containers[] = {store_dir};
	strata_output_options oo = {.force = o->force, .inputs = inputs, .ninputs = ninputs, .containers = containers,
				    .ncontainers = 1, .nstore_paths = c ? c->npaths : 0};
	if (r == 0)
		r = strata_output_create(o->output, &oo, &out, err);
	populate p = {0};
	if (r == 0)
		r = make_rootfs(o, strata_output_dir(out), c, &p, bind_mounts, err);
	if (r == 0) {
		json_t *cfg = make_config(o, bind_mounts, user_mounts);
		char *s = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(cfg);
		size_t n = strlen(s);
		s = strata_xrealloc(s, n + 2);
		memcpy(s + n, "\n", 2);
		cleanup_free char *path = strata_xasprintf("%s/config.json", strata_output_dir(out));
		r = strata_file_write_new(AT_FDCWD, path, path, s, n + 1, 0644, err);
		free(s);
	}
	if (r == 0)
		r = strata_output_commit(out, err);
	if (r == 0) {
		static const char *const modes[] = {"copy", "hardlink", "bind"};
		json_t *sum = json_object();
		json_object_set_new(sum, "output", json_string(o->output));
		json_object_set_new(sum, "program", json_string(o->args[0]));
		json_t *paths = json_array();
		for (size_t i = 0; i < c->npaths; i++)
			json_array_append_new(paths, json_string(c->paths[i].path));
		json_object_set_new(sum, "store_paths", paths);
		json_object_set_new(sum, "store_mode", json_string(modes[o->store_mode]));
		json_object_set_new(sum, "bytes_copied", json_integer((json_int_t)p.bytes));
		*summary_ret = sum;
	}
	strata_output_free(out);
	strata_closure_free(c);
	free(inputs);
	json_decref(user_mounts);
	json_decref(bind_mounts);
	return r;
}
