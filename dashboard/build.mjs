// Copies the dashboard's third-party browser files from node_modules into the Python package,
// so `gridvault serve` serves them itself (no CDN: the dashboard works offline).
// Run by ./dev.sh (demo, test) after `npm ci`; by hand: `cd dashboard && npm ci && npm run build`.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "gridvault", "dashboard", "static", "vendor");

// [source in node_modules, name in vendor/]
const FILES = [
  // The self-contained ES module build: the page imports it like its own modules.
  ["echarts/dist/echarts.esm.min.mjs", "echarts.esm.min.mjs"],
  ["echarts/LICENSE", "echarts.LICENSE.txt"],
  ["echarts/NOTICE", "echarts.NOTICE.txt"],
];

mkdirSync(vendor, { recursive: true });
for (const [source, target] of FILES) {
  copyFileSync(join(here, "node_modules", source), join(vendor, target));
}
console.log(`dashboard: copied ${FILES.length} files into ${vendor}`);
