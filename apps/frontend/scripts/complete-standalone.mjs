// After `next build`: copy the static assets and public/ next to server.js so that
// .next/standalone runs on its own (`node .next/standalone/server.js`), as the image does.
import { cpSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const appRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const standalone = path.join(appRoot, ".next", "standalone");
if (!existsSync(path.join(standalone, "server.js"))) {
  console.error(
    `complete-standalone: ${standalone}/server.js is missing; run \`next build\` with output: "standalone" first.`,
  );
  process.exit(1);
}
for (const [from, to] of [
  [path.join(appRoot, ".next", "static"), path.join(standalone, ".next", "static")],
  [path.join(appRoot, "public"), path.join(standalone, "public")],
]) {
  rmSync(to, { recursive: true, force: true });
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
