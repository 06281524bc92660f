# Sourced by the push tests after lib.sh: Debian's docker-registry on free
# loopback ports, stopped by PID when the test ends, and the checks every
# push test shares. The test's own HOME: no auth file of the machine's is read.
for t in docker-registry skopeo htpasswd openssl; do command -v "$t" > /dev/null || fail "$t is not installed (scripts/setup)"; done
export HOME="$WORK/home"; mkdir -p "$HOME"
unset REGISTRY_AUTH_FILE DOCKER_CONFIG XDG_RUNTIME_DIR XDG_CONFIG_HOME STRATA_REGISTRY_CREDS
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; cleanup_work' EXIT
# registry NAME PORT [YAML]: starts a registry (its pid in $reg) with YAML
# lines added to its configuration (an "http:" line replaces the default
# address); "https" in $REG_SCHEME when YAML sets tls.
registry() {
  mkdir -p "$WORK/$1"
  { echo "version: 0.1"; echo "log: {level: info}"
    echo "storage: {filesystem: {rootdirectory: $WORK/$1}, delete: {enabled: true}}"
    [ -n "${3:-}" ] && printf '%s\n' "$3"
    printf '%s\n' "${3:-}" | grep -q '^http:' || echo "http: {addr: 127.0.0.1:$2}"; } > "$WORK/$1.yml"
  docker-registry serve "$WORK/$1.yml" >> "$WORK/$1.log" 2>&1 &
  reg=$!; pids+=("$reg")
  for _ in $(seq 1 100); do curl -sk -o /dev/null "${REG_SCHEME:-http}://127.0.0.1:$2/v2/" && return 0; sleep 0.1; done
  fail "registry $1 did not start: $(tail -3 "$WORK/$1.log")"
}
summary() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s[sys.argv[2]])' "$@"; }
manifest_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$1"; }
# expect_push_fail PATTERN ARGS...: exit 1, one line holding PATTERN, no password.
expect_push_fail() {
  local pat=$1 rc=0; shift
  "$STRATA" push -q "$@" 2> "$WORK/err" || rc=$?
  [ $rc = 1 ] || fail "push $* exited $rc: $(cat "$WORK/err")"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "push $*: not one line: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "push $*: '$pat' not in: $(cat "$WORK/err")"
  grep -q s3cret "$WORK/err" && fail "a password in an error"
  return 0
}
