// Builds the console into dist/: one JavaScript bundle and one stylesheet
// (esbuild, pinned in package-lock.json), the page, and the licence texts of
// every bundled library. Run it with `make web`; dist/ is committed so the Go
// build needs no Node.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

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

await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  outdir: `${out}/assets`,
  legalComments: 'eof',
  banner: { js: banner, css: banner },
  logLevel: 'info',
});

copyFileSync('src/index.html', `${out}/index.html`);

let licences = 'Third-party software bundled in the tokentrail console (assets/app.js, assets/app.css).\n';
for (const [name, file] of thirdParty) {
  const v = name.startsWith('@') ? '' : ` ${version(name)}`;
  licences += `\n${'='.repeat(78)}\n${name}${v}\n${'='.repeat(78)}\n\n${readFileSync(file, 'utf8').trim()}\n`;
}
writeFileSync(`${out}/assets/THIRD-PARTY-LICENSES.txt`, licences);
