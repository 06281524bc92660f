#define _GNU_SOURCE
#include "bundle.h"
#include "closure.h"
#include "fs_walk.h"
#include "output.h"
#include "strata_util.h"

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

int strata_mount_parse(const char *spec, json_t **mount_ret, strata_error *err)
{
	cleanup_free char *copy = strata_xstrdup(spec);
	const char *type = NULL, *source = NULL, *dest = NULL;
	json_t *opts = json_array();
	bool in_options = false;
	char *save = NULL;
	int r = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *key = tok, *val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = '\0';
		if (val == NULL || (in_options && strcmp(key, "type") && strcmp(key, "source") &&
				    strcmp(key, "src") && strcmp(key, "destination") && strcmp(key, "dst") &&
				    strcmp(key, "target"))) {
			if (!in_options) {
				r = strata_error_set(err, 0, "--mount '%s': '%s' is not key=value", spec, tok);
				break;
			}
			if (eq)
				*eq = '=';
			json_array_append_new(opts, json_string(tok));
			continue;
		}
		in_options = false;
		if (!strcmp(key, "type"))
			type = val;
		else if (!strcmp(key, "source") || !strcmp(key, "src"))
			source = val;
		else if (!strcmp(key, "destination") || !strcmp(key, "dst") || !strcmp(key, "target"))
			dest = val;
		else if (!strcmp(key, "options")) {
			in_options = true;
			if (*val)
				json_array_append_new(opts, json_string(val));
		} else
			r = strata_error_set(err, 0, "--mount '%s': unknown key '%s' (type, source, destination, options)",
					     spec, key);
	}
	if (r == 0 && (dest == NULL || dest[0] != '/'))
		r = strata_error_set(err, 0, "--mount '%s': destination must be an absolute path", spec);
	if (r == 0 && type == NULL)
		type = "bind";
	if (r == 0 && !strcmp(type, "bind")) {
		struct stat st;
		if (source == NULL || source[0] != '/')
			r = strata_error_set(err, 0, "--mount '%s': a bind mount needs an absolute source", spec);
		else if (stat(source, &st) < 0)
			r = strata_error_set(err, errno, "--mount '%s': source '%s'", spec, source);
		else {
			/* runc needs bind or rbind among the options to bind. */
			bool has = false;
			size_t i;
			json_t *v;
			json_array_foreach(opts, i, v) has |= !strcmp(json_string_value(v), "bind") ||
							!strcmp(json_string_value(v), "rbind");
			if (!has)
				json_array_insert_new(opts, 0, json_string("rbind"));
		}
	}
	if (r < 0) {
		json_decref(opts);
		return r;
	}
	json_t *m = json_object();
	json_object_set_new(m, "destination", json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source ? source : type));
	json_object_set_new(m, "options", opts);
	*mount_ret = m;
	return 0;
}

static json_t *make_config(const strata_bundle_options *o, const strata_closure *c, json_t *user_mounts)
{
	static const char *const caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
	json_t *cfg = json_object();
	json_object_set_new(cfg, "ociVersion", json_string("1.2.0"));

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
	if (o->store_mode == STRATA_STORE_BIND) {
		static const char *const ro[] = {"rbind", "ro", "nosuid", "nodev"};
		for (size_t i = 0; i < c->npaths; i++)
			json_array_append_new(mounts, mount(c->paths[i].path, "bind", c->paths[i].path, ro, 4));
	}
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

typedef struct populate {
	const char *rootfs;
	strata_store_mode mode;
	uint64_t bytes;
	char **dirs; /* directories to give their final mode at the end */
	mode_t *dir_modes;
	size_t ndirs;
} populate;

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

static int copy_file(const char *src, const char *dst, mode_t mode, uint64_t *bytes, strata_error *err)
{
	cleanup_close int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return strata_error_set(err, errno, "cannot open '%s'", src);
	cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return strata_error_set(err, errno, "cannot create '%s'", dst);
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
			/* fall back to read/write */
			char buf[65536];
			ssize_t k;
			while ((k = read(in, buf, sizeof buf)) > 0) {
				int r = strata_write_all(out, buf, (size_t)k);
				if (r < 0)
					return strata_error_set(err, -r, "cannot write '%s'", dst);
				*bytes += (uint64_t)k;
			}
			if (k < 0)
				return strata_error_set(err, errno, "cannot read '%s'", src);
			break;
		}
		if (n < 0)
			return strata_error_set(err, errno, "cannot copy '%s'", src);
		if (n == 0)
			break;
		*bytes += (uint64_t)n;
	}
	if (fchmod(out, mode & 07777) < 0)
		return strata_error_set(err, errno, "cannot chmod '%s'", dst);
	if (close(strata_get_and_reset(&out)) < 0)
		return strata_error_set(err, errno, "cannot write '%s'", dst);
	return 0;
}

static int populate_visit(void *arg, const strata_fs_entry *e, strata_error *err)
{
	populate *p = arg;
	cleanup_free char *dst = strata_xasprintf("%s%s", p->rootfs, e->path);
	if (S_ISDIR(e->st.st_mode)) {
		if (mkdir(dst, 0755) < 0)
			return strata_error_set(err, errno, "cannot create '%s'", dst);
		/* Final (often read-only) modes are applied after the copy. */
		p->dirs = strata_xrealloc(p->dirs, (p->ndirs + 1) * sizeof *p->dirs);
		p->dir_modes = strata_xrealloc(p->dir_modes, (p->ndirs + 1) * sizeof *p->dir_modes);
		p->dirs[p->ndirs] = strata_steal_pointer(&dst);
		p->dir_modes[p->ndirs++] = e->st.st_mode & 07777;
		return 0;
	}
	if (S_ISLNK(e->st.st_mode)) {
		if (symlink(e->link_target, dst) < 0)
			return strata_error_set(err, errno, "cannot create symlink '%s'", dst);
		return 0;
	}
	if (p->mode == STRATA_STORE_HARDLINK) {
		if (link(e->path, dst) < 0) {
			if (errno == EXDEV)
				return strata_error_set(err, 0, "--store-mode hardlink: '%s' is on another filesystem than the bundle (use --store-mode copy or bind)",
							e->path);
			return strata_error_set(err, errno, "cannot link '%s'", dst);
		}
		return 0;
	}
	return copy_file(e->path, dst, e->st.st_mode, &p->bytes, err);
}

/* An empty directory or file where a store path will be bind-mounted. */
static int make_mount_point(const char *rootfs, const char *path, strata_error *err)
{
	cleanup_free char *dst = strata_xasprintf("%s%s", rootfs, path);
	struct stat st;
	if (stat(path, &st) < 0)
		return strata_error_set(err, errno, "cannot stat '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) < 0)
			return strata_error_set(err, errno, "cannot create mount point '%s'", dst);
		return 0;
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return strata_error_set(err, errno, "cannot create mount point '%s'", dst);
	close(fd);
	return 0;
}

static int populate_store(populate *p, const strata_closure *c, strata_error *err)
{
	int r = 0;
	for (size_t i = 0; i < c->npaths && r == 0; i++) {
		if (p->mode == STRATA_STORE_BIND) {
			/* A mount point of the same kind as the store path. */
			r = make_mount_point(p->rootfs, c->paths[i].path, err);
		} else {
			r = strata_fs_walk(c->paths[i].path, populate_visit, p, err);
		}
	}
	for (size_t i = p->ndirs; i-- > 0;) {
		if (r == 0 && chmod(p->dirs[i], p->dir_modes[i]) < 0)
			r = strata_error_set(err, errno, "cannot chmod '%s'", p->dirs[i]);
		free(p->dirs[i]);
	}
	free(p->dirs);
	free(p->dir_modes);
	return r;
}

/* ---------- the bundle ---------- */

int strata_build_bundle(const strata_bundle_options *o, json_t **summary_ret, strata_error *err)
{
	const char *store_dir = o->store_dir ? o->store_dir : "/nix/store";
	size_t sl = strlen(store_dir);
	if (store_dir[0] != '/')
		return strata_error_set(err, 0, "--store-dir must be an absolute path, not '%s'", store_dir);
	if (o->nargs == 0)
		return strata_error_set(err, 0, "no PROGRAM given (strata container -o BUNDLE -- PROGRAM [ARG...])");
	const char *prog = o->args[0];
	if (strncmp(prog, store_dir, sl) != 0 || prog[sl] != '/')
		return strata_error_set(err, 0, "PROGRAM '%s' is not inside the store %s", prog, store_dir);
	struct stat st;
	if (stat(prog, &st) < 0)
		return strata_error_set(err, errno, "PROGRAM '%s'", prog);
	if (o->cwd && o->cwd[0] != '/')
		return strata_error_set(err, 0, "--cwd must be an absolute path, not '%s'", o->cwd);
	for (size_t i = 0; i < o->nenv; i++)
		if (strchr(o->env[i], '=') == NULL || o->env[i][0] == '=')
			return strata_error_set(err, 0, "--env '%s' is not KEY=VALUE", o->env[i]);

	json_t *user_mounts = json_array();
	int r = 0;
	for (size_t i = 0; i < o->nmounts && r == 0; i++) {
		json_t *m = NULL;
		if ((r = strata_mount_parse(o->mounts[i], &m, err)) == 0)
			json_array_append_new(user_mounts, m);
	}
	/* Roots: the store paths the arguments name. */
	char **roots = strata_xcalloc(o->nargs, sizeof *roots);
	size_t nroots = 0;
	for (size_t i = 0; i < o->nargs && r == 0; i++) {
		const char *a = o->args[i];
		if (strncmp(a, store_dir, sl) != 0 || a[sl] != '/')
			continue;
		const char *end = strchr(a + sl + 1, '/');
		roots[nroots++] = end ? strata_xstrndup(a, (size_t)(end - a)) : strata_xstrdup(a);
	}
	strata_closure *c = NULL;
	if (r == 0) {
		if (o->closure_file) {
			r = strata_closure_load(o->closure_file, store_dir, &c, err);
			if (r == 0)
				r = strata_closure_restrict(c, roots, nroots, err);
		} else {
			r = strata_closure_discover(roots, nroots, store_dir, &c, err);
		}
	}
	strata_output *out = NULL;
	if (r == 0)
		r = strata_output_check_outside(o->output, store_dir, err);
	if (r == 0)
		r = strata_output_create(o->output, o->force, &out, err);
	populate p = {0};
	cleanup_free char *rootfs = NULL;
	if (r == 0) {
		rootfs = strata_xasprintf("%s/rootfs", strata_output_dir(out));
		p.rootfs = rootfs;
		p.mode = o->store_mode;
		static const char *const sub[] = {"", "/dev", "/proc", "/sys"};
		for (size_t i = 0; i < STRATA_ARRAY_LEN(sub) && r == 0; i++) {
			cleanup_free char *d = strata_xasprintf("%s%s", rootfs, sub[i]);
			if (mkdir(d, 0755) < 0)
				r = strata_error_set(err, errno, "cannot create '%s'", d);
		}
		cleanup_free char *sd = strata_xasprintf("%s%s", rootfs, store_dir);
		if (r == 0)
			r = mkdirs(sd, err);
		if (r == 0)
			r = populate_store(&p, c, err);
	}
	if (r == 0) {
		json_t *cfg = make_config(o, c, user_mounts);
		char *s = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(cfg);
		cleanup_free char *path = strata_xasprintf("%s/config.json", strata_output_dir(out));
		cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			r = strata_error_set(err, errno, "cannot create '%s'", path);
		else if ((r = strata_write_all(fd, s, strlen(s))) < 0 || (r = strata_write_all(fd, "\n", 1)) < 0)
			r = strata_error_set(err, -r, "cannot write '%s'", path);
		free(s);
	}
	if (r == 0)
		r = strata_output_commit(out, err);
	if (r == 0) {
		static const char *const modes[] = {"copy", "hardlink", "bind"};
		json_t *sum = json_object();
		json_object_set_new(sum, "output", json_string(o->output));
		json_object_set_new(sum, "program", json_string(prog));
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
	for (size_t i = 0; i < nroots; i++)
		free(roots[i]);
	free(roots);
	json_decref(user_mounts);
	return r;
}
