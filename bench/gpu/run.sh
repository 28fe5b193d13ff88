#!/usr/bin/env bash
# tabswarm: WebGPU (Dawn for Node) on a real GPU, offline and self-contained.
# Usage (repo root on the GPU machine):  bash .gpu/run.sh      → prints a table, writes $OUT/gpu.json
# Needs only bash, tar, coreutils and (xz or python3). Touches nothing outside $GPU_WORK and $OUT.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/tabswarm-gpu-out}
W=${GPU_WORK:-/tmp/tabswarm-gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
TEE_PID=$!
T0=$(date +%s)
say() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

unxz_to() { # unxz_to FILE.xz  → stdout
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

say "unpacking into $W"
rm -rf "$W" && mkdir -p "$W/webgpu/dist/linux-x64" "$W/vk" "$W/cxx" || exit 1
unxz_to "$HERE/node.xz" > "$W/node" && chmod +x "$W/node" || { echo "cannot unpack node"; exit 1; }
unxz_to "$HERE/dawn.node.xz" > "$W/webgpu/dist/linux-x64/dawn.node" || { echo "cannot unpack dawn.node"; exit 1; }
cp "$HERE/webgpu/index.js" "$HERE/webgpu/package.json" "$W/webgpu/"
unxz_to "$HERE/vklibs.tar.xz" | tar -x -C "$W/vk" 2>/dev/null || for d in "$HERE"/*.deb; do dpkg -x "$d" "$W/vkdeb"; done
[ -e "$W/vk/libvulkan.so.1" ] || cp -a "$W"/vkdeb/usr/lib/x86_64-linux-gnu/lib{vulkan,GLdispatch}.so* "$W/vk/" 2>/dev/null
unxz_to "$HERE/cxxlibs.tar.xz" | tar -x -C "$W/cxx"
cp "$HERE/bench.cjs" "$W/"
( cd "$W" && cp webgpu/dist/linux-x64/dawn.node dawn.node && sha256sum -c --quiet "$HERE/SHA256SUMS" && rm -f dawn.node ) && echo "checksums ok" || echo "WARNING: checksum mismatch"

say "host"
uname -srm; grep PRETTY_NAME /etc/os-release 2>/dev/null; ldd --version 2>&1 | head -1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$W/node" --version || { echo "node does not start here:"; ldd "$W/node"; exit 1; }

# ---- library path: NVIDIA driver dirs, then our loader / glvnd where the system lacks them
LDP=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia; do [ -d "$d" ] && LDP="$LDP:$d"; done
SYS_VK=$(ldconfig -p 2>/dev/null | grep -c 'libvulkan.so.1 ' || true)
SYS_GLD=$(ldconfig -p 2>/dev/null | grep -c 'libGLdispatch.so.0 ' || true)
[ -e /usr/local/nvidia/lib64/libGLdispatch.so.0 ] && SYS_GLD=1
echo "system libvulkan.so.1: $SYS_VK   libGLdispatch.so.0: $SYS_GLD   (0 = bring ours)"
OURS="$W/vk"
BASE_LDP="${LD_LIBRARY_PATH:-}"
# does dawn.node load with the host libstdc++? else use the carried one (GCC 12)
if LD_LIBRARY_PATH="$BASE_LDP$LDP" "$W/node" -e "require('$W/webgpu/dist/linux-x64/dawn.node')" 2>"$W/dawnload.err"; then echo "dawn.node loads with host libstdc++"
else echo "dawn.node did not load: $(head -c 300 "$W/dawnload.err")"; echo "-> using carried libstdc++"; BASE_LDP="$W/cxx${BASE_LDP:+:$BASE_LDP}"; fi

# ---- Vulkan ICD candidates
ICDS=$(ls /usr/local/nvidia/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*nvidia*.json /usr/share/vulkan/icd.d/*nvidia*.json 2>/dev/null | head -3)
echo "ICD files: ${ICDS:-none}"; for f in $ICDS; do echo "  $f: $(tr -d '\n ' < "$f" | head -c 200)"; done
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' '; echo
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$NV_ICD" ] || NV_ICD=$(echo "$ICDS" | head -1)
NV_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$NV_EGL" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-$NV_EGL}

export WEBGPU_INDEX="$W/webgpu/index.js" OUT
variant() { # variant NAME → exports env for that variant
  unset VK_DRIVER_FILES VK_ICD_FILENAMES
  local ldp="$LDP"
  case "$1" in
    auto)   { [ "$SYS_VK" = 0 ] || [ "$SYS_GLD" = 0 ]; } && ldp="$ldp:$OURS"; [ -n "$NV_ICD" ] && export VK_DRIVER_FILES="$NV_ICD" VK_ICD_FILENAMES="$NV_ICD" ;;
    noicd)  { [ "$SYS_VK" = 0 ] || [ "$SYS_GLD" = 0 ]; } && ldp="$ldp:$OURS" ;;
    ours)   ldp="$OURS$ldp"; [ -n "$NV_ICD" ] && export VK_DRIVER_FILES="$NV_ICD" VK_ICD_FILENAMES="$NV_ICD" ;;
  esac
  [ -n "${USER_VK_DRIVER_FILES:-}" ] && export VK_DRIVER_FILES="$USER_VK_DRIVER_FILES" VK_ICD_FILENAMES="$USER_VK_DRIVER_FILES"
  export LD_LIBRARY_PATH="${BASE_LDP}${ldp}" BENCH_VARIANT="$1"
  LD_LIBRARY_PATH=${LD_LIBRARY_PATH#:}
}
USER_VK_DRIVER_FILES=${VK_DRIVER_FILES:-}

CHOSEN=""
for v in auto noicd ours; do
  variant "$v"
  say "probe [$v] LD_LIBRARY_PATH=$LD_LIBRARY_PATH VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  P=$(cd "$W" && VK_LOADER_DEBUG=error,warn timeout 30 ./node bench.cjs --probe 2>&1); echo "$P" | grep -v '^PROBE' | head -30
  if echo "$P" | grep -q '^PROBE.*"hardware":true'; then CHOSEN=$v; break; fi
done
if [ -z "$CHOSEN" ]; then
  CHOSEN=auto; variant auto
  say "no hardware adapter; loader log (VK_LOADER_DEBUG=all) → $OUT/vkloader.log"
  (cd "$W" && VK_LOADER_DEBUG=all timeout 30 ./node bench.cjs --probe) > "$OUT/vkloader.log" 2>&1
  grep -iE 'error|fail|not found|cannot|nvidia' "$OUT/vkloader.log" | head -20
else variant "$CHOSEN"; fi

say "benchmark [variant $CHOSEN]"
(cd "$W" && timeout "${BENCH_TIMEOUT:-200}" ./node bench.cjs); rc=$?
[ $rc = 124 ] && echo "benchmark hit its ${BENCH_TIMEOUT:-200}s timeout (partial results are in gpu.json)"
say "done (bench rc=$rc); files: $(ls "$OUT" | tr '\n' ' ')"
exec 1>&- 2>&-; wait "$TEE_PID" 2>/dev/null
exit 0
