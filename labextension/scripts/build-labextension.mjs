// Build the prebuilt JupyterLab extension into package.json's outputDir.
//
// Offline: @jupyterlab/builder reads JupyterLab's core metadata from a
// directory holding its package.json; we hand it @jupyterlab/core-meta's
// snapshot, so nothing is fetched from GitHub.
// Atomic: the output folder is removed first and a marker, build-complete.json,
// is written last; the Python build hook rebuilds whenever the marker is missing.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MARKER = 'build-complete.json';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const meta = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const outputDir = resolve(packageDir, meta.jupyterlab.outputDir);
const modules = join(packageDir, 'node_modules');

function coreMetadataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'hybrid-magic-core-'));
  const snapshot = join(modules, '@jupyterlab', 'core-meta', 'core.package.json');
  copyFileSync(snapshot, join(dir, 'package.json'));
  return dir;
}

function runBuilder(coreDir) {
  const builder = join(modules, '@jupyterlab', 'builder', 'lib', 'build-labextension.js');
  const args = [builder, '--core-path', coreDir, packageDir];
  return spawnSync(process.execPath, args, { stdio: 'inherit' }).status;
}

function looksComplete() {
  return ['package.json', 'static/style.js'].every(file => existsSync(join(outputDir, file)));
}

rmSync(outputDir, { recursive: true, force: true });
const coreDir = coreMetadataDir();
let status;
try {
  status = runBuilder(coreDir);
} finally {
  rmSync(coreDir, { recursive: true, force: true });
}
if (status !== 0 || !looksComplete()) {
  rmSync(outputDir, { recursive: true, force: true });
  console.error(`hybrid-magic: labextension build failed (exit ${status}); removed ${outputDir}`);
  process.exit(1);
}
// Tells `jupyter labextension list` that pip installed it (shared-data copies the folder).
copyFileSync(join(packageDir, 'install.json'), join(outputDir, 'install.json'));
writeFileSync(join(outputDir, MARKER), JSON.stringify({ name: meta.name, version: meta.version }) + '\n');
console.log(`hybrid-magic: labextension built into ${outputDir}`);
