// Builds the CUDA addon (kernels/native) into build/Release/moe_native.node when nvcc is found.
// - `--if-available` (the npm `install` hook): a missing nvcc is not an error — it prints that the CUDA backend was
//   not built and exits 0, so `npm install` / `npm ci` succeed on machines without CUDA. Compile errors still fail.
// - Targets sm_90a and sm_100a plus PTX for compute_90; the CUDA runtime is linked statically so the .node needs
//   only the driver. Node-API headers come from the npm packages node-api-headers (C) and node-addon-api (C++);
//   nothing is downloaded.
// - Objects are rebuilt only when a source or header is newer; two compiles run at a time (CI has 2 cores).
// Writes build/Release/native-build.json ({ built, reason }) which the CUDA probe reads to explain itself.
// (-diag-suppress=177: the wgmma helpers are unused in the sm_100a/PTX passes, where the Hopper kernel is a trap.)
// Options: --out=<dir> (default build), --nvcc=<path>, env MOE_NVCC / CUDA_HOME / CUDA_PATH.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'kernels', 'native');
const args = process.argv.slice(2);
const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ifAvailable = args.includes('--if-available');
const OUT = resolve(ROOT, opt('out') ?? 'build');
const RELEASE = join(OUT, 'Release');
const OBJ = join(OUT, 'native-obj');
const ADDON = join(RELEASE, 'moe_native.node');
const GENCODE = [
  '-gencode=arch=compute_90a,code=sm_90a',
  '-gencode=arch=compute_100a,code=sm_100a',
  '-gencode=arch=compute_90,code=compute_90',
  // PTX for Ada (sm_89): the lowest chip with FP8 mma.sync; compute_90 PTX cannot be JIT-compiled for it
  '-gencode=arch=compute_89,code=compute_89',
];

function isExecutable(p) {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export function findNvcc(env = process.env) {
  const explicit = opt('nvcc') ?? env.MOE_NVCC;
  if (explicit) return isExecutable(explicit) ? explicit : null;
  for (const home of [env.CUDA_HOME, env.CUDA_PATH]) if (home && isExecutable(join(home, 'bin', 'nvcc'))) return join(home, 'bin', 'nvcc');
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir && isExecutable(join(dir, 'nvcc'))) return join(dir, 'nvcc');
  return isExecutable('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : null;
}

function writeInfo(info) {
  mkdirSync(RELEASE, { recursive: true });
  writeFileSync(join(RELEASE, 'native-build.json'), JSON.stringify({ ...info, date: new Date().toISOString() }, null, 2) + '\n');
}

function run(cmd, argv) {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** The CUDA toolkit root: nvcc may be a wrapper script, so ask it (`nvcc --dryrun` prints TOP=…), else guess. */
async function cudaRoot(nvcc) {
  const out = await new Promise((res) => {
    const p = spawn(nvcc, ['--dryrun', '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.on('data', (d) => (s += d));
    p.stderr.on('data', (d) => (s += d));
    p.on('close', () => res(s));
    p.on('error', () => res(''));
  });
  const top = /#\$ TOP=(\S+)/.exec(out)?.[1];
  for (const c of [top, process.env.CUDA_HOME, resolve(dirname(nvcc), '..'), '/usr/local/cuda'])
    if (c && existsSync(join(c, 'include', 'cuda_runtime.h'))) return c;
  throw new Error(`cannot find the CUDA toolkit (include/cuda_runtime.h) next to ${nvcc}`);
}

function nodeIncludeDir() {
  // Node-API's C headers from the npm registry (node-api-headers): the addon targets the stable ABI, so it does not
  // matter which Node runs it, and no machine needs its own Node headers installed.
  return createRequire(join(ROOT, 'package.json'))('node-api-headers').include_dir;
}

const newest = (files) => Math.max(...files.map((f) => statSync(f).mtimeMs));
const stale = (obj, deps) => !existsSync(obj) || statSync(obj).mtimeMs < newest(deps);

async function pool(tasks, width) {
  const queue = [...tasks];
  const workers = Array.from({ length: width }, async () => {
    while (queue.length) await queue.shift()();
  });
  await Promise.all(workers);
}

async function main() {
  const nvcc = findNvcc();
  if (!nvcc) {
    const reason = 'nvcc was not found at install';
    writeInfo({ built: false, reason });
    console.log(`moe-layout-inspector: the CUDA backend was not built (${reason}); the CPU backend will be used. ` +
      'Install the CUDA toolkit and run `npm run build:native` to build it.');
    process.exit(ifAvailable ? 0 : 1);
  }
  const cuda = await cudaRoot(nvcc);
  const napiInclude = createRequire(join(ROOT, 'package.json'))('node-addon-api').include_dir;
  const nodeInclude = nodeIncludeDir();
  mkdirSync(OBJ, { recursive: true });
  mkdirSync(RELEASE, { recursive: true });
  const files = readdirSync(SRC);
  // the Node-API bindings (host compiler), one file per concern, in kernels/native/binding/
  const BINDING = join(SRC, 'binding');
  const bindingFiles = readdirSync(BINDING);
  // the flags live in this script: editing it rebuilds everything
  const headers = [
    ...files.filter((f) => /\.(h|cuh)$/.test(f)).map((f) => join(SRC, f)),
    ...bindingFiles.filter((f) => f.endsWith('.h')).map((f) => join(BINDING, f)),
    fileURLToPath(import.meta.url),
  ];
  const cuSources = files.filter((f) => f.endsWith('.cu')).sort();
  const t0 = Date.now();
  const tasks = [];
  const objs = [];
  for (const f of cuSources) {
    const src = join(SRC, f);
    const obj = join(OBJ, f.replace(/\.cu$/, '.o'));
    objs.push(obj);
    if (stale(obj, [src, ...headers])) {
      tasks.push(() => {
        console.log(`nvcc ${f}`);
        return run(nvcc, ['-O3', '-std=c++17', '-Xcompiler', '-fPIC', '-lineinfo', '-diag-suppress=177', ...GENCODE, '-c', src, '-o', obj]);
      });
    }
  }
  for (const f of bindingFiles.filter((x) => x.endsWith('.cc')).sort()) {
    const src = join(BINDING, f);
    const obj = join(OBJ, `binding-${f.replace(/\.cc$/, '.o')}`);
    objs.push(obj);
    if (stale(obj, [src, ...headers])) {
      tasks.push(() => {
        console.log(`c++ binding/${f}`);
        return run('c++', ['-O2', '-std=c++17', '-fPIC', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED',
          `-I${nodeInclude}`, `-I${napiInclude}`, `-I${join(cuda, 'include')}`, '-c', src, '-o', obj]);
      });
    }
  }
  await pool(tasks, 2);
  if (tasks.length || !existsSync(ADDON) || stale(ADDON, objs)) {
    const lib = ['lib64', 'lib', 'targets/x86_64-linux/lib'].map((d) => join(cuda, d)).find((d) => existsSync(join(d, 'libcudart_static.a')));
    if (!lib) throw new Error(`libcudart_static.a not found under ${cuda}`);
    await run('c++', ['-shared', '-o', ADDON, ...objs, `-L${lib}`, '-lcudart_static', '-ldl', '-lrt', '-lpthread', '-static-libstdc++', '-static-libgcc']);
  }
  writeInfo({ built: true, reason: `built with ${nvcc} (${GENCODE.map((g) => g.split(',code=')[1]).join(', ')})` });
  console.log(`moe-layout-inspector: CUDA addon built: ${ADDON} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

main().catch((e) => {
  // At install time a broken toolchain must not break `npm install`: the CPU backend still works, and the probe
  // reports this reason. `npm run build:native` (no --if-available) fails loudly instead.
  console.error(`moe-layout-inspector: building the CUDA addon failed: ${e.message}`);
  try {
    writeInfo({ built: false, reason: `the build failed: ${e.message}` });
  } catch {
    // the reason file is a courtesy for the probe; the message above already says what failed
  }
  process.exit(ifAvailable ? 0 : 1);
});
