# strata container: runtime bundles that runc runs (issue 8). A fake store
# with a static busybox, a data path and a program that reads the data path.
. "$STRATA_TOP/tests/lib.sh"
SD="$WORK/nix/store"
BB="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-busybox"
DATA="$SD/1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b-data"
PROG="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-hello"
UNUSED="$SD/3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d-unused"
command -v busybox > /dev/null || fail "busybox is not installed (scripts/setup installs busybox-static)"
mkdir -p "$BB/bin" "$DATA/share" "$PROG/bin" "$UNUSED"
cp "$(command -v busybox)" "$BB/bin/busybox"; ln -s busybox "$BB/bin/sh"
echo "data from a dependency" > "$DATA/share/greeting"
printf '#!%s/bin/sh\nread line < %s/share/greeting\necho "hello: $line"\n[ -n "$1" ] && %s/bin/busybox sh -c "$1"\nexit 0\n' \
  "$BB" "$DATA" "$BB" > "$PROG/bin/hello"
chmod 0555 "$PROG/bin/hello"; chmod -R a-w "$SD"/*

# The closure is found by scanning (no --closure): hello -> busybox, data.
"$STRATA" container --store-dir "$SD" --json -o "$WORK/b0" -- "$PROG/bin/hello" > "$WORK/s0.json"
python3 - "$WORK/s0.json" "$WORK/b0/config.json" "$BB" "$DATA" "$PROG" <<'P'
import json, sys
s = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
assert sorted(s["store_paths"]) == sorted(sys.argv[3:6]), s["store_paths"]
assert c["ociVersion"] == "1.0.2" and "platform" not in c
assert c["process"]["args"] == [sys.argv[5] + "/bin/hello"] and c["process"]["terminal"] is False
assert c["process"]["cwd"] == "/" and c["process"]["user"] == {"uid": 0, "gid": 0}
assert c["process"]["env"][0].startswith("PATH=")
assert [n["type"] for n in c["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]
assert [m["destination"] for m in c["mounts"]][:7] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
assert "/proc/kcore" in c["linux"]["maskedPaths"] and "/proc/sys" in c["linux"]["readonlyPaths"]
P
for d in dev proc sys; do [ -d "$WORK/b0/rootfs/$d" ] || fail "rootfs/$d missing"; done
[ ! -e "$WORK/b0/rootfs$UNUSED" ] || fail "a path outside the closure was copied"
cmp "$WORK/b0/rootfs$BB/bin/busybox" "$BB/bin/busybox" || fail "copy differs"

# Schema: runtime-spec config-schema.json (Debian's golang-github-opencontainers-specs-dev),
# validated by Debian's python3-jsonschema.
/usr/bin/python3 - "$WORK/b0/config.json" <<'P'
import json, os, sys, jsonschema
d = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema"
schema = json.load(open(os.path.join(d, "config-schema.json")))
resolver = jsonschema.RefResolver("file://" + d + "/", schema)
jsonschema.Draft4Validator(schema, resolver=resolver).validate(json.load(open(sys.argv[1])))
P

# Bad input: one line, non-zero, nothing left behind.
bad() {
  local pat=$1; shift
  if "$STRATA" container -q "$@" 2> "$WORK/err"; then fail "accepted: $*"; fi
  grep -q -- "$pat" "$WORK/err" || fail "'$pat' not in: $(cat "$WORK/err")"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
  [ ! -e "$WORK/bad" ] || fail "output left for: $*"
  no_leftovers "$WORK"
}
bad "is not inside the store" --store-dir "$SD" -o "$WORK/bad" -- /bin/sh
bad "No such file" --store-dir "$SD" -o "$WORK/bad" -- "$SD/4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e-missing/bin/x"
bad "destination 'rel' must be an absolute path" --store-dir "$SD" --mount type=bind,source=/tmp,destination=rel -o "$WORK/bad" -- "$PROG/bin/hello"
bad "is not key=value" --store-dir "$SD" --mount garbage -o "$WORK/bad" -- "$PROG/bin/hello"
bad "unknown key" --store-dir "$SD" --mount type=bind,src=/tmp,dst=/x,colour=red -o "$WORK/bad" -- "$PROG/bin/hello"

# --oci-version: another declared version, checked.
"$STRATA" container --store-dir "$SD" --oci-version 1.2.0 -q -o "$WORK/b-v" -- "$PROG/bin/hello"
grep -q '"ociVersion": *"1.2.0"' "$WORK/b-v/config.json" || fail "--oci-version 1.2.0 not written"
bad "is not MAJOR.MINOR.PATCH" --store-dir "$SD" --oci-version 1.x -o "$WORK/bad" -- "$PROG/bin/hello"

[ "$(id -u)" = 0 ] || skip "runc runs need root (config checks passed)"
for t in runc crun unshare; do command -v $t > /dev/null || fail "$t is not installed (scripts/setup)"; done
# Every bundle runs under runc and under crun (podman's runtime; it accepts
# runtime-spec 1.0.x, and before 1.14 refuses 1.2.0). crun 1.8 refuses a
# hybrid cgroup v1 + v2 hierarchy ("cgroups in hybrid mode"), as this
# machine has: it runs in a mount namespace where the v2 mount at
# /sys/fs/cgroup/unified is hidden (the machine's, not the bundle's limit).
crun_run() { # bundle id
  if mountpoint -q /sys/fs/cgroup/unified 2> /dev/null; then
    unshare --mount sh -c 'umount /sys/fs/cgroup/unified && exec crun run --bundle "$1" "$2"' sh "$1" "$2"
  else
    crun run --bundle "$1" "$2"
  fi
}
run() { # bundle [runtime] -> stdout of the container
  python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["process"]["terminal"]=False;json.dump(c,open(sys.argv[1],"w"))' "$1/config.json"
  local id="strata-$$-$RANDOM" rt=${2:-runc}
  if [ "$rt" = crun ]; then
    crun_run "$1" "$id" < /dev/null 2> "$WORK/rt.err" || { crun delete -f "$id" 2>/dev/null || true; echo "crun failed: $(cat "$WORK/rt.err")"; }
  else
    runc run --bundle "$1" "$id" < /dev/null 2> "$WORK/rt.err" || { runc delete -f "$id" 2>/dev/null || true; echo "runc failed: $(cat "$WORK/rt.err")"; }
  fi
}
for mode in copy hardlink bind; do
  "$STRATA" container --store-dir "$SD" --store-mode "$mode" -q -o "$WORK/b-$mode" -- "$PROG/bin/hello"
  for rt in runc crun; do
    assert_eq "$(run "$WORK/b-$mode" $rt)" "hello: data from a dependency" "$rt output with --store-mode $mode"
  done
done
# hardlink mode copied nothing: same inodes.
[ "$(stat -c %i "$WORK/b-hardlink/rootfs$BB/bin/busybox")" = "$(stat -c %i "$BB/bin/busybox")" ] || fail "hardlink mode copied"
# bind mode copied nothing at all: empty mount points.
[ -z "$(ls -A "$WORK/b-bind/rootfs$BB")" ] || fail "bind mode copied files"

# --readonly: writing to / fails inside; without it, it works.
"$STRATA" container --store-dir "$SD" --readonly -q -o "$WORK/b-ro" -- "$PROG/bin/hello" "echo x > /written && echo wrote || echo refused"
for rt in runc crun; do assert_eq "$(run "$WORK/b-ro" $rt | tail -1)" "refused" "$rt: write to / with --readonly"; done
"$STRATA" container --store-dir "$SD" -q -o "$WORK/b-rw" -- "$PROG/bin/hello" "echo x > /written && echo wrote || echo refused"
assert_eq "$(run "$WORK/b-rw" | tail -1)" "wrote" "write to / without --readonly"

# --mount: a host directory is visible inside (after the defaults, in order).
mkdir "$WORK/host" && echo "from the host" > "$WORK/host/file"
"$STRATA" container --store-dir "$SD" --mount "type=bind,source=$WORK/host,destination=/data,options=ro" \
  --env GREETING=hi --hostname box -q -o "$WORK/b-m" -- "$PROG/bin/hello" 'cat /data/file; echo "$GREETING $(hostname)"'
for rt in runc crun; do
  out=$(run "$WORK/b-m" $rt)
  assert_eq "$(echo "$out" | sed -n 2p)" "from the host" "$rt: bind-mounted file"
  assert_eq "$(echo "$out" | sed -n 3p)" "hi box" "$rt: env and hostname"
done

# --rootless: an unprivileged user runs it with runc --root (if userns work here).
if [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 1 ] && command -v setpriv > /dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2> /dev/null; then
  chmod 0755 "$WORK"; mkdir -m 0777 "$WORK/rl" "$WORK/rl-state"
  setpriv --reuid=65534 --regid=65534 --clear-groups "$STRATA" container --store-dir "$SD" --rootless -q \
    -o "$WORK/rl/b" -- "$PROG/bin/hello" 'id -u'
  python3 - "$WORK/rl/b/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 65534, "size": 1}], c["linux"]["uidMappings"]
assert "user" in [n["type"] for n in c["linux"]["namespaces"]] and "network" not in [n["type"] for n in c["linux"]["namespaces"]]
assert "resources" not in c["linux"]
c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
P
  out=$(cd "$WORK/rl" && setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_RUNTIME_DIR="$WORK/rl-state" \
        runc --root "$WORK/rl-state" run --bundle "$WORK/rl/b" rl-$$ < /dev/null 2> "$WORK/rl.err") || true
  if [ -z "$out" ] && grep -qiE "permission denied|operation not permitted|cgroup" "$WORK/rl.err"; then
    echo "SKIP-PART rootless run: the kernel/cgroup setup refuses it here: $(head -1 "$WORK/rl.err")"
  else
    assert_eq "$(echo "$out" | tail -1)" "0" "uid inside the rootless container"
  fi
else
  echo "SKIP-PART rootless: unprivileged user namespaces are not allowed here"
fi
echo ok
