# The rows of tests/ERROR_MATRIX.md not covered elsewhere: wrong types,
# out-of-range numbers, duplicates, cycles, self references, '..', symlinks
# out of the store and symlink loops (kept, never followed), unreadable
# directories, few file descriptors, signals at several points, outputs that
# are files or lie inside the input.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 6
SD="$WORK/s/nix/store"
OUT="$WORK/out"
H=0123456789abcdfghijklmnpqrsvwxyz

# expect CODE PATTERN ARGS...: one line, that exit code, nothing left behind
expect() {
  local code=$1 pat=$2; shift 2
  set +e; "$STRATA" "$@" > /dev/null 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" = "$code" ] || fail "exit $rc (want $code): $* -- $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "'$pat' not in: $(cat "$WORK/err") ($*)"
  [ "$code" = 2 ] || [ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "output left behind: $*"
  no_leftovers "$WORK"
}
bl() { expect "$1" "$2" build-layered -q --store-dir "$SD" "${@:3}" -o "$OUT"; }
json() { printf '%s' "$2" > "$WORK/$1"; }

# wrong types and out-of-range numbers, in every input
json t1.json "[{\"path\":\"$SD/$H-a\",\"narSize\":\"12\"}]";      bl 1 "'narSize' must be a non-negative integer" --closure "$WORK/t1.json"
json t2.json "[{\"path\":\"$SD/$H-a\",\"narSize\":1e30}]";         bl 1 "'narSize' must be a non-negative integer" --closure "$WORK/t2.json"
json t3.json "{\"a\":1,\"b\":2}";                                   bl 1 "expected an object" --closure "$WORK/t3.json"
json t4.json "[{\"path\":\"$SD/$H-a\",\"references\":[1]}]";       bl 1 "'references' must be a string" --closure "$WORK/t4.json"
json c1.json '{"store_layers":[["x"]],"uid":"-1"}';                 bl 1 "must be a number or a string of digits" --conf "$WORK/c1.json"
json c2.json '{"store_layers":[],"gid":99999999999}';                  bl 1 "out of range" --conf "$WORK/c2.json"
json c3.json '{"store_layers":{}}';                                 bl 1 "store_layers" --conf "$WORK/c3.json"
json c4.json '{"store_layers":[], "created": 5}';                   bl 1 "'created' must be a string" --conf "$WORK/c4.json"
json g1.json '{"Env":"A=1"}';                                       bl 1 "'Env' must be an array of strings" --closure "$WORK/s/closure.json" --config "$WORK/g1.json"
json g2.json '{"ExposedPorts":{"80/tcp":1}}';                       bl 1 "'ExposedPorts' values must be objects" --closure "$WORK/s/closure.json" --config "$WORK/g2.json"
# the types Docker and the OCI image spec decode the runtime config's
# fields as (case-insensitively): a wrong one makes docker load or skopeo
# refuse the whole image
json g5.json '{"ArgsEscaped":"x"}';                                 bl 1 "'ArgsEscaped' must be true or false" --closure "$WORK/s/closure.json" --config "$WORK/g5.json"
json g6.json '{"Healthcheck":{"Interval":"5s"}}';                   bl 1 "'Healthcheck': 'Interval' must be an integer" --closure "$WORK/s/closure.json" --config "$WORK/g6.json"
json g7.json '{"hostname":1}';                                      bl 1 "'hostname' must be a string" --closure "$WORK/s/closure.json" --config "$WORK/g7.json"
json g8.json '{"OnBuild":"x"}';                                     bl 1 "'OnBuild' must be an array of strings" --closure "$WORK/s/closure.json" --config "$WORK/g8.json"
json g9.json '{"Tty":1}';                                           bl 1 "'Tty' must be true or false" --closure "$WORK/s/closure.json" --config "$WORK/g9.json"
# ExposedPorts keys as podman run -P parses them (docker takes any string;
# podman refuses the container)
json g10.json '{"ExposedPorts":{"http":{}}}';                      bl 1 "'ExposedPorts' has 'http'" --closure "$WORK/s/closure.json" --config "$WORK/g10.json"
json g11.json '{"ExposedPorts":{"80/tcp":{},"70000/udp":{}}}';     bl 1 "'ExposedPorts' has '70000/udp'" --closure "$WORK/s/closure.json" --config "$WORK/g11.json"
# values runc and podman refuse when they make the container
json g12.json '{"StopSignal":"SIGFOO"}';                          bl 1 "'StopSignal' must be a signal" --closure "$WORK/s/closure.json" --config "$WORK/g12.json"
json g13.json '{"StopSignal":"65"}';                              bl 1 "'StopSignal' must be a signal" --closure "$WORK/s/closure.json" --config "$WORK/g13.json"
json g14.json '{"WorkingDir":"data"}';                            bl 1 "'WorkingDir' must be an absolute path" --closure "$WORK/s/closure.json" --config "$WORK/g14.json"
json g15.json '{"Env":["A=1","=x"]}';                             bl 1 "Env entry '=x' has no name" --closure "$WORK/s/closure.json" --config "$WORK/g15.json"
json g16.json '{"User":"-1"}';                                    bl 1 "'User' has an id out of range" --closure "$WORK/s/closure.json" --config "$WORK/g16.json"
json g17.json '{"Volumes":{"/":{}}}';                             bl 1 "'Volumes' has '/'" --closure "$WORK/s/closure.json" --config "$WORK/g17.json"
json g3.json '["Cmd"]';                                             bl 1 "must be a JSON object" --closure "$WORK/s/closure.json" --config "$WORK/g3.json"
json g4.json '{"Cmd":["a"]';                                        bl 1 "invalid JSON" --closure "$WORK/s/closure.json" --config "$WORK/g4.json"
bl 2 "--uid must be an integer" --closure "$WORK/s/closure.json" --uid 99999999999
bl 2 "--level must be an integer" --closure "$WORK/s/closure.json" --level 0
bl 2 "--threads must be an integer" --closure "$WORK/s/closure.json" --threads -3
bl 2 "gzip compression level 15 is out of range (1 to 12)" --closure "$WORK/s/closure.json" --level 15

# duplicates, cycles, '..'
json d1.json "[{\"path\":\"$SD/$H-a\",\"narSize\":1},{\"path\":\"$SD/$H-a\",\"narSize\":2}]"; bl 1 "listed twice" --closure "$WORK/d1.json"
mkdir -p "$SD/$H-a" "$SD/1$(echo $H | cut -c2-)-b"
json cy.json "[{\"path\":\"$SD/$H-a\",\"narSize\":1,\"references\":[\"$SD/1${H:1}-b\"]},{\"path\":\"$SD/1${H:1}-b\",\"narSize\":1,\"references\":[\"$SD/$H-a\"]}]"
bl 1 "reference cycle" --closure "$WORK/cy.json"
json dd.json "[{\"path\":\"$SD/../../../../etc\",\"narSize\":1}]"; bl 1 "not a store path" --closure "$WORK/dd.json"
printf '%s/../s/nix/store/%s-a\n' "$SD" "$H" > "$WORK/dd.txt";  bl 1 "not a store path" --closure "$WORK/dd.txt"

# a self reference is fine
json self.json "[{\"path\":\"$SD/$H-a\",\"narSize\":1,\"references\":[\"$SD/$H-a\"]}]"
"$STRATA" build-layered -q --store-dir "$SD" --closure "$WORK/self.json" -o "$WORK/self"
rm -rf "$WORK/self" "$SD/$H-a" "$SD/1${H:1}-b"

# symlinks out of the store and a store path that is a symlink loop: kept as
# symlinks, never followed
L="$SD/2${H:1}-loop"; ln -s "$L" "$L"
P=$(ls -d "$SD"/*-glibc-*); chmod u+w "$P"; ln -s /etc/shadow "$P/out"; ln -s ../../../../.. "$P/up"; chmod u-w "$P"
printf '%s\n%s\n' "$L" "$P" > "$WORK/links.txt"
"$STRATA" build-layered -q --store-dir "$SD" --closure "$WORK/links.txt" --compress none -o "$WORK/links"
python3 - "$WORK/links" "$L" "$P" <<'P'
import json, sys, tarfile
d, loop, p = sys.argv[1:]
b = d + "/blobs/sha256/"
m = json.load(open(b + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
members = {}
for l in m["layers"]:
    for x in tarfile.open(b + l["digest"][7:]).getmembers():
        members[x.name] = x
assert members[loop].issym() and members[loop].linkname == loop
assert members[p + "/out"].linkname == "/etc/shadow"
assert members[p + "/up"].issym()
assert not any(n.startswith("etc/") for n in members), "followed a symlink out of the store"
P
rm -rf "$WORK/links" "$L"

# outputs that are files, or lie inside the input
echo x > "$WORK/file"
expect 1 "already exists" build-layered -q --store-dir "$SD" --closure "$WORK/s/closure.json" -o "$WORK/file"
[ "$(cat "$WORK/file")" = x ] || fail "an existing file was overwritten"
chmod u+w "$P"
expect 1 "lies inside the input '$P'" build-layered -q --store-dir "$SD" --closure "$WORK/s/closure.json" -o "$P/image"
chmod u-w "$P"
[ ! -e "$P/image" ] || fail "output written inside the store"

if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
  # an unreadable directory, as an unprivileged user
  chmod 0755 "$WORK"; mkdir -m 0777 "$WORK/nobody"
  chmod 0000 "$P/lib/sub"
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$STRATA" build-layered -q --store-dir "$SD" \
    --closure "$WORK/s/closure.json" -o "$WORK/nobody/img" 2> "$WORK/err"; rc=$?
  set -e
  chmod 0555 "$P/lib/sub"
  [ "$rc" = 1 ] && grep -q "cannot open directory '$P/lib/sub': Permission denied" "$WORK/err" || fail "unreadable dir: $rc $(cat "$WORK/err")"
  [ -z "$(ls -A "$WORK/nobody")" ] || fail "unreadable dir left output"
fi

# too few file descriptors: open blobs follow the layers in flight, not the
# image's layer count; with almost none, a clear error
gen_store "$WORK/many" --paths 40
( ulimit -n 24; "$STRATA" build-layered -q --threads 2 --store-dir "$WORK/many/nix/store" \
    --closure "$WORK/many/closure.json" -o "$WORK/fd-ok" ) || fail "40 layers with 24 fds"
"$STRATA" verify -q "$WORK/fd-ok"
set +e
( ulimit -n 6; "$STRATA" build-layered -q --threads 2 --store-dir "$WORK/many/nix/store" \
    --closure "$WORK/many/closure.json" -o "$OUT" ) 2> "$WORK/err"; rc=$?
set -e
[ "$rc" != 0 ] && grep -q "Too many open files" "$WORK/err" || fail "ulimit -n 6: $rc $(cat "$WORK/err")"
[ ! -e "$OUT" ] || fail "output left with too few fds"
no_leftovers "$WORK"

# signals at several points: while scanning references (text form, before
# any output exists), while compressing (the temporary layout exists), while
# writing the tarball (the temporary tar exists)
mkdir "$WORK/big"
gen_store "$WORK/big" --paths 3 --file-kb 8
for p in "$WORK"/big/nix/store/*; do chmod u+w "$p/lib"; head -c 100000000 /dev/urandom > "$p/lib/big"; done
python3 - "$WORK/scan/nix/store/${H}-many" <<'P'
import os, sys
d = sys.argv[1]
for i in range(60):
    os.makedirs("%s/d%02d" % (d, i))
    for k in range(500):
        with open("%s/d%02d/f%03d" % (d, i, k), "w") as f:
            f.write("x" * 300)
P
echo "$WORK/scan/nix/store/${H}-many" > "$WORK/scan/paths.txt"
interrupt() { # SIG PHASE-GLOB ARGS...: start, wait for the phase's trace, signal
  local sig=$1 glob=$2; shift 2
  "$STRATA" "$@" -o "$OUT" 2> "$WORK/err" &
  local pid=$!
  if [ "$glob" = none ]; then
    sleep 0.1
  else
    for _ in $(seq 1 2000); do compgen -G "$WORK/$glob" > /dev/null && break; sleep 0.005; done
  fi
  kill -s "$sig" "$pid" || fail "SIG$sig: the build ended before the phase was reached ($*)"
  set +e; wait "$pid"; local rc=$?; set -e
  local want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$rc" = "$want" ] || fail "SIG$sig during $*: exit $rc ($(cat "$WORK/err"))"
  grep -q "interrupted" "$WORK/err" || fail "SIG$sig: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "SIG$sig left output"
  no_leftovers "$WORK"
}
interrupt INT none build-layered -q --store-dir "$WORK/scan/nix/store" --closure "$WORK/scan/paths.txt"
interrupt TERM '.out.strata-tmp-??????' build-layered -q --store-dir "$WORK/big/nix/store" \
  --closure "$WORK/big/closure.json" --level 12
interrupt INT '.out.strata-tmp-file-*' build-layered -q --store-dir "$WORK/big/nix/store" \
  --closure "$WORK/big/closure.json" --compress none --format tarball
echo ok
