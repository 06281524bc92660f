# Real clients, real Nix (issue 5): images from real Nix store paths with
# real references, run by runc, pushed through a loopback registry, exported
# as docker-archive and read back as oci-archive, schema-validated.
. "$STRATA_TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (nix single-user store in /nix, runc, mount namespaces)"
for t in nix-build nix-store nix runc docker-registry skopeo umoci busybox; do
  command -v "$t" > /dev/null || fail "$t is not installed (scripts/setup installs it)"
done
export NIX_CONFIG=$'sandbox = false\nbuild-users-group =\nexperimental-features = nix-command\nsubstituters =\nfallback = true'
export NIX_REMOTE=local

# --- 1. real derivations with references (builder /bin/sh, no nixpkgs) ---
cat > "$WORK/hello.nix" <<'NIX'
let
  system = builtins.currentSystem;
  PATH = "/usr/bin:/bin";
  # A static shell inside the store, so the image can run a script.
  shell = derivation { name = "strata-test-busybox"; inherit system PATH; builder = "/bin/sh";
    args = [ "-c" "mkdir -p $out/bin && cp /bin/busybox $out/bin/busybox && ln -s busybox $out/bin/sh" ]; };
  data = derivation { name = "strata-test-data"; inherit system PATH; builder = "/bin/sh";
    args = [ "-c" "mkdir -p $out/share && echo 'hello from a dependency' > $out/share/greeting" ]; };
  prog = derivation { name = "strata-test-hello"; inherit system PATH; builder = "/bin/sh";
    args = [ "-c" ''
      mkdir -p $out/bin
      printf '#!${shell}/bin/sh\nread line < ${data}/share/greeting\necho "strata says: $line"\n' > $out/bin/hello
      chmod 0555 $out/bin/hello
    '' ]; };
  # With structured attrs nothing is exported: outputs come from .attrs.sh (bash).
  graph = derivation { name = "strata-test-graph"; inherit system; builder = "/bin/bash";
    __structuredAttrs = true; exportReferencesGraph.closure = [ prog ];
    args = [ "-c" "source .attrs.sh; /bin/cp .attrs.json \${outputs[out]}" ]; };
in { inherit prog graph; }
NIX
prog=$(nix-build --no-out-link "$WORK/hello.nix" -A prog 2> "$WORK/nix.log") || { cat "$WORK/nix.log"; fail "nix-build prog"; }
graph=$(nix-build --no-out-link "$WORK/hello.nix" -A graph 2>> "$WORK/nix.log") || { cat "$WORK/nix.log"; fail "nix-build graph"; }
nix path-info --json --recursive "$prog" > "$WORK/path-info.json"
# Nix found the references itself: prog -> busybox, data.
python3 - "$WORK/path-info.json" "$prog" <<'P'
import json, sys
info = json.load(open(sys.argv[1]))
info = info if isinstance(info, list) else [dict(v, path=k) for k, v in info.items()]
prog = [e for e in info if e["path"] == sys.argv[2]][0]
names = sorted(r.split("-", 1)[1] for r in prog["references"])
assert names == ["strata-test-busybox", "strata-test-data"], names
P
printf '{"Entrypoint": ["%s/bin/hello"]}' "$prog" > "$WORK/config.json"
common=(--config "$WORK/config.json" --tag hello --name strata-test -q)
"$STRATA" build-layered --closure "$graph" "${common[@]}" -o "$WORK/from-graph"
"$STRATA" build-layered --closure "$WORK/path-info.json" "${common[@]}" -o "$WORK/from-path-info"
diff -r "$WORK/from-graph" "$WORK/from-path-info" > /dev/null || fail "exportReferencesGraph and path-info images differ"
IMG="$WORK/from-graph"
"$STRATA" verify -q "$IMG"
echo "nix: $(nix --version)"

# --- 2. run it: umoci unpack + runc run ---
umoci unpack --image "$IMG":hello "$WORK/bundle" > /dev/null
python3 - "$WORK/bundle/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
P
id="strata-test-$$"
out=$(runc run --bundle "$WORK/bundle" "$id" < /dev/null 2> "$WORK/runc.err") || { runc delete -f "$id" 2>/dev/null || true; fail "runc run: $(cat "$WORK/runc.err")"; }
assert_eq "$out" "strata says: hello from a dependency" "container output"
echo "runc: $(runc --version | head -1)"

# --- 3. a real registry on loopback ---
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir "$WORK/registry"
cat > "$WORK/registry.yml" <<Y
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
Y
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
reg=$!
trap 'kill $reg 2>/dev/null || true; cleanup_work' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v2/" > /dev/null 2>&1 && break; sleep 0.1; done
skopeo --insecure-policy copy -q --dest-tls-verify=false oci:"$IMG":hello docker://127.0.0.1:$port/strata/hello:v1
skopeo --insecure-policy copy -q --src-tls-verify=false docker://127.0.0.1:$port/strata/hello:v1 oci:"$WORK/pulled":v1
skopeo --insecure-policy inspect --tls-verify=false --config docker://127.0.0.1:$port/strata/hello:v1 > "$WORK/rcfg.json"
grep -q "$prog/bin/hello" "$WORK/rcfg.json" || fail "registry config lacks the entrypoint"
python3 - "$IMG" "$WORK/pulled" <<'P'
import json, sys
def digests(d):
    b = d + "/blobs/sha256/"
    m = json.load(open(d + "/index.json"))["manifests"][0]["digest"]
    man = json.load(open(b + m.split(":")[1]))
    return m, man["config"]["digest"], [l["digest"] for l in man["layers"]]
a, b = digests(sys.argv[1]), digests(sys.argv[2])
assert a == b, (a, b)
P
kill $reg; wait $reg 2>/dev/null || true
echo "registry: $(docker-registry --version 2>&1 | head -1)"

# --- 4. docker-archive (what docker load takes) and oci-archive ---
skopeo --insecure-policy copy -q oci:"$IMG":hello docker-archive:"$WORK/docker.tar":strata/hello:v1
tar -tf "$WORK/docker.tar" > "$WORK/docker.list"
grep -qx manifest.json "$WORK/docker.list" || fail "docker-archive has no manifest.json"
"$STRATA" build-layered --closure "$graph" "${common[@]}" --format tarball -o "$WORK/img.tar"
skopeo --insecure-policy copy -q oci-archive:"$WORK/img.tar":hello oci:"$WORK/from-archive":hello
python3 -c 'import json,sys;a,b=[json.load(open(d+"/index.json"))["manifests"][0]["digest"] for d in sys.argv[1:]];assert a==b,(a,b)' \
  "$IMG" "$WORK/from-archive"

# --- 5. oci-image-tool and the image-spec JSON schemas ---
oci-image-tool validate --type image "$IMG" > "$WORK/oit.log" 2>&1 || fail "oci-image-tool: $(cat "$WORK/oit.log")"
grep -q "Validation succeeded" "$WORK/oit.log" || fail "oci-image-tool did not succeed"
/usr/bin/python3 "$TOP/tests/validate_oci_schema.py" "$IMG"
echo ok
