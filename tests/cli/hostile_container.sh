# strata container against stores and arguments other people made, as root
# (tests/ERROR_MATRIX.md, "containment"): no copy gains privilege, nothing is
# read through a symlink or a swapped directory, bind mounts stay in the
# store, PROGRAM and mounts are checked strictly.
. "$STRATA_TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (setuid files, other owners, device nodes)"
SD="$WORK/nix/store"
BB="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-busybox"
PROG="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-hello"
EVIL="$SD/5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f-evil"
mkdir -p "$BB/bin" "$PROG/bin" "$EVIL/bin" "$EVIL/lib"
cp "$(command -v busybox)" "$BB/bin/busybox"; ln -s busybox "$BB/bin/sh"
printf '#!%s/bin/sh\necho hello\n' "$BB" > "$PROG/bin/hello"; chmod 0555 "$PROG/bin/hello"
# A user's setuid and setgid programs, and a symlink out of the store.
cp "$BB/bin/busybox" "$EVIL/bin/suid"; chown 65534:65534 "$EVIL/bin/suid"; chmod 4755 "$EVIL/bin/suid"
cp "$BB/bin/busybox" "$EVIL/bin/sgid"; chown 0:65534 "$EVIL/bin/sgid"; chmod 2755 "$EVIL/bin/sgid"
ln -s /etc "$EVIL/lib/etc"
printf '#!%s/bin/sh\n%s/bin/suid true\n' "$BB" "$EVIL" > "$EVIL/bin/run"; chmod 0555 "$EVIL/bin/run"
printf '%s\n%s\n' "$BB" "$EVIL" > "$WORK/evil.txt"
OUT="$WORK/b"

ok_bundle() { "$STRATA" container -q --store-dir "$SD" "$@"; }
bad() { # PATTERN ARGS...: one line, exit 1, nothing left
  local pat=$1; shift
  set +e; "$STRATA" container -q --store-dir "$SD" "$@" 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" = 1 ] || fail "exit $rc (want 1): $* -- $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "'$pat' not in: $(cat "$WORK/err") ($*)"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "output left behind: $*"
  no_leftovers "$WORK"
}

# 1. copy mode as root: the setuid file keeps its owner (65534), so the copy
#    is no root setuid program; the setgid one keeps its group.
ok_bundle --closure "$WORK/evil.txt" -o "$OUT" -- "$EVIL/bin/run"
assert_eq "$(stat -c '%u:%g %a' "$OUT/rootfs$EVIL/bin/suid")" "65534:65534 4755" "setuid copy (owner kept)"
assert_eq "$(stat -c '%u:%g %a' "$OUT/rootfs$EVIL/bin/sgid")" "0:65534 2755" "setgid copy (group kept)"
# 2. ... and a symlink out of the store stays a symlink: nothing of /etc copied.
[ -L "$OUT/rootfs$EVIL/lib/etc" ] || fail "symlink out of the store was not kept as a symlink"
assert_eq "$(readlink "$OUT/rootfs$EVIL/lib/etc")" /etc "symlink target"
[ ! -e "$OUT/rootfs/etc/passwd" ] || fail "a file from /etc reached the bundle"
rm -rf "$OUT"

# 3. as another user (uid 12345, not the files' owner): set-id bits dropped.
chmod 0755 "$WORK"; mkdir -m 0777 "$WORK/u"
setpriv --reuid=12345 --regid=12345 --clear-groups "$STRATA" container -q --store-dir "$SD" \
  --closure "$WORK/evil.txt" -o "$WORK/u/b" -- "$EVIL/bin/run"
assert_eq "$(stat -c '%u %a' "$WORK/u/b/rootfs$EVIL/bin/suid")" "12345 755" "setuid dropped for another owner"
assert_eq "$(stat -c '%u %a' "$WORK/u/b/rootfs$EVIL/bin/sgid")" "12345 755" "setgid dropped for another group"
rm -rf "$WORK/u/b"

# 4. a directory swapped for a symlink to a secret while the copy runs:
#    the secret never reaches the bundle (the copy either sees the real
#    directory, the symlink as a symlink, or stops: "replaced").
SWAP="$SD/6g6g6g6g6g6g6g6g6g6g6g6g6g6g6g6g-swap"
mkdir -p "$SWAP/d" "$WORK/secret" && echo "top secret" > "$WORK/secret/key" && chmod 0600 "$WORK/secret/key"
for i in $(seq 1 400); do echo "$i" > "$SWAP/d/f$i"; done
printf '%s\n%s\n%s\n' "$PROG" "$BB" "$SWAP" > "$WORK/swap.txt"
# one process (no orphaned mv after the kill), swapping until told to stop
python3 - "$SWAP" "$WORK/secret" "$WORK/stop-swap" <<'P' &
import os, sys
swap, secret, stop = sys.argv[1:]
d, real = swap + "/d", swap + "/d.real"
while not os.path.exists(stop):
    os.rename(d, real); os.symlink(secret, d)
    os.unlink(d); os.rename(real, d)
P
swapper=$!
for i in $(seq 1 25); do
  "$STRATA" container -q --store-dir "$SD" --closure "$WORK/swap.txt" -o "$WORK/sw$i" -- "$PROG/bin/hello" "$SWAP" \
    2> "$WORK/sw.err" || grep -qE "replaced while it was read|No such file|cannot (stat|open)" "$WORK/sw.err" ||
    { touch "$WORK/stop-swap"; fail "swap race: $(cat "$WORK/sw.err")"; }
  ! grep -rqs "top secret" "$WORK/sw$i" || { touch "$WORK/stop-swap"; fail "the secret was copied through a swapped directory"; }
  rm -rf "$WORK/sw$i"
done
touch "$WORK/stop-swap"; wait "$swapper"
[ -d "$SWAP/d" ] && [ ! -L "$SWAP/d" ] || fail "the swapper did not restore the directory"

# 5. bind mode: a store path that is a symlink to / is refused; one to
#    another store path is mounted from its target.
ROOTLINK="$SD/7h7h7h7h7h7h7h7h7h7h7h7h7h7h7h7h-root"; ln -s / "$ROOTLINK"
printf '%s\n%s\n' "$PROG" "$ROOTLINK" > "$WORK/rootlink.txt"; echo "$BB" >> "$WORK/rootlink.txt"
bad "resolves to '/', outside the store: refusing to bind-mount it" --store-mode bind --closure "$WORK/rootlink.txt" -o "$OUT" -- "$PROG/bin/hello" "$ROOTLINK"
INLINK="$SD/8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i-alias"; ln -s "$BB" "$INLINK"
printf '%s\n%s\n%s\n' "$PROG" "$BB" "$INLINK" > "$WORK/inlink.txt"
ok_bundle --store-mode bind --closure "$WORK/inlink.txt" -o "$OUT" -- "$PROG/bin/hello" "$INLINK"
python3 - "$OUT/config.json" "$INLINK" "$BB" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
m = [m for m in c["mounts"] if m["destination"] == sys.argv[2]]
assert m and m[0]["source"] == sys.argv[3], m
assert all(not m["source"] == "/" for m in c["mounts"])
P
rm -rf "$OUT"

# 6. PROGRAM: '..', outside by a symlink, a directory, not executable
bad "must not contain '..'" -o "$OUT" -- "$PROG/../2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-hello/bin/hello"
bad "must not contain '..'" -o "$OUT" -- "$SD/../../../../bin/sh"
ln -s /bin/sh "$EVIL/bin/hostsh"
bad "resolves to '/usr/bin/dash', outside the store\|resolves to '/bin/dash', outside the store\|outside the store" -o "$OUT" -- "$EVIL/bin/hostsh"
bad "is a directory, not an executable file" -o "$OUT" -- "$PROG/bin"
chmod u+w "$EVIL/lib"; echo data > "$EVIL/lib/plain"
bad "is not executable" -o "$OUT" -- "$EVIL/lib/plain"
bad "is not inside the store" -o "$OUT" -- /bin/sh

# 7. mounts: destinations absolute, normalised, never the root; options strict
M() { echo "type=bind,source=$WORK/host,destination=$1${2:+,options=$2}"; }
mkdir -p "$WORK/host"
bad "is the container's root" --mount "$(M /)" -o "$OUT" -- "$PROG/bin/hello"
bad "must not contain '..'" --mount "$(M /..)" -o "$OUT" -- "$PROG/bin/hello"
bad "is the container's root" --mount "$(M //)" -o "$OUT" -- "$PROG/bin/hello"
bad "is the container's root" --mount "$(M /./.)" -o "$OUT" -- "$PROG/bin/hello"
bad "must not contain '..'" --mount "$(M /data/../..)" -o "$OUT" -- "$PROG/bin/hello"
bad "must be an absolute path" --mount "$(M data)" -o "$OUT" -- "$PROG/bin/hello"
bad "unknown mount option" --mount "$(M /data 'ro,"x')" -o "$OUT" -- "$PROG/bin/hello"
bad "unknown mount option" --mount "$(M /data 'ro,no suid')" -o "$OUT" -- "$PROG/bin/hello"
bad "unknown mount option" --mount "$(M /data frobnicate)" -o "$OUT" -- "$PROG/bin/hello"
bad "is not a flag or key=value of plain characters" --mount "$(M /data "mode='755'")" -o "$OUT" -- "$PROG/bin/hello"
bad "is given twice" --mount "type=bind,source=$WORK/host,source=/,destination=/d" -o "$OUT" -- "$PROG/bin/hello"
bad "is not a filesystem type name" --mount "type=../bind,source=x,destination=/d" -o "$OUT" -- "$PROG/bin/hello"
bad "a bind mount needs an absolute source" --mount "type=bind,source=rel,destination=/d" -o "$OUT" -- "$PROG/bin/hello"
ok_bundle --mount "$(M //data//x/./ ro,nosuid,rnodev,mode=0755)" -o "$OUT" -- "$PROG/bin/hello"
python3 - "$OUT/config.json" <<'P'
import json, sys
m = json.load(open(sys.argv[1]))["mounts"][-1]
assert m["destination"] == "/data/x", m
assert m["options"] == ["rbind", "ro", "nosuid", "rnodev", "mode=0755"], m
P
rm -rf "$OUT"

# 8. the other options
bad "working directory 'rel' must be an absolute path" --cwd rel -o "$OUT" -- "$PROG/bin/hello"
bad "working directory '/a/../..' must not contain '..'" --cwd /a/../.. -o "$OUT" -- "$PROG/bin/hello"
bad "hostname 'a;b' has characters" --hostname 'a;b' -o "$OUT" -- "$PROG/bin/hello"
bad "environment entry 'NOEQ' is not KEY=VALUE" --env NOEQ -o "$OUT" -- "$PROG/bin/hello"

# 9. --force never replaces an input: the store, a mount source, the closure
bad "is the input" --force -o "$SD" -- "$PROG/bin/hello"
bad "would replace the input" --force -o "$WORK" -- "$PROG/bin/hello"
bad "is the input" --force --closure "$WORK/evil.txt" -o "$WORK/evil.txt" -- "$EVIL/bin/run"
mkdir -p "$WORK/data" && echo keep > "$WORK/data/f"
set +e; "$STRATA" container -q --store-dir "$SD" --force --mount "type=bind,source=$WORK/data,destination=/d" \
  -o "$WORK/data" -- "$PROG/bin/hello" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "is the input" "$WORK/err" || fail "mount source replaced: $(cat "$WORK/err")"
assert_eq "$(cat "$WORK/data/f")" keep "mount source untouched"
[ -d "$BB/bin" ] && [ -x "$PROG/bin/hello" ] || fail "the store was touched"

# 10. a store path 2,000 directories deep: copied (no recursion limit, no
#     fd per level), and removed again on failure.
DEEP="$SD/9j9j9j9j9j9j9j9j9j9j9j9j9j9j9j9j-deep"
python3 - "$DEEP" <<'P'
import os, sys
fd = os.open("/", os.O_RDONLY)
os.makedirs(sys.argv[1]); fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(2000):
    os.mkdir("d", dir_fd=fd); nfd = os.open("d", os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
with open(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f: f.write("deep\n")
P
printf '%s\n%s\n%s\n' "$PROG" "$BB" "$DEEP" > "$WORK/deep.txt"
( ulimit -n 64; "$STRATA" container -q --store-dir "$SD" --closure "$WORK/deep.txt" -o "$OUT" -- "$PROG/bin/hello" "$DEEP" )
python3 - "$OUT/rootfs$DEEP" <<'P'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(2000):
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
assert open(os.open("bottom", os.O_RDONLY, dir_fd=fd)).read() == "deep\n"
P
( ulimit -n 64; "$STRATA" container -q --store-dir "$SD" --force --closure "$WORK/deep.txt" -o "$OUT" -- "$PROG/bin/hello" "$DEEP" )
[ -d "$OUT/rootfs$DEEP" ] || fail "--force over a deep bundle"
no_leftovers "$WORK"
echo ok
