// Builds the console's web app into a folder of static files, with esbuild
// (its WebAssembly build: no native binary to download).
//
//   node build.mjs --src web/src --out build/web/dist --modules build/web/node_modules
//
// Writes OUT/index.html and OUT/assets/app-<hash>.js|css. The page loads
// nothing but these files: no CDN, no inline script or style (the console's
// Content-Security-Policy allows neither).
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild-wasm';

const { values } = parseArgs({
  options: { src: { type: 'string' }, out: { type: 'string' }, modules: { type: 'string' } },
});
const src = path.resolve(values.src);
const out = path.resolve(values.out);
const modules = path.resolve(values.modules);

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: path.join(src, 'main.jsx') },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  nodePaths: [modules],
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
const html = (await readFile(path.join(src, 'index.html'), 'utf8'))
  .replace('%APP_JS%', `/assets/${js}`)
  .replace('%APP_CSS%', `/assets/${css}`);
await writeFile(path.join(out, 'index.html'), html);
await copyFile(path.join(src, 'favicon.svg'), path.join(out, 'favicon.svg'));
await esbuild.stop?.();
console.log(`web: ${path.relative(process.cwd(), out)}/index.html, assets/${js}, assets/${css}`);
