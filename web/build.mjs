#!/usr/bin/env node
// Builds the web app into a static folder that spind serves:
//   node build.mjs OUTDIR [--node-modules DIR]
// copies src/** and the vendor files the page loads (vis-network's
// standalone UMD build, mqtt.js's browser bundle, and their licences) and
// writes a .gz beside every .html/.js/.css/.json/.svg for servers that send
// gzip to clients that accept it. No dependencies besides node itself.

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const MARKER = '.spin-web-build';
const GZIP_EXT = new Set(['.html', '.js', '.css', '.json', '.svg', '.map', '.txt']);

function usage(msg) {
  if (msg) console.error(`build.mjs: ${msg}`);
  console.error('usage: node build.mjs OUTDIR [--node-modules DIR]');
  process.exit(2);
}

const args = process.argv.slice(2);
let out = '';
let modules = path.join(here, 'node_modules');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--node-modules') {
    if (i + 1 >= args.length) usage('--node-modules needs a directory');
    modules = path.resolve(args[++i]);
  } else if (args[i] === '-h' || args[i] === '--help') {
    usage();
  } else if (!out) {
    out = path.resolve(args[i]);
  } else {
    usage(`unexpected argument ${args[i]}`);
  }
}
if (!out) usage('no output directory given');

/** [from (inside node_modules), to (inside OUTDIR)] */
const VENDOR = [
  ['vis-network/standalone/umd/vis-network.min.js', 'vendor/vis-network.min.js'],
  ['vis-network/LICENSE-MIT', 'vendor/vis-network.LICENSE-MIT.txt'],
  ['mqtt/dist/mqtt.min.js', 'vendor/mqtt.min.js'],
  ['mqtt/LICENSE.md', 'vendor/mqtt.LICENSE.txt'],
];

for (const [from] of VENDOR) {
  if (!fs.existsSync(path.join(modules, from))) {
    console.error(`build.mjs: ${path.join(modules, from)} is missing: run "npm ci" in web/ first`);
    process.exit(1);
  }
}

// Refuse to empty a folder this script did not make.
if (fs.existsSync(out)) {
  const entries = fs.readdirSync(out);
  if (entries.length && !entries.includes(MARKER)) {
    console.error(`build.mjs: ${out} is not empty and was not made by build.mjs; not touching it`);
    process.exit(1);
  }
  fs.rmSync(out, { recursive: true, force: true });
}
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, MARKER), 'made by web/build.mjs; emptied on every build\n');

let files = 0;
let bytes = 0;
function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  files++;
  bytes += fs.statSync(to).size;
  if (GZIP_EXT.has(path.extname(to))) {
    const data = fs.readFileSync(to);
    fs.writeFileSync(`${to}.gz`, zlib.gzipSync(data, { level: 9 }));
  }
}

function copyTree(dir, dest) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, ent.name);
    const to = path.join(dest, ent.name);
    if (ent.isDirectory()) copyTree(from, to);
    else if (ent.isFile()) copy(from, to);
  }
}

copyTree(path.join(here, 'src'), out);
for (const [from, to] of VENDOR) copy(path.join(modules, from), path.join(out, to));
console.log(`build.mjs: ${files} files (${(bytes / 1024).toFixed(0)} KiB) in ${out}, with .gz copies`);
