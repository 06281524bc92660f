# strata build (nixpkgs buildImage), issue 14: the seed's shape (a program,
# its dependency, an environment whose bin/ links into the program), checked
# by umoci (the rootfs), runc (the program runs), skopeo (docker-archive),
# strata verify; copy-to-root merging, dirlinks, closure given or scanned,
# determinism; customisation scripts, fakeroot, perms, no store paths.
. "$STRATA_TOP/tests/lib.sh"
SD="$WORK/nix/store"
BB="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-busybox"
DATA="$SD/1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b-data"
PROG="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-hello"
ENV="$SD/3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d-env"
EXTRA="$SD/4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f-extra"
UNUSED="$SD/5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a-unused"
command -v busybox > /dev/null || fail "busybox is not installed (scripts/setup installs busybox-static)"
mkdir -p "$BB/bin" "$DATA/share" "$PROG/bin" "$ENV/etc" "$EXTRA/etc" "$EXTRA/bin" "$UNUSED"
cp "$(command -v busybox)" "$BB/bin/busybox"; ln -s busybox "$BB/bin/sh"
echo "data from a dependency" > "$DATA/share/greeting"
printf '#!%s/bin/sh\nread line < %s/share/greeting\necho "hello: $line"\n[ -n "$1" ] && %s/bin/busybox sh -c "$1"\nexit 0\n' \
  "$BB" "$DATA" "$BB" > "$PROG/bin/hello"
chmod 0555 "$PROG/bin/hello"
ln -s "$PROG/bin" "$ENV/bin"                # buildEnv: a directory only one package has is a link
echo "motd of env" > "$ENV/etc/motd"
echo "motd of extra" > "$EXTRA/etc/motd"    # the later copy-to-root path wins
echo "only in extra" > "$EXTRA/etc/issue"
ln -s /etc/passwd "$EXTRA/etc/host-passwd"  # a link out of the store: never followed
ln -s /etc "$EXTRA/etc-link"
chmod -R a-w "$SD"/*
echo '{"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]}' > "$WORK/config.json"

tar_list() { # blob-or-layout -> "name mode uid gid uname gname type link" lines of the first image's top layer
  python3 - "$1" <<'P'
import json, sys, tarfile
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
man = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
with tarfile.open(d + "/blobs/sha256/" + man["layers"][-1]["digest"][7:]) as t:
    for m in t.getmembers():
        print(m.name, oct(m.mode), m.uid, m.gid, m.uname or "-", m.gname or "-", m.type.decode(), m.linkname or "-")
P
}
unpack() { rm -rf "$2"; umoci unpack --image "$1" "$2" > /dev/null || fail "umoci unpack $1"; }

# 1. The seed's example: closure found by scanning, one layer.
"$STRATA" build --store-dir "$SD" --copy-to-root "$ENV" --config "$WORK/config.json" --name hello --tag v1 \
  --json -o "$WORK/img" > "$WORK/sum.json"
"$STRATA" verify "$WORK/img"
python3 - "$WORK/sum.json" "$BB" "$DATA" "$PROG" "$ENV" <<'P'
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["layers"]) == 1, s["layers"]
assert s["layers"][0]["store_paths"] == sorted(sys.argv[2:6]), s["layers"][0]["store_paths"]
P
skopeo --insecure-policy inspect --config oci:"$WORK/img":v1 > "$WORK/cfg.json"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["config"]["Cmd"]==["/bin/hello"] and len(c["rootfs"]["diff_ids"])==1, c' "$WORK/cfg.json"
unpack "$WORK/img:v1" "$WORK/b"
R="$WORK/b/rootfs"
[ -d "$R/bin" ] && [ ! -L "$R/bin" ] || fail "bin (a link to a store directory) must be copied as a directory (rsync -k)"
cmp "$R/bin/hello" "$PROG/bin/hello" || fail "bin/hello differs"
assert_eq "$(cat "$R/etc/motd")" "motd of env" "motd"
for p in "$BB" "$DATA" "$PROG" "$ENV"; do [ -d "$R$p" ] || fail "closure path $p missing"; done
[ ! -e "$R$UNUSED" ] || fail "a path outside the closure is in the image"
assert_eq "$(stat -c %a "$R/bin/hello")" 555 "mode of bin/hello"
assert_eq "$(readlink "$R$ENV/bin")" "$PROG/bin" "store paths keep their links"

# runc runs it (root only).
if [ "$(id -u)" = 0 ] && command -v runc > /dev/null; then
  python3 - "$WORK/b/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
P
  out=$(runc run --bundle "$WORK/b" strata-build-$$ < /dev/null 2> "$WORK/runc.err") || { runc delete -f strata-build-$$ 2>/dev/null; fail "runc: $(cat "$WORK/runc.err")"; }
  assert_eq "$out" "hello: data from a dependency" "runc output"
fi

# 2. Merging: two copy-to-root paths, the later wins; dirlinks kept on request.
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --copy-to-root "$EXTRA" --tag v1 -o "$WORK/m"
unpack "$WORK/m:v1" "$WORK/mb"
assert_eq "$(cat "$WORK/mb/rootfs/etc/motd")" "motd of extra" "the later path wins"
assert_eq "$(cat "$WORK/mb/rootfs/etc/issue")" "only in extra" "directories are merged"
[ -f "$WORK/mb/rootfs/bin/hello" ] || fail "the earlier path's entries stay"
assert_eq "$(readlink "$WORK/mb/rootfs/etc/host-passwd")" /etc/passwd "a link out of the store stays a link"
assert_eq "$(readlink "$WORK/mb/rootfs/etc-link")" /etc "a dirlink out of the store is not followed"
[ ! -e "$WORK/mb/rootfs/etc/shadow" ] || fail "the host's /etc came in"
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --keep-contents-dirlinks --tag v1 -o "$WORK/k"
unpack "$WORK/k:v1" "$WORK/kb"
assert_eq "$(readlink "$WORK/kb/rootfs/bin")" "$PROG/bin" "--keep-contents-dirlinks keeps the link"

# 3. The closure given (exportReferencesGraph form) makes the same image as the scan.
python3 - "$WORK/closure.json" "$BB" "$DATA" "$PROG" "$ENV" "$UNUSED" <<'P'
import json, sys
bb, data, prog, env, unused = sys.argv[2:7]
refs = {bb: [bb], data: [], prog: [bb, data], env: [prog], unused: []}
json.dump([{"path": p, "references": r} for p, r in refs.items()], open(sys.argv[1], "w"))
P
"$STRATA" build -q --store-dir "$SD" --closure "$WORK/closure.json" --copy-to-root "$ENV" --config "$WORK/config.json" \
  --name hello --tag v1 -o "$WORK/img-c"
cmp "$WORK/img/index.json" "$WORK/img-c/index.json" || fail "--closure and the scan give different images"

# 4. Deterministic: threads, umask, locale, twice.
for t in 1 8; do
  (umask 077; LC_ALL=C.UTF-8 "$STRATA" build -q --threads $t --store-dir "$SD" --copy-to-root "$ENV" \
     --config "$WORK/config.json" --name hello --tag v1 -o "$WORK/d$t")
  cmp "$WORK/img/index.json" "$WORK/d$t/index.json" || fail "threads $t / umask 077 changed the image"
done

# 5. docker-archive: a file and -o -, read by skopeo.
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --config "$WORK/config.json" --name hello --tag v1 \
  --format docker-archive --compress none -o "$WORK/da.tar"
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --config "$WORK/config.json" --name hello --tag v1 \
  --format docker-archive -o - | cat > "$WORK/da-pipe.tar"
cmp "$WORK/da.tar" "$WORK/da-pipe.tar" || fail "docker-archive to a file and to a pipe differ"
skopeo --insecure-policy copy -q docker-archive:"$WORK/da.tar" oci:"$WORK/from-da":v1
"$STRATA" verify "$WORK/from-da"
unpack "$WORK/from-da:v1" "$WORK/dab"
cmp "$WORK/dab/rootfs/bin/hello" "$PROG/bin/hello" || fail "docker-archive lost bin/hello"

# 6. Customisation: extra-commands (a file, a dir and a symlink), fakeroot
# (chown and chmod 4755 recorded in the headers), perms by path and regex.
cat > "$WORK/extra.sh" <<'S'
mkdir -p var/log
echo made > made.txt
ln -s /etc/motd motd-link
[ "$(pwd)" != / ] && [ -f etc/motd ]
S
cat > "$WORK/fake.sh" <<'S'
chown 1000:1000 etc/motd
chmod 4755 made.txt
S
echo '[{"path": "/var", "mode": "0700"}, {"regex": ".*/bin/busybox", "uid": 7, "uname": "bb"}]' > "$WORK/perms.json"
check_custom() {
  tar_list "$1" > "$WORK/list"
  grep -qx "/made.txt 0o4755 0 0 root root 0 -" "$WORK/list" || fail "made.txt: $(grep made "$WORK/list")"
  grep -qx "/etc/motd 0o444 1000 1000 - - 0 -" "$WORK/list" || fail "chown under fakeroot: $(grep etc/motd "$WORK/list")"
  grep -qx "/motd-link 0o777 0 0 root root 2 /etc/motd" "$WORK/list" || fail "symlink from extra-commands"
  grep -qx "/var/log 0o700 0 0 root root 5 -" "$WORK/list" || fail "perms by path: $(grep var "$WORK/list")"
  grep -qx "$BB/bin/busybox 0o555 7 0 bb root 0 -" "$WORK/list" || fail "perms by regex: $(grep busybox "$WORK/list")"
}
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --extra-commands "$WORK/extra.sh" \
  --fakeroot-commands "$WORK/fake.sh" --perms "$WORK/perms.json" --tag v1 -o "$WORK/cu"
check_custom "$WORK/cu"
(umask 077; LC_ALL=C "$STRATA" build -q --threads 1 --store-dir "$SD" --copy-to-root "$ENV" --extra-commands "$WORK/extra.sh" \
  --fakeroot-commands "$WORK/fake.sh" --perms "$WORK/perms.json" --tag v1 -o "$WORK/cu2")
cmp "$WORK/cu/index.json" "$WORK/cu2/index.json" || fail "customised layers depend on the umask or the threads"
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
  chmod 755 "$WORK"; chmod 644 "$WORK"/*.sh "$WORK"/*.json
  mkdir "$WORK/nobody"; chown nobody "$WORK/nobody"
  runuser -u nobody -- "$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --extra-commands "$WORK/extra.sh" \
    --fakeroot-commands "$WORK/fake.sh" --perms "$WORK/perms.json" --tag v1 -o "$WORK/nobody/cu" ||
    fail "customisation as nobody failed"
  check_custom "$WORK/nobody/cu"
fi
[ -z "$(ls /tmp | grep '^strata-root-')" ] || fail "a customisation directory was left in /tmp"

# 7. --no-store-paths: the copy-to-root entries only.
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --no-store-paths --tag v1 -o "$WORK/ns"
tar_list "$WORK/ns" > "$WORK/ns.list"
grep -q "^$SD" "$WORK/ns.list" && fail "--no-store-paths still holds store paths"
grep -q "^/bin/hello " "$WORK/ns.list" || fail "--no-store-paths lost the copy-to-root entries"

# 8. --nix-db: Nix itself reads the image's database: it lists exactly the
# closure, its hashes are the NAR hashes Nix computes, registration times
# are the created time; the same bytes twice.
nix_check() { # layout root
  unpack "$1:v1" "$WORK/nb"
  cp -r "$WORK/nb/rootfs/nix/var/nix" "$WORK/nixstate"
  local nixenv="NIX_STATE_DIR=$WORK/nixstate NIX_STORE_DIR=$SD NIX_CONF_DIR=$WORK/none NIX_REMOTE=local"
  env $nixenv nix-store -q --requisites "$2" 2> /dev/null | sort > "$WORK/req"
  printf '%s\n' "$BB" "$DATA" "$PROG" "$ENV" | sort > "$WORK/want"
  cmp "$WORK/req" "$WORK/want" || fail "the Nix database does not list the closure: $(cat "$WORK/req")"
  env $nixenv nix-store --verify --check-contents > "$WORK/verify.out" 2>&1 || fail "nix-store --verify: $(cat "$WORK/verify.out")"
  grep -qi "error\|modified\|invalid" "$WORK/verify.out" && fail "nix-store --verify: $(cat "$WORK/verify.out")"
  assert_eq "$(sqlite3 "$WORK/nixstate/db/db.sqlite" 'select distinct registrationTime from ValidPaths')" 1 "registration time"
  assert_eq "$(sqlite3 "$WORK/nixstate/db/db.sqlite" "select hash from ValidPaths where path = '$BB'")" \
    "sha256:$(nix-store --dump "$BB" 2> /dev/null | sha256sum | cut -d' ' -f1)" "busybox's NAR hash"
  [ -L "$WORK/nb/rootfs/nix/var/nix/gcroots/docker/$(basename "$ENV")" ] || fail "no gcroot for the root"
  rm -rf "$WORK/nixstate"
}
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$ENV" --nix-db --tag v1 -o "$WORK/db1"
"$STRATA" build -q --threads 1 --store-dir "$SD" --copy-to-root "$ENV" --nix-db --tag v1 -o "$WORK/db2"
cmp "$WORK/db1/index.json" "$WORK/db2/index.json" || fail "--nix-db is not reproducible"
nix_check "$WORK/db1" "$ENV"
"$STRATA" build-layered -q --closure "$WORK/closure.json" --root "$ENV" --contents "$ENV" --store-dir "$SD" --nix-db \
  --tag v1 -o "$WORK/dbl"
nix_check "$WORK/dbl" "$ENV"

# 9. Errors: one line, exit 1, nothing left.
expect_fail() { # code pattern args...
  local code=$1 pat=$2; shift 2
  rm -rf "$WORK/bad"
  local rc=0
  env ${RUN_ENV:-} "$STRATA" build -q "$@" -o "$WORK/bad" > "$WORK/out" 2> "$WORK/err" || rc=$?
  [ $rc = "$code" ] || fail "build $* exited $rc, not $code: $(cat "$WORK/err")"
  [ "$(grep -vc "^Try 'strata" "$WORK/err")" = 1 ] || fail "build $*: not one line: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "build $*: '$pat' not in: $(cat "$WORK/err")"
  [ ! -e "$WORK/bad" ] || fail "build $*: output left behind"
  [ -z "$(ls /tmp | grep '^strata-root-')" ] || fail "build $*: a customisation directory was left"
  return 0
}
printf 'exit 3\n' > "$WORK/fail.sh"
expect_fail 1 "extra-commands failed with exit status 3" --store-dir "$SD" --copy-to-root "$ENV" --extra-commands "$WORK/fail.sh"
expect_fail 1 "fakeroot-commands failed with exit status 3" --store-dir "$SD" --copy-to-root "$ENV" --fakeroot-commands "$WORK/fail.sh"
expect_fail 1 "extra-commands: cannot read" --store-dir "$SD" --copy-to-root "$ENV" --extra-commands "$WORK/none.sh"
mkdir -p "$WORK/nofr"; ln -sf "$(command -v find)" "$WORK/nofr/find"
RUN_ENV="PATH=$WORK/nofr" expect_fail 1 "need fakeroot" --store-dir "$SD" --copy-to-root "$ENV" --fakeroot-commands "$WORK/fake.sh"
RUN_ENV="PATH=$WORK/nofr" expect_fail 1 "needs nix-store" --store-dir "$SD" --copy-to-root "$ENV" --nix-db
expect_fail 1 "needs the store paths" --store-dir "$SD" --copy-to-root "$ENV" --nix-db --no-store-paths
echo '[{"path": "/no/such", "mode": "0700"}]' > "$WORK/p-miss.json"
expect_fail 1 "rule 1 (/no/such) matched nothing" --store-dir "$SD" --copy-to-root "$ENV" --perms "$WORK/p-miss.json"
echo '[{"regex": "(", "mode": "0700"}]' > "$WORK/p-re.json"
expect_fail 1 "invalid regular expression" --store-dir "$SD" --copy-to-root "$ENV" --perms "$WORK/p-re.json"
echo '[{"path": "/etc", "mode": "rwx"}]' > "$WORK/p-mode.json"
expect_fail 1 "mode must be an octal string" --store-dir "$SD" --copy-to-root "$ENV" --perms "$WORK/p-mode.json"
echo '[{"path": "/etc"}]' > "$WORK/p-none.json"
expect_fail 1 "sets nothing" --store-dir "$SD" --copy-to-root "$ENV" --perms "$WORK/p-none.json"
expect_fail 1 "is not a directory" --store-dir "$SD" --copy-to-root "$PROG/bin/hello"
expect_fail 1 "cannot resolve" --store-dir "$SD" --copy-to-root "$WORK/missing"
expect_fail 2 "is for build-layered" --store-dir "$SD" --copy-to-root "$ENV" --max-layers 3
expect_fail 2 "nothing to build" --store-dir "$SD"
mkdir -p "$WORK/loop"; ln -s "$SD" "$WORK/loop/store"
chmod u+w "$ENV"; ln -s "$ENV" "$ENV/self"; chmod a-w "$ENV"
expect_fail 1 "symlink loop" --store-dir "$SD" --copy-to-root "$ENV"
echo "build_image: ok"
