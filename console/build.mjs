// Builds the console into dist/: index.html, one hashed JS bundle and one hashed stylesheet.
// Type-checks first (esbuild only strips types). No network: everything comes from node_modules.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");

execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", root], {
  stdio: "inherit",
});

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { console: "src/main.tsx" },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(dist, "assets"),
  // Content hashes in the names: the assets are cached for a year, index.html never.
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith(".js"));
const stylesheet = outputs.find((name) => name.endsWith(".css"));
if (!script || !stylesheet || outputs.length !== 2) {
  throw new Error(`expected one .js and one .css, got ${outputs.join(", ")}`);
}

// No inline script or style (the CSP has no 'unsafe-inline'); the favicon is data: so that browsers ask
// nothing more of the server.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Riskgate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${stylesheet}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<div id="app"><noscript>The Riskgate console needs JavaScript.</noscript></div>
</body>
</html>
`;
writeFileSync(join(dist, "index.html"), html);
console.log(`console built: dist/index.html, dist/assets/${script}, dist/assets/${stylesheet}`);
