# Sourced by tests/cli/*.sh. Provides a private work dir, a generated store
# and assertions. A test exits 0 (pass), 77 (skip, with a "SKIP reason" line)
# or anything else (fail, with a "FAIL ..." line saying what).
set -euo pipefail
: "${STRATA:?run through tests/run}"
TOP=${STRATA_TOP:?}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-test.XXXXXX")
cleanup_work() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup_work EXIT

fail() { echo "FAIL $*" >&2; exit 1; }
skip() { echo "SKIP $*"; exit 77; }
assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

# gen_store DIR [args]: a generated store under DIR (see scripts/gen-store).
gen_store() { "$TOP/scripts/gen-store" "$@" >/dev/null; }

# ref_of LAYOUT: the ref.name of the single manifest in index.json
ref_of() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$1"; }

# cname_of LAYOUT: the io.containerd.image.name of the single manifest (or "none")
cname_of() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0].get("annotations",{}).get("io.containerd.image.name","none"))' "$1"; }

# manifest_json LAYOUT: the manifest bytes
manifest_json() { python3 -c '
import json,sys
d=sys.argv[1]; m=json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]
print(open(d+"/blobs/sha256/"+m).read())' "$1"; }

# layer_blobs LAYOUT: "digest diff_id mediaType" per layer
layer_blobs() { python3 -c '
import json,sys
d=sys.argv[1]; b=d+"/blobs/sha256/"
m=json.load(open(b+json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]))
c=json.load(open(b+m["config"]["digest"].split(":")[1]))
out="".join("%s %s %s\n" % (l["digest"].split(":")[1], di.split(":")[1], l["mediaType"]) for l,di in zip(m["layers"],c["rootfs"]["diff_ids"]))
try: sys.stdout.write(out); sys.stdout.flush()
except BrokenPipeError: import os; os._exit(0)  # a reader that wanted the first lines only' "$1"; }

# no_leftovers DIR: nothing strata-temporary left in DIR
no_leftovers() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.*strata-tmp*' -o -maxdepth 1 -name '*.strata-old-*' | head -3)
  [ -z "$left" ] || fail "temporary files left behind: $left"
}
