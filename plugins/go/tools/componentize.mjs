// Turns a core module built by `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared`
// into a component: `wasm-tools component embed` + `component new --adapt` with the WASI
// preview1 *reactor* adapter, using the copies of wasm-tools and the adapter that ship
// in jco (npm), so no Rust tool has to be compiled.
//
//   node tools/componentize.mjs [--real-wasi] WIT_DIR WORLD CORE.wasm OUT.wasm
//
// By default the adapter is tools/wasi_stub.wat, which answers the Go runtime's
// wasi_snapshot_preview1 calls itself, so the component imports nothing but its WIT
// world. --real-wasi uses jco's WASI preview1 reactor adapter instead (the component
// then imports wasi:cli, wasi:clocks, wasi:filesystem, wasi:io and wasi:random).
//
// Why not `jco embed` / `jco new`: jco 1.35's bundled WASI shim (preview2-shim 0.26)
// starts with no preopened directory, so its wasm-tools cannot read a WIT directory
// ("No such file or directory"). Preopening "/" here fixes that for this process only.

import { readFile, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const realWasi = argv[0] === '--real-wasi';
if (realWasi) argv.shift();
const [witDir, world, corePath, outPath] = argv;
if (!outPath) {
  console.error('usage: node tools/componentize.mjs WIT_DIR WORLD CORE.wasm OUT.wasm');
  process.exit(2);
}

// Node's resolution rules, by hand (these packages do not export package.json).
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} not found from ${fromDir}: run npm ci`);
  }
}
const here = dirname(fileURLToPath(import.meta.url));
const jcoDir = findPackage('@bytecodealliance/jco', here);
const transpileDir = findPackage('@bytecodealliance/jco-transpile', jcoDir);
const shimDir = findPackage('@bytecodealliance/preview2-shim', transpileDir);
const fsShim = await import(pathToFileURL(join(shimDir, 'dist', 'nodejs', 'filesystem.js')).href);
fsShim._addPreopen('/', '/');
const tools = await import(pathToFileURL(join(transpileDir, 'dist', 'wasm-tools.js')).href);

const core = await readFile(corePath);
const embedded = await tools.componentEmbed({ binary: core, witPath: resolve(witDir), world });
const adapter = realWasi
  ? await readFile(join(jcoDir, 'lib', 'wasi_snapshot_preview1.reactor.wasm'))
  : await tools.parse(await readFile(join(here, 'wasi_stub.wat'), 'utf8'));
const component = await tools.componentNew(embedded, [['wasi_snapshot_preview1', adapter]]);
await writeFile(outPath + '.tmp', component);
await rename(outPath + '.tmp', outPath);
console.log(`wrote ${outPath} (${component.length} bytes)`);
