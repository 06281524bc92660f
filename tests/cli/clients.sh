# The clients people load, build on and run images with (issue 18), each on
# strata's outputs: podman (load oci-archive and dir, pull oci:, inspect,
# run, save -m then convert), buildah (from oci:, copy, commit to oci:,
# verify), dockerd (load a docker-archive, also piped from -o -, run, save
# then convert: same diff_ids), containerd (ctr import gzip and zstd
# oci-archives, ctr run). Every daemon and store lives in $WORK, on a unix
# socket, stopped by PID. The sandbox's own limits are worked around with
# flags, not with changes to the images: podman runs with runc and low
# ulimits (no CAP_SYS_RESOURCE here); dockerd without bridge or iptables on
# vfs; containerd without CRI on the native snapshotter.
. "$STRATA_TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "the daemons need root"
for t in podman buildah dockerd docker containerd ctr runc busybox; do
  command -v "$t" > /dev/null || fail "$t is not installed (scripts/setup)"
done
export HOME="$WORK/home"; mkdir -p "$HOME"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done; done
  # What the daemons mounted under $WORK, innermost first.
  { findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | while read -r m; do umount -l "$m"; done; } 2> /dev/null || true
}
trap 'stop_all; cleanup_work' EXIT

# An image whose entrypoint prints a line: a static busybox and a script.
SD="$WORK/nix/store"
BB="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-busybox"; PROG="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-hello"
mkdir -p "$BB/bin" "$PROG/bin"; cp "$(command -v busybox)" "$BB/bin/busybox"; ln -s busybox "$BB/bin/sh"
printf '#!%s/bin/sh\necho "hello from strata"\n' "$BB" > "$PROG/bin/hello"; chmod 0555 "$PROG/bin/hello"
printf '[{"path":"%s","references":["%s"]},{"path":"%s","references":[]}]' "$PROG" "$BB" "$BB" > "$WORK/closure.json"
printf '{"Entrypoint":["%s/bin/hello"]}' "$PROG" > "$WORK/config.json"
printf '{"Entrypoint":["%s/bin/hello"],"Env":["OTHER=1"]}' "$PROG" > "$WORK/config2.json"
mk() { "$STRATA" build-layered -q --closure "$WORK/closure.json" --store-dir "$SD" "$@"; }
mk --config "$WORK/config.json" --name strata/hello --tag v1 -o "$WORK/img"
mk --config "$WORK/config.json" --name strata/hello --tag v1 --format tarball -o "$WORK/img.tar"
mk --config "$WORK/config.json" --name strata/hello --tag zst --compress zstd --format tarball -o "$WORK/zst.tar"
mk --config "$WORK/config2.json" --name strata/other --tag v2 --format tarball -o "$WORK/other.tar"
mk --config "$WORK/config.json" --name strata/hello --tag v1 --format docker-archive -o "$WORK/da.tar"
want="hello from strata"
diff_ids() { python3 -c 'import json,sys
d=sys.argv[1]; b=d+"/blobs/sha256/"; i=json.load(open(d+"/index.json"))["manifests"]
m=[x for x in i if x["annotations"]["org.opencontainers.image.ref.name"]==sys.argv[2]][0]
m=json.load(open(b+m["digest"][7:])); print(" ".join(json.load(open(b+m["config"]["digest"][7:]))["rootfs"]["diff_ids"]))' "$1" "$2"; }
orig_ids=$(diff_ids "$WORK/img" v1)

# --- podman ---------------------------------------------------------------
P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
   --cgroup-manager cgroupfs --events-backend file)
RUN=(--rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
out=$("${P[@]}" load -i "$WORK/img.tar" 2> "$WORK/podman.err") || fail "podman load oci-archive: $(cat "$WORK/podman.err")"
assert_eq "$(echo "$out" | tail -1)" "Loaded image: docker.io/strata/hello:v1" "podman's name for the oci-archive"
"${P[@]}" image inspect docker.io/strata/hello:v1 > "$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$orig_ids" "$PROG/bin/hello" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))[0]
assert i["RootFS"]["Layers"] == sys.argv[2].split(), (i["RootFS"]["Layers"], sys.argv[2])
assert i["Config"]["Entrypoint"] == [sys.argv[3]], i["Config"]
assert "docker.io/strata/hello:v1" in i["RepoTags"], i["RepoTags"]
PY
assert_eq "$("${P[@]}" run "${RUN[@]}" docker.io/strata/hello:v1 2> "$WORK/podman.err")" "$want" "podman run"
# A layout directory: podman names it after the path it is given (its
# rule; a path with capitals, like $WORK's, is not a valid name, so a
# relative one), the layers are the same.
(cd "$WORK" && "${P[@]}" load -q -i img > /dev/null 2> "$WORK/podman.err") || fail "podman load dir: $(cat "$WORK/podman.err")"
(cd "$WORK" && "${P[@]}" pull -q "oci:img:v1" > "$WORK/pulled" 2> "$WORK/podman.err") || fail "podman pull oci: $(cat "$WORK/podman.err")"
layers_of() { python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)[0]["RootFS"]["Layers"]))'; }
assert_eq "$("${P[@]}" image inspect "$(cat "$WORK/pulled")" | layers_of)" "$orig_ids" "layers podman pulled from oci:"
# save -m: a docker-archive of two images, converted back by strata.
"${P[@]}" load -q -i "$WORK/other.tar" > /dev/null
"${P[@]}" save -q -m --format docker-archive -o "$WORK/psave.tar" docker.io/strata/hello:v1 docker.io/strata/other:v2
"$STRATA" convert -q "$WORK/psave.tar" -o "$WORK/pconv"
"$STRATA" verify -q "$WORK/pconv"
assert_eq "$(diff_ids "$WORK/pconv" v1)" "$orig_ids" "diff_ids through podman save and strata convert"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"]
assert sorted(x["annotations"]["io.containerd.image.name"] for x in m) == ["docker.io/strata/hello:v1", "docker.io/strata/other:v2"], m' "$WORK/pconv"
# podman's oci-archive is read by strata convert too.
"${P[@]}" save -q --format oci-archive -o "$WORK/poci.tar" docker.io/strata/hello:v1
"$STRATA" convert -q "$WORK/poci.tar" --compress zstd -o "$WORK/pociconv"
"$STRATA" verify -q "$WORK/pociconv"
assert_eq "$(diff_ids "$WORK/pociconv" v1)" "$orig_ids" "diff_ids through podman's oci-archive and strata convert"
echo "podman $(podman --version | cut -d' ' -f3): ok"

# --- buildah --------------------------------------------------------------
BU=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver vfs)
ctr=$(cd "$WORK" && "${BU[@]}" from -q "oci:img:v1" 2> "$WORK/buildah.err") || fail "buildah from: $(cat "$WORK/buildah.err")"
echo added > "$WORK/added.txt"
"${BU[@]}" copy "$ctr" "$WORK/added.txt" /added.txt > /dev/null
"${BU[@]}" commit -q "$ctr" "oci:$WORK/built:v2" > /dev/null 2> "$WORK/buildah.err" || fail "buildah commit: $(cat "$WORK/buildah.err")"
"$STRATA" verify -q "$WORK/built"
built_ids=$(diff_ids "$WORK/built" v2)
assert_eq "${built_ids% *}" "$orig_ids" "buildah kept strata's layers under its own"
assert_eq "$(echo "$built_ids" | wc -w)" 3 "layers after buildah's commit"
"${BU[@]}" rm "$ctr" > /dev/null
echo "buildah $(buildah --version | cut -d' ' -f3): ok"

# --- dockerd --------------------------------------------------------------
D=(docker -H "unix://$WORK/docker.sock")
dockerd --data-root "$WORK/docker/root" --exec-root "$WORK/docker/exec" --pidfile "$WORK/docker/pid" \
  --host "unix://$WORK/docker.sock" --bridge none --iptables=false --ip6tables=false --storage-driver vfs \
  > "$WORK/dockerd.log" 2>&1 & pids+=($!)
for _ in $(seq 1 150); do "${D[@]}" version > /dev/null 2>&1 && break; sleep 0.2; done
"${D[@]}" version > /dev/null 2>&1 || fail "dockerd did not start: $(tail -3 "$WORK/dockerd.log")"
"${D[@]}" load -q -i "$WORK/da.tar" > /dev/null
assert_eq "$("${D[@]}" run --rm --network none strata/hello:v1)" "$want" "docker run of strata's docker-archive"
mk --config "$WORK/config.json" --name strata/piped --tag v1 --format docker-archive -o - | "${D[@]}" load -q > /dev/null
assert_eq "$("${D[@]}" run --rm --network none strata/piped:v1)" "$want" "docker run of a docker-archive piped from -o -"
"${D[@]}" save -o "$WORK/dsave.tar" strata/hello:v1
"$STRATA" convert -q "$WORK/dsave.tar" -o "$WORK/dconv"
"$STRATA" verify -q "$WORK/dconv"
assert_eq "$(diff_ids "$WORK/dconv" v1)" "$orig_ids" "diff_ids through docker save and strata convert"
# Every runtime config field strata type-checks, of the types docker
# decodes: loaded, and kept.
printf '{"Entrypoint":["%s/bin/hello"],"Healthcheck":{"Test":["CMD","/bin/true"],"Interval":30000000000,"Retries":3},%s}' \
  "$PROG" '"OnBuild":["RUN x"],"Shell":["/bin/sh","-c"],"StopTimeout":5,"Hostname":"h","ArgsEscaped":false,"Tty":false,
  "ExposedPorts":{"8080/tcp":{},"53/udp":{},"9/sctp":{},"9000":{}},"StopSignal":"SIGRTMIN+3","WorkingDir":"/",
  "Env":["A=","B==x"],"User":"0:0","Volumes":{"/data":{}}' > "$WORK/full-config.json"
mk --config "$WORK/full-config.json" --name strata/full --tag v1 --format docker-archive -o - | "${D[@]}" load -q > /dev/null
assert_eq "$("${D[@]}" inspect --format '{{json .Config.Healthcheck}} {{.Config.StopTimeout}} {{json .Config.OnBuild}}' strata/full:v1)" \
  '{"Interval":30000000000,"Retries":3,"Test":["CMD","/bin/true"]} 5 ["RUN x"]' "docker inspect of the runtime config"
# the forms of port keys strata takes, kept as they are
assert_eq "$("${D[@]}" inspect --format '{{json .Config.ExposedPorts}}' strata/full:v1)" \
  '{"53/udp":{},"8080/tcp":{},"9/sctp":{},"9000":{}}' "docker inspect of the exposed ports"
assert_eq "$("${D[@]}" run --rm --network none strata/full:v1)" "$want" "docker run of an image exposing ports"
assert_eq "$("${D[@]}" inspect --format '{{.Config.StopSignal}} {{.Config.WorkingDir}} {{json .Config.Env}} {{.Config.User}} {{json .Config.Volumes}}' strata/full:v1)" \
  'SIGRTMIN+3 / ["A=","B==x"] 0:0 {"/data":{}}' "docker inspect of StopSignal, WorkingDir, Env, User, Volumes"
echo "docker $("${D[@]}" version --format '{{.Server.Version}}'): ok"

# --- containerd -----------------------------------------------------------
cat > "$WORK/containerd.toml" <<T
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd.sock"
T
containerd --config "$WORK/containerd.toml" > "$WORK/containerd.log" 2>&1 & pids+=($!)
C=(ctr -a "$WORK/containerd.sock")
for _ in $(seq 1 100); do "${C[@]}" version > /dev/null 2>&1 && break; sleep 0.2; done
for f in img zst; do
  "${C[@]}" images import --snapshotter native "$WORK/$f.tar" > "$WORK/ctr.out" 2>&1 || fail "ctr import $f: $(cat "$WORK/ctr.out")"
done
assert_eq "$("${C[@]}" images ls -q | sort | tr '\n' ' ')" "docker.io/strata/hello:v1 docker.io/strata/hello:zst " "containerd's names"
for t in v1 zst; do
  assert_eq "$("${C[@]}" run --rm --snapshotter native "docker.io/strata/hello:$t" "strata-$t-$$")" "$want" "ctr run ($t)"
done
echo "containerd $(containerd --version | cut -d' ' -f3): ok"
echo "clients: ok"
