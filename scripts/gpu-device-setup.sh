# Source this on the GPU machine (it has no Node and reaches no registry) before `npm run test:gpu` /
# `npm run bench:gpu`: it unpacks what the call carried in .device/ (see BENCHMARKS.md, "## GPU"):
#   node.xz (Node 20.20.2), npm.tar.xz (npm), nm.tar.xz (tsx + esbuild), golden/ (the golden safetensors).
D="$PWD/.device"
[ -x "$D/node" ] || { xz -dc "$D/node.xz" > "$D/node" && chmod +x "$D/node"; }
mkdir -p "$D/bin" && ln -sf "$D/node" "$D/bin/node"
[ -d "$D/npm" ] || tar xJf "$D/npm.tar.xz" -C "$D"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$D/node" "$D/npm/bin/npm-cli.js" > "$D/bin/npm" && chmod +x "$D/bin/npm"
[ -d node_modules/tsx ] || tar xJf "$D/nm.tar.xz"
export PATH="$D/bin:$PATH" MOE_GOLDEN_DIR="${MOE_GOLDEN_DIR:-$D/golden}" ESBUILD_BINARY_PATH="$PWD/node_modules/esbuild/bin/esbuild"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
