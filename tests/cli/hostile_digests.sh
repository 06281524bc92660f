# Digests from input name files: a digest that is not "sha256:" and 64 hex
# digits ("sha256:../../secret") must be refused wherever strata turns one
# into a path (push's layout, a base layout, a layer descriptor), never
# opened. Found when the check's result was read with the wrong sense.
. "$STRATA_TOP/tests/lib.sh"
. "$STRATA_TOP/tests/registry_lib.sh"

gen_store "$WORK/s" --paths 2
SD="$WORK/s/nix/store"
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 -o "$WORK/img"
echo '{"schemaVersion": 2, "config": {}, "layers": []}' > "$WORK/secret"
# forge FILE JSONPATH VALUE: set one field of a JSON file (VALUE as JSON
# when it is a number, else as a string).
forge() { python3 - "$@" <<'P'
import json, sys
f, path, value = sys.argv[1], sys.argv[2].split("."), sys.argv[3]
value = int(value) if value.isdigit() else value
d = json.load(open(f)); o = d
for k in path[:-1]:
    o = o[int(k)] if k.isdigit() else o[k]
o[path[-1]] = value
json.dump(d, open(f, "w"))
P
}
evil="sha256:../../../secret"
refused() { # PATTERN CMD...: exit 1 with PATTERN, the secret never read
  local pat=$1 rc=0; shift
  # LeakSanitizer cannot run under ptrace: off for the traced run (ASan stays).
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -e trace=openat -o "$WORK/trace" "$@" 2> "$WORK/err" || rc=$?
  [ $rc = 1 ] || fail "$* exited $rc: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "$*: '$pat' not in: $(cat "$WORK/err")"
  ! grep -q 'secret"' "$WORK/trace" || fail "$*: opened the file a digest named: $(grep secret "$WORK/trace" | head -2)"
}

# 1. push: the index's manifest digest, and a layer digest in the manifest.
port=$(free_port); registry r "$port"
cp -r "$WORK/img" "$WORK/p1"; forge "$WORK/p1/index.json" manifests.0.digest "$evil"
refused "invalid manifest descriptor" "$STRATA" push -q "$WORK/p1" "docker://127.0.0.1:$port/x/y:v1"
cp -r "$WORK/img" "$WORK/p2"
m=$(manifest_of "$WORK/p2" | cut -d: -f2)
cp "$WORK/p2/blobs/sha256/$m" "$WORK/man"; forge "$WORK/man" layers.0.digest "$evil"
n=$(sha256sum < "$WORK/man" | cut -d' ' -f1); cp "$WORK/man" "$WORK/p2/blobs/sha256/$n"
forge "$WORK/p2/index.json" manifests.0.digest "sha256:$n"
forge "$WORK/p2/index.json" manifests.0.size "$(stat -c %s "$WORK/man")"
refused "invalid descriptor in the manifest" "$STRATA" push -q "$WORK/p2" "docker://127.0.0.1:$port/x/y:v1"

# 2. a base image (--from-image) whose index names a manifest by such a digest.
cp -r "$WORK/img" "$WORK/base"; forge "$WORK/base/index.json" manifests.0.digest "$evil"
mkdir -p "$WORK/root"; echo x > "$WORK/root/x"
refused "descriptor is invalid" "$STRATA" build -q --copy-to-root "$WORK/root" --from-image "$WORK/base" -o "$WORK/out"
[ ! -e "$WORK/out" ] || fail "an output was left"

# 3. a layer made by strata layer whose layer.json names its blob so.
"$STRATA" layer -q --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$WORK/l"
forge "$WORK/l/layer.json" digest "$evil"
refused "layer" "$STRATA" assemble -q --layer "$WORK/l" -o "$WORK/out2"
[ ! -e "$WORK/out2" ] || fail "an output was left"
echo "hostile_digests: ok"
