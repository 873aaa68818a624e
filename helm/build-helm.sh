#!/usr/bin/env bash
# Build the pinned Helm CLIs from Go modules (no binary downloads) and link them into the project's bin dir:
#   $CACHE/build/helm-<version>/helm   (one folder per version, kept across runs)
#   $CACHE/bin/helm  -> Helm 3          $CACHE/bin/helm4 -> Helm 4
# A version that is already built is skipped. Usage: helm/build-helm.sh [--force] [v3] [v4]  (default: both;
# the runbook needs only Helm 3, the chart tests both).
set -euo pipefail

HELM3_VERSION="${HELM3_VERSION:-v3.22.0}"
HELM4_VERSION="${HELM4_VERSION:-v4.3.1}"
CACHE="${TODO_RUNBOOK_CACHE:-$HOME/.cache/todo-runbook}"
FORCE=0
MAJORS=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    v3|v4) MAJORS+=("$arg") ;;
    *) echo "build-helm: unknown argument '$arg' (usage: build-helm.sh [--force] [v3] [v4])" >&2; exit 2 ;;
  esac
done
[ "${#MAJORS[@]}" -gt 0 ] || MAJORS=(v3 v4)

log() { echo "build-helm: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    [ -x "$candidate/go" ] && PATH="$candidate:$PATH" && break
  done
fi
if ! command -v go >/dev/null 2>&1; then
  log "Go is not installed: install Go 1.26+ (https://go.dev/doc/install) and run this script again"
  exit 2
fi

# The wrapper module stands alone, whatever go.work the caller's environment names.
export GOWORK=off
mkdir -p "$CACHE/bin" "$CACHE/build"
# One build at a time: the runbook, the Makefile and test sessions may call this script concurrently.
exec 9>"$CACHE/build/.build-helm.lock"
if ! flock -n 9; then
  log "another build-helm.sh is running; waiting for it"
  flock 9
fi

# build_helm MAJOR VERSION LINK_NAME
build_helm() {
  local major="$1" version="$2" link_name="$3"
  local module="helm.sh/helm/${major}"
  local out_dir="$CACHE/build/helm-${version}"
  local binary="$out_dir/helm"
  mkdir -p "$out_dir"

  local reported=""
  [ -x "$binary" ] && reported="$("$binary" version --short 2>/dev/null || true)"
  if [ "$FORCE" = 0 ] && [[ "$reported" == "${version}"* ]]; then
    log "helm ${version}: already built at $binary"
  else
    # A throwaway wrapper module: the build uses exactly the dependency versions that Helm's go.mod pins.
    log "helm ${version}: resolving ${module}@${version} from the Go module proxy"
    (
      work="$(mktemp -d "${TMPDIR:-/tmp}/build-helm-${version}.XXXXXX")"
      trap 'rm -rf "$work"' EXIT
      cd "$work"
      go mod init todo-runbook/build-helm >/dev/null 2>&1
      go get "${module}/cmd/helm@${version}" >/dev/null
      ldflags="-w -s -X ${module}/internal/version.version=${version} -X ${module}/internal/version.metadata="
      ldflags="$ldflags -X ${module}/internal/version.gitTreeState=clean"
      if [ "$major" = v3 ]; then
        # Helm 3 takes its default Kubernetes version (helm template, lint) from ldflags, like its own Makefile does.
        # client-go v0.N.x belongs to Kubernetes 1.N.
        client_go="$(go list -m -f '{{.Version}}' k8s.io/client-go)"
        k8s_major=1
        k8s_minor="$(echo "$client_go" | cut -d. -f2)"
        ldflags="$ldflags -X ${module}/pkg/lint/rules.k8sVersionMajor=${k8s_major}"
        ldflags="$ldflags -X ${module}/pkg/lint/rules.k8sVersionMinor=${k8s_minor}"
        ldflags="$ldflags -X ${module}/pkg/chartutil.k8sVersionMajor=${k8s_major}"
        ldflags="$ldflags -X ${module}/pkg/chartutil.k8sVersionMinor=${k8s_minor}"
      fi
      log "helm ${version}: compiling ${module}/cmd/helm (a few minutes on a cold Go build cache)"
      CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false -ldflags "$ldflags" -o "$binary.tmp" "${module}/cmd/helm"
      mv "$binary.tmp" "$binary"
    )
    log "helm ${version}: built $binary"
  fi
  # Relative, so the cache folder can move as a whole.
  ln -sfn "../build/helm-${version}/helm" "$CACHE/bin/$link_name"
  log "helm ${version}: $CACHE/bin/$link_name -> $binary ($("$CACHE/bin/$link_name" version --short))"
}

for major in "${MAJORS[@]}"; do
  case "$major" in
    v3) build_helm v3 "$HELM3_VERSION" helm ;;
    v4) build_helm v4 "$HELM4_VERSION" helm4 ;;
  esac
done
