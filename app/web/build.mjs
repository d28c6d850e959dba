// Builds the console into dist/: one JavaScript bundle and one stylesheet
// (esbuild, pinned in package-lock.json), the page, the icon, and the licence
// texts of every bundled library. Run it with `make web`; dist/ is committed
// so the Go build needs no Node.
//
// Asset names carry a hash of their content (app-3F2A9C1B.js), so the server
// may let browsers keep them for a year; only index.html, which names them,
// is revalidated. Each asset also gets a gzip twin (name.gz) made here once,
// at the highest level, so the server never compresses at run time.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync, constants } from 'node:zlib';

const out = 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/assets`, { recursive: true });

// Bundled third-party code and where its licence text lives.
const thirdParty = [
  ['cytoscape', 'node_modules/cytoscape/LICENSE'],
  ['cytoscape-dagre', 'node_modules/cytoscape-dagre/LICENSE'],
  ['@dagrejs/dagre and @dagrejs/graphlib (bundled inside cytoscape-dagre)', 'licenses/dagrejs-dagre.LICENSE.txt'],
  ['uplot', 'node_modules/uplot/LICENSE'],
];
const version = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')).version;

const banner = '/*! tokentrail console. Bundles ' +
  thirdParty.filter(([n]) => !n.startsWith('@')).map(([n]) => `${n} ${version(n)}`).join(', ') +
  ' (MIT licensed); their licence texts are in /assets/THIRD-PARTY-LICENSES.txt */';

const result = await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  outdir: `${out}/assets`,
  entryNames: '[name]-[hash]',
  legalComments: 'eof',
  banner: { js: banner, css: banner },
  metafile: true,
  logLevel: 'info',
});

// The hashed names esbuild chose, by extension.
const built = {};
for (const file of Object.keys(result.metafile.outputs)) {
  const name = file.slice(`${out}/assets/`.length);
  built[name.slice(name.lastIndexOf('.') + 1)] = name;
}
if (!built.js || !built.css) throw new Error(`esbuild wrote ${Object.keys(built)}, not a script and a stylesheet`);

// The icon, named by its own hash like the bundle.
const icon = readFileSync('src/favicon.svg');
const iconName = `favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 8).toUpperCase()}.svg`;
writeFileSync(`${out}/assets/${iconName}`, icon);

const page = readFileSync('src/index.html', 'utf8')
  .replace('/assets/app.css', `/assets/${built.css}`)
  .replace('/assets/app.js', `/assets/${built.js}`)
  .replace('/assets/favicon.svg', `/assets/${iconName}`);
for (const name of [built.css, built.js, iconName]) {
  if (!page.includes(`/assets/${name}`)) throw new Error(`src/index.html does not name ${name}`);
}
writeFileSync(`${out}/index.html`, page);

let licences = 'Third-party software bundled in the tokentrail console (assets/app-*.js, assets/app-*.css).\n';
for (const [name, file] of thirdParty) {
  const v = name.startsWith('@') ? '' : ` ${version(name)}`;
  licences += `\n${'='.repeat(78)}\n${name}${v}\n${'='.repeat(78)}\n\n${readFileSync(file, 'utf8').trim()}\n`;
}
writeFileSync(`${out}/assets/THIRD-PARTY-LICENSES.txt`, licences);

// Gzip twins. mtime is zero in gzipSync's header, so the bytes depend on the
// input only and a rebuild of the same source changes nothing.
for (const name of readdirSync(`${out}/assets`)) {
  const raw = readFileSync(`${out}/assets/${name}`);
  writeFileSync(`${out}/assets/${name}.gz`, gzipSync(raw, { level: constants.Z_BEST_COMPRESSION }));
}
